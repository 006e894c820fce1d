"""复核说明: a clerk's explanation of a warning, kept in the workbook, tied to one finding by its fingerprint.

A warning is often legitimate (a clean-up that stops the stock of documents rolling forward). The
workbook's 复核说明 sheet holds, per row, a finding's fingerprint (see `findings.fingerprint_of`) and
why the figures are right. The sheet is plain unlocked cells, so it is filled in Excel, WPS or
LibreOffice with no add-in: the fingerprint is copied from `xxgk validate`, or the add-in writes the
rows (see `sheet_rows`). An explanation applies only while a warning with that very fingerprint is
found; when the compared figures change, the fingerprint changes and the warning is open again.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from .findings import Finding, Result

SHEET = "复核说明"
HEADER = ("指纹", "规则", "单元格", "警告内容", "说明（为什么这样填是对的）")
FINGERPRINT_COL, RULE_COL, CELLS_COL, WARNING_COL, TEXT_COL = 1, 2, 3, 4, 5
HEADER_ROW = 3
FIRST_ROW = HEADER_ROW + 1
ROWS = 200  # input rows the template offers; a report has a handful of warnings
STRICT_KEY = "strict"  # identity-sheet row: open warnings block finalising (`xxgk distribute --strict`)
HOW_TO = ("每条警告一行：把 xxgk validate 列出的「指纹」复制到 A 列（规则、单元格、警告内容可一并复制，便于阅读），"
          "在 E 列写明为什么这样填是对的。说明只对同一处、同样的数字有效：数字改了，警告的指纹随之改变，须重新说明。"
          "用加载项时，点「校验」会把当前的警告写到本表，只需填写 E 列。错误不能用说明代替，必须改正。")
_HEX = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class Explanation:
    """One row of the 复核说明 sheet. `rule`, `cells`, `warning` are for people; only the fingerprint binds."""

    fingerprint: str
    text: str
    rule: str = ""
    cells: str = ""
    warning: str = ""
    row: int = 0
    reason: str = ""  # why it no longer applies (for `Result.lapsed`)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in ("", 0)}


def _cell(row: list[Any], col: int) -> str:
    if col > len(row) or row[col - 1] in (None, ""):
        return ""
    value = row[col - 1]
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a fingerprint of digits only, typed into a cell not formatted as text
    return str(value).strip()


def read_rows(grid: list[list[Any]]) -> list[Explanation]:
    """The explanations on the sheet (as calamine reads it): rows with a fingerprint and a text."""
    out = []
    for n, row in enumerate(grid[FIRST_ROW - 1:], FIRST_ROW):
        fingerprint = _cell(row, FINGERPRINT_COL).lower()
        text = _cell(row, TEXT_COL)
        if fingerprint and text:
            out.append(Explanation(fingerprint, text, _cell(row, RULE_COL), _cell(row, CELLS_COL),
                                   _cell(row, WARNING_COL), n))
    return out


def apply(result: Result, explanations: list[Explanation]) -> Result:
    """Mark the warnings an explanation still applies to; the others go to `result.lapsed`, with why."""
    warnings = {f.fingerprint for f in result.warnings}
    errors = {f.fingerprint for f in result.errors}
    for item in explanations:
        if item.fingerprint in warnings:
            if item.fingerprint not in result.explained:  # the first row of a fingerprint counts
                result.explained[item.fingerprint] = item.text
        elif item.fingerprint in errors:
            result.lapsed.append(_lapsed(item, "这是错误，不能以说明代替改正"))
        elif not _HEX.fullmatch(item.fingerprint):
            result.lapsed.append(_lapsed(item, f"「{item.fingerprint[:24]}」不是指纹（应为 16 位字母数字，从 xxgk validate 复制）"))
        else:
            result.lapsed.append(_lapsed(item, "没有这个指纹的警告：警告已消除，或它比较的数字已改变，须重新说明"))
    return result


def _lapsed(item: Explanation, reason: str) -> Explanation:
    return Explanation(item.fingerprint, item.text, item.rule, item.cells, item.warning, item.row, reason)


def is_strict(identity: dict[str, Any]) -> bool:
    """The identity sheet says open warnings block finalising."""
    return str(identity.get(STRICT_KEY, "")).strip().lower() in ("1", "1.0", "true", "是")


def canonical(explained: dict[str, str]) -> str:
    """The explanations as they are fingerprinted when finalising (see `finalize.fingerprint`)."""
    return json.dumps(explained, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sheet_rows(result: Result) -> list[list[str]]:
    """Rows for the sheet from a validation: every warning, with its explanation when it has one.

    What the add-in writes from FIRST_ROW (after reading the sheet, so typed explanations are kept)."""
    return [[f.fingerprint, f.rule, "、".join(f.cells), f.message, result.explained.get(f.fingerprint, "")]
            for f in result.warnings]


def describe(finding: Finding) -> str:
    cells = "、".join(finding.cells[:4]) + (f" 等 {len(finding.cells)} 个单元格" if len(finding.cells) > 4 else "")
    return f"规则 {finding.rule}" + (f"；单元格 {cells}" if cells else "")


# -- the sheet in the template -----------------------------------------------------------------------


def render(ws, rows: list[list[str]] | None = None, locked: bool = False) -> None:
    """The 复核说明 sheet: a title, how to fill it in, a header and ROWS input rows (unlocked unless `locked`,
    as in a finalised copy). `rows` (see `sheet_rows`) are written from FIRST_ROW."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side

    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ws.cell(1, 1, "复核说明：对警告逐条说明理由")
    ws.cell(1, 1).font = Font(name="黑体", size=14, bold=True)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    ws.cell(2, 1, HOW_TO)
    ws.cell(2, 1).font = Font(name="宋体", size=10)
    ws.cell(2, 1).alignment = Alignment(horizontal="left", vertical="top", wrap_text=True)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(HEADER))
    ws.row_dimensions[2].height = 60
    for col, text in enumerate(HEADER, 1):
        cell = ws.cell(HEADER_ROW, col, text)
        cell.font = Font(name="宋体", size=10, bold=True)
        cell.border = border
        cell.fill = PatternFill("solid", fgColor="F2F2F2")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    fill = PatternFill("solid", fgColor="FFF2CC")
    rows = rows or []
    for i in range(max(ROWS, len(rows))):
        values = rows[i] if i < len(rows) else []
        for col in range(1, len(HEADER) + 1):
            cell = ws.cell(FIRST_ROW + i, col)
            value = values[col - 1] if col <= len(values) else ""
            if value not in ("", None):
                cell.value = value
                cell.data_type = "s"  # text stays text, even when it starts with "="
            cell.number_format = "@"  # a typed fingerprint of digits stays text
            cell.font = Font(name="宋体", size=10)
            cell.border = border
            cell.alignment = Alignment(vertical="top", wrap_text=True)
            if not locked:
                cell.fill = fill
                cell.protection = Protection(locked=False)
    for col, width in zip("ABCDE", (20, 16, 18, 60, 60), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = f"A{FIRST_ROW}"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
