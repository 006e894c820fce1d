"""The `xxgk` command as a user runs it: a real subprocess, real files, exit codes and Chinese output."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import xxgk
from conftest import EXAMPLES, example, run_cli
from xxgk.resources import template_path
from xxgk.rules import load_rules


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd)  # fails on exit 3 (internal error) or a death by signal


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_template_command_writes_the_committed_template(tmp_path):
    out = tmp_path / "空白模板.xlsx"
    proc = run("template", "-o", str(out))
    assert proc.returncode == 0 and "空白模板" in proc.stdout
    assert out.read_bytes() == template_path().read_bytes()


def test_fill_then_export_loses_nothing(tmp_path):
    for source in sorted(EXAMPLES.glob("made-up-qingfeng-*.json")) + [EXAMPLES / "lushan-2021.json"]:
        before = sha(source)
        book = tmp_path / f"{source.stem}.xlsx"
        assert run("fill", str(source), "-o", str(book)).returncode == 0
        back = tmp_path / f"{source.stem}.json"
        proc = run("export", str(book), "-o", str(back))
        assert proc.returncode == 0, proc.stderr
        assert json.loads(back.read_text(encoding="utf-8")) == json.loads(source.read_text(encoding="utf-8"))
        assert sha(source) == before  # the input is never modified


def test_export_prints_json_to_stdout(tmp_path, write_workbook):
    book = write_workbook(example("lushan-2021"))
    proc = run("export", str(book))
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["agency"] == "富阳区鹿山街道"


def test_fill_reports_totals_that_disagree_with_their_leaves(tmp_path):
    doc = example("made-up-qingfeng-2021")
    doc["reviews"]["reconsideration"]["total"] += 1
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out.xlsx"
    proc = run("fill", str(source), "-o", str(out))
    assert proc.returncode == 0 and out.exists()
    assert "reviews.total" in proc.stdout and "表四「行政复议」" in proc.stdout
    assert "'表四 复议诉讼'!E6" in proc.stdout
    # the workbook keeps its formula: the total is the sum of its leaves
    assert xxgk.load(out).facts["reviews.reconsideration.total"] == doc["reviews"]["reconsideration"]["total"] - 1


def test_fill_refuses_what_it_cannot_place(tmp_path):
    doc = example("lushan-2021")
    doc["applications"]["received"]["robots"] = 3
    doc["extra_table"] = {"x": 1}
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out.xlsx"
    proc = run("fill", str(source), "-o", str(out))
    assert proc.returncode == 2
    assert "applications.received.robots" in proc.stderr and "extra_table.x" in proc.stderr
    assert not out.exists()


def test_outputs_never_overwrite_the_input(tmp_path, write_workbook):
    book = write_workbook(example("lushan-2021"))
    before = sha(book)
    proc = run("export", str(book), "-o", str(book))
    assert proc.returncode == 2 and "输入文件相同" in proc.stderr
    assert sha(book) == before
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_validate_text_output_names_rule_cells_and_values():
    proc = run("validate", str(EXAMPLES / "made-up-errors-2022.json"))
    assert proc.returncode == 1
    assert "【有错误】" in proc.stdout
    assert "表三（自然人列）：第三项（七）总计+第四项 = 22，第一项+第二项 = 24，应相等" in proc.stdout
    assert "规则 applications.balance；单元格 '表三 依申请公开'!D29" in proc.stdout


def test_validate_json_output_shape():
    proc = run("validate", "--format", "json", str(EXAMPLES / "made-up-errors-2022.json"), str(EXAMPLES / "lushan-2021.json"))
    assert proc.returncode == 1
    files = json.loads(proc.stdout)["files"]
    assert [f["valid"] for f in files] == [False, True]
    for finding in files[0]["findings"]:
        assert set(finding) == {"rule", "severity", "message", "facts", "cells", "expected", "actual", "fingerprint", "origin", "issuer"}
        assert all(c.startswith("'") and "'!" in c for c in finding["cells"])
    hard = {r.id for r in load_rules().rules if r.format_rule <= 5}
    assert hard <= {f["rule"] for f in files[0]["findings"]}  # the made-up example breaks every hard rule


def test_validate_with_prior():
    this, last = EXAMPLES / "made-up-qingfeng-2022.json", EXAMPLES / "made-up-qingfeng-2021.json"
    assert run("validate", str(this)).returncode == 0
    proc = run("validate", str(this), "--prior", str(last), "--format", "json")
    assert proc.returncode == 1
    rules = [f["rule"] for f in json.loads(proc.stdout)["files"][0]["findings"]]
    assert rules.count("prior.carried_over") == 2 and rules.count("prior.in_force") == 1


def test_bad_arguments_exit_2_in_chinese():
    proc = run("validate")
    assert proc.returncode == 2 and "参数有误" in proc.stderr
    proc = run("frobnicate")
    assert proc.returncode == 2


def test_demo_shows_clean_and_every_hard_rule(tmp_path):
    proc = run("demo", "-o", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr
    assert "富阳区鹿山街道 2021 年" in proc.stdout
    assert "校验通过" in proc.stdout
    for rule in load_rules().rules:
        if rule.format_rule in (1, 2, 3, 4, 5, 6, 7, 8):
            assert rule.id in proc.stdout, rule.id
    written = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert "空白模板.xlsx" in written and len(written) == 1 + len(list(EXAMPLES.glob("*.json")))
    for book in (tmp_path / "demo").glob("*.xlsx"):
        assert xxgk.load(book) is not None


def test_python_api():
    report = xxgk.load(EXAMPLES / "lushan-2021.json")
    result = xxgk.validate(report)
    assert result.valid and [f.rule for f in result.findings] == ["text.enumerated_parts"]
    assert result.summary() == "校验通过，有 1 处警告"
    bad = xxgk.validate(xxgk.load(EXAMPLES / "made-up-errors-2022.json"))
    assert not bad.valid and all(isinstance(f, xxgk.Finding) for f in bad.findings)
    with pytest.raises(xxgk.NotAReport):
        xxgk.load(EXAMPLES / "nope.json")


def test_a_broken_rule_file_is_a_maintainers_error_not_a_bad_report(monkeypatch, capsys):
    import importlib

    from xxgk import cli
    from xxgk.errors import SchemaError

    validate_module = importlib.import_module("xxgk.validate")

    def broken():
        raise SchemaError("rules file invalid at rules/1/severity")

    monkeypatch.setattr(validate_module, "load_rules", broken)
    code = cli.main(["validate", str(EXAMPLES / "lushan-2021.json")])
    assert code == 3
    assert "rules file invalid" in capsys.readouterr().err


def test_output_cut_short_by_a_closed_pipe_is_not_an_internal_error():
    proc = subprocess.run(["bash", "-c", f'"{sys.executable}" -m xxgk.cli validate "{EXAMPLES / "made-up-errors-2022.json"}"'
                           ' | head -1; exit "${PIPESTATUS[0]}"'], capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("【有错误】")
    assert proc.returncode in (1, 141), proc.stderr  # the findings' exit code, or the closed pipe's: not 3
    assert "内部错误" not in proc.stderr


def test_addin_path_points_at_the_committed_addin():
    proc = run("addin", "path")
    assert proc.returncode == 0
    assert Path(proc.stdout.strip()).read_bytes()[:2] == b"PK" and proc.stdout.strip().endswith("xxgk.xlam")
