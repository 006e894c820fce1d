"""The report schema: exactly the public fact ids, official labels on every fact, shared definitions."""

from __future__ import annotations

import copy
import json
import math

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xxgk
from conftest import example
from xxgk.resources import schema_path
from xxgk.rules import load_rules
from xxgk.schema import load_schema

COLUMNS = ["natural_persons", "commercial", "research", "nonprofit", "legal_services", "other_orgs", "total"]
ROWS = (
    ["received", "carried_over", "results.granted", "results.partially_granted"]
    + [f"results.withheld.{k}" for k in ("state_secrets", "prohibited_by_law", "three_securities_one_stability",
                                         "third_party_rights", "internal_affairs", "process_information",
                                         "enforcement_files", "administrative_queries")]
    + [f"results.unavailable.{k}" for k in ("not_held", "needs_creation", "unclear_after_correction")]
    + [f"results.not_processed.{k}" for k in ("petitions", "duplicates", "publications", "excessive", "confirmations")]
    + [f"results.other.{k}" for k in ("no_correction", "unpaid_fees", "other")]
    + ["results.total", "carried_forward"]
)


def design_fact_ids() -> list[str]:
    """The fact ids as the design document lists them."""
    ids = ["format", "agency", "agency_code", "parent", "year"]
    for kind in ("rules", "normative_documents"):
        ids += [f"proactive.{kind}.{c}" for c in ("issued", "repealed", "in_force")]
    ids += [f"proactive.{k}.decisions" for k in ("licensing", "penalties", "coercive_measures")]
    ids += ["proactive.fees.amount"]
    ids += [f"applications.{r}.{c}" for r in ROWS for c in COLUMNS]
    ids += [f"reviews.{g}.{c}" for g in ("reconsideration", "litigation_direct", "litigation_after_reconsideration")
            for c in ("upheld", "corrected", "other", "pending", "total")]
    ids += ["fees.notices", "fees.amount_billed", "fees.amount_collected"]
    ids += ["texts.overview", "texts.problems", "texts.other_matters"]
    return ids


def test_fact_ids_are_exactly_the_design_ids_in_order():
    assert list(load_schema().facts) == design_fact_ids()


def test_schema_is_valid_json_schema_2020_12():
    document = json.loads(schema_path("report.schema.json").read_text(encoding="utf-8"))
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


def test_every_fact_carries_its_official_labels():
    schema = load_schema()
    fact = schema.facts["applications.results.withheld.state_secrets.natural_persons"]
    assert fact.labels == ("三、收到和处理政府信息公开申请情况", "三、本年度办理结果", "（三）不予公开", "1.属于国家秘密", "自然人")
    assert schema.facts["applications.received.commercial"].group == "法人或其他组织"
    assert schema.facts["proactive.fees.amount"].labels[-1] == "本年收费金额（单位：万元）"
    assert schema.object("proactive.licensing")["x-block"] == "第二十条第（五）项"
    assert schema.facts["reviews.litigation_direct.pending"].labels[-2:] == ("未经复议直接起诉", "尚未审结")
    for f in schema:
        assert all(label.strip() for label in f.labels), f.id


def test_rows_share_one_definition():
    raw = json.loads(schema_path("report.schema.json").read_text(encoding="utf-8"))
    text = json.dumps(raw)
    assert text.count('"#/$defs/applicantRow"') == 25
    assert text.count('"#/$defs/reviewGroup"') == 3


def test_kinds():
    kinds = {f.id: f.kind for f in load_schema()}
    assert kinds["applications.received.total"] == "count"
    assert kinds["proactive.fees.amount"] == "amount" and kinds["fees.amount_billed"] == "amount"
    assert kinds["texts.overview"] == "text" and kinds["year"] == "integer" and kinds["format"] == "const"
    required = {f.id for f in load_schema() if f.required}
    assert "fees.notices" not in required and "agency_code" not in required
    assert "applications.received.total" in required and "texts.problems" in required


def test_flatten_and_nest_are_inverse():
    doc = example("made-up-qingfeng-2022")
    schema = load_schema()
    assert schema.nest(schema.flatten(doc)) == doc


# -- the JSON <-> workbook round trip loses nothing, for any values a document can hold ---------

_cell_values = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=-5, max_value=-1),
    st.floats(min_value=-100, max_value=100, allow_nan=False).filter(lambda x: not x.is_integer()),
    st.sampled_from(["/", "无", "3件", "３", " 7 ", "#N/A?"]),
    st.none(),
)
_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=60)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_roundtrip_through_the_workbook_keeps_every_input_value(data, tmp_path_factory):
    schema = load_schema()
    computed = set(load_rules().computed())
    doc = copy.deepcopy(example("made-up-qingfeng-2021"))
    flat = schema.flatten(doc)
    inputs = [f for f in flat if f not in computed and schema.facts[f].numeric and f != "year"]
    for fact_id in data.draw(st.lists(st.sampled_from(inputs), max_size=12, unique=True)):
        flat[fact_id] = data.draw(_cell_values)
    for fact_id in ("texts.overview", "texts.problems", "agency"):
        flat[fact_id] = data.draw(_texts.filter(lambda s: s.strip() and s == s.strip("\r")))
    document = schema.nest(flat)
    path = tmp_path_factory.mktemp("rt") / "r.xlsx"
    path.write_bytes(xxgk.fill(xxgk.from_document(document)))
    back = xxgk.load(path).facts
    for fact_id, value in flat.items():
        if fact_id in computed:
            continue
        if value is None and not schema.facts[fact_id].required:
            assert fact_id not in back
        elif isinstance(value, float):  # a cell keeps 15-16 significant digits, as in Excel
            assert math.isclose(back[fact_id], value, rel_tol=1e-14), fact_id
        else:
            assert back[fact_id] == value, fact_id
