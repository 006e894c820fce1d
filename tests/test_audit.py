"""`xxgk audit`: many published reports at once — one line each, bodies chained by year with the
cross-year rules, the roster check of parent totals, the JSON output and the self-contained page.

The inputs are published with the project's own publish code (`xxgk publish`) from the bundled
examples, with agency and year changed; and the shared real reports when they are there."""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from conftest import example, need_shared, run_cli, scaled, set_fact

import xxgk
from xxgk import audit as audit_module
from xxgk.audit import audit, discover
from xxgk.publish import docx_bytes, html_bytes
from xxgk.report import from_document

SHARED = Path(__file__).resolve().parents[2] / "shared" / "real-reports"
QF = "清风街道（虚构示例）"
ODD_FILE = '<b>坏&"x".html'  # an unreadable file whose name carries markup


def agency_first(data: bytes, agency: str, year: int, docx: bool) -> bytes:
    """The official title order, "<机关><年度>年政府信息公开工作年度报告" (issue 11 item 6), whatever
    order `publish` uses today: the audit is about reading titles as bodies write them."""
    old, new = f"{year}年{agency}政府信息公开".encode(), f"{agency}{year}年政府信息公开".encode()
    if not docx:
        return data.replace(old, new)
    source, buffer = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info, source.read(info).replace(old, new))
    return buffer.getvalue()


def publish(document: dict, path: Path) -> Path:
    """A published report (.html or .docx) made by the code behind `xxgk publish`."""
    docx = path.suffix == ".docx"
    report = from_document(copy.deepcopy(document))
    data = docx_bytes(report) if docx else html_bytes(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(agency_first(data, document["agency"], document["year"], docx))
    return path


def of_year(document: dict, year: int) -> dict:
    document = copy.deepcopy(document)
    document["year"] = year
    return document


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """清风 2021 (.html) and 2022 (.docx) with a cross-year slip; a district whose total equals its two
    units; a county with one unit missing and one unreadable; an unreadable file with markup in its name."""
    root = tmp_path_factory.mktemp("audit")
    folder = root / "reports"
    base = example("made-up-qingfeng-2021")
    district = of_year(base, 2022)
    publish(base, folder / "清风" / "2021.html")
    publish(example("made-up-qingfeng-2022"), folder / "清风" / "2022.docx")
    publish(scaled(district, 5, "某区（虚构）"), folder / "区" / "某区2022.html")
    publish(scaled(district, 2, "东湖街道（虚构）"), folder / "区" / "东湖2022.docx")
    publish(scaled(district, 3, "西山镇（虚构）"), folder / "区" / "西山2022.html")
    publish(scaled(district, 4, "某县（虚构）"), folder / "县" / "某县2022.html")
    publish(scaled(district, 4, "南湖街道（虚构）"), folder / "县" / "南湖2022.docx")
    (folder / "县" / "2022年鹿港街道（虚构）.docx").write_bytes(b"not a word file")  # unreadable
    (folder / ODD_FILE).write_bytes(b"\xff\xfe\x00garbage")
    (folder / ".hidden.html").write_text("hidden", encoding="utf-8")
    (folder / "~$2022.docx").write_bytes(b"lock")
    roster = root / "名单.csv"
    roster.write_bytes("名称,上级\n某区（虚构）,\n东湖街道（虚构）,某区（虚构）\n西山镇（虚构）,某区（虚构）\n"
                       "某县（虚构）,\n南湖街道（虚构）,某县（虚构）\n北山镇（虚构）,某县（虚构）\n"
                       "鹿港街道（虚构）,某县（虚构）\n".encode("gb18030"))  # GBK, as many offices save it
    return {"root": root, "folder": folder, "roster": roster}


@pytest.fixture(scope="module")
def json_run(published):
    proc = run_cli("audit", published["folder"], "--roster", published["roster"], "--format", "json", "-q",
                   "--jobs", "2")
    return proc, json.loads(proc.stdout)


def by_name(data: dict) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in data["reports"]}


def test_one_line_per_report_and_a_summary(published):
    proc = run_cli("audit", published["folder"], "-q", "--jobs", "1")
    assert proc.returncode == 2, proc.stdout + proc.stderr  # an unreadable file: 2 comes before 1
    lines = proc.stdout.splitlines()
    reports = [line for line in lines if line.startswith("【")]
    assert len(reports) == 9  # the hidden file and the Office lock file are not reports
    assert not any(".hidden" in line or "~$" in line for line in lines)
    assert any(line.startswith("【无法读取】") and "鹿港" in line for line in reports)
    summary = next(line for line in lines if line.startswith("共 9 份报告"))
    assert "无法读取 2 份" in summary and "跨年度核对 1 份" in summary
    refusals = [int(m.group(1)) for line in lines if (m := re.match(r"  无法读取：.*（(\d+) 份）$", line))]
    assert sum(refusals) == 2, lines
    assert proc.stderr == ""  # -q: no progress


