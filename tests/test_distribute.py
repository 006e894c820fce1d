"""Sending out one locked template per roster unit, with last year's carry-over (xxgk.distribute).

Last year's reports are real files made by the project's own `fill`; the templates written are read
back with `xxgk.load` and openpyxl, and one is filled in and validated against last year's file.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import openpyxl
import pytest
from conftest import example, get_fact, set_fact
from memorybook import MemoryBook

import xxgk
from xxgk.distribute import (
    Distribution,
    carry_columns,
    distribute,
    file_names,
    safe_name,
)
from xxgk.excel import fact_cells, prior_report
from xxgk.layout import load_layout
from xxgk.rules import load_rules
from xxgk.schema import load_schema

CJK = re.compile(r"[\u4e00-\u9fff]")
QINGFENG = "清风街道（虚构示例）"
COLUMNS = carry_columns()
STOCK = {kind: f"setting.prior.proactive.{kind}.in_force" for kind in ("rules", "normative_documents")}


def write_roster(path: Path, rows: list[tuple[str, ...]], encoding: str = "utf-8", header: bool = True) -> Path:
    lines = (["单位名称,机关代码"] if header else []) + [",".join(row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def write_report(path: Path, document: dict) -> Path:
    """Last year's finalised report, as the project's own code writes it (.xlsx or .json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    report = xxgk.from_document(copy.deepcopy(document))
    path.write_bytes(xxgk.fill(report) if path.suffix == ".xlsx" else report.to_json().encode("utf-8"))
    return path


def cell(path: Path, fact_id: str):
    """The openpyxl cell of a fact or setting in a written template."""
    layout = load_layout()
    sheet, row, col = {**layout.cells, **layout.settings}[fact_id]
    return openpyxl.load_workbook(path)[sheet].cell(row, col)


def cells(path: Path, ids) -> dict:
    layout = load_layout()
    wb = openpyxl.load_workbook(path)
    where = {**layout.cells, **layout.settings}
    return {f: wb[where[f][0]].cell(where[f][1], where[f][2]) for f in ids}


def assert_chinese_error(excinfo) -> None:
    assert CJK.search(str(excinfo.value)), str(excinfo.value)


# -- one template per unit -------------------------------------------------------------------------


def test_one_safe_locked_template_per_roster_unit(tmp_path):
    roster = write_roster(tmp_path / "名单.csv", [
        (QINGFENG, "11330100MB0000001X"), ("../../evil", ""), ("a/b:c*?", "X2"), ("CON", ""), ("=1+1", "")])
    out = tmp_path / "out" / "nested"  # created when missing
    result = distribute(roster, 2024, out)

    assert isinstance(result, Distribution) and len(result) == 5 and result.warnings == []
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".xlsx")
    assert written == sorted(t.path for t in result)
    assert sorted(p.name for p in out.iterdir()) == sorted(t.path.name for t in result)  # all inside out_dir
    for t in result:
        assert t.path.parent == out and t.path.resolve().parent == out.resolve()
        assert re.fullmatch(r"2024年[^<>:\"/\\|?*\x00-\x1f]+政府信息公开工作年度报告\.xlsx", t.path.name), t.path.name
        assert ".." not in t.path.name
        assert t.prior_file is None and t.carried_over == {}
    assert [t.path.name for t in result][1:4] == ["2024年evil政府信息公开工作年度报告.xlsx",
                                                  "2024年a_b_c政府信息公开工作年度报告.xlsx",
                                                  "2024年_CON政府信息公开工作年度报告.xlsx"]

    for t in result:
        report = xxgk.load(t.path)
        assert report.facts["agency"] == t.name  # the roster's name, exactly, even "=1+1" (text, not a formula)
        assert report.facts["year"] == 2024
        assert report.facts.get("agency_code") == (t.code or None)
        got = cells(t.path, ["agency", "year", "agency_code", "applications.received.natural_persons",
                             "applications.carried_over.natural_persons", "setting.prior_file"])
        assert got["agency"].protection.locked and got["year"].protection.locked
        assert got["agency_code"].protection.locked is bool(t.code)  # no code given: the unit fills it in
        assert not got["applications.received.natural_persons"].protection.locked
        assert not got["applications.carried_over.natural_persons"].protection.locked  # no prior: typed in
        assert got["applications.carried_over.natural_persons"].value is None
        assert got["setting.prior_file"].value is None
        wb = openpyxl.load_workbook(t.path)
        assert all(ws.protection.sheet for ws in wb.worksheets)
        assert wb.security.lockStructure
        # locked facts carry no input validation (it would contradict a fixed value)
        ws = wb[load_layout().cells["agency"][0]]
        validated = {str(ref) for dv in ws.data_validations.dataValidation for ref in dv.sqref.ranges}
        assert got["agency"].coordinate not in validated and got["year"].coordinate not in validated


