"""The template: committed file = generator, official labels and structure, protection, validation, names."""

from __future__ import annotations

import io

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from conftest import example, soffice_roundtrip
from xxgk import from_document, load, validate
from xxgk.layout import META_SHEET, a1, load_layout, name_for
from xxgk.resources import template_path
from xxgk.rules import load_rules
from xxgk.schema import load_schema
from xxgk.template import build, template_identity


@pytest.fixture(scope="module")
def wb():
    return openpyxl.load_workbook(io.BytesIO(build()))


def test_committed_template_is_what_the_code_builds():
    assert template_path().read_bytes() == build(), (
        "templates/report_template.xlsx drifted from the generator: run `xxgk template -o templates/report_template.xlsx`"
    )


def test_build_is_reproducible():
    assert build() == build()


def test_sheets_in_official_order_and_identity_sheet_hidden(wb):
    assert wb.sheetnames == ["基本信息", "表二 主动公开", "表三 依申请公开", "表四 复议诉讼", "文字部分", "校验", "复核说明", META_SHEET]
    meta = wb[META_SHEET]
    assert meta.sheet_state == "veryHidden"
    assert {row[0]: row[1] for row in meta.iter_rows(values_only=True)} == template_identity()
    assert template_identity()["format"] == "2021"


def test_workbook_and_sheets_are_protected(wb):
    assert wb.security.lockStructure
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title


def test_every_fact_has_a_defined_name_at_its_cell(wb):
    layout = load_layout()
    assert len(load_schema().facts) == 211
    for fact_id, (sheet, row, col) in layout.cells.items():
        name = wb.defined_names[name_for(fact_id)]
        ((dest_sheet, dest_cell),) = list(name.destinations)
        assert (dest_sheet, dest_cell) == (sheet, a1(row, col, absolute=True)), fact_id


def test_input_cells_unlocked_with_validation_and_everything_else_locked(wb):
    schema, layout = load_schema(), load_layout()
    computed = load_rules().computed()
    kinds = {"count": ("whole", "0"), "amount": ("decimal", "0"), "integer": ("whole", "2021")}
    for fact_id, (sheet, row, col) in layout.cells.items():
        ws = wb[sheet]
        cell = ws.cell(row, col)
        fact = schema.facts[fact_id]
        validations = [dv for dv in ws.data_validations.dataValidation if cell.coordinate in dv.sqref]
        if fact_id in computed or fact.kind == "const":
            assert cell.protection.locked, fact_id
            assert not validations, fact_id
            continue
        assert not cell.protection.locked, fact_id
        assert len(validations) == 1, fact_id
        dv = validations[0]
        assert dv.showInputMessage and dv.prompt and dv.showErrorMessage
        if fact.kind in kinds:
            assert (dv.type, dv.formula1) == kinds[fact.kind], fact_id
    # labels and headers are locked (the default): spot-check every label cell
    for sheet in layout.sheets:
        for label in sheet.labels:
            assert wb[sheet.name].cell(label.row, label.col).protection.locked


def test_totals_are_sum_formulas(wb):
    layout = load_layout()
    ws = wb["表三 依申请公开"]
    computed = load_rules().computed()
    assert len(computed) == 25 + 6 + 3  # row totals of 三, (七) for six columns, totals of 四
    _, row, col = layout.cells["applications.received.total"]
    _, _, first = layout.cells["applications.received.natural_persons"]
    assert ws.cell(row, col).value == f"=SUM({a1(row, first)}:{a1(row, col - 1)})"
    _, trow, tcol = layout.cells["applications.results.total.research"]
    _, grow, _ = layout.cells["applications.results.granted.research"]
    assert ws.cell(trow, tcol).value == f"=SUM({a1(grow, tcol)}:{a1(trow - 1, tcol)})"
    _, r4, c4 = layout.cells["reviews.reconsideration.total"]
    assert wb["表四 复议诉讼"].cell(r4, c4).value == f"=SUM({a1(r4, c4 - 4)}:{a1(r4, c4 - 1)})"


def _merged_text(ws, text):
    for rng in ws.merged_cells.ranges:
        if ws.cell(rng.min_row, rng.min_col).value == text:
            return rng
    return None