def test_cross_year_rules_run_along_each_body(json_run):
    proc, data = json_run
    reports = by_name(data)
    later, earlier = reports["2022.docx"], reports["2021.html"]
    assert (later["agency"], later["year"], earlier["year"]) == (QF, 2022, 2021)
    assert later["prior"].endswith("2021.html") and earlier["prior"] is None
    rules = [f["rule"] for f in later["findings"]]
    assert rules.count("prior.carried_over") == 2 and "prior.in_force" in rules  # the slip the examples carry
    assert later["status"] == "invalid"
    assert not [f for f in earlier["findings"] if f["rule"].startswith("prior.")]
    assert data["summary"]["cross_year"] == 1


def test_json_results(json_run):
    proc, data = json_run
    assert proc.returncode == 2 == data["exit_code"]
    summary = data["summary"]
    assert summary["reports"] == 9 and summary["unreadable"] == 2
    assert sum(summary[k] for k in ("valid", "warnings", "invalid", "unreadable")) == 9
    assert sum(r["count"] for r in summary["refusals"]) == 2
    broken = by_name(data)["2022年鹿港街道（虚构）.docx"]
    assert broken["status"] == "unreadable" and broken["error"] and broken["findings"] == []
    district = by_name(data)["某区2022.html"]
    assert district["agency"] == "某区（虚构）" and district["year"] == 2022 and district["errors"] == 0


def test_roster_checks_parent_totals_and_lists_who_did_not_publish(json_run):
    _, data = json_run
    checks = {(c["parent"], c["year"]): c for c in data["roster"]["checks"]}
    district = checks[("某区（虚构）", 2022)]
    assert district["outcome"] == "agrees" and district["differences"] == []
    assert district["units"] == ["东湖街道（虚构）", "西山镇（虚构）"]
    county = checks[("某县（虚构）", 2022)]
    assert county["outcome"] == "uncheckable"  # not an error: it cannot be checked
    assert county["missing"] == ["北山镇（虚构）"] and county["unreadable"] == ["鹿港街道（虚构）"]
    assert "北山镇（虚构）" in county["why"] and "鹿港街道（虚构）" in county["why"]
    assert data["roster"]["unpublished"]["2022"] == ["北山镇（虚构）"]
    assert data["roster"]["unreadable"]["2022"] == ["鹿港街道（虚构）"]
    assert QF in data["roster"]["off_roster"]
    assert by_name(data)["某县2022.html"]["errors"] == 0


def test_roster_difference_is_an_error_naming_the_fact(tmp_path):
    base = of_year(example("made-up-qingfeng-2021"), 2022)
    parent = set_fact(scaled(base, 3, "某区（虚构）"), "proactive.licensing.decisions",
                      3 * base["proactive"]["licensing"]["decisions"] + 7)
    publish(parent, tmp_path / "in" / "区.html")
    publish(scaled(base, 1, "甲街道（虚构）"), tmp_path / "in" / "甲.html")
    publish(scaled(base, 2, "乙街道（虚构）"), tmp_path / "in" / "乙.docx")
    roster = tmp_path / "名单.csv"
    roster.write_text("甲街道（虚构）,某区（虚构）\n乙街道（虚构）,某区（虚构）\n", encoding="utf-8")
    proc = run_cli("audit", tmp_path / "in", "--roster", roster, "-q", "--jobs", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"名单核对 某区（虚构） 2022 年（2 个下级单位）：不符，1 项", proc.stdout), proc.stdout
    data = json.loads(run_cli("audit", tmp_path / "in", "--roster", roster, "--format", "json", "-q").stdout)
    finding = next(f for f in by_name(data)["区.html"]["findings"] if f["rule"] == "audit.roster_sum")
    assert finding["facts"] == ["proactive.licensing.decisions"] and finding["actual"] - finding["expected"] == 7
    assert "甲街道（虚构）" in finding["message"] and "乙街道（虚构）" in finding["message"]


def test_all_valid_exits_0_with_progress_on_stderr(published):
    folder = published["folder"] / "区"
    proc = run_cli("audit", folder, "--jobs", "2")
    assert proc.returncode == 0, proc.stdout
    assert "有错误 0 份，无法读取 0 份" in proc.stdout
    assert proc.stderr.splitlines()[-1] == "读取并校验 6/6"  # 3 reports: read, then validated
    assert "读取并校验" not in proc.stdout


def test_one_failing_file_is_its_own_line(published, monkeypatch):
    """Whatever one file raises inside the import becomes that file's line; the others are audited."""
    import xxgk.importer

    real = xxgk.importer.import_report

    def flaky(path, *rest):
        if Path(path).name == "西山2022.html":
            raise RuntimeError("boom")
        return real(path, *rest)

    monkeypatch.setattr(xxgk.importer, "import_report", flaky)
    result = audit(discover([published["folder"] / "区"]), jobs=1)
    status = {Path(r.path).name: r for r in result.reports}
    assert status["西山2022.html"].status == "unreadable" and "RuntimeError" in status["西山2022.html"].reason
    assert status["东湖2022.docx"].status != "unreadable" and status["某区2022.html"].status != "unreadable"
    assert result.exit_code() == 2


