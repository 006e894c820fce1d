"""Reading filled workbooks: round trips, formulas saved without values, defined names, formula and error cells.

Every workbook is made by the project's own `fill` (conftest `write_workbook`); where a test needs an
odd cell, the file is changed with openpyxl, which writes what it is told and calculates nothing,
like the files that reach the validator from other programs.
"""

from __future__ import annotations

import openpyxl
import pytest
from conftest import EXAMPLES, example

import xxgk
from xxgk.layout import load_layout, name_for
from xxgk.rules import load_rules, value_of
from xxgk.schema import load_schema

ERRORS_EXAMPLE = "made-up-errors-2022"
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


# -- helpers ------------------------------------------------------------------


def cell_of(wb, fact_id: str):
    """The fact's cell, found by the workbook's own defined name (never by fixed coordinates)."""
    (sheet, coord), = wb.defined_names[name_for(fact_id)].destinations
    return wb[sheet][coord.replace("$", "")]


def poke(path, fact_id: str, value, data_type: str | None = None) -> None:
    """Write a raw value into the fact's cell with openpyxl (bypassing Excel's data validation) and save."""
    wb = openpyxl.load_workbook(path)
    cell = cell_of(wb, fact_id)
    cell.value = value
    if data_type:
        cell.data_type = data_type
    wb.save(path)


def typed(flat: dict) -> dict:
    """Values with their types, so that 3 and 3.0, or 1 and True, do not compare equal."""
    return {k: (type(v).__name__, v) for k, v in flat.items()}


def leaves(fact_id: str, coef: int = 1, out: dict | None = None) -> dict[str, int]:
    """The input facts a computed fact sums, through totals of totals, with their coefficients."""
    computed = load_rules().computed()
    out = {} if out is None else out
    if fact_id not in computed:
        out[fact_id] = out.get(fact_id, 0) + coef
        return out
    for term in computed[fact_id]:
        assert term.source == "fact"
        leaves(term.fact, coef * term.coef, out)
    return out


def ref(fact_id: str) -> str:
    return load_layout().ref(fact_id)


def only_type_finding(result, fact_id: str):
    found = [f for f in result.findings if f.rule == "value.type"]
    assert len(found) == 1, [f.message for f in found]
    finding = found[0]
    assert finding.severity == "error"
    assert finding.facts == (fact_id,)
    assert finding.cells == (ref(fact_id),)
    return finding


# -- 1. round trip ------------------------------------------------------------


def test_examples_are_found():
    assert ERRORS_EXAMPLE in EXAMPLE_NAMES and len(EXAMPLE_NAMES) >= 2


@pytest.mark.parametrize("name", [n for n in EXAMPLE_NAMES if n != ERRORS_EXAMPLE])
def test_round_trip_keeps_every_fact_and_text(write_workbook, name):
    original = example(name)
    report = xxgk.load(write_workbook(original))
    assert report.document == original
    schema = load_schema()
    assert typed(schema.flatten(report.document)) == typed(schema.flatten(original))
    assert report.derived == frozenset(load_rules().computed())


def test_round_trip_of_bad_values_keeps_inputs_and_recomputes_totals(write_workbook):
    original = example(ERRORS_EXAMPLE)
    schema, computed = load_schema(), load_rules().computed()
    report = xxgk.load(write_workbook(original))
    before, after = schema.flatten(original), report.facts

    inputs_before = {f: v for f, v in before.items() if f not in computed}
    inputs_after = {f: v for f, v in after.items() if f not in computed}
    assert typed(inputs_after) == typed(inputs_before)
    # the bad values the example is made of survive the workbook exactly, none turned into 0
    bad = {
        "applications.results.withheld.state_secrets.research": "/",
        "proactive.penalties.decisions": "3件",
        "reviews.litigation_direct.pending": None,
        "proactive.normative_documents.repealed": -1,
        "proactive.licensing.decisions": 2.5,
    }
    assert typed({f: before[f] for f in bad}) == typed(bad)  # the example still has them
    assert typed({f: after[f] for f in bad}) == typed(bad)

    assert report.derived == frozenset(computed)
    some_sum = some_unknown = False
    for fact_id, terms in computed.items():
        parts = [value_of(after.get(t.fact)) for t in terms]
        if all(p is not None for p in parts):
            assert after[fact_id] == sum(t.coef * p for t, p in zip(terms, parts)), fact_id
            some_sum = True
        else:
            assert after[fact_id] is None, fact_id
            some_unknown = True
    assert some_sum and some_unknown
    # the example's wrong totals are replaced by the sums of their parts
    assert before["reviews.reconsideration.total"] == 2
    assert after["reviews.reconsideration.total"] == 3


