"""The add-in's Python side, driven through the same workbook-access layer it uses in Excel.

The book is a filled template made by the project's `fill`, held in memory as Excel holds it open
(`memorybook.MemoryBook`): values, fills, notes, protection and names come from the real file.
"""

from __future__ import annotations

import copy
import json

import pytest

import xxgk
from conftest import example
from memorybook import MemoryBook
from xxgk.errors import NotAReport
from xxgk.excel import MARK_COLOURS, MARK_SHEET, RESULT_SHEET, clear_marks, export_json, read_report, validate_book
from xxgk.layout import load_layout, name_for
from xxgk.udfs import UDFS, XXGK_EXPECTED, XXGK_FINDING, XXGK_FINDINGS, XXGK_LABEL, XXGK_PRIOR, XXGK_STATUS


def open_book(write_workbook, name: str, document: dict | None = None) -> MemoryBook:
    return MemoryBook.from_xlsx(write_workbook(document or example(name), f"{name}.xlsx"))


def snapshot(book: MemoryBook) -> dict:
    """Everything the add-in must leave as it found it once its marks are cleared."""
    return copy.deepcopy({"values": book.values, "fills": book.fills, "notes": book.notes, "sheets": book.sheets,
                          "protected": book.protected, "protection": book.protection, "structure": book.structure,
                          "hidden": book.hidden})


def cell_of(fact_id: str) -> tuple[str, str]:
    sheet, row, col = load_layout().cells[fact_id]
    from openpyxl.utils import get_column_letter

    return sheet, f"{get_column_letter(col)}{row}"


def test_a_clean_report_passes_and_leaves_no_mark(write_workbook):
    book = open_book(write_workbook, "made-up-qingfeng-2021")
    before = snapshot(book)
    result = validate_book(book)
    assert result.valid and result.findings == []
    assert book.messages[-1] == "校验通过"
    assert book.values == before["values"] and book.fills == before["fills"] and book.notes == before["notes"]
    assert book.protected == before["protected"] and book.structure == before["structure"]
    assert book.rows[RESULT_SHEET][0][0].startswith("校验通过")
    assert MARK_SHEET in book.hidden


def test_errors_are_marked_listed_and_cleared_exactly(write_workbook):
    book = open_book(write_workbook, "made-up-errors-2022")
    sheet, cell = cell_of("proactive.penalties.decisions")
    book.notes[(sheet, cell)] = "填报人自己的批注"  # a note the clerk wrote must come back
    before = snapshot(book)
    result = validate_book(book)
    assert not result.valid
    assert book.messages[-1] == result.summary() == "发现 8 处错误、0 处警告"
    assert book.values == before["values"]  # not one value written
    marked = {cell_of(f) for finding in result.findings for f in finding.facts}
    assert {k for k in book.fills if book.fills[k] == MARK_COLOURS["error"]} == marked
    for finding in result.findings:
        for fact_id in finding.facts:
            assert finding.message in book.notes[cell_of(fact_id)]
    assert "3件" in book.notes[(sheet, cell)]
    # the result sheet: a row per finding, a hyperlink to each of its cells
    rows = book.rows[RESULT_SHEET]
    assert rows[0][0].startswith("发现 8 处错误") and rows[1][:4] == ["序号", "规则", "级别", "说明"]
    assert len(rows) == 2 + len(result.findings)
    for n, finding in enumerate(result.findings):
        links = [a for (s, r, c), a in book.links.items() if s == RESULT_SHEET and r == n + 3]
        assert sorted(links) == sorted("'" + cell_of(f)[0] + "'!" + cell_of(f)[1] for f in finding.facts)
        assert rows[n + 2][3] == finding.message
    # protection: what was lifted is back
    assert book.protected == before["protected"] | set() and book.structure == before["structure"]
    clear_marks(book)
    assert snapshot(book) == before
    assert book.notes[(sheet, cell)] == "填报人自己的批注"


