"""The template checks itself: its formulas, recalculated by LibreOffice, give the validator's verdict.

The workbooks are filled by the project's own code; LibreOffice (headless, recalculating on load)
computes the check sheet; python-calamine reads the statuses back; `checks.statuses` says what the
Python validator concludes on the same file. The two must agree on every row.
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from python_calamine import CalamineWorkbook

import xxgk
from conftest import EXAMPLES, example, soffice, soffice_recalculate
from strategies import reports
from xxgk.checks import FIRST_ROW, SHEET, STATUS, build_checks, flags, load_checks, statuses
from xxgk.layout import load_layout
from xxgk.resources import schema_path
from xxgk.rules import expand, load_rules
from xxgk.schema import load_schema
from xxgk.template import build

PORTABLE = {"IF", "AND", "OR", "NOT", "COUNT", "COUNTA", "COUNTIF", "ISBLANK", "ISNUMBER", "ISTEXT", "ISLOGICAL",
            "INT", "LEN", "SUM", "ABS",
            # the print copy of 文字部分 cuts texts into lines: character-based in Excel, WPS and LibreOffice
            # alike (not the byte-based MIDB/LEFTB), CHAR(10) is the line feed everywhere, IFERROR since Excel 2007
            "MID", "LEFT", "FIND", "CHAR", "IFERROR"}


def sheet_statuses(path: Path) -> tuple[str, list[str], dict[str, str]]:
    """(overall verdict, status per check row, the status line of every other sheet) as LibreOffice left them."""
    book = CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_name(SHEET).to_python(skip_empty_area=False)
    n = len(load_checks().rows)
    column = [r[6] for r in rows[FIRST_ROW - 1:FIRST_ROW - 1 + n]]
    lines = {s.name: book.get_sheet_by_name(s.name).to_python(skip_empty_area=False)[1][0] for s in load_layout().sheets}
    return rows[1][0], column, lines


def python_overall(verdicts: dict[str, str]) -> str:
    """The one-line verdict the check sheet should show, from the validator's statuses."""
    first_type = load_checks().type_rows[0] - FIRST_ROW
    keys = [r.key for r in load_checks().rows]
    counts = Counter(verdicts[k] for k in keys)
    blanks = sum(1 for k in keys[first_type:] if verdicts[k] == STATUS["blank"])
    errors, warnings = counts[STATUS["error"]], counts[STATUS["warning"]]
    if errors:
        return f"发现 {errors} 处错误" + (f"，{blanks} 处未填" if blanks else "")
    if blanks:
        return f"有 {blanks} 处未填"
    return f"校验通过，有 {warnings} 处警告" if warnings else "校验通过"


def disagreements(filled: Path, recalculated: Path) -> list[tuple[str, str, str]]:
    overall, column, lines = sheet_statuses(recalculated)
    verdicts = statuses(xxgk.load(filled))
    out = [(row.key, column[i], verdicts[row.key]) for i, row in enumerate(load_checks().rows)
           if column[i] != verdicts[row.key]]
    if overall != python_overall(verdicts):
        out.append(("overall", overall, python_overall(verdicts)))
    out.extend((f"status line of {name}", line, overall) for name, line in lines.items() if line != overall)
    return out


# -- structure ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template_wb():
    return openpyxl.load_workbook(io.BytesIO(build()))


def test_one_row_per_rule_instance_and_per_input_cell(template_wb):
    rules, schema = load_rules(), load_schema()
    sheet = load_checks()
    in_sheet = [i for i in rules.instances if not i.rule.requires]
    inputs = [f for f in schema.facts if schema.facts[f].kind != "const" and f not in rules.computed()]
    assert [r.key for r in sheet.rows] == [i.key for i in in_sheet] + [f"value.type[{f}]" for f in inputs]
    assert len(in_sheet) == 43 and len(inputs) == 176
    ws = template_wb[SHEET]
    for i, row in enumerate(sheet.rows):
        r = FIRST_ROW + i
        assert ws.cell(r, 2).value == row.rule
        assert ws.cell(r, 4).value == row.statement
        assert ws.cell(r, 7).value == row.status
    assert ws.cell(FIRST_ROW, 4).value == "表三（自然人列）：第三项（七）总计 + 第四项 = 第一项 + 第二项"


def test_rules_needing_last_year_or_the_text_are_sent_to_the_validator(template_wb):
    note = template_wb[SHEET].cell(3, 1).value
    assert "xxgk validate" in note and "加载项" in note
    for rule in load_rules().rules:
        assert (rule.id in note) == bool(rule.requires), rule.id


def _formulas(wb) -> list[str]:
    found = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            found.extend(c.value for c in row if isinstance(c.value, str) and c.value.startswith("="))
        for rng in ws.conditional_formatting:
            found.extend(f for rule in rng.rules for f in (rule.formula or []))
    return found


