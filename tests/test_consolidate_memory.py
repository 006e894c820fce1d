"""What a roll-up keeps per unit (issue 14): the findings as validate gives them, with the texts and tuples
that repeat across units (rule ids, fact ids, cell references) held once, whichever process read them."""

from __future__ import annotations

import pytest
from conftest import example

import xxgk
from xxgk.consolidate import consolidate


@pytest.mark.parametrize("jobs", [1, 2])
def test_units_keep_validates_findings_with_one_copy_of_what_repeats(tmp_path, jobs):
    paths = []
    for i in range(3):
        document = example("made-up-errors-2022")
        document["agency"] = f"第{i}单位"
        path = tmp_path / f"u{i}.xlsx"
        path.write_bytes(xxgk.fill(xxgk.from_document(document)))
        paths.append(path)
    result = consolidate(paths, jobs=jobs, allow_invalid=True)
    assert all(u.findings for u in result.units)
    for unit, path in zip(result.units, paths, strict=True):
        assert unit.findings == xxgk.validate(xxgk.load(path)).findings
    first, *others = result.units
    for other in others:
        for a, b in zip(first.findings, other.findings, strict=True):
            assert a.cells is b.cells and a.facts is b.facts and a.rule is b.rule
