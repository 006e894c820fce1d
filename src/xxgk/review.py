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

from .findings import FINGERPRINT_PATTERN, Finding, Result

SHEET = "复核说明"
HEADER = ("指纹", "规则", "单元格", "警告内容", "说明（为什么这样填是对的）")
FINGERPRINT_COL, RULE_COL, CELLS_COL, WARNING_COL, TEXT_COL = 1, 2, 3, 4, 5
HEADER_ROW = 3
FIRST_ROW = HEADER_ROW + 1
PRINTED_BLANK = 8  # rows printed when the sheet holds no explanation yet
ROWS = 60  # input rows the template offers: a report has a handful of warnings (each row costs every read)
STRICT_KEY = "strict"  # identity-sheet row: open warnings block finalising (`xxgk distribute --strict`)
HOW_TO = ("每条警告一行：把 xxgk validate 列出的「指纹」复制到 A 列（规则、单元格、警告内容可一并复制，便于阅读），"
          "在 E 列写明为什么这样填是对的。说明只对同一处、同样的数字有效：数字改了，警告的指纹随之改变，须重新说明。"
          "用加载项时，点「校验」会把当前的警告写到本表，只需填写 E 列。错误不能用说明代替，必须改正。")
_HEX = re.compile(FINGERPRINT_PATTERN)


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

    def to_document(self) -> dict:
        """The entry of a report document's "explanations" (see schema/report.schema.json)."""
        entry = {"fingerprint": self.fingerprint, "explanation": self.text, "rule": self.rule,
                 "cells": [c for c in self.cells.split("、") if c], "message": self.warning}
        return {k: v for k, v in entry.items() if v not in ("", [])}


DOCUMENT_KEY = "explanations"  # a report document's explanations, beside the facts (see `from_document`)


def from_document(entries: Any) -> list[Explanation]:
    """The explanations a report document holds; entries not of the schema's shape are left out (the
    validator names them, as a value.type error on 「explanations」)."""
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        fingerprint, text = entry.get("fingerprint"), entry.get("explanation")
        if not (isinstance(fingerprint, str) and isinstance(text, str) and fingerprint.strip() and text.strip()):
            continue
        cells = entry.get("cells")
        cells = "、".join(c for c in cells if isinstance(c, str)) if isinstance(cells, list) else ""
        out.append(Explanation(fingerprint.strip().lower(), text.strip(), _text(entry.get("rule")), cells,
                               _text(entry.get("message"))))
    return out


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def document_rows(explanations: list[Explanation]) -> list[list[str]]:
    """Rows for the sheet from a document's explanations, as they were given (`xxgk fill`)."""
    return [[e.fingerprint, e.rule, e.cells, e.warning, e.text] for e in explanations]


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
            result.lapsed.append(_lapsed(item, f"「{item.fingerprint[:24]}」不是指纹（应为以字母开头的 16 位字母和数字，从 xxgk validate 复制）"))
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
    return f"规则 {finding.rule}" + (f"；单元格 {cells}" if cells else "") + f"；{finding.origin_label}"


def note(finding: Finding) -> str:
    """`describe` and the fingerprint: what a page lists beside a finding, so a reviewer can write an
    explanation or a decision from the page."""
    return describe(finding) + (f"；指纹 {finding.fingerprint}" if finding.fingerprint else "")


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
    # printed with the report: the explanations given (a finalised copy's) and a few blank lines, not the
    # whole empty form
    ws.print_area = f"A1:E{FIRST_ROW + max(len(rows), PRINTED_BLANK) - 1}"
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


# -- a reviewer's decisions on the findings of published reports (`xxgk audit --decisions`) -----------

CONFIRMED, DISMISSED, OPEN = "confirmed", "dismissed", "open"
DECISION_LABEL = {CONFIRMED: "确认", DISMISSED: "排除", OPEN: "待复核"}
_DECISION_WORDS = {"确认": CONFIRMED, "confirmed": CONFIRMED, "confirm": CONFIRMED,
                   "排除": DISMISSED, "dismissed": DISMISSED, "dismiss": DISMISSED}


@dataclass(frozen=True)
class Decision:
    """A reviewer's word on one finding (by fingerprint): 确认 (a real problem) or 排除 (not one), and why.
    `agency`/`year`, when given, limit it to that body's report of that year (a fingerprint names the
    finding, not the report: two reports can show the very same finding)."""

    fingerprint: str
    decision: str  # CONFIRMED | DISMISSED
    reason: str = ""
    agency: str = ""
    year: int | None = None

    def applies(self, agency: str, year: Any) -> bool:
        from .text import normal_name

        return ((not self.agency or normal_name(self.agency) == normal_name(agency or ""))
                and (self.year is None or self.year == year))

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in ("", None)}