def test_only_functions_every_spreadsheet_computes_alike(template_wb):
    formulas = _formulas(template_wb)
    assert len(formulas) > 500
    used = {name for f in formulas for name in re.findall(r"([A-Z][A-Z0-9.]*)\(", f)}
    assert used <= PORTABLE, used - PORTABLE
    assert max(len(f) for f in formulas) < 8192  # Excel's limit on a formula's length


def test_cells_taking_part_in_a_rule_carry_its_colour(template_wb):
    layout, sheet = load_layout(), load_checks()
    marks = flags()
    for fact_id, (sheet_name, row, col) in layout.cells.items():
        rows = [i for i, r in enumerate(sheet.rows) if fact_id in r.facts]
        if not rows:
            assert fact_id not in marks
            continue
        ws = template_wb[sheet_name]
        coord = ws.cell(row, col).coordinate
        rules = [rule for rng in ws.conditional_formatting if coord in rng.sqref for rule in rng.rules]
        assert [r.formula[0] for r in rules] == [m for m in marks[fact_id] if m], fact_id
        referenced = {int(n) - FIRST_ROW for m in marks[fact_id] for n in re.findall(r"\$G\$(\d+)", m)}
        assert referenced == set(rows), fact_id


def test_a_rule_added_to_the_rule_file_appears_in_the_sheet():
    raw = json.loads(schema_path("rules.json").read_text(encoding="utf-8"))
    raw["rules"].append({
        "id": "custom.penalties_le_licensing", "format_rule": 9, "kind": "check", "severity": "warning",
        "source": "测试", "statement": "行政处罚决定不多于行政许可决定",
        "check": "proactive.penalties.decisions <= proactive.licensing.decisions", "message": "{actual} > {expected}",
    })
    sheet = build_checks(expand(raw, load_schema()))
    (row,) = [r for r in sheet.rows if r.rule == "custom.penalties_le_licensing"]
    assert row.statement == "行政处罚决定不多于行政许可决定"
    assert f'"{STATUS["warning"]}"' in row.status and "<=" in row.status
    assert row.facts == ("proactive.penalties.decisions", "proactive.licensing.decisions")
    assert len(sheet.rows) == len(load_checks().rows) + 1


# -- two engines, one verdict --------------------------------------------------------------------------


def test_blank_template_says_what_is_unfilled(tmp_path):
    blank = tmp_path / "blank.xlsx"
    blank.write_bytes(build())
    (done,) = soffice_recalculate([blank], tmp_path / "lo", processes=1)
    overall, column, lines = sheet_statuses(done)
    required_inputs = [r for r in load_checks().rows[load_checks().type_rows[0] - FIRST_ROW:]
                       if load_schema().facts[r.facts[0]].required]
    assert overall == f"有 {len(required_inputs)} 处未填"
    assert set(lines.values()) == {overall}
    n_rules = load_checks().type_rows[0] - FIRST_ROW
    assert set(column[:n_rules]) == {STATUS["blank"]}


def test_examples_agree_and_broken_cells_are_flagged(tmp_path):
    sources = []
    for path in sorted(EXAMPLES.glob("*.json")):
        target = tmp_path / "in" / f"{path.stem}.xlsx"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(xxgk.fill(xxgk.load(path)))
        sources.append(target)
    done = soffice_recalculate(sources, tmp_path / "out")
    for filled, recalculated in zip(sources, done, strict=True):
        assert disagreements(filled, recalculated) == [], filled.name
    errors = dict(zip([s.stem for s in sources], done, strict=True))["made-up-errors-2022"]
    overall, column, _ = sheet_statuses(errors)
    assert overall.startswith("发现 ") and "处错误" in overall
    red = {f for i, row in enumerate(load_checks().rows) if column[i] == STATUS["error"] for f in row.facts}
    result = xxgk.validate(xxgk.load(sources[[s.stem for s in sources].index("made-up-errors-2022")]))
    expected_red = {f for finding in result.errors for f in finding.facts
                    if not load_rules().rule(finding.rule).requires
                    and not (finding.rule == "value.type" and finding.actual is None)}  # blank: shown as 未填
    assert red == expected_red  # exactly the cells of the validator's errors are coloured red