def test_a_gbk_roster_without_header(tmp_path):
    roster = write_roster(tmp_path / "roster.csv", [("鹿山街道", "11330183002500000Q"), ("富阳区教育局", "")],
                          encoding="gbk", header=False)
    result = distribute(roster, 2023, tmp_path / "out")
    assert [(t.name, t.code) for t in result] == [("鹿山街道", "11330183002500000Q"), ("富阳区教育局", "")]
    assert [xxgk.load(t.path).agency for t in result] == ["鹿山街道", "富阳区教育局"]
    assert result[0].path.name == "2023年鹿山街道政府信息公开工作年度报告.xlsx"


def test_colliding_safe_names_get_distinct_files(tmp_path):
    roster = write_roster(tmp_path / "r.csv", [("a/b", ""), ("a:b", ""), ("A_B", ""), ("a_b_2", "")])
    result = distribute(roster, 2024, tmp_path / "out")
    names = [t.path.name for t in result]
    assert len({n.casefold() for n in names}) == 4  # distinct even where case is ignored (Windows, macOS)
    assert len(list((tmp_path / "out").iterdir())) == 4
    assert [xxgk.load(t.path).agency for t in result] == ["a/b", "a:b", "A_B", "a_b_2"]


def test_safe_name_rule():
    assert safe_name("../../evil") == "evil"
    assert safe_name("..") == safe_name(" . ") == safe_name("") == safe_name("???") == "未命名单位"
    assert safe_name("con.txt") == "_con.txt" and safe_name("LPT1") == "_LPT1"
    assert safe_name("清风\x07街道\u202e") == "清风_街道"
    assert safe_name("a  b\u3000c") == "a b c" and safe_name("a\tb\nc") == "a_b_c"
    long = safe_name("街" * 200)
    assert len(long.encode("utf-8")) <= 150 and set(long) == {"街"}
    assert file_names(2024, ["x", "X"]) == ["2024年x政府信息公开工作年度报告.xlsx", "2024年X_2政府信息公开工作年度报告.xlsx"]


def test_rerunning_gives_identical_files_and_a_returned_report_is_not_overwritten(tmp_path):
    roster = write_roster(tmp_path / "r.csv", [(QINGFENG, ""), ("鹿山街道", "")])
    out = tmp_path / "out"
    first = distribute(roster, 2022, out)
    data = [t.path.read_bytes() for t in first]
    second = distribute(roster, 2022, out)
    assert [t.path.read_bytes() for t in second] == data
    # a unit sent its filled report back under the same name: never written over without overwrite=True
    doc = set_fact(example("made-up-qingfeng-2022"), "agency", QINGFENG)
    filled = write_report(first[0].path, doc)
    before = filled.read_bytes()
    with pytest.raises(xxgk.XxgkError) as excinfo:
        distribute(roster, 2022, out)
    assert_chinese_error(excinfo)
    assert filled.read_bytes() == before
    distribute(roster, 2022, out, overwrite=True)
    assert filled.read_bytes() == data[0]


# -- last year's carry-over ------------------------------------------------------------------------


