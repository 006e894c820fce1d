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
from xxgk.udfs import UDFS, XXGK_EXPECTED, XXGK_FINDINGS, XXGK_LABEL, XXGK_PRIOR, XXGK_STATUS


def open_book(write_workbook, name: str, document: dict | None = None) -> MemoryBook:
    return MemoryBook.from_xlsx(write_workbook(document or example(name), f"{name}.xlsx"))


def snapshot(book: MemoryBook) -> dict:
    """Everything the add-in must leave as it found it once its marks are cleared."""
    return copy.deepcopy({"values": book.values, "fills": book.fills, "notes": book.notes, "sheets": book.sheets,
                          "protected": book.protected, "structure": book.structure, "hidden": book.hidden})


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
    assert XXGK_EXPECTED("applications.received.total", book) == sum(facts[f"applications.received.{c}"] for c in cols)
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
    assert len({f.__name__ for f in UDFS}) == len(UDFS) == 5


def test_a_last_year_file_that_is_not_there_does_not_stop_the_check(write_workbook):
    book = open_book(write_workbook, "made-up-errors-2022")
    sheet, cell = book.names[name_for("setting.prior_file")].split("!")
    book.values[(sheet.strip("'"), cell.replace("$", ""))] = "D:/区政务公开办/2021/不在这台电脑上.xlsx"
    result = validate_book(book)
    assert len(result.errors) == 8  # the year's own checks ran
    assert book.messages[-1].startswith("发现 8 处错误") and "未找到上年报告文件" in book.messages[-1]
