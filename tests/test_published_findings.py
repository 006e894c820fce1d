"""A published report's blanks are what the body published, not cells a clerk forgot.

A report read by `import_report` (Report.source == "published"): a fee figure 六 does not state is
"报告未说明…", never "未填写"; a table cell printed blank or "/" is named as such (the format wants 0);
a rule that needs such a cell says "无法核对" and names it instead of judging a partial sum.
A workbook or JSON filled by a clerk keeps today's wording.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from conftest import set_fact
from xxgk import from_document, validate
from xxgk.importer import import_report
from xxgk.layout import load_layout

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-reports"
CELL = "applications.received.commercial"
FEES = ("fees.notices", "fees.amount_billed", "fees.amount_collected")


def published(doc: dict, marks: dict | None = None):
    report = from_document(doc)
    report.source = "published"
    report.marks = dict(marks or {})
    return report


def findings_on(report, fact_id: str) -> list:
    return [f for f in validate(report).findings if fact_id in f.facts]


def test_a_blank_published_cell_is_named_as_printed(clean_doc):
    set_fact(clean_doc, CELL, None)
    (typed,) = [f for f in findings_on(published(clean_doc, {CELL: "/"}), CELL) if f.rule == "value.type"]
    assert typed.severity == "error" and "公布的表格中此格为“/”" in typed.message and "应填 0" in typed.message
    assert "未填写" not in typed.message and typed.cells == (load_layout().ref(CELL),)
    (typed,) = [f for f in findings_on(published(clean_doc, {CELL: ""}), CELL) if f.rule == "value.type"]
    assert "公布的表格中此格为空白" in typed.message
    (typed,) = [f for f in findings_on(published(clean_doc), CELL) if f.rule == "value.type"]
    assert "公布的表格中此格没有数字" in typed.message
    # filled by a clerk: today's wording
    (typed,) = [f for f in findings_on(from_document(copy.deepcopy(clean_doc)), CELL) if f.rule == "value.type"]
    assert typed.message.endswith("未填写；没有发生的事项应填 0")


def test_rules_needing_a_blank_published_cell_cannot_be_checked(clean_doc):
    set_fact(clean_doc, CELL, None)
    report = published(clean_doc, {CELL: "——"})
    rules = [f for f in findings_on(report, CELL) if f.rule != "value.type"]
    assert {f.rule for f in rules} == {"applications.row_total", "applications.balance"}
    for finding in rules:
        assert finding.severity == "warning" and finding.message.startswith("无法核对「")
        assert "为“——”" in finding.message and load_layout().ref(CELL) in finding.cells
        assert finding.actual is None and finding.expected is None  # no partial sum is offered
    # the same document filled by a clerk: the rules are simply not judged (the cell is 未填)
    assert [f.rule for f in findings_on(from_document(clean_doc), CELL)] == ["value.type"]


def test_a_text_rule_cannot_be_checked_only_when_its_sentence_is_there(clean_doc):
    set_fact(clean_doc, CELL, None)
    clean_doc["texts"]["overview"] = "全年共收到政府信息公开申请60件，其中法人或其他组织申请3件。"
    rules = {f.rule for f in findings_on(published(clean_doc), CELL)}
    assert "text.applications_organisations" in rules
    clean_doc["texts"]["overview"] = "全年工作平稳有序。"
    rules = {f.rule for f in findings_on(published(clean_doc), CELL)}
    assert "text.applications_organisations" not in rules


@pytest.mark.parametrize("how", ["absent", "null"])
def test_fee_figures_not_stated_are_said_so(clean_doc, how):
    for fact in FEES:
        if how == "absent":
            clean_doc.get("fees", {}).pop(fact.split(".")[1], None)
        else:
            set_fact(clean_doc, fact, None)
    set_fact(clean_doc, "fees.amount_collected", 0)  # "未收取信息处理费": the one figure stated
    found = [f for f in validate(published(clean_doc)).findings if set(f.facts) & set(FEES)]
    assert sorted(f.facts[0] for f in found) == ["fees.amount_billed", "fees.notices"]
    for finding in found:
        assert finding.severity == "warning" and "报告未说明" in finding.message and "未填写" not in finding.message
    assert "报告未说明本年度发出收费通知的件数" in " ".join(f.message for f in found)


def test_clerks_keep_the_fee_wording(clean_doc):
    set_fact(clean_doc, "fees.notices", None)
    (finding,) = [f for f in validate(from_document(clean_doc)).findings if "fees.notices" in f.facts]
    assert "未填写" in finding.message and "报告未说明" not in finding.message


def test_rule_8_says_the_report_does_not_state_the_notices(clean_doc):
    set_fact(clean_doc, "applications.results.other.unpaid_fees.natural_persons",
             clean_doc["applications"]["results"]["other"]["unpaid_fees"]["natural_persons"] + 2)
    set_fact(clean_doc, "applications.results.other.unpaid_fees.total",
             clean_doc["applications"]["results"]["other"]["unpaid_fees"]["total"] + 2)
    clean_doc["fees"].pop("notices", None)
    (finding,) = [f for f in validate(published(copy.deepcopy(clean_doc))).findings if f.rule == "fees.notices_reported"]
    assert finding.severity == "error" and "报告未说明本年度发出收费通知的件数" in finding.message
    assert "未填写" not in finding.message
    (finding,) = [f for f in validate(from_document(clean_doc)).findings if f.rule == "fees.notices_reported"]
    assert "未填写" in finding.message


@pytest.mark.skipif(not REAL.is_dir(), reason="shared real reports not present")
def test_real_published_reports_never_say_unfilled():
    for name in ("pingtan-2021.html", "shuyang-fgj-2023.html"):
        report, _ = import_report(REAL / name)
        assert report.source == "published"
        result = validate(report)
        assert not [f.message for f in result.findings if "未填写" in f.message], name
        if name.startswith("shuyang"):  # it prints "/" in the five organisation columns of table 三
            blank = [f for f in result.findings if f.rule == "value.type" and f.severity == "error"]
            assert len(blank) == 125 and all("公布的表格中此格" in f.message for f in blank)
            unchecked = {f.rule for f in result.findings if f.message.startswith("无法核对")}
            assert unchecked == {"applications.balance", "applications.results_total", "applications.row_total"}
        fees = [f for f in result.findings if set(f.facts) & set(FEES)]
        assert all("报告未说明" in f.message for f in fees)
