"""复核说明 in a report document (issue 15): the "explanations" of schema/report.schema.json carry a
workbook's explanations through `export` and `fill`, and `validate`, `finalize` and `consolidate` count
them for a .json input as they do for a workbook."""

from __future__ import annotations

import json
import re

import jsonschema
import openpyxl
import pytest
from conftest import example, run_cli, soffice_roundtrip
from python_calamine import CalamineWorkbook

from xxgk import from_document
from xxgk.review import FIRST_ROW, SHEET
from xxgk.schema import load_schema
from xxgk.validate import validate

BECAUSE = "总体情况按街道通知分类列举，306 条中另有 6 条未归入所列类别"


def lushan_warning() -> dict:
    """The national warning of the example report (its overview's parts do not add up to its total)."""
    (warning,) = validate(from_document(example("lushan-2021"))).warnings
    return {"fingerprint": warning.fingerprint, "rule": warning.rule, "cells": list(warning.cells),
            "message": warning.message}


def explained_document(*extra: dict) -> dict:
    document = example("lushan-2021")
    document["explanations"] = [{**lushan_warning(), "explanation": BECAUSE}, *extra]
    return document


def json_validate(path) -> dict:
    proc = run_cli("validate", "--format", "json", path)
    return json.loads(proc.stdout)["files"][0]


def test_schema_holds_explanations_beside_the_facts():
    schema = load_schema()
    assert "explanations" not in schema.facts and not any(f.startswith("explanations") for f in schema.facts)
    validator = jsonschema.Draft202012Validator(schema.document)
    assert not list(validator.iter_errors(explained_document()))
    wrong = explained_document({"fingerprint": "abc", "explanation": "理由", "note": "多余的字段"})
    assert [e.validator for e in validator.iter_errors(wrong)] == ["additionalProperties"]


def test_fill_writes_the_rows_and_export_gives_them_back(tmp_path):
    source = tmp_path / "鹿山.json"
    stale = {"fingerprint": "a000000000000000", "explanation": "上次的说明，数字已改"}
    document = explained_document(stale)
    source.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    book = tmp_path / "鹿山.xlsx"
    proc = run_cli("fill", source, "-o", book)
    assert proc.returncode == 0, proc.stderr
    sheet = openpyxl.load_workbook(book)[SHEET]
    warning = document["explanations"][0]
    assert [sheet.cell(FIRST_ROW, c).value for c in range(1, 6)] == [
        warning["fingerprint"], warning["rule"], "、".join(warning["cells"]), warning["message"], BECAUSE]
    assert (sheet[f"A{FIRST_ROW + 1}"].value, sheet[f"E{FIRST_ROW + 1}"].value) == (stale["fingerprint"], stale["explanation"])
    assert not sheet[f"E{FIRST_ROW + 2}"].protection.locked  # still a form to fill in

    data = json_validate(book)
    assert data["warnings_explained"] == 1 and data["warnings_open"] == 0
    assert [e["fingerprint"] for e in data["lapsed_explanations"]] == [stale["fingerprint"]]

    # saved by a spreadsheet program, exported: every explanation comes back as it was given
    saved = soffice_roundtrip(book, tmp_path / "lo")
    exported = tmp_path / "导出.json"
    proc = run_cli("export", saved, "-o", exported)
    assert proc.returncode == 0, proc.stderr
    back = json.loads(exported.read_text(encoding="utf-8"))
    assert back["explanations"] == document["explanations"]
    assert {k: v for k, v in back.items() if k != "explanations"} == from_document(example("lushan-2021")).document

    again = tmp_path / "再填.xlsx"
    assert run_cli("fill", exported, "-o", again).returncode == 0
    assert again.read_bytes() == book.read_bytes()  # the round trip loses nothing


def test_export_of_a_workbook_without_explanations_adds_no_field(tmp_path):
    source = tmp_path / "鹿山.json"
    source.write_text(json.dumps(example("lushan-2021"), ensure_ascii=False), encoding="utf-8")
    book = tmp_path / "鹿山.xlsx"
    assert run_cli("fill", source, "-o", book).returncode == 0
    proc = run_cli("export", book)
    assert proc.returncode == 0 and "explanations" not in json.loads(proc.stdout)


