"""How a total's 明细 and 清单 sheets look and print: Chinese headers, widths, borders, number formats.

The 明细 keeps its machine-readable column ids (`level`, `agency`, …, the fact ids) in row 1, which
is hidden; row 2 holds the Chinese names (the official labels of the figures). Readers go by row 1,
so totals written before these sheets were formatted (row 1 shown) read the same. The 清单 names its
versions in Chinese; the machine-readable keys are in the manifest (`.manifest.json`).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

from .template import SheetForm, formed_sheet_xml, label_lines

DETAIL_HEADERS = {"level": "层级", "agency": "单位名称", "agency_code": "机关代码", "file": "来源文件",
                  "sha256": "SHA-256", "status": "校验结果"}
DETAIL_WIDTHS = {"level": 5, "agency": 22, "agency_code": 20, "file": 24, "sha256": 16, "status": 18,
                 "explanations": 40, "open_warnings": 40}  # the last two: warnings in words (see review)
_REVIEW_COUNTS = ("warnings_explained", "warnings_open")
FACT_WIDTH = 11
MANIFEST_KEYS = {"tool": "工具版本", "ruleset": "规则版本", "template": "模板版本", "agency": "汇总机关",
                 "year": "年度", "run_id": "运行标识"}
MANIFEST_HEADER = ("文件", "SHA-256", "单位", "机关代码", "年度", "结果", "计入", "原因")
MANIFEST_WIDTHS = (36, 18, 22, 20, 7, 10, 8, 40)
PAGE_UNITS = 240  # column-width units on one landscape A4 page of the 明细 (printed at about 60 %)

_THIN = Side(style="thin", color="000000")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_BODY = Font(name="宋体", size=10)
_LOOKS = {
    "ids": dict(font=Font(name="宋体", size=8, color="808080")),
    "header": dict(font=Font(name="宋体", size=10, bold=True), border=_BOX, fill=PatternFill("solid", fgColor="F2F2F2"),
                   alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
    "text": dict(font=_BODY, border=_BOX, alignment=Alignment(vertical="center")),
    "wrap": dict(font=_BODY, border=_BOX, alignment=Alignment(vertical="center", wrap_text=True)),
    "center": dict(font=_BODY, border=_BOX, alignment=Alignment(horizontal="center", vertical="center")),
    "count": dict(font=_BODY, border=_BOX, number_format="#,##0", alignment=Alignment(vertical="center")),
    "amount": dict(font=_BODY, border=_BOX, number_format="#,##0.00", alignment=Alignment(vertical="center")),
    "total_text": dict(font=Font(name="宋体", size=10, bold=True), border=_BOX, alignment=Alignment(vertical="center")),
    "total_count": dict(font=Font(name="宋体", size=10, bold=True), border=_BOX, number_format="#,##0"),
    "total_amount": dict(font=Font(name="宋体", size=10, bold=True), border=_BOX, number_format="#,##0.00"),
    "note": dict(font=Font(name="黑体", size=11, bold=True, color="1F4E79")),
    "key": dict(font=Font(name="宋体", size=10, bold=True)),
    "value": dict(font=_BODY, alignment=Alignment(horizontal="left")),
}


def _style_ids(ws, looks: Iterable[str]) -> dict[str, int]:
    """Register each look in the workbook's stylesheet (through a scratch cell of `ws`, whose own XML is
    replaced by the streamed sheet) and give its cell style id."""
    ids = {}
    for i, name in enumerate(looks, 1):
        cell = ws.cell(1, i)
        for attr, value in _LOOKS[name].items():
            setattr(cell, attr, value)
        ids[name] = cell.style_id
    return ids


def detail_sheet(wb, title: str, rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """The 明细 sheet of `wb` (an empty sheet `title` already there) from its rows: ids, names, units, total."""
    from .consolidate import numeric_facts
    from .schema import load_schema

    ws = wb[title]
    rows = iter(rows)
    ids = next(rows, [])
    kinds = {f: load_schema().facts[f].kind for f in numeric_facts()} | dict.fromkeys(_REVIEW_COUNTS, "count")
    looks = _style_ids(ws, _LOOKS)
    per_col = [kinds.get(str(i), "text") for i in ids]
    body = tuple(looks["center"] if i == "level" else looks["wrap"] if i in ("status", "explanations", "open_warnings") else looks[k if k in ("count", "amount")
                 else "text"] for i, k in zip(ids, per_col, strict=True)) or (looks["text"],)
    total = tuple(looks["total_" + k] if k in ("count", "amount") else looks["total_text"] for k in per_col) or (looks["text"],)
    widths = tuple(DETAIL_WIDTHS.get(str(i), FACT_WIDTH) for i in ids)
    names = next(rows, [])
    lines = max((label_lines(str(n), w) for n, w in zip(names, widths, strict=False)), default=1)
    form = SheetForm(styles={"ids": (looks["ids"],), "header": (looks["header"],), "body": body, "total": total},
                     widths=widths, heights={"header": min(409, 14 * lines + 6)}, hidden=frozenset({"ids"}),
                     fit_width=max(1, -(-int(sum(widths)) // PAGE_UNITS)))
    ws.print_title_rows = "2:2"
    ws.print_title_cols = "A:B"
    return formed_sheet_xml(_detail_kinds(ids, names, rows), form, frozen=(2, 2))


def _detail_kinds(ids: list[Any], names: list[Any], rows: Iterator[list[Any]]) -> Iterator[tuple[str, list[Any]]]:
    yield "ids", ids
    yield "header", names
    for row in rows:
        yield ("total" if row and row[0] in ("", None) else "body"), row


def manifest_sheet(wb, title: str, rows: Iterable[list[Any]]) -> Iterator[bytes]:
    """The 清单 sheet of `wb` from its rows: the verdict, the versions, then the table of input files."""
    ws = wb[title]
    looks = _style_ids(ws, _LOOKS)
    form = SheetForm(styles={"note": (looks["note"],), "key": (looks["key"], looks["value"]), "blank": (looks["value"],),
                             "header": (looks["header"],), "body": (looks["text"], looks["text"], looks["text"],
                                                                    looks["text"], looks["center"], looks["center"],
                                                                    looks["center"], looks["wrap"])},
                     widths=MANIFEST_WIDTHS, heights={"note": 24}, fit_width=1)
    return formed_sheet_xml(_manifest_kinds(rows), form)


def _manifest_kinds(rows: Iterable[list[Any]]) -> Iterator[tuple[str, list[Any]]]:
    """Kinds of the 清单 rows: the first is the verdict; the table of files runs from its header to a blank row."""
    in_table = False
    for n, row in enumerate(rows):
        if n == 0:
            yield "note", row
        elif not any(v not in ("", None) for v in row):
            in_table = False
            yield "blank", row
        elif tuple(row[:2]) == MANIFEST_HEADER[:2]:
            in_table = True
            yield "header", row
        else:
            yield ("body" if in_table else "key"), row
