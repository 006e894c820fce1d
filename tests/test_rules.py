"""Every rule of the rule file passing and failing on its own, on documents made from a clean example."""

from __future__ import annotations

import copy
import json

import pytest

from conftest import example, get_fact, set_fact
from xxgk import from_document, validate
from xxgk.errors import SchemaError
from xxgk.layout import load_layout
from xxgk.resources import schema_path
from xxgk.rules import expand, load_rules
from xxgk.schema import load_schema

COLS = ["natural_persons", "commercial", "research", "nonprofit", "legal_services", "other_orgs", "total"]


def bump(doc: dict, fact_id: str, by: int = 1) -> dict:
    return set_fact(doc, fact_id, get_fact(doc, fact_id) + by)


def rules_failing(doc: dict, prior: dict | None = None) -> list:
    result = validate(from_document(doc), from_document(prior) if prior else None)
    return result.findings


def only(findings, rule_id: str) -> list:
    if not rule_id.startswith("text."):  # the texts still state the old figures: rule 9 rightly says so
        findings = [f for f in findings if not f.rule.startswith("text.")]
    assert findings, f"expected {rule_id} to fail"
    assert {f.rule for f in findings} == {rule_id}, [(f.rule, f.message) for f in findings]
    return findings


def test_clean_examples_pass_everything(clean_doc):
    assert rules_failing(clean_doc) == []
    # the real report: its text enumerates parts that sum to 300 while stating 306 (a real defect)
    (finding,) = rules_failing(example("lushan-2021"))
    assert (finding.rule, finding.severity, finding.actual, finding.expected) == ("text.enumerated_parts", "warning", 300, 306)


def test_rule_file_matches_its_meta_schema_and_covers_format_rules_1_to_9():
    rules = load_rules()
    assert {r.format_rule for r in rules.rules} == set(range(1, 10))
    assert len({r.id for r in rules.rules}) == len(rules.rules)
    # one instance per column of table 三, per row, per review group
    counts = {}
    for inst in rules.instances:
        counts[inst.rule.id] = counts.get(inst.rule.id, 0) + 1
    assert counts["applications.balance"] == 7
    assert counts["applications.results_total"] == 7
    assert counts["applications.row_total"] == 25
    assert counts["reviews.total"] == 3
    assert counts["prior.carried_over"] == 7
    assert counts["prior.in_force"] == 2


@pytest.mark.parametrize("col", COLS[:-1])
def test_balance_fails_in_its_column(clean_doc, col):
    doc = bump(bump(clean_doc, f"applications.carried_over.{col}"), "applications.carried_over.total")
    found = only(rules_failing(doc), "applications.balance")
    labels = [f.message for f in found]
    assert len(found) == 2  # the column and the total column
    assert any("总计列" in m for m in labels)
    first = next(f for f in found if f"applications.carried_over.{col}" in f.facts)
    assert first.expected == first.actual + 1
    assert load_layout().ref(f"applications.carried_over.{col}") in first.cells


def test_results_total_fails_when_an_item_row_is_changed(clean_doc):
    doc = bump(bump(clean_doc, "applications.results.withheld.third_party_rights.research"),
               "applications.results.withheld.third_party_rights.total")
    found = only(rules_failing(doc), "applications.results_total")
    research = next(f for f in found if "科研机构" in f.message)
    assert research.expected == research.actual + 1
    assert research.facts[0] == "applications.results.total.research"
    assert research.cells[0] == load_layout().ref("applications.results.total.research")
    assert "表三（法人或其他组织·科研机构列）" in research.message


def test_row_total_fails_on_its_row_only(clean_doc):
    flat = load_schema().flatten(clean_doc)
    rows = [r for r in load_schema().rows("applications") if r.startswith("results.") and r != "results.total"]
    up = rows[0]
    down = next(r for r in rows[1:] if flat[f"applications.{r}.total"] > 0)
    doc = bump(bump(clean_doc, f"applications.{up}.total", 1), f"applications.{down}.total", -1)
    found = only(rules_failing(doc), "applications.row_total")
    assert sorted(f.facts[0] for f in found) == sorted([f"applications.{up}.total", f"applications.{down}.total"])
    assert all(len(f.cells) == 7 for f in found)


@pytest.mark.parametrize("group", ["reconsideration", "litigation_direct", "litigation_after_reconsideration"])
def test_review_total_fails_per_group(clean_doc, group):
    doc = bump(clean_doc, f"reviews.{group}.total", 2)
    (finding,) = only(rules_failing(doc), "reviews.total")
    assert finding.facts[0] == f"reviews.{group}.total"
    assert finding.actual == finding.expected + 2
    assert finding.cells[0] == load_layout().ref(f"reviews.{group}.total")