def test_validating_twice_does_not_stack_marks(write_workbook):
    book = open_book(write_workbook, "made-up-errors-2022")
    before = snapshot(book)
    validate_book(book)
    first = (dict(book.fills), dict(book.notes), book.read_rows(MARK_SHEET))
    validate_book(book)
    assert (book.fills, book.notes, book.read_rows(MARK_SHEET)) == first
    clear_marks(book)
    assert snapshot(book) == before


def test_unsaved_edits_are_what_is_validated(write_workbook):
    book = open_book(write_workbook, "made-up-qingfeng-2021")
    book.type_value("applications.received.natural_persons", "3件")
    result = validate_book(book)
    assert [f.rule for f in result.findings] == ["value.type"]
    assert result.findings[0].facts == ("applications.received.natural_persons",)
    assert book.fills[cell_of("applications.received.natural_persons")] == MARK_COLOURS["error"]


def test_last_years_file_named_on_the_basic_sheet_is_used(write_workbook, tmp_path):
    prior = write_workbook(example("made-up-qingfeng-2021"), "上年.xlsx")
    book = open_book(write_workbook, "made-up-qingfeng-2022")
    setting_sheet, setting_cell = book.names[name_for("setting.prior_file")].split("!")
    book.values[(setting_sheet.strip("'"), setting_cell.replace("$", ""))] = str(prior)
    result = validate_book(book)
    assert {f.rule for f in result.findings} == {"prior.carried_over", "prior.in_force"}
    assert book.fills[cell_of("proactive.normative_documents.in_force")] == MARK_COLOURS["warning"]


def test_export_json_writes_the_document_beside_the_workbook(write_workbook):
    book = open_book(write_workbook, "lushan-2021")
    path = export_json(book)
    assert path.name == "lushan-2021.json"
    assert json.loads(path.read_text(encoding="utf-8")) == example("lushan-2021")


def test_a_workbook_that_is_not_the_template_is_refused(write_workbook):
    book = open_book(write_workbook, "lushan-2021")
    del book.names[name_for("applications.received.total")]
    with pytest.raises(NotAReport, match="定义名称"):
        read_report(book)


# -- worksheet functions, called as Excel calls them --------------------------------------------------


def test_udf_status_and_findings(write_workbook):
    good = open_book(write_workbook, "lushan-2021")
    bad = open_book(write_workbook, "made-up-errors-2022")
    assert XXGK_STATUS(good) == "校验通过，有 1 处警告"  # the real report's text: its parts add up to 300, not 306
    assert XXGK_STATUS(bad) == "发现 8 处错误、0 处警告"
    table = XXGK_FINDINGS(bad)
    assert table[0] == ["规则", "级别", "说明", "单元格", "应为", "实际"]
    assert len(table) == 9 and all(len(r) == 6 for r in table)
    assert all(isinstance(v, (str, int, float)) for r in table for v in r)  # Excel-shaped: no None, no lists
    assert [r[0] for r in XXGK_FINDINGS(good)[1:]] == ["text.enumerated_parts"]


def test_udf_expected_value_of_a_total_and_of_a_cross_year_fact(write_workbook):
    book = open_book(write_workbook, "made-up-qingfeng-2021")
    facts = xxgk.load(book.path).facts
    cols = ["natural_persons", "commercial", "research", "nonprofit", "legal_services", "other_orgs"]
    assert XXGK_EXPECTED("applications.received.total", caller=book) == sum(facts[f"applications.received.{c}"] for c in cols)
    book.type_value("applications.received.commercial", facts["applications.received.commercial"] + 5)
    assert XXGK_EXPECTED("applications.received.total", book) == facts["applications.received.total"] + 5
    assert XXGK_EXPECTED("applications.carried_over.natural_persons", book) == "没有规定此项的规则"  # no prior set
    assert XXGK_EXPECTED("nonsense", book) == "未知的事实 id「nonsense」"