# -- 2. formulas saved without a cached value ------------------------------------


def test_fill_saves_each_sum_with_the_value_a_spreadsheet_computes(write_workbook, clean_doc):
    path = write_workbook(clean_doc)
    values = openpyxl.load_workbook(path, data_only=True)
    original = load_schema().flatten(clean_doc)
    for fact_id in load_rules().computed():
        assert cell_of(values, fact_id).value == original[fact_id], fact_id


def test_formulas_without_cached_values_are_recomputed(write_workbook, clean_doc):
    path = write_workbook(clean_doc)
    openpyxl.load_workbook(path).save(path)  # openpyxl saves formulas without their values
    computed = load_rules().computed()
    formulas = openpyxl.load_workbook(path)
    values = openpyxl.load_workbook(path, data_only=True)
    for fact_id in computed:  # the file really holds formulas and no values for them
        assert str(cell_of(formulas, fact_id).value).startswith("=SUM("), fact_id
        assert cell_of(values, fact_id).value is None, fact_id

    report = xxgk.load(path)
    assert report.derived == frozenset(computed)
    original = load_schema().flatten(clean_doc)
    for fact_id in computed:
        from_leaves = sum(coef * report.facts[leaf] for leaf, coef in leaves(fact_id).items())
        assert report.facts[fact_id] == from_leaves == original[fact_id], fact_id
    assert xxgk.validate(report).findings == []


def test_bad_part_leaves_its_totals_unknown_and_only_the_part_is_reported(write_workbook, clean_doc):
    part = "applications.results.granted.natural_persons"
    path = write_workbook(clean_doc)
    poke(path, part, "3件")
    report = xxgk.load(path)

    affected = {f for f in load_rules().computed() if part in leaves(f)}
    assert {"applications.results.granted.total", "applications.results.total.natural_persons",
            "applications.results.total.total"} <= affected
    for fact_id in affected:
        assert fact_id in report.derived
        assert report.facts[fact_id] is None, fact_id
    assert report.facts[part] == "3件"

    result = xxgk.validate(report)
    assert len(result.findings) == 1, [f.message for f in result.findings]
    finding = only_type_finding(result, part)
    assert "不带单位" in finding.message and "3件" in finding.message
    total_cells = {ref(f) for f in affected}
    assert not any(total_cells & set(f.cells) for f in result.findings)


# -- 3. a total whose formula was deleted ---------------------------------------


@pytest.mark.parametrize("total", ["applications.received.total", "reviews.reconsideration.total"])
def test_total_overwritten_with_blank_is_unfilled_not_recomputed(write_workbook, clean_doc, total):
    path = write_workbook(clean_doc)
    poke(path, total, None)
    assert cell_of(openpyxl.load_workbook(path), total).value is None

    report = xxgk.load(path)
    assert total not in report.derived
    assert total in report.facts and report.facts[total] is None
    finding = only_type_finding(xxgk.validate(report), total)
    assert "未填写" in finding.message


# -- 4. cells by defined name ------------------------------------------------------


