"""The validator's shortcut agrees with the JSON Schema it stands in for."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

import xxgk
from conftest import example
from xxgk.resources import data_dir
from xxgk.schema import load_schema
from xxgk.validate import _plainly_valid, _validator

_values = st.one_of(
    st.integers(min_value=-3, max_value=3000), st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(), st.none(), st.text(max_size=5), st.sampled_from(["2021", 2021, 2021.0, "", "0"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=400)
@given(data=st.data())
def test_plainly_valid_only_when_json_schema_finds_nothing(data):
    schema = load_schema()
    doc = copy.deepcopy(example(data.draw(st.sampled_from(["made-up-qingfeng-2021", "lushan-2021"]))))
    flat = schema.flatten(doc)
    for fact_id in data.draw(st.lists(st.sampled_from(list(schema.facts)), max_size=3, unique=True)):
        if data.draw(st.booleans()):
            flat[fact_id] = data.draw(_values)
        else:
            flat.pop(fact_id, None)
    document = schema.nest(flat)
    if data.draw(st.integers(0, 9)) == 0:
        document[data.draw(st.sampled_from(["extra", "fees", "texts"]))] = data.draw(_values)
    errors = list(_validator().iter_errors(document))
    if _plainly_valid(xxgk.from_document(document)):
        assert errors == []


def test_the_shortcut_is_taken_for_clean_reports():
    assert _plainly_valid(xxgk.load(data_dir("examples") / "lushan-2021.json"))
