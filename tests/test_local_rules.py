"""Local rules (地方口径): a local rule file adds checks on top of the national ones, never weakens them;
`distribute --rules` carries it into every template, and validate, the add-in, the 校验 sheet (for
the rules a formula can compute), consolidate and audit all apply it, each finding naming whose rule it is.

Workbooks are the project's own: templates written by `xxgk distribute`, filled as a clerk fills them
(values typed into the input cells with openpyxl), recalculated and saved by LibreOffice headless.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from conftest import EXAMPLES, call_cli, example, soffice_roundtrip
from xxgk import from_document, validate
from xxgk.errors import XxgkError
from xxgk.layout import load_layout
from xxgk.localrules import EMBED_KEY, check_local, embedded, read_local, ruleset
from xxgk.report import load
from xxgk.rules import load_rules, text_length, text_mentions, text_states
from xxgk.schema import load_schema

EXAMPLE_RULES = EXAMPLES / "local-rules" / "local-rules-example.json"

# An overview that meets every requirement of the example file (five topics, the figures asked for).
COMPLETE = (
    "2025年，本区认真贯彻《中华人民共和国政府信息公开条例》。主动公开方面，全年主动公开政府信息2645条，"
    "发布政策解读36篇。依申请公开方面，全年收到政府信息公开申请64件。政府信息管理方面，本年制发规章1件，"
    "废止规章0件，现行有效规章12件；制发行政规范性文件5件，废止行政规范性文件2件，现行有效行政规范性文件20件。"
    "政府信息公开平台建设方面，持续优化政府网站政府信息公开专栏。监督保障方面，将政务公开纳入绩效考核。")


def local_file(**changes) -> dict:
    """A fresh copy of the shipped example, with header fields or rule lists changed."""
    raw = json.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    raw.update(changes)
    return raw


def one_rule(check: str, severity: str = "warning", rid: str = "local.test.rule", **extra) -> dict:
    rule = {"id": rid, "kind": "check", "severity": severity, "source": "测试通知", "statement": "测试",
            "check": check, "message": "测试规则：实际 {actual}，应为 {expected}", **extra}
    return local_file(rules=[rule])


def complete_document(year: int = 2025) -> dict:
    """The bundled made-up report (valid under the national rules), with COMPLETE as its overview,
    and table 二's 规章 repealed figure as that text states."""
    doc = example("made-up-qingfeng-2022")
    doc["year"] = year
    doc["texts"]["overview"] = COMPLETE
    doc["proactive"]["rules"]["repealed"] = 0
    return doc


def local_findings(result) -> list:
    return [f for f in result.findings if f.origin == "local"]


# -- the rule functions ---------------------------------------------------------------------------


def test_length_counts_characters_without_whitespace():
    assert text_length("主动公开 信息\n 10条")[0] == 9
    assert text_length("\u3000\u3000一、总体情况\r\n\t\u00a0")[0] == 6
    # in a rule: length(texts.overview) <= N, judged by the validator on a real report
    doc = complete_document()
    report = from_document(doc)
    raw = one_rule(f"length(texts.overview) <= {text_length(COMPLETE)[0] - 1}")
    (finding,) = local_findings(validate(report, local=(check_local(raw),)))
    assert (finding.actual, finding.expected) == (text_length(COMPLETE)[0], text_length(COMPLETE)[0] - 1)
    assert not local_findings(validate(report, local=(check_local(one_rule(
        f"length(texts.overview) <= {text_length(COMPLETE)[0]}")),)))