def _next_year(doc: dict) -> tuple[dict, dict]:
    """(this year, last year) where last year's carried_forward and stock match this year's."""
    prior = copy.deepcopy(doc)
    current = copy.deepcopy(doc)
    current["year"] = doc["year"] + 1
    prior["applications"]["carried_forward"] = copy.deepcopy(current["applications"]["carried_over"])
    for kind in ("rules", "normative_documents"):
        p = current["proactive"][kind]
        prior["proactive"][kind]["in_force"] = p["in_force"] - p["issued"] + p["repealed"]
    return current, prior


def test_cross_year_rules_hold_when_consistent(clean_doc):
    current, prior = _next_year(clean_doc)
    assert rules_failing(current, prior) == []


def test_cross_year_rules_need_prior(clean_doc):
    current, prior = _next_year(clean_doc)
    prior["applications"]["carried_forward"]["total"] += 5
    assert rules_failing(current) == []  # without --prior the rule is not applied
    assert rules_failing(current, prior)


def test_carried_over_must_equal_last_years_carried_forward(clean_doc):
    current, prior = _next_year(clean_doc)
    bump(prior, "applications.carried_forward.natural_persons", 3)
    (finding,) = only(rules_failing(current, prior), "prior.carried_over")
    assert finding.severity == "error"
    assert finding.facts == ("applications.carried_over.natural_persons",)
    assert finding.expected == finding.actual + 3
    assert f"{clean_doc['year']}年报告" in finding.message


def test_stock_roll_forward_is_a_warning(clean_doc):
    current, prior = _next_year(clean_doc)
    bump(prior, "proactive.normative_documents.in_force", -4)
    (finding,) = only(rules_failing(current, prior), "prior.in_force")
    assert finding.severity == "warning"
    assert finding.actual == finding.expected + 4
    assert "行政规范性文件" in finding.message
    assert validate(from_document(current), from_document(prior)).valid  # warnings do not make it invalid


def test_prior_of_the_wrong_year_is_pointed_out(clean_doc):
    current, prior = _next_year(clean_doc)
    prior["year"] = current["year"] - 3
    found = rules_failing(current, prior)
    assert [f.rule for f in found] == ["prior.year"]


def _with_unpaid(doc: dict) -> dict:
    for fact in ("applications.results.other.unpaid_fees.natural_persons", "applications.results.other.unpaid_fees.total",
                 "applications.results.total.natural_persons", "applications.results.total.total",
                 "applications.carried_over.natural_persons", "applications.carried_over.total"):
        bump(doc, fact)
    return doc


def test_unpaid_fee_cases_require_fee_notices_in_part_six(clean_doc):
    doc = _with_unpaid(clean_doc)
    doc["fees"]["notices"] = 0
    (finding,) = only(rules_failing(doc), "fees.notices_reported")
    assert finding.facts[0] == "fees.notices"
    assert (finding.actual, finding.expected) == (0, get_fact(doc, "applications.results.other.unpaid_fees.total"))
    del doc["fees"]
    (finding,) = only(rules_failing(doc), "fees.notices_reported")
    assert finding.actual is None and "未填写" in finding.message  # left out counts as not reported
    doc["fees"] = {"notices": get_fact(doc, "applications.results.other.unpaid_fees.total")}
    assert [f.rule for f in rules_failing(doc) if not f.rule.startswith("text.")] == []


def test_fee_rule_does_not_apply_without_unpaid_cases(clean_doc):
    del clean_doc["fees"]
    assert rules_failing(clean_doc) == []


def test_text_number_must_match_the_table(clean_doc):
    total = get_fact(clean_doc, "applications.received.total")
    assert f"收到政府信息公开申请{total}件" in clean_doc["texts"]["overview"]
    clean_doc["texts"]["overview"] = clean_doc["texts"]["overview"].replace(f"申请{total}件", f"申请{total + 1}件")
    (finding,) = only(rules_failing(clean_doc), "text.applications_received")
    assert finding.severity == "warning"
    assert (finding.actual, finding.expected) == (total + 1, total)
    assert f"申请{total + 1}件" in finding.message  # the sentence is quoted


def test_a_rule_with_unknown_values_is_not_judged(clean_doc):
    set_fact(clean_doc, "applications.received.commercial", "3件")
    found = rules_failing(clean_doc)
    assert [f.rule for f in found] == ["value.type"]  # no arithmetic finding built on a guess


# -- the rule file is data: a maintainer adds a rule by editing JSON ----------------------------


def _raw_rules() -> dict:
    return json.loads(schema_path("rules.json").read_text(encoding="utf-8"))


