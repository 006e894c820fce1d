"""Issue 12, items 9-11: the command line in Chinese (argparse's own texts, bare `xxgk`, examples in
every command's help); `consolidate --year`; no Python `None` and Beijing time in messages; rosters in
the usual layout (序号,单位名称,统一社会信用代码) and the check of 统一社会信用代码."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from conftest import run_cli

from xxgk.audit import read_roster as audit_roster
from xxgk.cli import _beijing_time, _parser, _value
from xxgk.consolidate import credit_code_problem, read_roster

ENGLISH = ("usage:", "positional arguments", "options:", "show this help", "the following arguments",
           "invalid choice", "unrecognized arguments", "error:", "expected one argument")
COMMANDS = sorted(_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


# -- item 9: Chinese help -----------------------------------------------------------------------------


def test_bare_xxgk_prints_the_help_in_chinese():
    proc = run_cli()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("用法：xxgk")
    for word in ("位置参数：", "选项：", "显示本帮助并退出", "显示版本号并退出", "示例："):
        assert word in proc.stdout
    assert not any(w in proc.stdout + proc.stderr for w in ENGLISH)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_is_chinese_and_ends_with_examples(command):
    proc = run_cli(command, "-h")
    assert proc.returncode == 0, proc.stderr
    assert not any(w in proc.stdout for w in ENGLISH), proc.stdout
    assert proc.stdout.startswith(f"用法：xxgk {command}")
    examples = proc.stdout.split("示例：\n", 1)[1].splitlines()
    runs = [line for line in examples if line.strip().startswith(f"xxgk {command}")]
    assert len(runs) >= 2, proc.stdout


@pytest.mark.parametrize("args, chinese", [
    (("validate",), "缺少必需的参数：FILE"),
    (("nosuch",), "无效的选择：'nosuch'"),
    (("validate", "a.xlsx", "--bogus"), "无法识别的参数：--bogus"),
    (("validate", "--format", "xml", "a.xlsx"), "参数 --format：无效的选择"),
    (("consolidate", "x", "-o", "y.xlsx", "--jobs"), "参数 --jobs：需要一个值"),
])
def test_argument_errors_are_chinese(args, chinese):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert chinese in proc.stderr and "用法：xxgk" in proc.stderr and "xxgk：参数有误：" in proc.stderr
    assert not any(w in proc.stderr for w in ENGLISH), proc.stderr


def test_argparse_stays_english_outside_xxgk():
    import argparse

    _parser().format_help()
    assert "usage:" in argparse.ArgumentParser(prog="other").format_usage()


# -- item 10: consolidate --year; no None; Beijing time ----------------------------------------------


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "xxgk-demo"
    run_cli("demo", "-o", folder)
    return folder


def test_consolidate_year_picks_one_year_from_the_demo_folder(demo_folder, tmp_path):
    mixed = run_cli("consolidate", demo_folder, "-o", tmp_path / "all.xlsx", "-q")
    assert mixed.returncode == 2 and "年度不一致" in mixed.stderr
    out = tmp_path / "2021.xlsx"
    proc = run_cli("consolidate", demo_folder, "--year", "2021", "-o", out, "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "跳过其他年度的文件 2 个（2022 年 2 个）" in proc.stdout
    assert "空白模板" in proc.stdout and "已汇总 2 个单位（2021 年）" in proc.stdout
    assert "None" not in proc.stdout + proc.stderr
    manifest = json.loads(out.with_name("2021.manifest.json").read_text(encoding="utf-8"))
    assert manifest["complete"] is True and {i["year"] for i in manifest["inputs"]} == {2021}
    assert len(manifest["other_years"]["2022"]) == 2


def test_consolidate_year_without_reports_of_that_year(demo_folder, tmp_path):
    proc = run_cli("consolidate", demo_folder, "--year", "2030", "-o", tmp_path / "x.xlsx", "-q")
    assert proc.returncode == 2 and "没有 2030 年的报告" in proc.stderr and not (tmp_path / "x.xlsx").exists()


def test_other_year_reason_never_shows_none(demo_folder, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("lushan-2021.xlsx", "空白模板.xlsx"):
        (folder / name).write_bytes((demo_folder / name).read_bytes())
    proc = run_cli("consolidate", folder, "-o", tmp_path / "t.xlsx", "-q")
    assert "未填年度" in proc.stdout and "None" not in proc.stdout + proc.stderr


def test_verify_shows_the_stamp_in_beijing_time(demo_folder, tmp_path):
    assert run_cli("finalize", demo_folder / "lushan-2021.xlsx", "-o", tmp_path).returncode == 0
    (final,) = tmp_path.glob("*.xlsx")
    proc = run_cli("verify", final)
    assert "已定稿（北京时间 " in proc.stdout and "Z，" not in proc.stdout and "None" not in proc.stdout


def test_time_and_value_shown_for_people():
    assert _beijing_time("2024-03-01T20:30:00Z") == "北京时间 2024-03-02 04:30:00"
    assert _beijing_time(None) is None and _beijing_time("昨天") == "昨天"
    assert _value(None) == "（空）" and _value("") == "（空）" and _value(3) == "3" and _value("甲") == "「甲」"


# -- item 11: rosters ---------------------------------------------------------------------------------

GOOD = "91110000802100433B"  # a well-formed 统一社会信用代码 (check character B)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("text", [
    f"序号,单位名称,统一社会信用代码\n1,甲街道,{GOOD}\n2,乙街道,\n",
    f"单位名称,序号,统一社会信用代码\n甲街道,1,{GOOD}\n乙街道,2,\n",
    f"统一社会信用代码,单位名称,序号\n{GOOD},甲街道,1\n,乙街道,2\n",
    f"1,甲街道,{GOOD}\n2,乙街道,\n",  # no header: the numbering column is recognised by 1, 2, 3…
    f"类别,单位名称,统一社会信用代码\n街道,甲街道,{GOOD}\n街道,乙街道,\n",  # header words not in the first cell
])
def test_roster_layouts(tmp_path, text):
    assert read_roster(write(tmp_path / "r.csv", text, "gb18030")) == [("甲街道", GOOD), ("乙街道", "")]


def test_roster_keeps_codes_that_are_digits(tmp_path):
    assert read_roster(write(tmp_path / "r.csv", "甲,1001\n乙,1002\n")) == [("甲", "1001"), ("乙", "1002")]


def test_audit_roster_finds_the_parent_column_by_its_title(tmp_path):
    roster = audit_roster(write(tmp_path / "r.csv", f"序号,单位名称,统一社会信用代码,上级\n1,甲街道,{GOOD},某区\n2,某区,,\n"))
    assert roster.units == [("甲街道", "某区"), ("某区", "")]


def test_distribute_with_a_numbered_roster(tmp_path):
    roster = write(tmp_path / "名单.csv", f"序号,单位名称,统一社会信用代码\n1,甲街道,{GOOD}\n2,乙街道,\n")
    out = tmp_path / "模板"
    proc = run_cli("distribute", "--roster", roster, "--year", "2024", "-o", out)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.glob("*.xlsx"))
    assert names == ["2024年乙街道政府信息公开工作年度报告.xlsx", "2024年甲街道政府信息公开工作年度报告.xlsx"]
    assert "已生成 2 份模板" in proc.stdout
    book = openpyxl.load_workbook(out / names[1])
    assert GOOD in [c.value for row in book.worksheets[0].iter_rows() for c in row]


@pytest.mark.parametrize("code, why", [
    ("91110000802100433", "应为 18 个字符"),
    ("9111000080210O433B", "不允许的字符「O」"),
    ("91110000802100433C", "校验码不符（按前 17 位，最后一位应为 B）"),
])
def test_malformed_credit_code_is_refused_with_its_line(tmp_path, code, why):
    assert why in credit_code_problem(code)
    roster = write(tmp_path / "名单.csv", f"序号,单位名称,统一社会信用代码\n1,甲街道,{GOOD}\n2,乙街道,{code}\n")
    proc = run_cli("distribute", "--roster", roster, "--year", "2024", "-o", tmp_path / "out")
    assert proc.returncode == 2
    assert f"单位名单第 3 行「乙街道」的统一社会信用代码「{code}」" in proc.stderr and why in proc.stderr
    assert not (tmp_path / "out").exists()


def test_credit_code_check():
    assert credit_code_problem(GOOD) is None
    assert credit_code_problem("11330183002500000Q") is not None  # check character should be 2
    assert credit_code_problem("113301830025000002") is None
    assert credit_code_problem("91330100MA20000120") is None  # weighted sum divisible by 31: check character 0
    assert "应为 0" in credit_code_problem("91330100MA2000012Y")