def test_mentions_any_of_its_phrases_literally():
    assert text_mentions("全年收到政府信息公开申请64件", "依申请公开|政府信息公开申请")[0] == 1
    assert text_mentions("依申请公开方面", "依申请公开|政府信息公开申请")[0] == 1
    assert text_mentions("全年收到申请64件", "依申请公开|政府信息公开申请")[0] == 0
    assert text_mentions("a.b", "a.b")[0] == 1 and text_mentions("axb", "a.b")[0] == 0  # literal, not a regex
    report = from_document(complete_document())
    raw = one_rule("mentions(texts.overview, '绩效考核|考核评议') == 1")
    assert not local_findings(validate(report, local=(check_local(raw),)))
    raw = one_rule("mentions(texts.overview, '社会评议|第三方评估') == 1")
    (finding,) = local_findings(validate(report, local=(check_local(raw),)))
    assert finding.facts == ("texts.overview",) and finding.actual == 0


def test_states_a_number_for_a_named_topic():
    rs = ruleset(check_local(one_rule("states(texts.overview, '(?:政策)?解读', '篇条') == 1")))
    pattern = rs.instances[0].check.actual[0].pattern
    assert text_states("发布政策解读36篇。", pattern)[0] == 1
    assert text_states("发布政策解读三十六篇。", pattern)[0] == 1  # Chinese numerals, as text() reads them
    assert text_states("解读信息发布 7 条。", pattern)[0] == 1  # a short gap between topic and number
    assert text_states("政策解读工作扎实开展。", pattern)[0] == 0  # topic without a number
    assert text_states("发布政策解读36件。", pattern)[0] == 0  # another unit
    assert text_states("解读、公开文件分别为3篇、4篇。", pattern)[0] == 0  # a respective figure is no one's own
    doc = complete_document()
    assert not local_findings(validate(from_document(doc), local=(check_local(
        one_rule("states(texts.overview, '(?:政策)?解读', '篇条') == 1")),)))
    doc["texts"]["overview"] = COMPLETE.replace("发布政策解读36篇。", "")
    (finding,) = local_findings(validate(from_document(doc), local=(check_local(
        one_rule("states(texts.overview, '(?:政策)?解读', '篇条') == 1")),)))
    assert finding.actual == 0


def test_the_shipped_example_encodes_the_notice():
    raw = read_local(EXAMPLE_RULES)
    assert "示例" in raw["issuer"] and "虚构" in raw["issuer"] and raw["year"] == 2025
    ids = {r.id for r in ruleset(raw).rules}
    assert {"local.overview.length", "local.overview.mentions_proactive", "local.overview.mentions_on_request",
            "local.overview.mentions_management", "local.overview.mentions_platforms",
            "local.overview.mentions_oversight", "local.overview.proactive_items", "local.overview.interpretations",
            *(f"local.overview.{k}_{w}" for k in ("rules", "normative") for w in ("issued", "repealed", "in_force"))} <= ids
    # a complete overview passes every local rule; each part taken out is named by its own rule
    assert not local_findings(validate(from_document(complete_document()), local=(raw,)))
    cuts = {"监督保障方面，将政务公开纳入绩效考核。": "local.overview.mentions_oversight",
            "废止规章0件，": "local.overview.rules_repealed",
            "发布政策解读36篇。": "local.overview.interpretations",
            "全年主动公开政府信息2645条，": "local.overview.proactive_items"}
    for cut, rule in cuts.items():
        doc = complete_document()
        doc["texts"]["overview"] = COMPLETE.replace(cut, "")
        found = {f.rule for f in local_findings(validate(from_document(doc), local=(raw,)))}
        assert rule in found, (cut, found)
    doc = complete_document()  # a figure stated, compared with table 二 by text()
    doc["proactive"]["rules"]["repealed"] = 2
    found = {f.rule: f for f in local_findings(validate(from_document(doc), local=(raw,)))}
    assert set(found) == {"local.overview.rules_repealed_matches"}
    assert (found["local.overview.rules_repealed_matches"].actual, found["local.overview.rules_repealed_matches"].expected) == (0, 2)
    doc = complete_document()
    doc["texts"]["overview"] = COMPLETE + "工作扎实推进。" * 200
    found = {f.rule: f for f in local_findings(validate(from_document(doc), local=(raw,)))}
    assert set(found) == {"local.overview.length"} and found["local.overview.length"].actual > 1100


