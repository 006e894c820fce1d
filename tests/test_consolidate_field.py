"""Consolidation on a folder as district offices keep it: outputs next to inputs, last year's total still
lying there, a unit's report filed twice under a disguised name, files from a Windows zip, damaged
totals. The district total must never lose a unit, count one twice, or die on one strange file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

import xxgk
import xxgk.consolidate as consolidate_module
import xxgk.finalize
from conftest import example, run_cli, scaled
from xxgk.consolidate import DETAIL_SHEET, DUPLICATE, UNREADABLE, VALID, check, consolidate, is_consolidation_html

BASE = example("made-up-qingfeng-2021")
RECEIVED = "applications.received.total"
PER_UNIT = BASE["applications"]["received"]["total"]


def run(*args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it (a real process); run_cli fails the test on exit 3, a defect in the tool."""
    return run_cli(*args, timeout=300)


def unit(folder: Path, name: str, factor: int, agency: str | None = None, **changes) -> Path:
    """A unit's workbook made by the project's own fill: the example times `factor`."""
    document = scaled(BASE, factor, agency or f"第{factor}街道（虚构）")
    document.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(xxgk.fill(xxgk.from_document(document)))
    return path


def received(path: Path):
    return xxgk.load(path).facts[RECEIVED]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_of(out: Path) -> dict:
    return json.loads(out.with_suffix(".manifest.json").read_text(encoding="utf-8"))


def detail(path: Path) -> list[dict]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(DETAIL_SHEET).to_python()
    return [dict(zip(rows[0], r, strict=False)) for r in rows[2:]]


def rewrite_part(path: Path, wanted, change) -> None:
    """Rewrite the zip at `path` with the first part for which `wanted(name, data)` holds changed by `change`
    (or added, when `wanted` is a part name that is not there)."""
    with zipfile.ZipFile(path) as z:
        parts = [(info, z.read(info)) for info in z.infolist()]
    buffer = io.BytesIO()
    done = False
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in parts:
            if not done and (wanted(info.filename, data) if callable(wanted) else info.filename == wanted):
                data, done = change(data), True
            z.writestr(info, data)
        if not done and isinstance(wanted, str):
            z.writestr(wanted, change(b""))
            done = True
    assert done
    path.write_bytes(buffer.getvalue())


def edit_detail(path: Path, pattern: bytes, replacement: bytes) -> None:
    """Change the 明细 sheet of a total (the part holding the fact-id header row) by a regular expression."""

    def change(data: bytes) -> bytes:
        changed, n = re.subn(pattern, replacement, data)
        assert n, pattern
        return changed

    rewrite_part(path, lambda name, data: name.startswith("xl/worksheets/") and b">agency_code<" in data, change)


@pytest.fixture
def three(tmp_path) -> Path:
    folder = tmp_path / "in"
    for i in (1, 2, 3):
        unit(folder, f"u{i}.xlsx", i)
    return folder


# -- 1. outputs never destroy an input, each other, or a stranger's file ---------------------------


def test_output_inside_the_inputs_is_refused_before_anything_is_written(three):
    target = three / "u1.xlsx"
    before = {p.name: sha(p) for p in three.iterdir()}
    proc = run("consolidate", str(three), "-o", str(target), "-q")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "输入文件" in proc.stderr and "u1.xlsx" in proc.stderr
    assert {p.name: sha(p) for p in three.iterdir()} == before  # the unit's report is untouched, no manifest written


def test_html_on_the_workbook_is_refused(three, tmp_path):
    out = tmp_path / "t.xlsx"
    proc = run("consolidate", str(three), "-o", str(out), "--html", str(out), "-q")
    assert proc.returncode == 2
    assert not out.exists() and not out.with_suffix(".manifest.json").exists()


def test_two_outputs_on_one_file_through_a_link_are_refused(three, tmp_path):
    out = tmp_path / "t.xlsx"
    page = tmp_path / "page.html"
    page.symlink_to(out.with_suffix(".manifest.json"))  # the page would land on the manifest
    proc = run("consolidate", str(three), "-o", str(out), "--html", str(page), "-q")
    assert proc.returncode == 2 and "同一个文件" in proc.stderr
    assert not out.exists() and not out.with_suffix(".manifest.json").exists()


