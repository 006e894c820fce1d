"""Hypothesis strategies: report documents (valid ones made to fit every rule, and broken ones) and
damaged workbooks for the crash harness."""

from __future__ import annotations

import re

from hypothesis import strategies as st

from conftest import example, rezip
from xxgk.rules import load_rules
from xxgk.schema import load_schema

_SCHEMA = load_schema()
_COMPUTED = set(load_rules().computed())
_INPUTS = [f for f in _SCHEMA.facts if _SCHEMA.facts[f].numeric and f not in _COMPUTED and f != "year"]
_BAD = st.one_of(
    st.integers(min_value=0, max_value=60), st.integers(min_value=-9, max_value=-1),
    st.sampled_from([0.5, 2.5, 7.25, 1e-3]), st.none(), st.booleans(),
    st.sampled_from(["3件", "/", "无", "３", " 3 ", "0", ""]),
)


@st.composite
def valid_reports(draw) -> dict:
    """A report that passes every rule: leaf numbers at random, totals and balances made to fit."""
    flat = _SCHEMA.flatten(example("lushan-2021"))
    small = st.integers(min_value=0, max_value=9)
    for fact_id in _INPUTS:
        if fact_id.startswith("fees."):
            continue
        flat[fact_id] = draw(st.one_of(st.just(0), small)) if fact_id.startswith("applications.") else draw(small)
    flat["proactive.fees.amount"] = draw(st.sampled_from([0, 12.5, 24252.311082, 3]))
    cols = _SCHEMA.columns("applications.received")[:-1]
    items = [r for r in _SCHEMA.rows("applications") if r.startswith("results.") and r != "results.total"]
    for col in cols:
        results = sum(flat[f"applications.{r}.{col}"] for r in items)
        forward = flat[f"applications.carried_forward.{col}"]
        over = min(flat[f"applications.carried_over.{col}"], results + forward)
        flat[f"applications.carried_over.{col}"] = over
        flat[f"applications.received.{col}"] = results + forward - over
    for row in _SCHEMA.rows("applications"):
        if row != "results.total":
            flat[f"applications.{row}.total"] = sum(flat[f"applications.{row}.{c}"] for c in cols)
    for col in cols + ["total"]:
        flat[f"applications.results.total.{col}"] = sum(flat[f"applications.{r}.{col}"] for r in items)
    for group in _SCHEMA.rows("reviews"):
        flat[f"reviews.{group}.total"] = sum(flat[f"reviews.{group}.{c}"] for c in ("upheld", "corrected", "other", "pending"))
    unpaid = flat["applications.results.other.unpaid_fees.total"]
    if draw(st.booleans()) or unpaid:
        flat["fees.notices"] = unpaid + draw(st.integers(0, 2))
        flat["fees.amount_billed"] = draw(st.sampled_from([0, 100, 55.5]))
    else:
        for f in ("fees.notices", "fees.amount_billed", "fees.amount_collected"):
            flat.pop(f, None)
    return _SCHEMA.nest(flat)


@st.composite
def reports(draw) -> dict:
    document = draw(valid_reports())
    if draw(st.integers(0, 4)) == 0:
        return document  # about one in five stays valid
    flat = _SCHEMA.flatten(document)
    for fact_id in draw(st.lists(st.sampled_from(_INPUTS), min_size=1, max_size=4, unique=True)):
        value = draw(_BAD)
        if value is None and not _SCHEMA.facts[fact_id].required:
            flat.pop(fact_id, None)
        else:
            flat[fact_id] = value
    if draw(st.integers(0, 9)) == 0:
        flat["year"] = draw(st.sampled_from([2020, "2021年", 2022.5, None]))
    if draw(st.integers(0, 9)) == 0:
        flat["agency"] = None
    return _SCHEMA.nest(flat)


# -- damaged workbooks, for the crash harness (tests/test_hostile.py, benchmarks/fuzz.py) -----------

_PARTS = ["xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/worksheets/sheet3.xml", "xl/_rels/workbook.xml.rels",
          "xl/styles.xml", "[Content_Types].xml"]
_ATTRIBUTE = re.compile(rb"""\s[\w:]+\s*=\s*(?:"[^"]*"|'[^']*')""")
_ODD_VALUES = [b"-1", b"1e300", b"NaN", b"2.5", b"", b"abc", b"99999999999999999999"]


@st.composite
def damaged(draw, good: bytes, parts: list[str] = _PARTS) -> bytes:
    """A filled workbook (or another zip package, with the `parts` to edit) damaged one way: bytes
    anywhere in the zip; a stretch of one part cut, doubled or garbled; one attribute dropped;
    attributes rewritten with single quotes; or numbers (in a report sheet) replaced by odd values."""
    how = draw(st.sampled_from(["bytes", "xml", "attribute", "quotes", "cell"]))
    if how == "bytes":  # anywhere in the zip
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    part = draw(st.sampled_from(parts))
    if how == "cell" and parts is _PARTS:
        part = "xl/worksheets/sheet3.xml"

    def edit(name, body):
        if name != part:
            return body
        if how == "xml":  # structure: cut, duplicate or garble a stretch
            i = draw(st.integers(0, len(body)))
            j = draw(st.integers(i, min(len(body), i + 400)))
            action = draw(st.sampled_from(["cut", "dup", "junk"]))
            if action == "cut":
                return body[:i] + body[j:]
            if action == "dup":
                return body[:j] + body[i:j] + body[j:]
            return body[:i] + draw(st.binary(min_size=1, max_size=40)) + body[j:]
        if how == "attribute":  # an element missing an attribute it always has (Target, name, r, ...)
            found = list(_ATTRIBUTE.finditer(body))
            if not found:
                return body
            m = found[draw(st.integers(0, len(found) - 1))]
            return body[:m.start()] + body[m.end():]
        if how == "quotes":  # the same attributes in single quotes, as other writers do
            start = draw(st.integers(0, len(body)))
            return body[:start] + re.sub(rb'(\s[\w:]+)="([^"\']*)"', rb"\1='\2'", body[start:],
                                         count=draw(st.integers(1, 50)))
        odd = draw(st.sampled_from(_ODD_VALUES))  # values: numbers in a sheet (or a Word table) replaced
        return re.sub(rb"(<(?:v|w:t)>)\d+(</(?:v|w:t)>)", rb"\g<1>" + odd + rb"\g<2>", body,
                      count=draw(st.integers(1, 5)))
    return rezip(good, edit)