def test_table_three_reproduces_the_official_labels_and_merges(wb):
    ws = wb["表三 依申请公开"]
    note = _merged_text(ws, "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）")
    assert note is not None and (note.min_col, note.max_col, note.max_row - note.min_row) == (1, 3, 2)
    header = _merged_text(ws, "申请人情况")
    assert (header.min_col, header.max_col) == (4, 10)
    orgs = _merged_text(ws, "法人或其他组织")
    assert [ws.cell(orgs.max_row + 1, c).value for c in range(orgs.min_col, orgs.max_col + 1)] == [
        "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"]
    assert ws.cell(orgs.min_row, 4).value == "自然人" and ws.cell(orgs.min_row, 10).value == "总计"
    results = _merged_text(ws, "三、本年度办理结果")
    assert results.max_row - results.min_row + 1 == 22  # 21 item rows and （七）总计
    withheld = _merged_text(ws, "（三）不予公开")
    assert withheld.max_row - withheld.min_row + 1 == 8
    # each data row's own label, in order, exactly the schema's titles
    schema, layout = load_schema(), load_layout()
    for row_path in schema.rows("applications"):
        _, row, _ = layout.cells[f"applications.{row_path}.total"]
        depth = row_path.count(".") + 1
        assert ws.cell(row, depth).value == schema.object(f"applications.{row_path}")["title"]
    assert ws.cell(layout.cells["applications.results.other.unpaid_fees.total"][1], 3).value == (
        "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请")


def test_tables_two_and_four_headers(wb):
    ws2 = wb["表二 主动公开"]
    blocks = [ws2.cell(r, 1).value for r in range(1, ws2.max_row + 1) if str(ws2.cell(r, 1).value).startswith("第二十条")]
    assert blocks == ["第二十条第（一）项", "第二十条第（五）项", "第二十条第（六）项", "第二十条第（八）项"]
    assert ws2.cell(load_layout().cells["proactive.fees.amount"][1] - 1, 2).value == "本年收费金额（单位：万元）"
    ws4 = wb["表四 复议诉讼"]
    reconsideration = _merged_text(ws4, "行政复议")
    assert reconsideration.max_row - reconsideration.min_row == 1  # spans the two upper header rows
    litigation = _merged_text(ws4, "行政诉讼")
    assert (litigation.min_col, litigation.max_col) == (6, 15)
    assert [ws4.cell(reconsideration.max_row + 1, c).value for c in range(1, 6)] == ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]
    assert _merged_text(ws4, "未经复议直接起诉") and _merged_text(ws4, "复议后起诉")


def test_printing_on_a4(wb):
    orientation = {"表三 依申请公开": "landscape", "表四 复议诉讼": "landscape", "表二 主动公开": "portrait"}
    for ws in wb.worksheets[:5]:
        assert int(ws.page_setup.paperSize) == 9  # A4
        assert ws.print_area
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        if ws.title in orientation:
            assert ws.page_setup.orientation == orientation[ws.title]
    assert wb["表三 依申请公开"].print_title_rows == "$3:$5"


def test_text_values_stay_text_even_when_they_look_like_formulas(tmp_path, clean_doc):
    clean_doc["agency"] = "=HYPERLINK(\"x\")"
    path = tmp_path / "r.xlsx"
    from xxgk import fill

    path.write_bytes(fill(from_document(clean_doc)))
    ws = openpyxl.load_workbook(path)["基本信息"]
    _, row, col = load_layout().cells["agency"]
    assert ws.cell(row, col).data_type == "s"
    assert load(path).agency == "=HYPERLINK(\"x\")"


def test_libreoffice_accepts_names_and_computes_the_same_totals(tmp_path, write_workbook):
    """The defined-name form and the sum formulas work in LibreOffice: it opens, recalculates and saves."""
    doc = example("made-up-qingfeng-2021")
    source = write_workbook(doc, "filled.xlsx")
    assert load(source).derived  # openpyxl left the formulas without values
    saved = soffice_roundtrip(source, tmp_path / "lo")
    report = load(saved)
    book = CalamineWorkbook.from_path(str(saved))
    for fact_id in load_rules().computed():  # LibreOffice computed and stored every total
        sheet, row, col = load_layout().cells[fact_id]
        assert book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)[row - 1][col - 1] == report.facts[fact_id]
    assert report.document == doc
    assert validate(report).valid
    names = openpyxl.load_workbook(saved).defined_names
    assert all(name_for(f) in names for f in load_layout().cells)