def test_stale_cached_values_are_recalculated(tmp_path):
    """A file saved with cached values whose inputs were then changed: the recalculation must not trust them."""
    doc = example("made-up-qingfeng-2021")
    first = tmp_path / "a.xlsx"
    first.write_bytes(xxgk.fill(xxgk.from_document(doc)))
    (cached,) = soffice_recalculate([first], tmp_path / "one", processes=1)
    _, row, col = load_layout().cells["reviews.reconsideration.upheld"]
    target = f'r="{openpyxl.utils.get_column_letter(col)}{row}"'
    stale = tmp_path / "stale.xlsx"
    with zipfile.ZipFile(cached) as src, zipfile.ZipFile(stale, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            sheet_part = f"xl/worksheets/sheet{[s.name for s in load_layout().sheets].index('表四 复议诉讼') + 1}.xml"
            if info.filename == sheet_part:  # LibreOffice writes the sheets in order
                data, n = re.subn(rb"(<c " + target.encode() + rb"[^>]*><v>)[^<]*", rb"\g<1>90", data)
                assert n == 1
            dst.writestr(info, data)
    group = doc["reviews"]["reconsideration"]
    fresh_total = 90 + group["corrected"] + group["other"] + group["pending"]
    assert xxgk.load(stale).facts["reviews.reconsideration.total"] == group["total"] != fresh_total  # stale cache
    (fresh,) = soffice_recalculate([stale], tmp_path / "two", processes=1)
    assert xxgk.load(fresh).facts["reviews.reconsideration.total"] == fresh_total
    assert disagreements(fresh, fresh) == []


# -- the property: hundreds of generated reports, every row equal -------------------------------------

def test_property_both_engines_agree_on_every_rule_instance(tmp_path):
    soffice()  # skip (or fail in CI) before generating anything
    cases: list[dict] = []

    @settings(max_examples=350, suppress_health_check=list(HealthCheck))  # a few come out alike: 300+ distinct
    @given(reports())
    def collect(document):
        cases.append(copy.deepcopy(document))

    collect()
    unique = {json.dumps(c, sort_keys=True, ensure_ascii=False): c for c in cases}
    assert len(unique) >= 300
    sources = []
    (tmp_path / "in").mkdir()
    for n, document in enumerate(unique.values()):
        path = tmp_path / "in" / f"case{n:04}.xlsx"
        path.write_bytes(xxgk.fill(xxgk.from_document(document)))
        sources.append(path)
    done = soffice_recalculate(sources, tmp_path / "out")
    compared, failures, verdicts = 0, {}, Counter()
    for filled, recalculated in zip(sources, done, strict=True):
        diff = disagreements(filled, recalculated)
        compared += len(load_checks().rows)
        verdicts.update(statuses(xxgk.load(filled)).values())
        if diff:
            failures[filled.name] = diff[:5]
    print(f"\n{len(sources)} reports, {compared} rule instances compared, {len(failures)} disagreeing; verdicts {dict(verdicts)}")
    assert not failures, json.dumps(dict(list(failures.items())[:5]), ensure_ascii=False, indent=1)
    # the generated reports exercise every verdict
    assert {STATUS[k] for k in ("pass", "error", "blank", "invalid", "n/a")} <= set(verdicts)


# -- surviving a LibreOffice round trip ---------------------------------------------------------------


def test_template_survives_libreoffice(tmp_path, template_wb):
    source = tmp_path / "template.xlsx"
    source.write_bytes(build())
    (saved,) = soffice_recalculate([source], tmp_path / "lo", processes=1)
    after = openpyxl.load_workbook(saved)
    layout = load_layout()
    assert [ws.title for ws in after.worksheets] == [ws.title for ws in template_wb.worksheets]
    assert after["_xxgk"].sheet_state in ("hidden", "veryHidden")
    for ws in template_wb.worksheets:
        other = after[ws.title]
        assert other.protection.sheet, ws.title
        assert len(other.data_validations.dataValidation) == len(ws.data_validations.dataValidation), ws.title
        assert len(other.conditional_formatting) >= len(ws.conditional_formatting), ws.title
    for fact_id, (sheet, row, col) in layout.cells.items():
        before, now = template_wb[sheet].cell(row, col), after[sheet].cell(row, col)
        assert now.protection.locked == before.protection.locked, fact_id
        assert fact_id and after.defined_names[f"xxgk_{fact_id.replace('.', '__')}"]
        if isinstance(before.value, str) and before.value.startswith("="):
            assert isinstance(now.value, str) and now.value.replace("$", "").startswith("=SUM("), fact_id
    check_before, check_after = template_wb[SHEET], after[SHEET]
    for i in range(len(load_checks().rows)):
        assert str(check_after.cell(FIRST_ROW + i, 7).value).startswith("=IF("), i
    assert check_before.max_row == check_after.max_row
    # and the validator still reads it as the same template
    assert xxgk.load(saved).facts.get("format") == "2021"


@pytest.mark.xfail(strict=True, reason="LibreOffice does not import or write workbook structure protection "
                                       "(<workbookProtection lockStructure>) in .xlsx; sheet protection survives")
def test_workbook_structure_lock_survives_libreoffice(tmp_path):
    source = tmp_path / "template.xlsx"
    source.write_bytes(build())
    (saved,) = soffice_recalculate([source], tmp_path / "lo", processes=1)
    assert openpyxl.load_workbook(saved).security.lockStructure