def test_udf_label_and_prior(write_workbook):
    assert XXGK_LABEL("applications.received.natural_persons") == "表三「一、本年新收政府信息公开申请数量」自然人"
    assert XXGK_LABEL(None).startswith("未知的事实 id")
    prior = write_workbook(example("made-up-qingfeng-2021"), "prior.xlsx")
    assert XXGK_PRIOR("applications.carried_forward.natural_persons", str(prior)) == 4
    assert XXGK_PRIOR("proactive.fees.amount", str(prior)) == 12.5
    assert XXGK_PRIOR("applications.received.total", "/no/such/file.xlsx").startswith("无法读取上年报告")
    assert XXGK_PRIOR("applications.received.total", None) == "请给出上年报告文件"


def test_every_udf_is_registered_once():
    assert len({f.__name__ for f in UDFS}) == len(UDFS) == 6


def test_a_last_year_file_that_is_not_there_does_not_stop_the_check(write_workbook):
    book = open_book(write_workbook, "made-up-errors-2022")
    sheet, cell = book.names[name_for("setting.prior_file")].split("!")
    book.values[(sheet.strip("'"), cell.replace("$", ""))] = "D:/区政务公开办/2021/不在这台电脑上.xlsx"
    result = validate_book(book)
    assert len(result.errors) == 8  # the year's own checks ran
    assert book.messages[-1].startswith("发现 8 处错误") and "未找到上年报告文件" in book.messages[-1]


# -- the right workbook, its protection options intact -----------------------------------------------


def _template_protection() -> dict[str, dict[str, str]]:
    """Sheet name -> the attributes of its <sheetProtection>, read straight from the template's XML."""
    import io
    import re
    import zipfile

    from xxgk.template import build

    with zipfile.ZipFile(io.BytesIO(build())) as z:
        workbook = z.read("xl/workbook.xml").decode()
        names = re.findall(r'<sheet [^>]*name="([^"]+)"', workbook)
        found = {}
        for n, name in enumerate(names, 1):
            tag = re.search(rb"<sheetProtection ([^>]*)/>", z.read(f"xl/worksheets/sheet{n}.xml"))
            if tag:
                found[name] = {k.decode(): v.decode() for k, v in re.findall(rb'(\w+)="([^"]*)"', tag.group(1))}
    return found


def test_sheets_are_protected_again_with_the_templates_options(write_workbook):
    """Rows and columns may be resized in the template; after 校验 and 清除标记 they still may."""
    from xxgk.sheetbook import PROTECT_OPTIONS

    template = _template_protection()
    book = open_book(write_workbook, "made-up-errors-2022")
    validate_book(book)
    clear_marks(book)
    reprotected = [(sheet, options) for sheet, options in book.protect_calls if options is not None]
    lifted = [sheet for sheet, options in book.protect_calls if options is None]
    assert sorted(s for s, _ in reprotected) == sorted(lifted) and len(set(lifted)) >= 3
    for sheet, options in reprotected:
        xml = template[sheet]
        assert options["Contents"] is True
        for argument, (attribute, allowed) in PROTECT_OPTIONS.items():
            locked = xml.get(attribute) == "1"
            assert options[argument] is ((not locked) if allowed else locked), (sheet, argument)
    tables = [options for sheet, options in reprotected if sheet.startswith("表")]
    assert tables and all(o["AllowFormattingRows"] and o["AllowFormattingColumns"] for o in tables)
    assert all(not o["AllowInsertingRows"] and not o["AllowDeletingRows"] for _, o in reprotected)


class _FakeSheetApi:
    """The part of Excel's Worksheet COM object the add-in touches; it records Protect's arguments."""

    def __init__(self):
        import types

        self.ProtectContents, self.ProtectDrawingObjects, self.ProtectScenarios = True, False, False
        self.Protection = types.SimpleNamespace(**{a: a in ("AllowFormattingColumns", "AllowFormattingRows")
                                                   for a in ("AllowFormattingCells", "AllowFormattingColumns",
                                                             "AllowFormattingRows", "AllowInsertingColumns",
                                                             "AllowInsertingRows", "AllowInsertingHyperlinks",
                                                             "AllowDeletingColumns", "AllowDeletingRows",
                                                             "AllowSorting", "AllowFiltering",
                                                             "AllowUsingPivotTables")})
        self.calls = []

    def Protect(self, *args, **kwargs):
        self.calls.append(("Protect", args, kwargs))

    def Unprotect(self, *args):
        self.calls.append(("Unprotect", args, {}))