def _move(path, fact_id: str) -> str:
    """Move the fact's row down by inserting rows just above it (after unprotecting), as Excel would, with
    every defined name below following; return the new cell. The name still sits under its row and column labels."""
    import re

    wb = openpyxl.load_workbook(path)
    old = cell_of(wb, fact_id)
    ws, row, letter = old.parent, old.row, old.column_letter
    ws.protection.sheet = False
    ws.insert_rows(row, amount=2)
    for defined in wb.defined_names.values():
        m = re.fullmatch(r"'(.+)'!\$([A-Z]+)\$(\d+)", defined.attr_text)
        if m and m.group(1) == ws.title and int(m.group(3)) >= row:
            defined.attr_text = f"'{ws.title}'!${m.group(2)}${int(m.group(3)) + 2}"
    wb.save(path)
    return f"{letter}{row + 2}"


def test_reader_follows_defined_names_not_coordinates(write_workbook, clean_doc):
    fact_id = "proactive.licensing.decisions"
    path = write_workbook(clean_doc)
    value = load_schema().flatten(clean_doc)[fact_id]
    assert value not in (None, 0)
    new = _move(path, fact_id)

    wb = openpyxl.load_workbook(path)
    assert cell_of(wb, fact_id).coordinate == new
    sheet, row, col = load_layout().cells[fact_id]
    assert wb[sheet].cell(row, col).value is None  # the template's own cell is now blank

    report = xxgk.load(path)
    assert report.facts[fact_id] == value
    assert report.document == clean_doc
    assert xxgk.validate(report).findings == []


def test_findings_name_the_official_template_cell_even_when_a_name_was_moved(write_workbook, clean_doc):
    """`cells` are positions in the official template (the public contract), whatever a file did to its names."""
    fact_id = "proactive.licensing.decisions"
    path = write_workbook(clean_doc)
    poke(path, fact_id, "3件")
    new = _move(path, fact_id)
    sheet = load_layout().cells[fact_id][0]

    result = xxgk.validate(xxgk.load(path))
    finding = [f for f in result.findings if f.rule == "value.type"][0]
    assert finding.facts == (fact_id,)
    assert "不带单位" in finding.message
    assert finding.cells == (ref(fact_id),)
    assert ref(fact_id) != f"'{sheet}'!{new}"


# -- 5. a formula typed into an input cell --------------------------------------------


def test_formula_in_input_cell_is_reported_at_the_cell(write_workbook, clean_doc):
    fact_id = "proactive.licensing.decisions"
    path = write_workbook(clean_doc)
    poke(path, fact_id, "=1+1")
    assert cell_of(openpyxl.load_workbook(path), fact_id).data_type == "f"

    report = xxgk.load(path)
    assert report.facts[fact_id] == "=1+1"  # neither 2 nor 0: what is in the cell
    assert fact_id not in report.derived
    finding = only_type_finding(xxgk.validate(report), fact_id)
    assert "公式" in finding.message and "=1+1" in finding.message


def test_other_formula_in_a_total_cell_is_not_taken_for_the_templates_sum(write_workbook, clean_doc):
    """Only the template's own sum is recomputed; any other formula saved without a value is reported."""
    total = "reviews.reconsideration.total"
    path = write_workbook(clean_doc)
    poke(path, total, "=999")
    assert cell_of(openpyxl.load_workbook(path), total).value == "=999"

    report = xxgk.load(path)
    assert total not in report.derived
    assert report.facts[total] == "=999"  # not 4, the sum of its parts
    result = xxgk.validate(report)
    assert len(result.findings) == 1
    finding = only_type_finding(result, total)
    assert "公式" in finding.message and "=999" in finding.message


# -- 6. an error value in a cell ---------------------------------------------------------


@pytest.mark.parametrize("fact_id", ["proactive.licensing.decisions", "applications.received.natural_persons"])
def test_error_value_in_cell_is_reported_at_the_cell(write_workbook, clean_doc, fact_id):
    path = write_workbook(clean_doc)
    poke(path, fact_id, "#REF!", data_type="e")
    cell = cell_of(openpyxl.load_workbook(path), fact_id)
    assert (cell.data_type, cell.value) == ("e", "#REF!")

    report = xxgk.load(path)
    assert report.facts[fact_id] == "#REF!"
    result = xxgk.validate(report)
    finding = only_type_finding(result, fact_id)
    assert "#REF!" in finding.message
    assert len(result.findings) == 1  # totals over the cell are unknown, not reported again