def test_html_page_is_self_contained_and_escaped(published, tmp_path):
    page = tmp_path / "抽查.html"
    proc = run_cli("audit", published["folder"], "--roster", published["roster"], "--html", page, "-q")
    assert proc.returncode == 2
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)\b", text, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text, re.I)
    assert "<b>坏" not in text and "&lt;b&gt;坏&amp;&quot;x&quot;.html" in text
    assert 'id="bodies"' in text and "prior.carried_over" in text and "无法核对" in text
    # a text finding shows the sentence it is about
    assert re.search(r"\[警告\] 一、总体情况[^<]*（“[^<]*。”）[^<]*<span class=\"note\">（规则 text\.", text)
    # a second run may replace its own page, and the page in an audited folder is not read as a report
    again = published["folder"] / "抽查结果.html"
    try:
        assert run_cli("audit", published["folder"], "--html", again, "-q").returncode == 2
        second = run_cli("audit", published["folder"], "--html", again, "-q")
        assert second.returncode == 2 and "抽查结果.html" not in second.stdout
    finally:
        again.unlink(missing_ok=True)


def test_html_never_written_over_an_input_or_a_stranger(published, tmp_path):
    target = published["folder"] / "区" / "某区2022.html"
    before = target.read_bytes()
    proc = run_cli("audit", published["folder"] / "区", "--html", target, "-q")
    assert proc.returncode == 2 and "输入文件" in proc.stderr and target.read_bytes() == before
    stranger = tmp_path / "别人的.html"
    stranger.write_text("<p>别人的网页</p>", encoding="utf-8")
    proc = run_cli("audit", published["folder"] / "区", "--html", stranger, "-q")
    assert proc.returncode == 2 and stranger.read_text(encoding="utf-8") == "<p>别人的网页</p>"


def test_html_renders_in_chromium(published, tmp_path):
    from test_htmlreport import run_chromium

    page = tmp_path / "audit.html"
    run_cli("audit", published["folder"], "--roster", published["roster"], "--html", page, "-q")
    dom = run_chromium(tmp_path, page, "--dump-dom").stdout.decode("utf-8")
    table = re.search(r'<table id="bodies">(.*?)</table>', dom, re.S).group(1)
    assert "<th scope=\"col\">2021 年</th>" in table and "<th scope=\"col\">2022 年</th>" in table
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", table, re.S)
    cells = {name: re.findall(r'data-status="(\w+)"', rest) for name, rest in rows}
    assert cells[QF] == ["valid", "invalid"]
    assert cells["东湖街道（虚构）"][0] == "none"
    assert "<script" not in dom.lower()


def test_discovery_skips_hidden_and_temporary_files(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "a.html").write_text("x", encoding="utf-8")
    for name in ("~$报告.docx", ".报告.html", "报告.html.tmp", "报告.html", "说明.md", "报告.PDF"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert [p.name for p in discover([tmp_path])] == ["报告.PDF", "报告.html"]
    with pytest.raises(audit_module.XxgkError):
        discover([tmp_path / "没有"])


def test_shared_real_reports():
    need_shared(SHARED)
    proc = run_cli("audit", SHARED, "--format", "json", "-q")
    data = json.loads(proc.stdout)
    reports = by_name(data)
    assert set(reports) >= {"pingtan-2021.html", "shuyang-fgj-2023.html", "hongze-2024.pdf"}
    assert (reports["pingtan-2021.html"]["agency"], reports["pingtan-2021.html"]["year"]) == ("平潭综合实验区", 2021)
    assert reports["pingtan-2021.html"]["status"] in ("valid", "warnings")
    assert reports["shuyang-fgj-2023.html"]["agency"] == "沭阳县发展和改革局"
    assert proc.returncode == data["exit_code"] == max(
        2 if r["status"] == "unreadable" else 1 if r["errors"] else 0 for r in data["reports"])
    text = run_cli("audit", SHARED, "-q").stdout
    assert len([line for line in text.splitlines() if line.startswith("【")]) == len(data["reports"])


def test_findings_are_those_of_import_then_validate():
    """The audit words published reports as published (报告未说明, 无法核对, 此格为空白), exactly as
    `xxgk import` followed by validation does: nothing of the import is lost between its two passes."""
    need_shared(SHARED)
    from xxgk.importer import import_report

    reports = by_name(json.loads(run_cli("audit", SHARED, "--format", "json", "-q", "--jobs", "2").stdout))
    for name in ("pingtan-2021.html", "shuyang-fgj-2023.html", "hongze-2024.pdf"):
        expected = xxgk.validate(import_report(SHARED / name)[0]).findings
        got = reports[name]["findings"]
        assert [(f["rule"], f["message"]) for f in got] == [(f.rule, f.message) for f in expected], name
    assert any("无法核对" in f["message"] for f in reports["shuyang-fgj-2023.html"]["findings"])
