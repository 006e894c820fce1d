"""Where local rules and fingerprints show (issue 15): the consolidation page and the audit page name each
finding's origin (全国口径 / 地方口径·发布机关) and fingerprint, so a reviewer can write explanations or
decisions from the page; a consolidation's manifest and 清单 sheet record which local rule files were
applied (given and carried by the inputs), and the run id covers them."""

from __future__ import annotations

import hashlib
import html
import json
import re

import pytest
from conftest import EXAMPLES, example, run_cli
from python_calamine import CalamineWorkbook

from xxgk import from_document
from xxgk.localrules import read_local
from xxgk.publish import html_bytes
from xxgk.schema import load_schema
from xxgk.template import build_workbook, cached_sums, reproducible_bytes

EXAMPLE_RULES = EXAMPLES / "local-rules" / "local-rules-example.json"
ISSUER = "示例市人民政府办公室（虚构示例）"
QF = "清风街道（虚构示例）"


def canonical_sha256(raw: dict) -> str:
    """The SHA-256 of a rule file's content with sorted keys and no spaces: formatting does not count."""
    return hashlib.sha256(json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    """A unit's workbook carrying the example rules (as `distribute --rules` writes it; its overview misses
    topics those rules ask for) and a .json unit carrying none."""
    root = tmp_path_factory.mktemp("units")
    folder = root / "报送"
    folder.mkdir()
    raw = read_local(EXAMPLE_RULES)
    document = example("made-up-qingfeng-2022")
    document["year"] = 2025
    flat = load_schema().flatten(document)
    (folder / "清风.xlsx").write_bytes(reproducible_bytes(build_workbook(flat, local=(raw,)), cached_sums(flat)))
    other = example("made-up-qingfeng-2022")
    other.update(year=2025, agency="明月镇（虚构示例）")
    other["applications"]["received"]["natural_persons"] += 1
    other["applications"]["received"]["total"] += 1
    other["applications"]["results"]["granted"]["natural_persons"] += 1
    other["applications"]["results"]["granted"]["total"] += 1
    other["applications"]["results"]["total"]["natural_persons"] += 1
    other["applications"]["results"]["total"]["total"] += 1
    (folder / "明月.json").write_text(json.dumps(other, ensure_ascii=False), encoding="utf-8")
    return {"root": root, "folder": folder, "raw": raw}


def findings_of(path) -> list[dict]:
    return json.loads(run_cli("validate", "--format", "json", path).stdout)["files"][0]["findings"]


def notes(page_html: str, section: str) -> list[str]:
    """The note beside each finding of a page section, unescaped."""
    part = re.search(rf'<section id="{section}".*?</section>', page_html, re.S).group(0)
    return [html.unescape(n) for n in re.findall(r'<span class="note">（(.*?)）</span>', part, re.S)]


def test_consolidation_page_names_origin_and_fingerprint(units, tmp_path):
    total, page = tmp_path / "合计.xlsx", tmp_path / "合计.html"
    proc = run_cli("consolidate", units["folder"], "-o", total, "--html", page, "-q", "--allow-invalid")
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr
    text = page.read_text(encoding="utf-8")
    listed, reviewed = notes(text, "sec-findings"), notes(text, "sec-review")
    local = [f for f in findings_of(units["folder"] / "清风.xlsx") if f["origin"] == "local"]
    national = findings_of(units["folder"] / "明月.json")
    assert local and all(f["issuer"] == ISSUER for f in local) and national
    for f in local + national:  # each finding, with whose rule it is and its fingerprint, in both lists
        origin = "全国口径" if f["origin"] == "national" else f"地方口径·{ISSUER}"
        for shown in (listed, reviewed) if f["severity"] == "warning" else (listed,):
            assert any(f"规则 {f['rule']}；" in n and origin in n and n.endswith(f"指纹 {f['fingerprint']}")
                       for n in shown), f["rule"]
    from test_htmlreport import run_chromium

    dom = html.unescape(run_chromium(tmp_path, page, "--dump-dom").stdout.decode("utf-8"))
    assert f"地方口径·{ISSUER}" in dom and f"指纹 {local[0]['fingerprint']}" in dom  # as a browser shows it


def test_audit_page_names_origin_and_fingerprint_and_takes_decisions_from_it(tmp_path):
    folder = tmp_path / "公开"
    folder.mkdir()
    (folder / "清风2022.html").write_bytes(html_bytes(from_document(example("made-up-qingfeng-2022"))))
    page = tmp_path / "抽查.html"
    proc = run_cli("audit", folder, "--rules", EXAMPLE_RULES, "--html", page, "-q")
    assert proc.returncode in (0, 1), proc.stderr
    shown = notes(page.read_text(encoding="utf-8"), "sec-findings")
    local = [n for n in shown if f"地方口径·{ISSUER}" in n]
    assert local and all(re.search(r"指纹 [a-p][0-9a-f]{15}$", n) for n in shown)
    # the reviewer writes a decision from what the page shows
    fingerprint = re.search(r"指纹 ([a-p][0-9a-f]{15})$", local[0]).group(1)
    decisions = tmp_path / "复核决定.json"
    decisions.write_text(json.dumps({fingerprint: {"decision": "排除", "reason": "该区另发专项说明"}}, ensure_ascii=False),
                         encoding="utf-8")
    proc = run_cli("audit", folder, "--rules", EXAMPLE_RULES, "--decisions", decisions, "--html", page, "-q")
    text = page.read_text(encoding="utf-8")
    dismissed = re.search(r'<div class="decision" data-decision="dismissed">.*?</div>', text, re.S).group(0)
    assert fingerprint in dismissed and "该区另发专项说明" in dismissed and f"地方口径·{ISSUER}" in html.unescape(dismissed)
    assert "排除 1 处" in proc.stdout


def manifest_of(total) -> dict:
    return json.loads(total.with_suffix(".manifest.json").read_text(encoding="utf-8"))


def consolidate(folder, out, *args) -> dict:
    out.parent.mkdir(exist_ok=True)
    proc = run_cli("consolidate", folder, "-o", out, "-q", "--allow-invalid", *args)
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr
    return manifest_of(out)


def test_manifest_and_sheet_record_the_local_rules_and_the_run_id_covers_them(units, tmp_path):
    raw, folder = units["raw"], units["folder"]
    sha = canonical_sha256(raw)
    carried = consolidate(folder, tmp_path / "a" / "合计.xlsx")
    assert carried["local_rules"] == [{"issuer": ISSUER, "year": 2025, "rules": len(raw["rules"]), "sha256": sha,
                                       "given": False, "units": 1}]
    given = consolidate(folder, tmp_path / "b" / "合计.xlsx", "--rules", EXAMPLE_RULES)
    assert given["local_rules"] == [{**carried["local_rules"][0], "given": True}]
    assert given["run_id"] != carried["run_id"]  # other rules applied: another run

    # the same rules formatted otherwise are the same rules: the same record, the same run
    reformatted = tmp_path / "改排版.json"
    reformatted.write_text(json.dumps(raw, ensure_ascii=False, indent=4), encoding="utf-8")
    assert consolidate(folder, tmp_path / "c" / "合计.xlsx", "--rules", reformatted)["run_id"] == given["run_id"]
    # a rule file with one more rule is another file: recorded apart, another run id
    stricter = json.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    stricter["issuer"] = "示例区政务公开办公室（虚构示例）"
    stricter["rules"] = [dict(stricter["rules"][0], id="local.district.overview_length")]
    other = tmp_path / "区规则.json"
    other.write_text(json.dumps(stricter, ensure_ascii=False), encoding="utf-8")
    both = consolidate(folder, tmp_path / "d" / "合计.xlsx", "--rules", other)
    assert [(r["issuer"], r["rules"], r["given"], r["units"]) for r in both["local_rules"]] == [
        ("示例区政务公开办公室（虚构示例）", 1, True, 0), (ISSUER, len(raw["rules"]), False, 1)]
    assert both["run_id"] not in (given["run_id"], carried["run_id"])

    # a rerun is byte-identical
    out = tmp_path / "b" / "合计.xlsx"
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    consolidate(folder, out, "--rules", EXAMPLE_RULES)
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == before

    # the 清单 sheet says the same in words
    rows = CalamineWorkbook.from_path(str(out)).get_sheet_by_name("清单").to_python()
    (line,) = [r[1] for r in rows if r and r[0] == "地方规则"]
    assert ISSUER in line and sha in line and f"{len(raw['rules'])} 条规则" in line and "命令行 --rules" in line
    assert "1 个输入文件内含" in line


def test_no_local_rules_no_record(tmp_path):
    folder = tmp_path / "报送"
    folder.mkdir()
    (folder / "鹿山.json").write_text(json.dumps(example("lushan-2021"), ensure_ascii=False), encoding="utf-8")
    data = consolidate(folder, tmp_path / "合计.xlsx")
    assert "local_rules" not in data
    rows = CalamineWorkbook.from_path(str(tmp_path / "合计.xlsx")).get_sheet_by_name("清单").to_python()
    assert not [r for r in rows if r and r[0] == "地方规则"]
