"""The add-in's buttons: 校验, 清除标记 and 导出 JSON, on any `SheetBook`.

校验 reads the facts by the template's defined names (unsaved edits included), validates them with
the same validator as the command line, marks each offending cell (fill colour and a note), lists
the findings on a 校验结果 sheet and reports a one-line status. The fill and note a cell had before
are kept on a hidden sheet, so 清除标记 puts them back exactly. No value is ever written to a cell
of the report, and every protection lifted for the marks is put back.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import NotAReport, XxgkError
from .findings import SEVERITY_LABEL, Result
from .layout import META_SHEET, fact_for_name, name_for
from .output import write_atomic
from .report import Report, load
from .schema import load_schema
from .sheetbook import SheetBook, parse_target
from .validate import validate
from .workbook import report_from_cells

RESULT_SHEET = "校验结果"
MARK_SHEET = "_xxgk_marks"
MARK_COLOURS = {"error": "#FF8B8B", "warning": "#FFC000"}
PRIOR_SETTING = "setting.prior_file"
_MARK_HEADER = ["sheet", "cell", "had_fill", "fill", "had_note", "note"]
# the 校验结果 sheet: 口径 says whose rule (全国 or a local file's issuer); 指纹 is what the 复核说明 sheet's
# column A takes; 复核 says whether a warning is explained; the finding's cells (as links) come last
RESULT_HEADER = ("序号", "规则", "级别", "说明", "应为", "实际", "口径", "指纹", "复核", "单元格")


def fact_cells(book: SheetBook) -> dict[str, tuple[str, str]]:
    """Fact id -> (sheet, cell) in this workbook, by its defined names; NotAReport when some are missing."""
    facts = load_schema().facts
    cells: dict[str, tuple[str, str]] = {}
    for name, target in book.defined_names().items():
        fact_id = fact_for_name(name)
        if fact_id in facts or fact_id == PRIOR_SETTING:
            where = parse_target(target)
            if where is None:
                raise NotAReport(f"定义名称 {name} 指向无效位置「{target}」（可能删除了行、列或工作表）")
            cells[fact_id] = where
    missing = [f for f in facts if f not in cells]
    if missing:
        raise NotAReport(f"这不是年度报告模板：缺少 {len(missing)} 个定义名称（如 {name_for(missing[0])}）")
    return cells


def read_report(book: SheetBook, cells: dict[str, tuple[str, str]] | None = None) -> Report:
    """The report as the workbook shows it now, including edits not yet saved."""
    cells = cells or fact_cells(book)
    values = {f: book.get_value(*where) for f, where in cells.items() if f != PRIOR_SETTING}
    return report_from_cells(values, Path(book.path) if book.path else None)


def identity(book: SheetBook) -> dict[str, Any]:
    """The workbook's identity sheet (`_xxgk`, very hidden) as key -> value; {} when it has none."""
    if META_SHEET not in book.sheet_names():
        return {}
    return {str(row[0]): row[1] for row in book.read_rows(META_SHEET) if len(row) > 1 and row[0] is not None}


def prior_report(book: SheetBook, cells: dict[str, tuple[str, str]]) -> Report | None:
    """Last year's report, if the basic-information sheet names its file."""
    where = cells.get(PRIOR_SETTING)
    value = book.get_value(*where) if where else None
    if value is None or not str(value).strip():
        return None
    path = Path(str(value).strip().strip('"'))
    if not path.is_absolute() and book.path:
        path = Path(book.path).parent / path
    if not path.exists():
        return None  # e.g. a path written on the district's computer: the year's own checks still run
    return load(path)


@contextmanager
def _unprotected(book: SheetBook, sheets: set[str], structure: bool) -> Iterator[None]:
    """Lift protection where needed, and put back exactly what was lifted, even on failure.

    Each sheet gets back the options it had (the template lets rows and columns be resized), not
    Excel's Protect() defaults.
    """
    lifted_structure = structure and book.structure_protected()
    lifted = {s: options for s in sorted(sheets) if s in book.sheet_names()
              and (options := book.sheet_protection(s)) is not None}
    if lifted_structure:
        book.protect_structure(False)
    for sheet in lifted:
        book.protect_sheet(sheet, None)
    try:
        yield
    finally:
        for sheet, options in lifted.items():
            if sheet in book.sheet_names():
                book.protect_sheet(sheet, options)
        if lifted_structure:
            book.protect_structure(True)


def _recorded_marks(book: SheetBook) -> list[list[Any]]:
    if MARK_SHEET not in book.sheet_names():
        return []
    rows = book.read_rows(MARK_SHEET) or []
    return [r for r in rows[1:] if r and r[0]]


def _restore(book: SheetBook) -> None:
    for sheet, cell, had_fill, fill, had_note, note in _recorded_marks(book):
        book.set_fill(sheet, cell, fill if had_fill else None)
        book.set_note(sheet, cell, ("" if note is None else str(note)) if had_note else None)
    for sheet in (MARK_SHEET, RESULT_SHEET):
        if sheet in book.sheet_names():
            book.delete_sheet(sheet)


def _marked_sheets(book: SheetBook) -> set[str]:
    return {str(r[0]) for r in _recorded_marks(book)}