def test_the_excel_side_passes_the_options_to_protect():
    import types

    from xxgk.sheetbook import XlwingsBook

    api = _FakeSheetApi()
    book = XlwingsBook(types.SimpleNamespace(sheets={"表三 依申请公开": types.SimpleNamespace(api=api)}))
    options = book.sheet_protection("表三 依申请公开")
    assert options["AllowFormattingRows"] and options["AllowFormattingColumns"] and not options["AllowFormattingCells"]
    assert options["DrawingObjects"] is False and options["Contents"] is True
    book.protect_sheet("表三 依申请公开", None)
    book.protect_sheet("表三 依申请公开", options)
    assert api.calls == [("Unprotect", (), {}), ("Protect", (), options)]  # never a bare Protect()
    api.ProtectContents = False
    assert book.sheet_protection("表三 依申请公开") is None


def test_the_buttons_work_on_the_calling_workbook(write_workbook, monkeypatch):
    """xw.Book.caller() (the workbook whose window the button was pressed in), not xw.books.active."""
    import xlwings as xw

    import xxgk.excel
    import xxgk.sheetbook

    book = open_book(write_workbook, "made-up-errors-2022")
    monkeypatch.setattr(xw.Book, "caller", classmethod(lambda cls: book))
    monkeypatch.setattr(xxgk.sheetbook, "XlwingsBook", lambda b: b)
    xxgk.excel.on_validate()
    assert book.messages[-1] == "发现 8 处错误、0 处警告"
    xxgk.excel.on_clear()
    assert book.messages[-1] == "已清除校验标记"


def test_a_workbook_python_cannot_reach_is_said_in_chinese(monkeypatch, capsys):
    import xlwings as xw

    import xxgk.excel

    def unreachable(cls):
        raise KeyError("报告.xlsx")

    monkeypatch.setattr(xw.Book, "caller", classmethod(unreachable))
    with pytest.raises(SystemExit) as exit:
        xxgk.excel.on_validate()
    assert exit.value.code == 1
    err = capsys.readouterr().err
    assert "无法连接到 Excel 中的工作簿" in err and "请保存工作簿" in err and "Traceback" not in err


# -- the findings without dynamic arrays ---------------------------------------------------------------


def test_findings_entered_as_a_legacy_array_formula_fill_their_range(write_workbook):
    bad = open_book(write_workbook, "made-up-errors-2022")
    full = XXGK_FINDINGS(bad)
    bad.shape = (15, 7)  # Ctrl+Shift+Enter over 15 rows x 7 columns
    table = XXGK_FINDINGS(caller=bad)
    assert len(table) == 15 and all(len(r) == 7 for r in table)
    assert [r[:6] for r in table[:len(full)]] == full
    assert all(r == [""] * 7 for r in table[len(full):])  # empty cells, not #N/A
    assert all(r[6] == "" for r in table)
    bad.shape = (5, 6)  # too short: the last row says so
    short = XXGK_FINDINGS(caller=bad)
    assert short[:4] == full[:4] and len(short) == 5
    assert short[4][2] == f"还有 {len(full) - 4} 条未显示：请把数组公式的区域向下扩大，或改用 XXGK_FINDING"


def test_one_finding_per_cell(write_workbook):
    bad = open_book(write_workbook, "made-up-errors-2022")
    table = XXGK_FINDINGS(bad)
    rows = len(table) - 1
    for n in range(1, rows + 1):
        assert XXGK_FINDING(n, None, caller=bad) == table[n][2]  # 说明 by default
        assert XXGK_FINDING(n, "规则", caller=bad) == table[n][0]
        assert XXGK_FINDING(float(n), 4, bad) == table[n][3]  # the report named by a cell of it
    assert XXGK_FINDING(rows + 1, None, caller=bad) == ""  # a column filled down past the end stays blank
    assert XXGK_FINDING(0, None, bad).startswith("请给出问题的序号")
    assert XXGK_FINDING("x", None, bad).startswith("请给出问题的序号")
    assert XXGK_FINDING(1, "颜色", bad).startswith("请给出 规则、级别、说明")
    good = open_book(write_workbook, "made-up-qingfeng-2021")
    assert XXGK_FINDING(1, None, good) == ""


