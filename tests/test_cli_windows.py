"""The command line as a Windows shell runs it: wildcards passed literally (cmd and PowerShell do not expand
them), folders as inputs, outputs that never replace a user's file silently, created output folders, and
output extensions that are written as what they say (a real PDF, or a refusal)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import example, rezip, run_cli, soffice
from xxgk import from_document
from xxgk.template import build, fill


@pytest.fixture
def received(tmp_path: Path) -> Path:
    """A folder as a clerk receives it: two reports, an Office lock file and a hidden file."""
    folder = tmp_path / "收到的文件"
    (folder / "街道").mkdir(parents=True)
    data = fill(from_document(example("made-up-qingfeng-2021")))
    (folder / "甲.xlsx").write_bytes(data)
    (folder / "街道" / "乙.xlsx").write_bytes(data)
    (folder / "~$甲.xlsx").write_bytes(b"lock")
    (folder / ".隐藏.xlsx").write_bytes(b"hidden")
    return folder


def _workbook(tmp_path: Path, name: str = "报告.xlsx") -> Path:
    path = tmp_path / name
    path.write_bytes(fill(from_document(example("made-up-qingfeng-2021"))))
    return path


# -- item 6: wildcards and folders -------------------------------------------------------------------


def test_validate_expands_a_literal_wildcard_and_skips_lock_files(received: Path):
    proc = run_cli("validate", received / "*.xlsx")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "甲.xlsx" in proc.stdout and "~$" not in proc.stdout and "隐藏" not in proc.stdout
    assert proc.stdout.count("【通过】") == 1


def test_validate_verify_and_finalize_take_folders_recursively(received: Path, tmp_path: Path):
    proc = run_cli("validate", received, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    names = sorted(Path(f["path"]).name for f in json.loads(proc.stdout)["files"])
    assert names == ["乙.xlsx", "甲.xlsx"]

    out = tmp_path / "定稿" / "新文件夹"  # missing: created
    proc = run_cli("finalize", received / "街道", "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (submission,) = out.glob("*.xlsx")
    proc = run_cli("verify", out.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert submission.name in proc.stdout and "定稿后未被修改" in proc.stdout


def test_a_pattern_that_matches_nothing_is_exit_2_in_chinese(tmp_path: Path):
    for command in (["validate"], ["verify"], ["finalize"], ["export"], ["publish", "-o", tmp_path / "x.docx"]):
        proc = run_cli(*command, tmp_path / "没有" / "*.xlsx")
        assert proc.returncode == 2, (command, proc.stderr)
        assert "没有与通配符匹配的文件" in proc.stderr


def test_single_file_commands_accept_one_match_and_refuse_several(tmp_path: Path):
    _workbook(tmp_path, "甲.xlsx")
    proc = run_cli("export", tmp_path / "甲*.xlsx", "-o", tmp_path / "甲.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "甲.json").read_text(encoding="utf-8"))["agency"]

    _workbook(tmp_path, "乙.xlsx")
    proc = run_cli("publish", tmp_path / "*.xlsx", "-o", tmp_path / "公开.docx")
    assert proc.returncode == 2
    assert "匹配到 2 个文件" in proc.stderr and not (tmp_path / "公开.docx").exists()


def test_a_literal_name_with_brackets_wins_over_the_pattern(tmp_path: Path):
    path = _workbook(tmp_path, "报告[定稿].xlsx")
    proc = run_cli("validate", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "报告[定稿].xlsx" in proc.stdout


# -- item 7: no silent replacement, created folders ---------------------------------------------------


def test_template_never_replaces_a_filled_report(tmp_path: Path):
    filled = _workbook(tmp_path, "已填的报告.xlsx")
    before = filled.read_bytes()
    proc = run_cli("template", "-o", filled)
    assert proc.returncode == 2
    assert "--force" in proc.stderr and "已存在" in proc.stderr
    assert filled.read_bytes() == before

    proc = run_cli("template", "-o", filled, "--force")
    assert proc.returncode == 0, proc.stderr
    assert filled.read_bytes() == build()


def test_a_previous_output_of_the_same_command_is_replaced(tmp_path: Path):
    target = tmp_path / "空白.xlsx"
    assert run_cli("template", "-o", target).returncode == 0
    assert run_cli("template", "-o", target).returncode == 0  # the same blank template again
    # a blank template of ours, not byte-identical (e.g. of another version): replaced too
    target.write_bytes(rezip(build(), lambda name, body: body + b" " if name == "xl/workbook.xml" else body))
    assert target.read_bytes() != build()
    proc = run_cli("template", "-o", target)
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == build()

    source = _workbook(tmp_path)
    out = tmp_path / "定稿"
    assert run_cli("finalize", source, "-o", out).returncode == 0
    (first,) = out.glob("*.xlsx")
    before = first.read_bytes()
    time.sleep(1.1)  # the stamp holds the time to the second: the new copy differs from the old one
    proc = run_cli("finalize", source, "-o", out)  # a new stamp, over an unchanged submission copy
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert first.read_bytes() != before
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("command", [
    ["fill", "{doc}", "-o", "{out}.xlsx"],
    ["import", "{docx}", "-o", "{out}.xlsx"],
    ["import", "{docx}", "-o", "{out}.json"],
    ["export", "{xlsx}", "-o", "{out}.json"],
    ["publish", "{xlsx}", "-o", "{out}.docx"],
    ["publish", "{xlsx}", "-o", "{out}.html"],
])
def test_every_writer_refuses_a_strangers_file_and_creates_folders(tmp_path: Path, command):
    xlsx = _workbook(tmp_path)
    doc = tmp_path / "报告.json"
    doc.write_text(json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=False), encoding="utf-8")
    docx = tmp_path / "公开.docx"
    assert run_cli("publish", xlsx, "-o", docx).returncode == 0
    names = {"doc": doc, "docx": docx, "xlsx": xlsx, "out": tmp_path / "新" / "文件夹" / "输出"}
    args = [part.format(**names) for part in command]
    out = Path(args[-1])

    proc = run_cli(*args)  # the folders are missing: created
    assert proc.returncode in (0, 1), proc.stderr
    assert out.is_file()
    again = run_cli(*args)  # the same output again: byte-identical, replaced
    assert again.returncode == proc.returncode, again.stderr

    out.write_bytes(b"a user's own file")
    proc = run_cli(*args)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert out.read_bytes() == b"a user's own file"
    proc = run_cli(*args, "--force")
    assert proc.returncode in (0, 1), proc.stderr
    assert out.read_bytes() != b"a user's own file"


def test_finalize_refuses_to_replace_an_edited_submission(tmp_path: Path):
    source = _workbook(tmp_path)
    out = tmp_path / "定稿"
    assert run_cli("finalize", source, "-o", out).returncode == 0
    (target,) = out.glob("*.xlsx")
    target.write_bytes(b"not a submission any more")
    proc = run_cli("finalize", source, "-o", out)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert target.read_bytes() == b"not a submission any more"
    assert run_cli("finalize", source, "-o", out, "--force").returncode == 0


# -- item 8: output extensions ---------------------------------------------------------------------------


@pytest.mark.parametrize("command, name", [
    (["template", "-o"], "模板.xls"),
    (["fill", "{doc}", "-o"], "报告.json"),
    (["import", "{docx}", "-o"], "报告.txt"),
    (["export", "{xlsx}", "-o"], "报告.xlsx"),
    (["publish", "{xlsx}", "-o"], "公开.doc"),
    (["publish", "{xlsx}", "-o"], "公开.txt"),
])
def test_unknown_output_extensions_are_refused(tmp_path: Path, command, name):
    xlsx = _workbook(tmp_path)
    doc = tmp_path / "报告源.json"
    doc.write_text(json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=False), encoding="utf-8")
    docx = tmp_path / "公开源.docx"
    assert run_cli("publish", xlsx, "-o", docx).returncode == 0
    args = [part.format(doc=doc, docx=docx, xlsx=xlsx) for part in command]
    proc = run_cli(*args, tmp_path / "出" / name)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "扩展名" in proc.stderr
    assert not (tmp_path / "出").exists()


def test_publish_pdf_without_libreoffice_says_so(tmp_path: Path):
    xlsx = _workbook(tmp_path)
    python = Path(shutil.which("python3") or "/usr/bin/python3")
    # a PATH without LibreOffice (the interpreter is called by its full path by run_cli)
    proc = run_cli("publish", xlsx, "-o", tmp_path / "公开.pdf", env={"PATH": str(python.parent / "没有")})
    assert proc.returncode == 2
    assert "LibreOffice" in proc.stderr and ".docx" in proc.stderr
    assert not (tmp_path / "公开.pdf").exists()


def test_publish_pdf_is_a_real_pdf(tmp_path: Path):
    soffice()
    xlsx = _workbook(tmp_path)
    out = tmp_path / "公开" / "报告.pdf"
    proc = run_cli("publish", xlsx, "-o", out)
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-64:]
    assert not list(out.parent.glob(".*.tmp"))