def test_a_rule_added_to_the_file_is_evaluated(clean_doc):
    raw = _raw_rules()
    raw["rules"].append({
        "id": "custom.granted_le_received", "format_rule": 9, "kind": "check", "severity": "warning",
        "source": "测试", "statement": "予以公开不超过两倍收到减一", "foreach": {"col": "columns(applications.received): natural_persons"},
        "check": "applications.results.granted.{col} <= 2*applications.received.{col} - 1",
        "message": "{col}：予以公开 {actual} 超过 {expected}",
    })
    rules = expand(raw, load_schema())
    inst = [i for i in rules.instances if i.rule.id == "custom.granted_le_received"]
    assert len(inst) == 1 and inst[0].check.expected[0].coef == 2 and inst[0].check.expected[-1].source == "const"
    from xxgk.validate import evaluate

    flat = load_schema().flatten(clean_doc)
    flat["applications.results.granted.natural_persons"] = 2 * flat["applications.received.natural_persons"]
    finding = evaluate(inst[0], flat, None)
    assert finding is not None and finding.message.startswith("自然人：予以公开")


@pytest.mark.parametrize("patch, why", [
    ({"severity": "fatal"}, "severity"),
    ({"check": "applications.received.nobody == 0"}, "not a fact id"),
    ({"check": "applications.received.{nope} == 0"}, "unbound variable"),
    ({"check": "applications.received.total = 0"}, "check"),
    ({"id": "NoDots"}, "id"),
    ({"foreach": {"row": "rows(nowhere)"}}, "no object"),
    ({"computes": True, "check": "1 == applications.received.total"}, "computes"),
])
def test_broken_rules_are_refused_with_a_reason(patch, why):
    raw = _raw_rules()
    raw["rules"][1] = {**raw["rules"][1], **patch}
    with pytest.raises(SchemaError, match=why):
        expand(raw, load_schema())


def test_duplicate_rule_ids_are_refused():
    raw = _raw_rules()
    raw["rules"].append(raw["rules"][1])
    with pytest.raises(SchemaError, match="duplicate"):
        expand(raw, load_schema())


# -- rule 9: numbers stated in the text against the tables --------------------------------------------


@pytest.mark.parametrize("sentence, rule, stated", [
    ("全年共收到政府信息公开申请61件，同比增长20%。", "text.applications_received", 61),
    ("本年度新收政府信息公开申请六十一件。", "text.applications_received", 61),
    ("受理依申请公开61个，其中自然人申请3件。", "text.applications_natural_persons", 3),
    ("全年收到申请60件，其中法人或其他组织申请二十件。", "text.applications_organisations", 20),
    ("上年结转三件。", "text.carried_over", 3),
    ("予以公开十二件，部分公开1件。", "text.granted", 12),
    ("发生行政复议案件3起，行政诉讼1件。", "text.reconsideration", 3),
    ("发生行政诉讼2件。", "text.litigation", 2),
    ("截至年底，现行有效的行政规范性文件１８件。", "text.normative_in_force", 18),
    ("全年制发行政规范性文件5件。", "text.normative_issued", 5),
])
def test_text_phrasings_are_read(clean_doc, sentence, rule, stated):
    clean_doc["texts"]["overview"] = "（本报告为虚构示例。）" + sentence
    found = [f for f in rules_failing(clean_doc) if f.rule == rule]
    assert len(found) == 1, [f.message for f in rules_failing(clean_doc)]
    assert found[0].actual == stated and found[0].severity == "warning"
    assert sentence.rstrip("。") in found[0].message  # the sentence is quoted


def test_text_agreeing_with_the_tables_says_nothing(clean_doc):
    flat = load_schema().flatten(clean_doc)
    clean_doc["texts"]["overview"] = (
        f"全年共收到政府信息公开申请{flat['applications.received.total']}件，同比下降5%，"
        f"其中自然人申请{flat['applications.received.natural_persons']}件；上年结转{flat['applications.carried_over.total']}件。"
        f"予以公开{flat['applications.results.granted.total']}件。行政复议{flat['reviews.reconsideration.total']}件。")
    assert [f for f in rules_failing(clean_doc) if f.rule.startswith("text.")] == []


def test_enumerated_parts_must_add_up(clean_doc):
    clean_doc["texts"]["overview"] = "全年主动公开信息306条。主要包括概况信息11条、工作动态149条、重点领域信息一百四十二条。"
    (finding,) = [f for f in rules_failing(clean_doc) if f.rule == "text.enumerated_parts"]
    assert (finding.actual, finding.expected) == (302, 306)
    clean_doc["texts"]["overview"] = "全年主动公开信息306条。主要包括概况信息11条、工作动态153条、重点领域信息一百四十二条。"
    assert not [f for f in rules_failing(clean_doc) if f.rule == "text.enumerated_parts"]


def test_fee_notices_in_part_six(clean_doc):
    clean_doc["texts"]["other_matters"] = "本年度发出收费通知2件，收取信息处理费0元。"
    (finding,) = [f for f in rules_failing(clean_doc) if f.rule == "text.fee_notices"]
    assert (finding.actual, finding.expected) == (2, 0)