def clear_marks(book: SheetBook) -> None:
    """清除标记: every cell back to the fill and note it had, the two add-in sheets gone."""
    with _unprotected(book, _marked_sheets(book), structure=True):
        _restore(book)
    book.tell("已清除校验标记")


def validate_book(book: SheetBook) -> Result:
    """校验: validate the open workbook, mark the offending cells, list the findings, report a status."""
    from . import review

    cells = fact_cells(book)
    report = read_report(book, cells)
    report.identity = identity(book)  # a distributed template's embedded local rules apply without being told
    report.explanations = review.read_book(book)  # 复核说明, typed or written by an earlier 校验
    prior = prior_report(book, cells)
    result = validate(report, prior)
    result.path = book.path
    where = cells.get(PRIOR_SETTING)
    named = book.get_value(*where) if where else None
    missing_prior = prior is None and named is not None and str(named).strip()
    # every cell a finding names, with its worst severity and all its messages
    marks: dict[tuple[str, str], list] = {}
    for finding in result.findings:
        for fact_id in finding.facts:
            entry = marks.setdefault(cells[fact_id], ["warning", []])
            if finding.severity == "error":
                entry[0] = "error"
            entry[1].append(f"[{SEVERITY_LABEL[finding.severity]}] {finding.message}")
    reviewed = {review.SHEET} & set(book.sheet_names())
    with _unprotected(book, _marked_sheets(book) | {s for s, _ in marks} | reviewed, structure=True):
        _restore(book)
        record = [list(_MARK_HEADER)]
        for (sheet, cell), (severity, messages) in marks.items():
            fill, note = book.get_fill(sheet, cell), book.get_note(sheet, cell)
            record.append([sheet, cell, int(fill is not None), fill or "", int(note is not None), note or ""])
            book.set_fill(sheet, cell, MARK_COLOURS[severity])
            book.set_note(sheet, cell, "\n".join(messages))
        book.add_sheet(MARK_SHEET, hidden=True)
        book.write_rows(MARK_SHEET, record, {})
        _write_results(book, result, cells)
        if reviewed:  # the current warnings, to explain in column E
            review.write_book(book, result, report.explanations)
    book.tell(result.summary() + (f"（未找到上年报告文件 {named}，未核对上年结转）" if missing_prior else ""))
    return result


def _write_results(book: SheetBook, result: Result, cells: dict[str, tuple[str, str]]) -> None:
    rows: list[list[Any]] = [list(RESULT_HEADER)]
    links: dict[tuple[int, int], str] = {}
    for n, finding in enumerate(result.findings, 1):
        review = "" if finding.severity == "error" else "已说明" if finding.fingerprint in result.explained else "未说明"
        row = [n, finding.rule, SEVERITY_LABEL[finding.severity], finding.message,
               _shown(finding.expected), _shown(finding.actual), finding.origin_label, finding.fingerprint, review]
        for fact_id in finding.facts:
            sheet, cell = cells[fact_id]
            address = "'" + sheet.replace("'", "''") + "'!" + cell
            links[(n + 1, len(row) + 1)] = address
            row.append(address)
        rows.append(row)
    if not result.findings:
        rows.append(["", "", "", "校验通过"])
    rows.insert(0, [f"{result.summary()}（{Path(result.path).name if result.path else '本工作簿'}）"])
    links = {(r + 1, c): a for (r, c), a in links.items()}
    book.add_sheet(RESULT_SHEET)
    book.write_rows(RESULT_SHEET, rows, links)


def _shown(value: Any) -> Any:
    """Excel cells hold numbers and text: lists (unknown fields) become text, None stays empty."""
    if isinstance(value, (list, tuple, dict)):
        return "、".join(map(str, value))
    return value


def export_json(book: SheetBook, target: str | Path | None = None) -> Path:
    """导出 JSON: the report document beside the workbook (or at `target`), with its 复核说明."""
    from . import review

    report = read_report(book)
    report.explanations = review.read_book(book)
    if target is None:
        if not book.path:
            raise XxgkError("请先保存工作簿，再导出 JSON")
        target = Path(book.path).with_suffix(".json")
    path = write_atomic(target, report.to_json().encode("utf-8"))
    book.tell(f"已导出：{path}")
    return path


# -- entry points for the ribbon (VBA RunPython) -----------------------------------------------------


def caller_book() -> SheetBook:
    """The workbook whose window the button was pressed in (xlwings passes its name and Excel's window
    handle on the command line), not the active book of whichever Excel instance answers first."""
    import xlwings as xw

    from .sheetbook import XlwingsBook

    return XlwingsBook(xw.Book.caller())


def _run(action) -> None:
    try:
        book = caller_book()
    except Exception as exc:  # xlwings could not reach the workbook: the add-in's VBA shows stderr
        print(f"无法连接到 Excel 中的工作簿（{type(exc).__name__}: {exc}）。请保存工作簿、关闭并重新打开 Excel 后再试。",
              file=sys.stderr)
        raise SystemExit(1) from None
    try:
        action(book)
    except XxgkError as exc:
        book.tell(f"无法完成：{exc}")
    except Exception as exc:  # a bug: say so in one line rather than a Python traceback window
        book.tell(f"内部错误（{type(exc).__name__}: {exc}），请把这条信息截图发给 IT 人员")


def on_validate() -> None:
    _run(validate_book)


def on_clear() -> None:
    _run(clear_marks)


def on_export_json() -> None:
    _run(export_json)
