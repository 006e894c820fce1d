"""Consolidation as the district office runs it: real unit workbooks in, the district total out."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

import xxgk
from conftest import example, run_cli, scaled
from strategies import valid_reports
from xxgk.consolidate import DETAIL_SHEET, Unit, _sum, consolidate, numeric_facts
from xxgk.schema import load_schema

SCHEMA = load_schema()


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, timeout=300)  # fails on exit 3 (internal error) or a death by signal



def write_units(folder: Path, documents: dict[str, dict]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, document in documents.items():
        path = folder / f"{name}.xlsx"
        path.write_bytes(xxgk.fill(xxgk.from_document(document)))
        paths.append(path)
    return paths


@pytest.fixture
def district(tmp_path) -> Path:
    base = example("made-up-qingfeng-2021")
    units = {f"unit{i}": scaled(base, i, f"第{i}街道（虚构）") for i in (1, 2, 3)}
    units["lushan"] = example("lushan-2021")
    write_units(tmp_path / "in", units)
    return tmp_path / "in"


def detail(path: Path) -> list[dict]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(DETAIL_SHEET).to_python()
    return [dict(zip(rows[0], r, strict=False)) for r in rows[2:]]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_valid_units_roll_up_into_a_valid_district_report(district, tmp_path):
    before = {p: sha(p) for p in district.iterdir()}
    out = tmp_path / "区汇总.xlsx"
    proc = run("consolidate", str(district), "-o", str(out), "--agency", "某区（虚构）", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "已汇总 4 个单位（2021 年）" in proc.stdout
    report = xxgk.load(out)
    assert xxgk.validate(report).valid
    assert report.agency == "某区（虚构）" and report.year == 2021
    units = [xxgk.load(p).facts for p in sorted(district.iterdir())]
    for fact_id in numeric_facts():
        if fact_id in report.facts:
            assert report.facts[fact_id] == pytest.approx(sum(u.get(fact_id, 0) for u in units)), fact_id
    # the 明细 sheet: one row per unit, every fact a column, the columns add up to the district figures
    rows = detail(out)
    unit_rows = [r for r in rows if r["level"] == 1]
    assert len(unit_rows) == 4 and {r["file"] for r in unit_rows} == {p.name for p in district.iterdir()}
    for r in unit_rows:
        assert r["sha256"] == sha(district / r["file"]) and r["status"] == "通过；未定稿"
    total_row = rows[-1]
    for fact_id in numeric_facts():
        if fact_id in report.facts:
            assert sum(r[fact_id] or 0 for r in unit_rows) == pytest.approx(total_row[fact_id]) == pytest.approx(
                report.facts[fact_id]), fact_id
    manifest = json.loads(out.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    assert manifest["complete"] and manifest["ruleset"] and manifest["tool"].startswith("xxgk ")
    assert {i["sha256"] for i in manifest["inputs"]} == set(before.values())
    assert {p: sha(p) for p in district.iterdir()} == before  # inputs untouched


def test_same_inputs_give_byte_identical_outputs(district, tmp_path):
    first, second = tmp_path / "a" / "t.xlsx", tmp_path / "b" / "t.xlsx"
    first.parent.mkdir()
    second.parent.mkdir()
    assert run("consolidate", str(district), "-o", str(first), "-q", "--jobs", "1").returncode == 0
    assert run("consolidate", str(district), "-o", str(second), "-q", "--jobs", "2").returncode == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.with_suffix(".manifest.json").read_bytes() == second.with_suffix(".manifest.json").read_bytes()


def test_an_invalid_input_stops_the_total(district, tmp_path):
    bad = example("made-up-errors-2022")
    bad["year"] = 2021
    write_units(district, {"zz-bad": bad})
    out = tmp_path / "t.xlsx"
    proc = run("consolidate", str(district), "-o", str(out), "-q")
    assert proc.returncode == 1
    assert not out.exists() and not out.with_suffix(".manifest.json").exists()
    assert "【有错误】" in proc.stdout and "zz-bad.xlsx" in proc.stdout and "未生成汇总" in proc.stdout
    assert "applications.balance" in proc.stdout  # its findings are listed
    # --allow-invalid: the total of the valid ones, and it says so everywhere
    proc = run("consolidate", str(district), "-o", str(out), "-q", "--allow-invalid")
    assert proc.returncode == 5
    assert "汇总不完整" in proc.stdout
    manifest = json.loads(out.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    assert manifest["complete"] is False
    assert [i["used"] for i in manifest["inputs"] if i["path"].endswith("zz-bad.xlsx")] == [False]
    note = CalamineWorkbook.from_path(str(out)).get_sheet_by_name("清单").to_python()[0][0]
    assert "未计入" in note and "不完整" in note
    assert xxgk.validate(xxgk.load(out)).valid


def test_unreadable_duplicate_and_other_year_inputs_are_refused(district, tmp_path):
    (district / "garbage.xlsx").write_text("机关,年度\n", encoding="utf-8")
    shutil.copy(district / "unit1.xlsx", district / "unit1-copy.xlsx")
    same_unit = scaled(example("made-up-qingfeng-2021"), 5, "第2街道（虚构）")
    write_units(district / "sub", {"again": same_unit})
    other_year = example("made-up-qingfeng-2022")
    other_year["agency"] = "别的街道"
    write_units(district, {"late": other_year})
    (district / "notes.txt").write_text("不是报告", encoding="utf-8")
    proc = run("consolidate", str(district), "-o", str(tmp_path / "t.xlsx"), "-q")
    assert proc.returncode == 1
    assert "【无法读取】" in proc.stdout and "garbage.xlsx" in proc.stdout
    # the first in path order is kept, the other is refused naming it
    assert "unit1.xlsx：与 unit1-copy.xlsx 内容完全相同" in proc.stdout
    assert "unit2.xlsx：与 again.xlsx 是同一单位（第2街道（虚构））" in proc.stdout
    assert "【年度不符】" in proc.stdout and "late.xlsx" in proc.stdout
    assert "notes.txt" not in proc.stdout  # not a report file: not an input


def test_roster_lists_missing_and_unknown_units(district, tmp_path):
    roster = tmp_path / "名单.csv"
    roster.write_text("名称,代码\n第1街道（虚构）,\n第2街道（虚构）,\n第3街道（虚构）,\n缺报街道,\n", encoding="utf-8")
    out = tmp_path / "t.xlsx"
    proc = run("consolidate", str(district), "-o", str(out), "-q", "--roster", str(roster))
    assert proc.returncode == 0
    assert "名单中没有报送文件的单位（1 个）：缺报街道" in proc.stdout
    assert "不在名单中的文件（1 个）：富阳区鹿山街道（lushan.xlsx）" in proc.stdout
    manifest = json.loads(out.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    assert manifest["roster"] == {"missing": ["缺报街道"], "unknown": ["富阳区鹿山街道（lushan.xlsx）"]}


def test_district_totals_roll_up_into_a_city_with_provenance(tmp_path):
    base = example("made-up-qingfeng-2021")
    (tmp_path / "city").mkdir()
    for d in (1, 2):
        write_units(tmp_path / f"district{d}", {f"d{d}u{i}": scaled(base, i + d, f"区{d}街道{i}（虚构）") for i in (1, 2)})
        proc = run("consolidate", str(tmp_path / f"district{d}"), "-o", str(tmp_path / "city" / f"区{d}.xlsx"),
                   "--agency", f"第{d}区（虚构）", "-q")
        assert proc.returncode == 0, proc.stdout
    out = tmp_path / "市汇总.xlsx"
    proc = run("consolidate", str(tmp_path / "city"), "-o", str(out), "--agency", "某市（虚构）", "-q")
    assert proc.returncode == 0, proc.stdout
    city = xxgk.load(out)
    assert xxgk.validate(city).valid
    total = city.facts["applications.received.total"]
    assert total == sum(base["applications"]["received"]["total"] * (i + d) for d in (1, 2) for i in (1, 2))
    rows = detail(out)
    districts = [r for r in rows if r["level"] == 1]
    units = [r for r in rows if r["level"] == 2]
    assert [r["agency"] for r in districts] == ["第1区（虚构）", "第2区（虚构）"]
    assert len(units) == 4 and all("›" in r["file"] for r in units)  # 区1.xlsx › d1u1.xlsx
    for d in districts:
        inside = [u for u in units if u["file"].startswith(d["file"] + " ›")]
        assert sum(u["applications.received.total"] for u in inside) == d["applications.received.total"]
    assert rows[-1]["applications.received.total"] == total


def test_progress_is_shown_unless_quiet(district, tmp_path):
    loud = run("consolidate", str(district), "-o", str(tmp_path / "a.xlsx"))
    assert "读取并校验 4/4" in loud.stderr
    quiet = run("consolidate", str(district), "-o", str(tmp_path / "b.xlsx"), "-q")
    assert quiet.stderr == ""


def test_bad_arguments(tmp_path):
    assert run("consolidate", str(tmp_path / "nowhere"), "-o", str(tmp_path / "t.xlsx")).returncode == 2
    (tmp_path / "empty").mkdir()
    proc = run("consolidate", str(tmp_path / "empty"), "-o", str(tmp_path / "t.xlsx"))
    assert proc.returncode == 2 and "没有找到" in proc.stderr
    assert run("consolidate", str(tmp_path / "empty"), "-o", str(tmp_path / "t.csv")).returncode == 2


# -- the property: the sum of valid reports is valid ------------------------------------------------


def _unit(document: dict) -> Unit:
    report = xxgk.from_document(document)
    return Unit(path="x", status="valid", agency=document["agency"], year=document["year"],
                values=tuple(report.facts.get(f) for f in numeric_facts()))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_reports(), min_size=1, max_size=6))
def test_property_the_sum_of_valid_reports_is_valid(documents):
    for document in documents:
        assert xxgk.validate(xxgk.from_document(document)).valid  # the strategy makes valid reports
    totals = _sum([_unit(d) for d in documents], documents[0]["year"], "合计")
    result = xxgk.validate(xxgk.from_document(SCHEMA.nest(totals)))
    assert result.findings == [], [f.message for f in result.findings]


def test_consolidate_in_process_matches_the_sum(district):
    result = consolidate(sorted(district.iterdir()), jobs=1)
    assert result.complete and len(result.used) == 4
    assert result.totals["applications.received.total"] == sum(
        xxgk.load(p).facts["applications.received.total"] for p in district.iterdir())
