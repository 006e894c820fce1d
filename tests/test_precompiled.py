"""Precompiled rules and totals (issue 14) decide exactly what the plain walk decides.

The validator passes a linear comparison without `judge` when every figure is a number and it holds;
the reader settles the template's sums in a precomputed order instead of walking them recursively.
Both are checked here against the plain code on every bundled example, valid and invalid, and on
workbooks whose sums were saved without values.
"""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest
from conftest import EXAMPLES, example

from xxgk import workbook
from xxgk.report import from_document
from xxgk.rules import load_rules, value_of
from xxgk.schema import load_schema

validate_module = importlib.import_module("xxgk.validate")  # the module, not the function xxgk exports
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


@pytest.mark.parametrize("name", NAMES)
def test_a_precompiled_pass_is_a_pass_of_judge(name):
    report = from_document(example(name))
    facts = report.facts
    numbers = {f: value_of(v) for f, v in facts.items()}
    used = 0
    for inst, plan in zip(load_rules().instances, validate_module._linear_plans(), strict=True):
        if plan is None:
            continue
        status, finding = validate_module.judge(inst, facts, None, report.derived)
        if validate_module._passes(plan, numbers):
            used += 1
            assert (status, finding) == (validate_module.PASS, None), inst.rule.id
    assert used, "no linear rule was decided by the precompiled path"


@pytest.mark.parametrize("name", NAMES)
def test_validate_finds_what_judge_finds_for_every_instance(name):
    report = from_document(example(name))
    expected = []
    for inst in load_rules().instances:
        if "prior" in inst.rule.requires and not report.prior_hints:
            continue
        _, finding = validate_module.judge(inst, report.facts, report.prior_hints or None, report.derived)
        if finding:
            expected.append(finding)
    found = [replace(f, fingerprint="") for f in validate_module.validate(report).findings if f.rule != "value.type"]
    assert found == [f for f in expected if f.rule != "value.type"]  # judge's findings are not yet fingerprinted


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("blanked", [(), ("applications.received.commercial",)])
def test_totals_settled_in_order_as_by_the_recursive_walk(name, blanked, monkeypatch):
    computed = load_rules().computed()
    flat = load_schema().flatten(example(name))
    for fact_id in blanked:
        flat[fact_id] = None
    for unsaved in (set(), set(computed)):  # sums saved with values, and sums saved as bare formulas
        fast = dict(flat)
        fast_derived = workbook._resolve_totals(fast, set(unsaved))
        monkeypatch.setattr(workbook, "_totals_order", lambda: None)
        slow = dict(flat)
        slow_derived = workbook._resolve_totals(slow, set(unsaved))
        monkeypatch.undo()
        assert (fast, fast_derived) == (slow, slow_derived)
        assert {k: type(v) for k, v in fast.items()} == {k: type(v) for k, v in slow.items()}