@pytest.fixture
def prior_dir(tmp_path) -> Path:
    """Last year's (2021) finalised reports in nested folders, and things that must not be used."""
    folder = tmp_path / "2021年报告"
    write_report(folder / "街道" / "清风.xlsx", example("made-up-qingfeng-2021"))
    renamed = set_fact(example("lushan-2021"), "agency_code", "11330183002500000Q")
    set_fact(renamed, "agency", "鹿山街道办事处（旧名）")  # renamed since; the code is what matches
    write_report(folder / "街道" / "鹿山.json", renamed)
    wrong_year = set_fact(example("made-up-qingfeng-2022"), "agency", "银湖街道")  # a 2022 report: not 2021's
    write_report(folder / "银湖-2022.xlsx", wrong_year)
    (folder / "损坏.xlsx").write_bytes(b"not a workbook")
    (folder / "说明.json").write_text("{", encoding="utf-8")
    return folder


def test_prior_carry_over_is_written_and_locked(tmp_path, prior_dir):
    roster = write_roster(tmp_path / "r.csv", [(QINGFENG, ""), ("鹿山街道", "11330183002500000Q"),
                                               ("银湖街道", ""), ("新设街道", "")])
    result = distribute(roster, 2022, tmp_path / "out", prior_dir)
    qingfeng, lushan, yinhu, new = result

    assert qingfeng.prior_file == prior_dir / "街道" / "清风.xlsx"
    assert lushan.prior_file == prior_dir / "街道" / "鹿山.json"
    assert yinhu.prior_file is None and new.prior_file is None  # wrong year; none at all
    assert "未找到" in yinhu.note and "未找到" in new.note
    assert result.without_prior == [yinhu, new]
    assert len(result.warnings) == 2 and all("无法读取" in w for w in result.warnings)
    assert {Path(w.split("：")[0]).name for w in result.warnings} == {"损坏.xlsx", "说明.json"}

    for t, source in ((qingfeng, "made-up-qingfeng-2021"), (lushan, "lushan-2021")):
        last = example(source)
        report = xxgk.load(t.path)
        ids = [f"applications.carried_over.{c}" for c in COLUMNS]
        got = cells(t.path, [*ids, "applications.carried_over.total", *STOCK.values(), "setting.prior_file"])
        for c in COLUMNS:
            expected = get_fact(last, f"applications.carried_forward.{c}")
            assert report.facts[f"applications.carried_over.{c}"] == expected
            assert got[f"applications.carried_over.{c}"].value == expected
            assert got[f"applications.carried_over.{c}"].protection.locked
            assert t.carried_over[f"applications.carried_over.{c}"] == expected
        # the total stays the template's formula, and reads as last year's total
        assert str(got["applications.carried_over.total"].value).startswith("=SUM(")
        assert report.facts["applications.carried_over.total"] == get_fact(last, "applications.carried_forward.total")
        for kind, setting in STOCK.items():
            assert got[setting].value == get_fact(last, f"proactive.{kind}.in_force")
        assert got["setting.prior_file"].value == str(t.prior_file.resolve())
        assert Path(got["setting.prior_file"].value).is_file()
        # nothing else was carried: this year's numbers are for the unit to fill in
        assert report.facts.get("applications.received.natural_persons") is None
        assert not cells(t.path, ["applications.carried_forward.natural_persons"])[
            "applications.carried_forward.natural_persons"].protection.locked
    assert xxgk.load(lushan.path).facts["agency"] == "鹿山街道"  # this year's roster name, not last year's

    for t in (yinhu, new):  # plain templates
        got = cells(t.path, [*(f"applications.carried_over.{c}" for c in COLUMNS), *STOCK.values(), "setting.prior_file"])
        for c in COLUMNS:
            assert got[f"applications.carried_over.{c}"].value is None
            assert not got[f"applications.carried_over.{c}"].protection.locked
        assert all(got[s].value is None for s in (*STOCK.values(), "setting.prior_file"))
        assert t.carried_over == {} and t.prior_in_force == {}


def test_matching_by_code_wins_over_name(tmp_path):
    prior = tmp_path / "prior"
    write_report(prior / "a.xlsx", set_fact(example("made-up-qingfeng-2021"), "agency_code", "CODE-OLD"))
    roster = write_roster(tmp_path / "r.csv", [(QINGFENG, "CODE-NEW")])  # same name, another code
    result = distribute(roster, 2022, tmp_path / "out", prior)
    assert result[0].prior_file is None
    assert any("机关代码不同" in w for w in result.warnings)