# -- only adding, never weakening -----------------------------------------------------------------


@pytest.mark.parametrize("change, words", [
    ({"rules": [{**one_rule("length(texts.overview) <= 10")["rules"][0], "id": "applications.balance",
                 "severity": "warning"}]}, "与全国规则同名"),
    ({"disable": ["applications.balance"]}, "不能停用"),
    ({"tolerance": 5}, "放宽其容差"),
    ({"rules": [{**one_rule("length(texts.overview) <= 10")["rules"][0], "tolerance": 2}]}, "不能放宽"),
    ({"rules": [{"id": "local.types", "kind": "schema", "severity": "warning", "source": "x", "statement": "x",
                 "message": "x"}]}, "类型规则由全国规则规定"),
    ({"rules": [{**one_rule("applications.received.total == 0")["rules"][0], "computes": True}]}, "计算公式"),
    ({"rules": [{**one_rule("length(texts.overview) <= 10")["rules"][0], "id": "overview.length"}]}, "local. 开头"),
    ({"issuer": ""}, "发布机关"),
    ({"rules": [{**one_rule("length(texts.overview) <= 10")["rules"][0], "severity": "info"}]},
     "第 1 条规则的 severity：应为 error、warning 之一"),
    ({"year": "2025"}, "文件头的 year：应为整数"),
    ({"rules": [{k: v for k, v in one_rule("length(texts.overview) <= 10")["rules"][0].items() if k != "message"}]},
     "第 1 条规则：缺少字段 message"),
    ({"rules": [{**one_rule("length(applications.received.total) <= 10")["rules"][0]}]}, "规则表达式有误"),
    ({"rules": [{**one_rule("mentions(texts.overview, 'a||b') == 1")["rules"][0]}]}, "规则表达式有误"),
])
def test_a_file_that_would_weaken_or_is_malformed_is_refused(tmp_path, capsys, change, words):
    path = tmp_path / "local.json"
    path.write_text(json.dumps(local_file(**change), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(XxgkError) as caught:
        read_local(path)
    assert words in caught.value.message and caught.value.exit_code == 2
    report = tmp_path / "r.json"
    report.write_text(json.dumps(complete_document(), ensure_ascii=False), encoding="utf-8")
    code, out, err = call_cli(capsys, "validate", report, "--rules", path)
    assert code == 2 and words in err and "Traceback" not in err and out == ""


def test_a_national_rule_is_judged_the_same_with_local_rules(tmp_path):
    doc = complete_document()
    doc["applications"]["results"]["granted"]["total"] = 999  # breaks national rules (errors)
    national = [f for f in validate(from_document(doc)).findings]
    with_local = validate(from_document(doc), local=(read_local(EXAMPLE_RULES),)).findings
    assert [f for f in with_local if f.origin == "national"] == national
    assert all(f.severity == "error" for f in national if f.rule == "applications.results_total")


def test_two_files_may_not_define_the_same_id(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(one_rule("length(texts.overview) <= 10"), ensure_ascii=False), encoding="utf-8")
    b.write_text(json.dumps({**one_rule("length(texts.overview) <= 20"), "issuer": "另一机关"}, ensure_ascii=False),
                 encoding="utf-8")
    report = tmp_path / "r.json"
    report.write_text(json.dumps(complete_document(), ensure_ascii=False), encoding="utf-8")
    code, _, err = call_cli(capsys, "validate", report, "--rules", a, "--rules", b)
    assert code == 2 and "local.test.rule" in err
    code, out, _ = call_cli(capsys, "validate", report, "--rules", a, "--rules", a)  # the same file twice is once
    assert code == 0 and out.count("local.test.rule") == 1


# -- distributed: the workbook carries the rules -----------------------------------------------------


def fill_template(template: Path, document: dict, target: Path) -> Path:
    """Type the document's input values into a distributed template, as a clerk would, and save."""
    flat = load_schema().flatten(copy.deepcopy(document))
    computed, cells = load_rules().computed(), load_layout().cells
    wb = openpyxl.load_workbook(template)
    for fact_id, value in flat.items():
        if fact_id in computed or fact_id in ("agency", "agency_code", "year") or fact_id not in cells:
            continue
        sheet, row, col = cells[fact_id]
        wb[sheet].cell(row, col).value = value
    wb.save(target)
    return target


@pytest.fixture(scope="module")
def distributed(tmp_path_factory) -> dict:
    """Templates distributed with the example rules plus a formula-expressible error rule, and one filled copy
    whose overview misses three topics (warnings) and the figures asked for."""
    from xxgk.cli import main

    base = tmp_path_factory.mktemp("local")
    roster = base / "roster.csv"
    roster.write_text("单位名称,机关代码\n甲街道办事处,\n乙镇人民政府,\n", encoding="utf-8")
    strict = one_rule("mentions(texts.overview, '政务公开') == 1", severity="error", rid="local.strict.public_affairs")
    strict["issuer"] = "示例区政务公开办公室（虚构示例）"
    strict["rules"].append({  # this year's cells only, with a precondition: a formula row like the national ones
        "id": "local.strict.normative_stock", "kind": "check", "severity": "error", "source": "测试通知",
        "statement": "制发了行政规范性文件的，现行有效件数不少于本年制发件数",
        "when": "proactive.normative_documents.issued > 0",
        "check": "proactive.normative_documents.in_force >= proactive.normative_documents.issued",
        "message": "现行有效 {actual} 件，少于本年制发 {expected} 件"})
    strict_path = base / "strict.json"
    strict_path.write_text(json.dumps(strict, ensure_ascii=False), encoding="utf-8")
    out = base / "out"
    assert main(["distribute", "--roster", str(roster), "--year", "2025", "-o", str(out),
                 "--rules", str(EXAMPLE_RULES), "--rules", str(strict_path)]) == 0
    templates = sorted(out.glob("*.xlsx"))
    partial = example("made-up-qingfeng-2022")  # its overview: no 平台建设, 监督保障, 政府信息管理, 政务公开
    good_doc = complete_document()
    good_doc["proactive"]["normative_documents"]["issued"] = 0  # local.strict.normative_stock does not apply
    good = fill_template(templates[0], good_doc, base / "good.xlsx")
    bad = fill_template(templates[1], partial, base / "bad.xlsx")
    return {"base": base, "templates": templates, "good": good, "bad": bad, "strict": strict_path,
            "partial": partial}


def test_the_template_carries_the_rules_readable_by_openpyxl_and_calamine(distributed):
    template = distributed["templates"][0]
    wb = openpyxl.load_workbook(template)
    meta = {row[0].value: row[1].value for row in wb["_xxgk"].iter_rows()}
    from_openpyxl = embedded(meta)
    book = CalamineWorkbook.from_path(str(template))
    from_calamine = embedded({str(r[0]): r[1] for r in book.get_sheet_by_name("_xxgk").to_python() if len(r) > 1})
    assert from_openpyxl == from_calamine
    assert [r["issuer"] for r in from_calamine] == ["示例市人民政府办公室（虚构示例）", "示例区政务公开办公室（虚构示例）"]
    assert from_calamine[0] == read_local(EXAMPLE_RULES)
    assert EMBED_KEY in load(template).identity


def test_validate_without_rules_applies_the_embedded_ones(distributed, capsys):
    code, out, _ = call_cli(capsys, "validate", distributed["bad"], "--format", "json")
    findings = json.loads(out)["files"][0]["findings"]
    local = {f["rule"]: f for f in findings if f["origin"] == "local"}
    assert code == 1  # the district's own error rule (政务公开 not mentioned) makes the report invalid
    assert local["local.strict.public_affairs"]["severity"] == "error"
    assert local["local.strict.public_affairs"]["issuer"] == "示例区政务公开办公室（虚构示例）"
    assert local["local.overview.mentions_platforms"]["issuer"] == "示例市人民政府办公室（虚构示例）"
    assert all(f["origin"] == "national" and f["issuer"] == "国务院办公厅政府信息与政务公开办公室"
               for f in findings if not f["rule"].startswith("local."))
    code, out, _ = call_cli(capsys, "validate", distributed["bad"])
    assert "规则 local.overview.mentions_platforms；单元格 '文字部分'!B3；地方口径·示例市人民政府办公室（虚构示例）" in out
    code, out, _ = call_cli(capsys, "validate", distributed["good"])
    assert code == 0 and "地方口径" not in out, out


def test_libreoffice_keeps_the_rules_and_computes_the_formula_rules(distributed):
    """LibreOffice recalculates and saves the filled workbooks: the rules are still there (validate applies
    them), and each local rule a formula can compute shows on the 校验 sheet the status the validator gives."""
    from xxgk.checks import STATUS
    from xxgk.localrules import in_sheet
    from xxgk.validate import judge

    base = distributed["base"]
    for name in ("good", "bad"):
        saved = soffice_roundtrip(distributed[name], base / f"lo-{name}")
        report = load(saved)
        raws = embedded(report.identity)
        assert len(raws) == 2
        instances = [i for raw in raws for i in ruleset(raw).instances]
        formula_rules = [i for i in instances if in_sheet(i)]
        assert {i.rule.id for i in formula_rules} >= {"local.overview.length", "local.strict.public_affairs",
                                                      "local.overview.mentions_oversight", "local.strict.normative_stock"}
        assert not any(i.rule.id == "local.overview.interpretations" for i in formula_rules)  # a regex: validate's job
        ws = openpyxl.load_workbook(saved, data_only=True)["校验"]
        shown = {r[1].value: (r[4].value, r[6].value) for r in ws.iter_rows(min_row=5) if r[1].value}
        for inst in formula_rules:
            status, _ = judge(inst, report.facts)
            want = STATUS[inst.rule.severity] if status == "fail" else STATUS[status]
            actual = validate_side(inst, report.facts)
            assert shown[inst.rule.id] == (actual, want), (name, inst.rule.id)
        statuses = {shown[i.rule.id][1] for i in formula_rules}
        assert statuses == ({"通过", "不适用"} if name == "good" else {"通过", "警告", "错误"}), (name, statuses)
        after = {f.rule for f in local_findings(validate(report))}
        before = {f.rule for f in local_findings(validate(load(distributed[name])))}
        assert after == before and (name == "good") == (not after)
    overall = openpyxl.load_workbook(base / "lo-bad" / "bad.xlsx", data_only=True)["校验"]["A2"].value
    assert "错误" in overall  # the district's error rule counts in the sheet's one-line verdict


def validate_side(inst, facts) -> int:
    from xxgk.validate import _side

    return _side(inst.check.actual, facts, None)[0]


def test_the_addin_finds_the_embedded_rules(distributed):
    from memorybook import MemoryBook
    from xxgk.excel import RESULT_SHEET, validate_book

    book = MemoryBook.from_xlsx(distributed["bad"])
    result = validate_book(book)
    local = {f.rule for f in local_findings(result)}
    assert {"local.strict.public_affairs", "local.overview.mentions_platforms"} <= local
    origin = {row[1]: row[6] for row in book.rows[RESULT_SHEET][2:]}  # the 口径 column
    assert origin["local.strict.public_affairs"] == "地方口径·示例区政务公开办公室（虚构示例）"
    assert origin.get("text.enumerated_parts", "全国口径") == "全国口径"


def test_consolidate_applies_embedded_and_given_rules(distributed, capsys, tmp_path):
    code, out, _ = call_cli(capsys, "consolidate", distributed["good"], distributed["bad"], "-o", tmp_path / "t.xlsx",
                            "-q", "--jobs", "2")
    assert code == 1 and "local.strict.public_affairs·地方口径·示例区政务公开办公室（虚构示例）" in out
    code, out, _ = call_cli(capsys, "consolidate", distributed["good"], distributed["bad"], "-o", tmp_path / "t.xlsx",
                            "-q", "--allow-invalid")
    assert code == 5 and "bad.xlsx" in out
    # a plain (national) workbook gets the rules given on the command line
    plain = tmp_path / "plain.xlsx"
    from xxgk.template import fill

    doc = complete_document()
    doc["texts"]["overview"] = COMPLETE.replace("政务公开", "公开工作")  # what the district's error rule asks for
    plain.write_bytes(fill(from_document(doc)))
    code, out, _ = call_cli(capsys, "consolidate", plain, "-o", tmp_path / "p.xlsx", "-q")
    assert code == 0
    code, out, _ = call_cli(capsys, "consolidate", plain, "-o", tmp_path / "p2.xlsx", "-q",
                            "--rules", distributed["strict"])
    assert code == 1 and "local.strict.public_affairs" in out


def test_finalize_applies_the_embedded_rules_and_keeps_them(distributed, capsys, tmp_path):
    code, out, _ = call_cli(capsys, "finalize", distributed["bad"], "-o", tmp_path)
    assert code != 0 and "local.strict.public_affairs" in out and not list(tmp_path.glob("*.xlsx"))
    code, out, _ = call_cli(capsys, "finalize", distributed["good"], "-o", tmp_path)
    assert code == 0, out
    (final,) = tmp_path.glob("*.xlsx")
    assert embedded(load(final).identity) == embedded(load(distributed["good"]).identity)
    checks = openpyxl.load_workbook(final)["校验"]  # and its 校验 sheet still has their formula rows
    assert {"local.overview.length", "local.strict.public_affairs"} <= {r[1].value for r in checks.iter_rows(min_row=5)}


def test_audit_applies_the_rules_given(tmp_path, capsys):
    page = tmp_path / "report.html"
    source = tmp_path / "report.json"
    source.write_text(json.dumps(example("made-up-qingfeng-2022"), ensure_ascii=False), encoding="utf-8")
    code, _, _ = call_cli(capsys, "publish", source, "-o", page)
    assert code == 0
    code, out, _ = call_cli(capsys, "audit", page, "--format", "json")
    plain = json.loads(out)["reports"][0]["findings"]
    assert not [f for f in plain if f["origin"] == "local"]
    code, out, _ = call_cli(capsys, "audit", page, "--format", "json", "--rules", EXAMPLE_RULES)
    local = [f for f in json.loads(out)["reports"][0]["findings"] if f["origin"] == "local"]
    assert {f["rule"] for f in local} >= {"local.overview.mentions_platforms", "local.overview.interpretations"}
    assert {f["issuer"] for f in local} == {"示例市人民政府办公室（虚构示例）"}


def test_distribute_refuses_another_years_rules(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("单位名称\n甲街道办事处\n", encoding="utf-8")
    code, _, err = call_cli(capsys, "distribute", "--roster", roster, "--year", "2024", "-o", tmp_path / "out",
                            "--rules", EXAMPLE_RULES)
    assert code == 2 and "适用于 2025 年度" in err and not (tmp_path / "out").exists()


def test_a_workbook_carrying_weakening_rules_is_refused(distributed, tmp_path, capsys):
    """A template whose embedded file was edited to redefine a national rule: refused, not applied."""
    wb = openpyxl.load_workbook(distributed["bad"])
    meta = wb["_xxgk"]
    for row in meta.iter_rows():
        if row[0].value == EMBED_KEY:
            raws = json.loads(row[1].value)
            raws[1]["rules"][0]["id"] = "applications.balance"
            row[1].value = json.dumps(raws, ensure_ascii=False)
    wb.save(tmp_path / "tampered.xlsx")
    code, _, err = call_cli(capsys, "validate", tmp_path / "tampered.xlsx")
    assert code == 2 and "与全国规则同名" in err