def test_validate_counts_a_documents_explanations_in_text_and_json(tmp_path):
    source = tmp_path / "鹿山.json"
    source.write_text(json.dumps(explained_document({"fingerprint": "b111111111111111", "explanation": "旧"}),
                                 ensure_ascii=False), encoding="utf-8")
    data = json_validate(source)
    (finding,) = data["findings"]
    assert finding["review"] == "explained" and finding["explanation"] == BECAUSE
    assert data["warnings_explained"] == 1 and data["warnings_open"] == 0 and data["finalisable"]
    assert [e["fingerprint"] for e in data["lapsed_explanations"]] == ["b111111111111111"]
    text = run_cli("validate", source)
    assert text.returncode == 0 and "1 处已说明、0 处未说明" in text.stdout
    assert f"说明：{BECAUSE}" in text.stdout and "b111111111111111" in text.stdout
    strict = run_cli("validate", "--strict", source)
    assert strict.returncode == 0  # the only warning is explained

    plain = tmp_path / "无说明.json"
    plain.write_text(json.dumps(example("lushan-2021"), ensure_ascii=False), encoding="utf-8")
    assert run_cli("validate", "--strict", plain).returncode == 1


@pytest.mark.parametrize("entries, where", [
    ([{"fingerprint": 5, "explanation": "理由"}], "explanations.0.fingerprint"),
    ([{"fingerprint": "a000000000000000"}], "explanations.0"),
    ({"a000000000000000": "理由"}, "explanations"),
])
def test_malformed_explanations_are_named_not_a_crash(tmp_path, entries, where):
    document = example("lushan-2021")
    document["explanations"] = entries
    source = tmp_path / "坏.json"
    source.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    proc = run_cli("validate", source)
    assert proc.returncode == 1 and f"「{where}」" in proc.stdout and "Traceback" not in proc.stderr
    assert run_cli("fill", source, "-o", tmp_path / "坏.xlsx").returncode == 0  # a draft: the figures are kept


def test_finalize_of_a_document_carries_its_explanations(tmp_path):
    source = tmp_path / "鹿山.json"
    source.write_text(json.dumps(explained_document(), ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "定稿"
    proc = run_cli("finalize", source, "--strict", "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (final,) = out.glob("*.xlsx")
    sheet = openpyxl.load_workbook(final)[SHEET]
    assert sheet[f"E{FIRST_ROW}"].value == BECAUSE and sheet[f"E{FIRST_ROW}"].protection.locked
    verify = run_cli("verify", final)
    assert verify.returncode == 0 and "定稿后未被修改" in verify.stdout and "1 处已说明" in verify.stdout


def test_consolidate_shows_the_explanations_of_json_units(tmp_path):
    inputs = tmp_path / "报送"
    inputs.mkdir()
    (inputs / "鹿山.json").write_text(json.dumps(explained_document(), ensure_ascii=False), encoding="utf-8")
    other = example("lushan-2021")
    other["agency"] = "明月镇（虚构示例）"
    (inputs / "明月.json").write_text(json.dumps(other, ensure_ascii=False), encoding="utf-8")
    total, page = tmp_path / "合计.xlsx", tmp_path / "合计.html"
    proc = run_cli("consolidate", inputs, "-o", total, "--html", page, "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = CalamineWorkbook.from_path(str(total)).get_sheet_by_name("明细").to_python()
    keys = rows[0]
    by_agency = {row[keys.index("agency")]: dict(zip(keys, row)) for row in rows[2:] if row[keys.index("level")] == 1}
    explained, open_ = by_agency[example("lushan-2021")["agency"]], by_agency["明月镇（虚构示例）"]
    assert (explained["warnings_explained"], explained["warnings_open"]) == (1, 0) and BECAUSE in explained["explanations"]
    assert (open_["warnings_explained"], open_["warnings_open"]) == (0, 1)
    section = re.search(r'<section id="sec-review".*?</section>', page.read_text(encoding="utf-8"), re.S).group(0)
    assert BECAUSE in section


def test_the_input_document_is_left_as_it_was(tmp_path):
    source = tmp_path / "鹿山.json"
    source.write_text(json.dumps(explained_document(), ensure_ascii=False), encoding="utf-8")
    before = source.read_bytes()
    for args in (("validate", source), ("fill", source, "-o", tmp_path / "x.xlsx"), ("finalize", source, "-o", tmp_path)):
        run_cli(*args)
    assert source.read_bytes() == before