def test_two_different_prior_reports_for_one_unit_are_not_guessed_between(tmp_path):
    prior = tmp_path / "prior"
    write_report(prior / "初稿.xlsx", example("made-up-qingfeng-2021"))
    changed = set_fact(example("made-up-qingfeng-2021"), "applications.carried_forward.commercial", 3)
    write_report(prior / "定稿.json", changed)
    roster = write_roster(tmp_path / "r.csv", [(QINGFENG, "")])
    result = distribute(roster, 2022, tmp_path / "out", prior)
    assert result[0].prior_file is None and result[0].carried_over == {}
    assert any("不一致" in w for w in result.warnings)
    # the same report twice (workbook and its exported JSON) is no ambiguity; the workbook is named
    write_report(prior / "定稿.json", example("made-up-qingfeng-2021"))
    again = distribute(roster, 2022, tmp_path / "out2", prior)
    assert again[0].prior_file == prior / "初稿.xlsx"


def test_computed_totals_are_never_given_or_locked():
    computed = load_rules().computed()
    assert "applications.carried_over.total" in computed
    assert "total" not in COLUMNS and len(COLUMNS) == 6
    assert all(f"applications.carried_over.{c}" in load_schema().facts for c in COLUMNS)


# -- a distributed template, filled in and sent back -----------------------------------------------


def fill_in(template: Path, document: dict, out: Path) -> Path:
    """Type the document's numbers and texts into the template as a unit would: only the open cells."""
    layout, computed = load_layout(), load_rules().computed()
    wb = openpyxl.load_workbook(template)
    for fact_id, value in load_schema().flatten(document).items():
        sheet, row, col = layout.cells[fact_id]
        target = wb[sheet].cell(row, col)
        if fact_id in computed or value is None or load_schema().facts[fact_id].kind == "const":
            continue
        if target.protection.locked:
            assert target.value == value, fact_id  # given by the district and locked: already right
            continue
        target.value = value
    wb.save(out)
    return out


def test_a_filled_in_template_passes_the_cross_year_check(tmp_path, prior_dir):
    roster = write_roster(tmp_path / "r.csv", [(QINGFENG, "")])
    (template,) = distribute(roster, 2022, tmp_path / "out", prior_dir)
    last_year = template.prior_file

    # this year's numbers (made-up-qingfeng-2022), made consistent with what the template carries:
    # 二、上年结转 is last year's 四 (locked); 四 changes by the same amount, so 一+二 = 三（七）+四 holds
    doc = example("made-up-qingfeng-2022")
    for c in COLUMNS:
        delta = template.carried_over[f"applications.carried_over.{c}"] - get_fact(doc, f"applications.carried_over.{c}")
        set_fact(doc, f"applications.carried_over.{c}", template.carried_over[f"applications.carried_over.{c}"])
        set_fact(doc, f"applications.carried_forward.{c}", get_fact(doc, f"applications.carried_forward.{c}") + delta)
        assert get_fact(doc, f"applications.carried_forward.{c}") >= 0
    for row in ("carried_over", "carried_forward"):
        set_fact(doc, f"applications.{row}.total", sum(get_fact(doc, f"applications.{row}.{c}") for c in COLUMNS))
    doc["texts"]["overview"] = doc["texts"]["overview"].replace("上年结转7件", "上年结转6件").replace(
        "结转下年度继续办理5件", "结转下年度继续办理4件")

    returned = fill_in(template.path, doc, tmp_path / "returned.xlsx")
    report = xxgk.load(returned)
    result = xxgk.validate(report, prior=xxgk.load(last_year))
    assert not [f for f in result.findings if f.rule == "prior.carried_over"], result.findings
    assert not [f for f in result.findings if f.severity == "error"], [f.message for f in result.findings]

    # the add-in's 校验 finds last year's file through the setting the template carries
    book = MemoryBook.from_xlsx(returned)
    prior = prior_report(book, fact_cells(book))
    assert prior is not None and prior.path == last_year.resolve()

    # the check has teeth: the unit's original 上年结转 (5, not 4 natural persons) is what it now cannot type
    original = xxgk.from_document(example("made-up-qingfeng-2022"))
    assert [f for f in xxgk.validate(original, prior=xxgk.load(last_year)).findings if f.rule == "prior.carried_over"]


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows, why", [
    ([(QINGFENG, ""), ("鹿山街道", ""), (QINGFENG, "")], "重复"),
    ([("清风街道", ""), ("清风 街道", "")], "重复"),  # the same name, spaced differently
    ([("甲", "X1"), ("乙", "x1")], "重复"),  # the same code
    ([], "空"),
    ([("甲\x01乙", "")], "控制字符"),
    ([("街" * 201, "")], "上限"),
])
def test_bad_rosters_are_refused_in_chinese(tmp_path, rows, why):
    roster = write_roster(tmp_path / "r.csv", rows)
    with pytest.raises(xxgk.XxgkError) as excinfo:
        distribute(roster, 2024, tmp_path / "out")
    assert_chinese_error(excinfo)
    assert why in str(excinfo.value)
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("year", [2019, 2020, 2101, "2024", 2024.0, True, None])
def test_a_bad_year_is_refused(tmp_path, year):
    roster = write_roster(tmp_path / "r.csv", [("甲", "")])
    with pytest.raises(xxgk.XxgkError) as excinfo:
        distribute(roster, year, tmp_path / "out")
    assert_chinese_error(excinfo)
    assert "年度" in str(excinfo.value)