def test_a_manifest_path_holding_an_input_through_a_hard_link_is_refused_before_the_workbook_is_written(three, tmp_path):
    (three / "u5.json").write_text(json.dumps(scaled(BASE, 5, "第5街道（虚构）"), ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "t.xlsx"
    os.link(three / "u5.json", out.with_suffix(".manifest.json"))
    before = sha(three / "u5.json")
    proc = run("consolidate", str(three), "-o", str(out), "-q")
    assert proc.returncode == 2 and "u5.json" in proc.stderr
    assert sha(three / "u5.json") == before and not out.exists()


@pytest.mark.parametrize("which", ["workbook", "manifest", "html"])
def test_a_file_this_command_did_not_write_is_not_overwritten(three, tmp_path, which):
    out = tmp_path / "t.xlsx"
    page = tmp_path / "t.html"
    stranger = {"workbook": out, "manifest": out.with_suffix(".manifest.json"), "html": page}[which]
    if which == "workbook":
        unit(tmp_path, "t.xlsx", 7, "别人的单位（虚构）")  # a unit's report, not among the inputs
    elif which == "manifest":
        stranger.write_text('{"note": "someone else\'s settings"}', encoding="utf-8")
    else:
        stranger.write_text("<!DOCTYPE html><html><body>本单位网页</body></html>", encoding="utf-8")
    before = sha(stranger)
    proc = run("consolidate", str(three), "-o", str(out), "--html", str(page), "-q")
    assert proc.returncode == 2 and "不是本工具此前汇总时写出的" in proc.stderr
    assert sha(stranger) == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix in (".xlsx", ".json", ".html")] == [stranger.name]


def test_the_previous_outputs_of_this_command_are_replaced(three, tmp_path):
    out, page = tmp_path / "t.xlsx", tmp_path / "t.html"
    assert run("consolidate", str(three), "-o", str(out), "--html", str(page), "-q").returncode == 0
    unit(three, "u4.xlsx", 4)
    assert run("consolidate", str(three), "-o", str(out), "--html", str(page), "-q").returncode == 0
    assert received(out) == PER_UNIT * (1 + 2 + 3 + 4)
    assert len(manifest_of(out)["inputs"]) == 4 and is_consolidation_html(page)


def test_a_report_named_like_a_manifest_is_an_input(three, tmp_path):
    """Only a manifest this command wrote is passed over, whatever a report is called."""
    document = scaled(BASE, 5, "第5街道（虚构）")
    (three / "u5.manifest.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "t.xlsx"
    assert run("consolidate", str(three), "-o", str(out), "-q").returncode == 0
    assert received(out) == PER_UNIT * (1 + 2 + 3 + 5)
    shutil.copy(out.with_suffix(".manifest.json"), three / "old.manifest.json")  # a real manifest: not a report
    assert run("consolidate", str(three), "-o", str(out), "-q").returncode == 0
    assert received(out) == PER_UNIT * (1 + 2 + 3 + 5)


# -- 2. a total among the inputs is never summed with the units it holds ----------------------------


def test_last_runs_total_among_the_inputs_is_refused_naming_it(three, tmp_path):
    assert run("consolidate", str(three), "-o", str(three / "old-total.xlsx"), "-q").returncode == 0
    (three / "old-total.xlsx").rename(three / "第9街道.xlsx")  # its name says nothing: its identity does
    (three / "old-total.manifest.json").unlink()
    out = tmp_path / "new.xlsx"
    proc = run("consolidate", str(three), "-o", str(out), "-q")
    assert proc.returncode == 1 and not out.exists()
    line = next(ln for ln in proc.stdout.splitlines() if "第9街道.xlsx" in ln)
    assert line.startswith("【重复】") and "已包含" in line and all(f"u{i}.xlsx" in line for i in (1, 2, 3))
    proc = run("consolidate", str(three), "-o", str(out), "-q", "--allow-invalid")
    assert proc.returncode == 5
    assert received(out) == PER_UNIT * (1 + 2 + 3)  # not twice the total
    statuses = {Path(i["path"]).name: i["status"] for i in manifest_of(out)["inputs"]}
    assert statuses == {"u1.xlsx": VALID, "u2.xlsx": VALID, "u3.xlsx": VALID, "第9街道.xlsx": DUPLICATE}


def test_a_finalised_total_stays_a_total(three, tmp_path):
    """The district finalises its total into the intake folder: the submission copy keeps the identity
    and the 明细, so the next run does not add it to the units it holds, and one level up it still counts once."""
    total = tmp_path / "total.xlsx"
    assert run("consolidate", str(three), "-o", str(total), "-q", "--agency", "某区（虚构）").returncode == 0
    assert run("finalize", str(total), "-o", str(three)).returncode == 0
    (final,) = three.glob("*某区*")
    verdict = run("verify", str(final))
    assert verdict.returncode == 0 and "定稿后未被修改" in verdict.stdout
    proc = run("consolidate", str(three), "-o", str(tmp_path / "again.xlsx"), "-q", "--allow-invalid")
    assert proc.returncode == 5
    assert received(tmp_path / "again.xlsx") == PER_UNIT * (1 + 2 + 3)  # not twice
    line = next(ln for ln in proc.stdout.splitlines() if final.name in ln)
    assert line.startswith("【重复】") and "已包含" in line
    city = tmp_path / "city"
    city.mkdir()
    shutil.copy(final, city / final.name)
    unit(city, "other.xlsx", 5, "另一区（虚构）")
    assert run("consolidate", str(city), "-o", str(tmp_path / "city.xlsx"), "-q").returncode == 0
    assert received(tmp_path / "city.xlsx") == PER_UNIT * (1 + 2 + 3 + 5)


def test_a_total_holding_a_unit_resubmitted_under_its_name_is_refused(three, tmp_path):
    """Known by name too: the unit sent a corrected file after the total was made (another hash)."""
    total = tmp_path / "district.xlsx"
    assert run("consolidate", str(three), "-o", str(total), "-q", "--agency", "某区（虚构）").returncode == 0
    city = tmp_path / "city"
    city.mkdir()
    shutil.copy(total, city / "district.xlsx")
    unit(city, "corrected.xlsx", 8, "第2街道（虚构）")
    proc = run("consolidate", str(city), "-o", str(tmp_path / "c.xlsx"), "-q")
    assert proc.returncode == 1
    assert re.search(r"【重复】.*district\.xlsx：已包含.*corrected\.xlsx", proc.stdout), proc.stdout


def test_a_lower_level_total_is_summed_with_units_it_does_not_hold(three, tmp_path):
    total = tmp_path / "city" / "district.xlsx"
    total.parent.mkdir()
    assert run("consolidate", str(three), "-o", str(total), "-q", "--agency", "某区（虚构）").returncode == 0
    total.with_suffix(".manifest.json").unlink()
    unit(total.parent, "bureau.xlsx", 10, "市直某局（虚构）")
    out = tmp_path / "city.xlsx"
    proc = run("consolidate", str(total.parent), "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stdout
    assert received(out) == PER_UNIT * (1 + 2 + 3 + 10)
    assert sorted(r["level"] for r in detail(out)[:-1]) == [1, 1, 2, 2, 2]


# -- 4. one damaged total never takes the batch down ------------------------------------------------


@pytest.fixture
def city_with_district(three, tmp_path) -> tuple[Path, Path]:
    """A city folder: a district total (to be damaged) and a city bureau."""
    city = tmp_path / "city"
    total = city / "district.xlsx"
    city.mkdir()
    assert run("consolidate", str(three), "-o", str(total), "-q", "--agency", "某区（虚构）").returncode == 0
    total.with_suffix(".manifest.json").unlink()
    unit(city, "bureau.xlsx", 10, "市直某局（虚构）")
    return city, total


STYLE = rb'(?: s="\d+")?'  # the cell's look (see totalsheets)
G3 = rb'<c r="G3"' + STYLE + rb'><v>[^<]*</v></c>'  # the first fact of the first unit
DAMAGE = {  # (pattern, replacement, words the reason must have)
    "a level that is text": (rb'<c r="A3"' + STYLE + rb'><v>1</v></c>', b'<c r="A3" t="inlineStr"><is><t>one</t></is></c>', "层级"),
    "a level that is huge": (rb'<c r="A3"' + STYLE + rb'><v>1</v></c>', b'<c r="A3"><v>1e300</v></c>', "层级"),
    "a missing column": (rb'<t xml:space="preserve">level</t>', b'<t xml:space="preserve">lvl</t>', "缺少"),
    "a figure that is infinite": (G3, b'<c r="G3"><v>1e999</v></c>', "不是数字"),
    "a figure that is text": (G3, b'<c r="G3" t="inlineStr"><is><t>x</t></is></c>', "不是数字"),
    "a unit's figure edited": (G3, b'<c r="G3"><v>987654</v></c>', "不符"),
    "every unit row deleted": (rb'<row r="(?:[3-9]|\d\d+)">.*?</row>', b"", "没有任何单位"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_detail_sheet_makes_that_total_unreadable_and_the_run_goes_on(city_with_district, tmp_path, damage):
    city, total = city_with_district
    old, new, words = DAMAGE[damage]
    edit_detail(total, old, new)
    out = tmp_path / "c.xlsx"
    proc = run("consolidate", str(city), "-o", str(out), "-q", "--allow-invalid")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "district.xlsx" in ln)
    assert line.startswith("【无法读取】") and "明细" in line and words in line, line
    assert received(out) == PER_UNIT * 10  # the bureau alone: the damaged total is not counted


def test_a_total_whose_detail_sheets_were_removed_is_not_counted_as_a_unit(city_with_district, tmp_path):
    """The mark in its identity sheet still says it is a total; without its 明细 nobody knows what it holds."""
    city, total = city_with_district
    rewrite_part(total, "xl/workbook.xml",
                 lambda data: re.sub('<sheet [^>]*name="(明细|清单)"[^>]*/>'.encode(), b"", data))
    assert {DETAIL_SHEET, "清单"}.isdisjoint(CalamineWorkbook.from_path(str(total)).sheet_names)
    proc = run("consolidate", str(city), "-o", str(tmp_path / "c.xlsx"), "-q")
    assert proc.returncode == 1
    assert re.search(r"【无法读取】.*district\.xlsx：这是一份汇总表，但没有“明细”工作表", proc.stdout), proc.stdout


@pytest.mark.parametrize("custom", [b"", b"<Properties", b"\xff\xfe not xml at all"])
def test_a_broken_custom_properties_part_does_not_take_the_batch_down(three, tmp_path, custom):
    bad = unit(three, "u9.xlsx", 9)
    rewrite_part(bad, "docProps/custom.xml", lambda _: custom)
    out = tmp_path / "t.xlsx"
    for jobs in ("1", "2"):
        proc = run("consolidate", str(three), "-o", str(out), "-q", "--allow-invalid", "--jobs", jobs)
        assert proc.returncode in (0, 5), proc.stdout + proc.stderr
        inputs = {Path(i["path"]).name: i for i in manifest_of(out)["inputs"]}
        assert set(inputs) == {"u1.xlsx", "u2.xlsx", "u3.xlsx", "u9.xlsx"}
        assert inputs["u9.xlsx"]["status"] in (VALID, UNREADABLE)  # its own line, whatever the reader makes of it
        assert received(out) == PER_UNIT * (1 + 2 + 3 + (9 if inputs["u9.xlsx"]["used"] else 0))


@pytest.mark.parametrize("where", ["validate", "finalised_state", "_detail_rows"])
def test_any_exception_while_checking_one_file_becomes_its_own_line(three, tmp_path, monkeypatch, where):
    """Whatever a reader not yet hardened raises for one file (here forced), that file is 无法读取, with a reason."""
    assert run("consolidate", str(three), "-o", str(tmp_path / "total.xlsx"), "-q").returncode == 0

    def broken(*args, **kwargs):
        raise ValueError("boom")

    module = xxgk.finalize if where == "finalised_state" else consolidate_module
    monkeypatch.setattr(module, where, broken)
    got = check(str(tmp_path / "total.xlsx"))
    assert got.status == UNREADABLE and "出错（ValueError）" in got.reason and got.sha256 == sha(tmp_path / "total.xlsx")


# -- file names from a Windows zip --------------------------------------------------------------------


def test_gbk_file_names_are_shown_decoded_everywhere(three, tmp_path):
    good = three / os.fsdecode("单位".encode("gbk") + b".xlsx")
    shutil.copy(unit(tmp_path / "make", "x.xlsx", 4), good)
    (three / os.fsdecode("损坏".encode("gbk") + b".xlsx")).write_bytes(b"not a workbook")
    out, page = tmp_path / "t.xlsx", tmp_path / "t.html"
    proc = run("consolidate", str(three), "-o", str(out), "--html", str(page), "-q", "--allow-invalid")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "【无法读取】" in proc.stdout and "损坏.xlsx" in proc.stdout
    assert received(out) == PER_UNIT * (1 + 2 + 3 + 4)
    assert {Path(i["path"]).name for i in manifest_of(out)["inputs"]} >= {"单位.xlsx", "损坏.xlsx"}
    assert "单位.xlsx" in {r["file"] for r in detail(out)}
    listed = CalamineWorkbook.from_path(str(out)).get_sheet_by_name("清单").to_python()
    assert any(str(row[0]).endswith("单位.xlsx") for row in listed if row)
    assert "单位.xlsx" in page.read_text(encoding="utf-8")


# -- 3. duplicates through disguises ------------------------------------------------------------------


def refused_as_same_unit(folder: Path, tmp_path: Path, second: str, first: str) -> None:
    """The consolidation stops, naming `second` as the same unit as `first`."""
    proc = run("consolidate", str(folder), "-o", str(tmp_path / "t.xlsx"), "-q")
    assert proc.returncode == 1, proc.stdout
    assert re.search(rf"【重复】.*{re.escape(second)}：与 {re.escape(first)} ", proc.stdout), proc.stdout


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u3000", "\u180e"])
def test_a_name_with_an_invisible_character_is_the_same_unit(tmp_path, invisible):
    folder = tmp_path / "in"
    unit(folder, "a.xlsx", 1, "富阳区鹿山街道")
    unit(folder, "b.xlsx", 2, f"富阳区鹿{invisible}山街道")
    refused_as_same_unit(folder, tmp_path, "b.xlsx", "a.xlsx")


def test_a_name_differing_only_in_case_and_width_is_the_same_unit(tmp_path):
    folder = tmp_path / "in"
    unit(folder, "a.xlsx", 1, "XX区ABC服务中心")
    unit(folder, "b.xlsx", 2, "ＸＸ区ａｂｃ服务中心")
    refused_as_same_unit(folder, tmp_path, "b.xlsx", "a.xlsx")


def test_a_name_in_full_width_digits_is_the_same_unit(tmp_path):
    folder = tmp_path / "in"
    unit(folder, "a.xlsx", 1, "第1街道")
    unit(folder, "b.xlsx", 2, "第１街道")
    refused_as_same_unit(folder, tmp_path, "b.xlsx", "a.xlsx")


@pytest.mark.parametrize("disguise", ["full-width", "lower case", "invisible", "spaces"])
def test_a_code_written_differently_is_the_same_unit(tmp_path, disguise):
    code = "11330183MB1234567X"
    other = {"full-width": "１１３３０１８３ＭＢ１２３４５６７Ｘ", "lower case": code.lower(),
             "invisible": code[:6] + "\u200b" + code[6:], "spaces": " 113301 83MB1234567X "}[disguise]
    folder = tmp_path / "in"
    unit(folder, "a.xlsx", 1, "甲街道（虚构）", agency_code=code)
    unit(folder, "b.xlsx", 2, "乙单位（虚构）", agency_code=other)
    refused_as_same_unit(folder, tmp_path, "b.xlsx", "a.xlsx")


def test_the_same_figures_under_a_longer_name_are_refused_naming_both(tmp_path):
    folder = tmp_path / "in"
    unit(folder, "a.xlsx", 3, "鹿山街道")
    unit(folder, "b.xlsx", 3, "富阳区鹿山街道")
    unit(folder, "c.xlsx", 5, "别的街道（虚构）")
    out = tmp_path / "t.xlsx"
    proc = run("consolidate", str(folder), "-o", str(out), "-q")
    assert proc.returncode == 1
    assert re.search(r"【重复】.*b\.xlsx：与 a\.xlsx（鹿山街道）的全部数字相同", proc.stdout), proc.stdout
    assert run("consolidate", str(folder), "-o", str(out), "-q", "--allow-invalid").returncode == 5
    assert received(out) == PER_UNIT * (3 + 5)


def test_the_same_figures_under_unrelated_names_are_a_warning_naming_both(tmp_path):
    folder = tmp_path / "in"
    unit(folder, "a.xlsx", 3, "鹿山街道")
    unit(folder, "b.xlsx", 3, "银湖街道")
    out = tmp_path / "t.xlsx"
    proc = run("consolidate", str(folder), "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"请核实：a\.xlsx（鹿山街道）与 b\.xlsx（银湖街道）的全部数字相同", proc.stdout), proc.stdout
    assert received(out) == PER_UNIT * 6
    assert len(manifest_of(out)["warnings"]) == 1


def test_the_roster_sees_through_disguises(tmp_path):
    folder = tmp_path / "in"
    unit(folder, "a.xlsx", 1, "富阳区鹿\u200b山街道", agency_code="ｘ1")
    roster = tmp_path / "roster.csv"
    roster.write_text("名称,代码\n富阳区鹿山街道,\n别的单位,X1\n", encoding="utf-8")
    result = consolidate([folder / "a.xlsx"], roster=roster)
    assert result.missing == [] and result.unknown == []


def test_distribute_sees_through_disguises_in_the_roster(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("富阳区鹿山街道\n富阳区鹿\u200b山街道\n", encoding="utf-8")
    proc = run("distribute", "--roster", str(roster), "--year", "2024", "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "单位名称重复" in proc.stderr


def test_the_consolidation_page_is_recognised_as_ours(three):
    """check_outputs recognises a page by what html_bytes writes: the two must not drift apart."""
    from xxgk.htmlreport import html_bytes

    page = three.parent / "t.html"
    page.write_bytes(html_bytes(consolidate(sorted(three.iterdir()))))
    assert is_consolidation_html(page)