def read_decisions(path) -> list[Decision]:
    """The decisions file: JSON, {"decisions": {fingerprint: {"decision": "确认"|"排除", "reason": …,
    "agency": …, "year": …}}} (the outer "decisions" may be left out). XxgkError (exit 2) in Chinese when
    it is not one; 排除 needs a reason."""
    from pathlib import Path

    from .errors import XxgkError
    from .report import read_input
    from .text import display_path

    shown = display_path(path)
    try:
        data = json.loads(read_input(Path(path)).decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise XxgkError("复核决定文件不是 UTF-8 编码的 JSON", path=shown) from None
    except json.JSONDecodeError as exc:
        raise XxgkError(f"复核决定文件不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）", path=shown) from None
    except RecursionError:
        raise XxgkError("复核决定文件嵌套层次过深", path=shown) from None
    entries = data.get("decisions", data) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise XxgkError('复核决定文件应为 JSON 对象：{"decisions": {"指纹": {"decision": "确认" 或 "排除", "reason": "理由"}}}',
                        path=shown)
    out = []
    for key, entry in entries.items():
        fingerprint = str(key).strip().lower()
        where = f"指纹「{str(key)[:24]}」"
        if not _HEX.fullmatch(fingerprint):
            raise XxgkError(f"{where}不是指纹（应为以字母开头的 16 位字母和数字，从 xxgk audit --format json 的 fingerprint 复制）", path=shown)
        if isinstance(entry, str):
            entry = {"decision": entry}
        if not isinstance(entry, dict):
            raise XxgkError(f'{where}的决定应为对象，如 {{"decision": "排除", "reason": "理由"}}', path=shown)
        decision = _DECISION_WORDS.get(str(entry.get("decision", "")).strip().lower())
        if decision is None:
            raise XxgkError(f"{where}的 decision 应为「确认」或「排除」，实际为「{str(entry.get('decision', ''))[:20]}」",
                            path=shown)
        reason = str(entry.get("reason") or "").strip()
        if decision == DISMISSED and not reason:
            raise XxgkError(f"{where}排除了一个问题，但没有写理由（reason）：排除须说明理由", path=shown)
        year = entry.get("year")
        if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
            raise XxgkError(f"{where}的 year 应为整数年度，如 2024", path=shown)
        out.append(Decision(fingerprint, decision, reason, str(entry.get("agency") or "").strip(), year))
    return out


def decide(findings: list[Finding], decisions: list[Decision], agency: str, year: Any) -> dict[str, Decision]:
    """fingerprint -> the decision that applies to this report's finding (the first that does)."""
    mine = {f.fingerprint for f in findings}
    out: dict[str, Decision] = {}
    for d in decisions:
        if d.fingerprint in mine and d.fingerprint not in out and d.applies(agency, year):
            out[d.fingerprint] = d
    return out


def state(finding: Finding, decided: dict[str, Decision]) -> str:
    return decided[finding.fingerprint].decision if finding.fingerprint in decided else OPEN


# -- the add-in: the sheet in an open workbook (any `sheetbook.SheetBook`) ------------------------------


def read_book(book) -> list[Explanation]:
    """The explanations on the open workbook's sheet, unsaved typing included; none without the sheet."""
    if SHEET not in book.sheet_names():
        return []
    rows = book.read_rows(SHEET) or []  # the whole sheet in one call, where the book can (Excel)
    if len(rows) >= HEADER_ROW and [str(v or "").strip() for v in rows[HEADER_ROW - 1][:len(HEADER)]] == list(HEADER):
        return read_rows(rows)
    grid: list[list[Any]] = [[] for _ in range(FIRST_ROW - 1)]
    r = FIRST_ROW
    while r < FIRST_ROW + ROWS or any(grid[-1]):  # rows the add-in wrote beyond the template's
        grid.append([book.get_value(SHEET, f"{col}{r}") for col in "ABCDE"])
        r += 1
    return read_rows(grid)


def write_book(book, result: Result, explanations: list[Explanation]) -> None:
    """Write the current warnings (with the explanations that apply) from FIRST_ROW, then the rows whose
    explanation no longer applies, as they were (a clerk's text is never dropped), blanking what is left
    of the rows written before. The sheet must be editable (the caller lifts its protection)."""
    rows: list[list[Any]] = sheet_rows(result)
    rows += [[e.fingerprint, e.rule, e.cells, e.warning, e.text] for e in result.lapsed]
    used = max([e.row for e in explanations] + [FIRST_ROW + ROWS - 1])
    rows += [[None] * len(HEADER) for _ in range(used - FIRST_ROW + 1 - len(rows))]
    head = [["复核说明：对警告逐条说明理由"], [HOW_TO], list(HEADER)]
    book.write_rows(SHEET, head + rows, {})