def test_missing_roster_bad_out_dir_and_bad_prior_dir(tmp_path):
    roster = write_roster(tmp_path / "r.csv", [("甲", "")])
    for args in ((tmp_path / "没有这个文件.csv", 2024, tmp_path / "out"),
                 (tmp_path, 2024, tmp_path / "out"),  # a folder given as the roster
                 (roster, 2024, roster),  # out_dir is an existing file
                 (roster, 2024, tmp_path / "out", tmp_path / "没有这个文件夹"),
                 (roster, 2024, tmp_path / "out", roster)):  # prior_dir is a file
        with pytest.raises(xxgk.XxgkError) as excinfo:
            distribute(*args)
        assert_chinese_error(excinfo)
    assert not (tmp_path / "out").exists()


def test_the_longest_allowed_name_still_makes_a_file(tmp_path):
    name = "很长的单位名称" * 28 + "局局局局"  # 200 characters, 600 bytes in UTF-8: over any file-name limit
    roster = write_roster(tmp_path / "r.csv", [(name, "")])
    (t,) = distribute(roster, 2024, tmp_path / "out")
    assert len(t.path.name.encode("utf-8")) < 220 and t.path.is_file()
    assert xxgk.load(t.path).agency == name


def test_the_stock_carried_by_the_template_checks_rule_7_without_last_years_file(tmp_path, prior_dir):
    """`xxgk validate` on a returned template, given nothing else, still checks 现行有效件数 against last year."""
    roster = write_roster(tmp_path / "r.csv", [(QINGFENG, "")])
    (template,) = distribute(roster, 2022, tmp_path / "out", prior_dir)
    doc = example("made-up-qingfeng-2022")  # its 行政规范性文件 stock does not roll forward from 2021 (20 ≠ 17+2−1)
    for c in COLUMNS:
        set_fact(doc, f"applications.carried_over.{c}", template.carried_over.get(f"applications.carried_over.{c}", 0))
    returned = fill_in(template.path, doc, tmp_path / "returned.xlsx")
    report = xxgk.load(returned)
    assert report.prior_hints == {"proactive.rules.in_force": 0, "proactive.normative_documents.in_force": 17}
    stock = [f for f in xxgk.validate(report).findings if f.rule == "prior.in_force"]
    assert [(f.actual, f.expected) for f in stock] == [(20, 18)]
    assert all(f.rule != "prior.carried_over" for f in xxgk.validate(report).findings)  # no year file: not judged
