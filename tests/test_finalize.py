"""Finalising for submission and verifying submitted files, as a clerk and the district office run them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import openpyxl

import xxgk
from conftest import EXAMPLES, example, run_cli
from xxgk.finalize import fingerprint
from xxgk.layout import load_layout, name_for


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd)  # fails on exit 3 (internal error) or a death by signal


def finalized(tmp_path: Path, name: str = "lushan-2021", document: dict | None = None) -> Path:
    source = tmp_path / "report.xlsx"
    source.write_bytes(xxgk.fill(xxgk.from_document(document or example(name))))
    proc = run("finalize", str(source), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stdout
    (path,) = [p for p in tmp_path.iterdir() if p.name.endswith("政府信息公开工作年度报告.xlsx")]
    return path


def test_finalize_writes_the_stamped_locked_submission_copy(tmp_path):
    path = finalized(tmp_path)
    assert path.name == "2021年富阳区鹿山街道政府信息公开工作年度报告.xlsx"
    report = xxgk.load(path)
    assert report.document == example("lushan-2021")
    wb = openpyxl.load_workbook(path)
    stamp = {p.name: p.value for p in wb.custom_doc_props.props}
    assert stamp["xxgk.fingerprint"] == fingerprint(report)
    assert stamp["xxgk.ruleset"] == "2021.1" and stamp["xxgk.tool"].startswith("xxgk ")
    assert stamp["xxgk.finalized"].endswith("Z")
    for fact_id, (sheet, row, col) in load_layout().cells.items():  # every cell locked, every sheet protected
        assert wb[sheet].cell(row, col).protection.locked, fact_id
    assert all(ws.protection.sheet for ws in wb.worksheets) and wb.security.lockStructure


def test_verify_a_finalised_unchanged_file(tmp_path):
    proc = run("verify", str(finalized(tmp_path)))
    assert proc.returncode == 0
    assert "已定稿" in proc.stdout and "定稿后未被修改" in proc.stdout and "校验通过" in proc.stdout


def test_verify_names_what_changed_after_finalising(tmp_path):
    path = finalized(tmp_path)
    wb = openpyxl.load_workbook(path)
    (sheet, coord), = wb.defined_names[name_for("applications.received.legal_services")].destinations
    ws = wb[sheet]
    ws.protection.sheet = False
    ws[coord.replace("$", "")] = 4
    wb.save(path)
    proc = run("verify", str(path))
    assert proc.returncode == 1
    assert "定稿后被修改" in proc.stdout
    assert "表三「一、本年新收政府信息公开申请数量」法人或其他组织·法律服务机构：定稿时 3，现在 4" in proc.stdout


def test_finalize_refuses_errors_and_lists_warnings(tmp_path):
    proc = run("finalize", str(EXAMPLES / "made-up-errors-2022.json"), "-o", str(tmp_path))
    assert proc.returncode == 1 and "不能定稿" in proc.stdout and "applications.balance" in proc.stdout
    assert not list(tmp_path.iterdir())
    doc = example("made-up-qingfeng-2021")
    doc["texts"]["overview"] = doc["texts"]["overview"].replace("申请60件", "申请61件")  # a warning only
    source = tmp_path / "w.json"
    source.write_text(xxgk.from_document(doc).to_json(), encoding="utf-8")
    proc = run("finalize", str(source))
    assert proc.returncode == 0 and "警告" in proc.stdout and "text.applications_received" in proc.stdout


def test_an_unfinalised_file_and_a_non_report(tmp_path):
    plain = tmp_path / "plain.xlsx"
    plain.write_bytes(xxgk.fill(xxgk.from_document(example("lushan-2021"))))
    (tmp_path / "x.xlsx").write_text("不是工作簿", encoding="utf-8")
    proc = run("verify", str(plain), str(tmp_path / "x.xlsx"))
    assert proc.returncode == 2
    assert "未定稿" in proc.stdout and "【无法读取】" in proc.stdout


def test_the_name_of_the_submission_copy_is_safe(tmp_path):
    doc = example("lushan-2021")
    doc["agency"] = "../../上级/鹿山:街道?"
    path = finalized(tmp_path, document=doc)
    assert path.parent == tmp_path and path.name == "2021年上级_鹿山_街道政府信息公开工作年度报告.xlsx"


def test_consolidation_shows_each_units_finalised_state(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    path = finalized(units)
    (units / "report.xlsx").unlink()  # keep only the submission copy
    other = tmp_path / "other"
    other.mkdir()
    changed = finalized(other, document=example("made-up-qingfeng-2021"))
    wb = openpyxl.load_workbook(changed)
    (sheet, coord), = wb.defined_names[name_for("proactive.licensing.decisions")].destinations
    wb[sheet].protection.sheet = False
    wb[sheet][coord.replace("$", "")] = 7
    wb.save(units / changed.name)
    plain = units / "plain.json"
    doc = example("lushan-2021")
    doc["agency"] = "另一街道"
    plain.write_text(xxgk.from_document(doc).to_json(), encoding="utf-8")
    out = tmp_path / "t.xlsx"
    assert run("consolidate", str(units), "-o", str(out), "-q").returncode == 0
    states = {Path(i["path"]).name: i["finalised"]
              for i in json.loads(out.with_suffix(".manifest.json").read_text(encoding="utf-8"))["inputs"]}
    assert states == {path.name: "已定稿", changed.name: "定稿后被修改", "plain.json": ""}