def test_functions_in_a_second_workbook_examine_the_report_they_point_at(write_workbook):
    """The template's cells are locked: the functions can sit in another workbook, given a cell of the report."""
    report = open_book(write_workbook, "made-up-errors-2022")
    other = open_book(write_workbook, "made-up-qingfeng-2021")  # the workbook the formulas are typed in
    assert XXGK_STATUS(caller=other) == "校验通过"
    assert XXGK_STATUS(report, other) == "发现 8 处错误、0 处警告"
    assert XXGK_FINDINGS(report, other) == XXGK_FINDINGS(caller=report)
    assert XXGK_FINDING(1, "规则", report, other) == XXGK_FINDINGS(caller=report)[1][0]
    assert XXGK_EXPECTED("applications.received.total", report, other) == XXGK_EXPECTED(
        "applications.received.total", caller=report)
    # something that is not a cell: said in the cell, never an exception
    assert XXGK_STATUS("报告.xlsx", other).startswith("无法校验：请给出报告中的一个单元格")
    assert XXGK_FINDING(1, None, 42, other).startswith("无法校验：请给出报告中的一个单元格")


def test_result_sheet_gives_origin_and_the_fingerprint_a_clerk_copies(write_workbook, tmp_path):
    """校验结果 names whose rule each finding is and its fingerprint; copied into the 复核说明 sheet
    (in any spreadsheet, without the add-in) with a reason, it explains that warning."""
    import openpyxl
    from conftest import run_cli

    from xxgk.excel import RESULT_HEADER
    from xxgk.review import FIRST_ROW, SHEET

    path = write_workbook(example("lushan-2021"), "鹿山.xlsx")
    book = MemoryBook.from_xlsx(path)
    result = validate_book(book)
    (warning,) = result.warnings
    rows = book.rows[RESULT_SHEET]
    assert rows[1] == list(RESULT_HEADER)
    column = {name: i for i, name in enumerate(RESULT_HEADER)}
    (row,) = rows[2:]
    assert row[column["规则"]] == warning.rule and row[column["口径"]] == "全国口径"
    assert row[column["指纹"]] == warning.fingerprint and row[column["复核"]] == "未说明"
    links = [a for (s, r, c), a in book.links.items() if s == RESULT_SHEET and r == 3]
    assert [c for (s, r, c) in book.links if s == RESULT_SHEET and r == 3] == [column["单元格"] + 1] and links

    wb = openpyxl.load_workbook(path)  # the clerk copies the 指纹 into 复核说明, as typed text
    wb[SHEET][f"A{FIRST_ROW + 3}"] = row[column["指纹"]]
    wb[SHEET][f"E{FIRST_ROW + 3}"] = "306 条含未列举的栏目"
    copied = tmp_path / "鹿山（已说明）.xlsx"
    wb.save(copied)
    data = json.loads(run_cli("validate", "--format", "json", copied).stdout)["files"][0]
    assert data["warnings_explained"] == 1 and data["findings"][0]["explanation"] == "306 条含未列举的栏目"
    again = MemoryBook.from_xlsx(copied)
    validate_book(again)
    assert again.rows[RESULT_SHEET][2][column["复核"]] == "已说明"


def test_export_json_from_the_addin_keeps_the_explanations(write_workbook, tmp_path):
    document = example("lushan-2021")
    (warning,) = xxgk.validate(xxgk.from_document(copy.deepcopy(document))).warnings
    document["explanations"] = [{"fingerprint": warning.fingerprint, "explanation": "306 条含未列举的栏目"}]
    book = MemoryBook.from_xlsx(write_workbook(document, "鹿山.xlsx"))
    target = export_json(book, tmp_path / "导出.json")
    assert json.loads(target.read_text(encoding="utf-8"))["explanations"] == document["explanations"]
