"""Bad input, case by case: the Chinese message, the cell, the exit code; never a silent 0, never a traceback.

Bad cell values are written with openpyxl into workbooks made by the project's own `fill`
(conftest `write_workbook`), the way files edited outside Excel's data validation arrive.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import call_cli, example, get_fact, run_cli, set_fact

import xxgk
from xxgk.layout import META_SHEET, load_layout, name_for

CHINESE = re.compile(r"[\u4e00-\u9fff]")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# -- helpers ------------------------------------------------------------------


def cell_of(wb, fact_id: str):
    """The fact's cell, found by the workbook's own defined name (never by fixed coordinates)."""
    (sheet, coord), = wb.defined_names[name_for(fact_id)].destinations
    return wb[sheet][coord.replace("$", "")]


def poke(path, fact_id: str, value) -> None:
    wb = openpyxl.load_workbook(path)
    cell_of(wb, fact_id).value = value
    wb.save(path)


def ref(fact_id: str) -> str:
    return load_layout().ref(fact_id)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    return call_cli(capsys, *args)  # fails on exit 3 (internal error)


def same(a, b) -> bool:
    """Equal and of the same type: 1 is not True, 0 is not None."""
    return type(a) is type(b) and a == b


# -- bad values in count cells -----------------------------------------------------

COUNT_CASES = [
    pytest.param(None, "未填写", None, id="blank"),
    pytest.param("/", "不能填「/」", "/", id="slash"),
    pytest.param("无", "不能填「无」", "无", id="wu"),
    pytest.param("3件", "不带单位", "3件", id="unit"),
    pytest.param("３", "全角", "３", id="fullwidth"),
    pytest.param(-1, "负数", -1, id="negative"),
    pytest.param(2.5, "整数", 2.5, id="fraction"),
    pytest.param(" 3 ", "文本", " 3 ", id="number-as-text"),
    pytest.param(True, "逻辑值", True, id="boolean"),
    pytest.param(dt.date(2024, 1, 5), None, "2024-01-05", id="date"),
]
# a fact of table 二 (in no sum) and one of table 三 (a part of several template sums)
COUNT_FACTS = ["proactive.rules.issued", "applications.received.natural_persons"]


@pytest.mark.parametrize("fact_id", COUNT_FACTS)
@pytest.mark.parametrize("value, fragment, raw", COUNT_CASES)
def test_bad_count_cell(write_workbook, clean_doc, capsys, fact_id, value, fragment, raw):
    path = write_workbook(clean_doc)
    poke(path, fact_id, value)

    report = xxgk.load(path)
    assert fact_id in report.facts
    loaded = report.facts[fact_id]
    if isinstance(value, dt.date):
        assert isinstance(loaded, str) and loaded.startswith(raw)
    else:
        assert same(loaded, raw), loaded

    result = xxgk.validate(report)
    assert not result.valid
    found = [f for f in result.findings if f.rule == "value.type"]
    assert len(found) == 1, [f.message for f in found]
    finding = found[0]
    assert (finding.severity, finding.facts, finding.cells) == ("error", (fact_id,), (ref(fact_id),))
    if fragment:
        assert fragment in finding.message
    else:
        assert "2024" in finding.message

    code, out, err = cli(capsys, "validate", str(path))
    assert code == 1
    assert f"【有错误】{path}" in out
    assert finding.message in out and f"规则 value.type；单元格 {ref(fact_id)}" in out

    # what the workbook exports keeps the raw value, not a 0
    code, out, err = cli(capsys, "export", str(path))
    assert code == 0
    exported = get_fact(json.loads(out), fact_id)
    if isinstance(value, dt.date):
        assert exported == loaded
    else:
        assert same(exported, raw), exported
    assert "详见 xxgk validate" in err


def test_fee_amount_accepts_decimals(write_workbook, clean_doc, capsys):
    fact_id = "proactive.fees.amount"
    path = write_workbook(clean_doc)
    poke(path, fact_id, 24252.311082)
    report = xxgk.load(path)
    assert same(report.facts[fact_id], 24252.311082)
    assert xxgk.validate(report).findings == []
    code, out, _ = cli(capsys, "validate", str(path))
    assert code == 0 and f"【通过】{path}：校验通过" in out


def test_fee_amount_rejects_negative(write_workbook, clean_doc, capsys):
    fact_id = "proactive.fees.amount"
    path = write_workbook(clean_doc)
    poke(path, fact_id, -0.5)
    report = xxgk.load(path)
    assert same(report.facts[fact_id], -0.5)
    result = xxgk.validate(report)
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert (finding.rule, finding.severity, finding.facts, finding.cells) == \
        ("value.type", "error", (fact_id,), (ref(fact_id),))
    assert "负数" in finding.message and "-0.5" in finding.message
    code, out, _ = cli(capsys, "validate", str(path))
    assert code == 1 and "负数" in out and ref(fact_id) in out


# -- files that are not a report ---------------------------------------------------------


def _good(tmp_path: Path, write_workbook) -> Path:
    return write_workbook(example("made-up-qingfeng-2021"), "good.xlsx")


def _empty(tmp_path, write_workbook):
    path = tmp_path / "empty.xlsx"
    path.write_bytes(b"")
    return path


def _csv(tmp_path, write_workbook):
    path = tmp_path / "table.xlsx"
    path.write_text("机关,年度,收到申请\n清风街道,2021,60\n", encoding="utf-8")
    return path


def _truncated(tmp_path, write_workbook):
    data = _good(tmp_path, write_workbook).read_bytes()
    path = tmp_path / "truncated.xlsx"
    path.write_bytes(data[: len(data) // 2])
    return path


def _encrypted(tmp_path, write_workbook):
    path = tmp_path / "encrypted.xlsx"
    path.write_bytes(OLE_MAGIC + bytes(range(256)) * 8)
    return path


def _xls(tmp_path, write_workbook):
    path = tmp_path / "old.xls"
    path.write_bytes(OLE_MAGIC + bytes(range(256)) * 8)
    return path


def _txt(tmp_path, write_workbook):
    path = tmp_path / "report.txt"
    path.write_text("年度报告", encoding="utf-8")
    return path


def _missing(tmp_path, write_workbook):
    return tmp_path / "no-such-file.xlsx"


def _directory(tmp_path, write_workbook):
    path = tmp_path / "folder.xlsx"
    path.mkdir()
    return path


def _plain_workbook(tmp_path, write_workbook):
    path = tmp_path / "plain.xlsx"
    openpyxl.Workbook().save(path)
    return path


def _other_template_version(tmp_path, write_workbook):
    path = _good(tmp_path, write_workbook)
    wb = openpyxl.load_workbook(path)
    rows = [row for row in wb[META_SHEET].iter_rows() if row[0].value == "layout"]
    assert len(rows) == 1 and len(rows[0][1].value) == 64
    rows[0][1].value = "0" * 64
    wb.save(path)
    return path


def _defined_name_deleted(tmp_path, write_workbook):
    path = _good(tmp_path, write_workbook)
    wb = openpyxl.load_workbook(path)
    del wb.defined_names[name_for("proactive.rules.issued")]
    wb.save(path)
    return path


def _bad_json(tmp_path, write_workbook):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "2021", "agency": ', encoding="utf-8")
    return path


def _json_list(tmp_path, write_workbook):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([example("made-up-qingfeng-2021")], ensure_ascii=False), encoding="utf-8")
    return path


def _json_other_object(tmp_path, write_workbook):
    path = tmp_path / "other.json"
    path.write_text('{"name": "清风街道", "count": 3}', encoding="utf-8")
    return path


NOT_REPORTS = [
    pytest.param(_empty, "不是有效的 Excel 工作簿", id="empty-xlsx"),
    pytest.param(_csv, "不是有效的 Excel 工作簿", id="csv-renamed-xlsx"),
    pytest.param(_truncated, "不是有效的 Excel 工作簿", id="truncated-xlsx"),
    pytest.param(_encrypted, "加密", id="ole-encrypted"),
    pytest.param(_xls, ".xls", id="xls-name"),
    pytest.param(_txt, "不支持的文件类型「.txt」", id="txt"),
    pytest.param(_missing, "文件不存在", id="missing"),
    pytest.param(_directory, "文件夹", id="directory"),
    pytest.param(_plain_workbook, "不是本工具的年度报告模板", id="plain-openpyxl-workbook"),
    pytest.param(_other_template_version, "模板版本", id="other-template-version"),
    pytest.param(_defined_name_deleted, "定义名称", id="defined-name-deleted"),
    pytest.param(_bad_json, "不是有效的 JSON", id="invalid-json"),
    pytest.param(_json_list, "不是政府信息公开工作年度报告文档", id="json-list"),
    pytest.param(_json_other_object, "不是政府信息公开工作年度报告文档", id="json-without-report-keys"),
]


@pytest.mark.parametrize("make, fragment", NOT_REPORTS)
def test_not_a_report(tmp_path, write_workbook, capsys, make, fragment):
    path = make(tmp_path, write_workbook)
    with pytest.raises(xxgk.NotAReport) as caught:
        xxgk.load(path)
    assert fragment in caught.value.message and CHINESE.search(caught.value.message)
    assert "\n" not in caught.value.message

    code, out, err = cli(capsys, "validate", str(path))
    assert code == 2
    assert out.splitlines() == [f"【无法读取】{path}：{caught.value.message}"]
    assert err == ""


def test_not_a_report_deleted_name_is_named(tmp_path, write_workbook):
    with pytest.raises(xxgk.NotAReport, match=r"缺少 1 个定义名称（如 proactive\.rules\.issued）"):
        xxgk.load(_defined_name_deleted(tmp_path, write_workbook))


def test_many_unreadable_files_one_line_each(tmp_path, write_workbook):
    paths = [param.values[0](tmp_path, write_workbook) for param in NOT_REPORTS]
    done = run_cli("validate", *map(str, paths))
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert len(lines) == len(paths)
    for line, path in zip(lines, paths):
        assert line.startswith(f"【无法读取】{path}：") and CHINESE.search(line.split("：", 1)[1])
    assert done.stderr == ""


def _damage_data(data: bytes, member: str) -> bytes:
    """Four bytes flipped in the middle of one member's compressed data."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    pos = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
    out = bytearray(data)
    for i in range(4):
        out[pos + i] ^= 0xFF
    return bytes(out)


def _damage_local_name(data: bytes, member: str) -> bytes:
    """The member's name in its local header differs from the central directory ('x' -> 'X')."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    out = bytearray(data)
    out[info.header_offset + 30] ^= 0x20
    return bytes(out)


def _central_entries(data: bytes):
    """(offset, name) of each central directory entry."""
    eocd = data.rfind(b"PK\x05\x06")
    count, _, start = struct.unpack("<HII", data[eocd + 10: eocd + 20])
    pos = start
    for _ in range(count):
        n, m, k = struct.unpack("<HHH", data[pos + 28: pos + 34])
        yield pos, data[pos + 46: pos + 46 + n].decode()
        pos += 46 + n + m + k


def _damage_version(data: bytes, member: str) -> bytes:
    """'Version needed to extract' of the member's central directory entry made impossible (25.5)."""
    out = bytearray(data)
    pos = next(p for p, name in _central_entries(data) if name == member)
    out[pos + 6: pos + 8] = struct.pack("<H", 255)
    return bytes(out)


def _damage_directory_offset(data: bytes, member: str) -> bytes:
    """The end record says the central directory starts 64 KiB later than it does."""
    out = bytearray(data)
    eocd = data.rfind(b"PK\x05\x06")
    (start,) = struct.unpack("<I", data[eocd + 16: eocd + 20])
    out[eocd + 16: eocd + 20] = struct.pack("<I", start + 0x10000)
    return bytes(out)


def _sheet_with_formulas(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return next(n for n in z.namelist() if n.startswith("xl/worksheets/") and b"<f>" in z.read(n))



@pytest.mark.parametrize("damage, member", [
    pytest.param(_damage_data, "xl/_rels/workbook.xml.rels", id="deflate-data"),
    pytest.param(_damage_local_name, None, id="local-header-of-sheet"),
    pytest.param(_damage_version, "xl/workbook.xml", id="central-directory-version"),
    pytest.param(_damage_directory_offset, None, id="end-record-offset"),
])
def test_damaged_workbook_is_not_a_report(tmp_path, write_workbook, capsys, damage, member):
    data = _good(tmp_path, write_workbook).read_bytes()
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(damage(data, member or _sheet_with_formulas(data)))
    assert path.read_bytes() != data

    code, out, err = cli(capsys, "validate", str(path))
    assert "内部错误" not in err
    assert code == 2
    (line,) = out.splitlines()
    assert line.startswith(f"【无法读取】{path}：") and CHINESE.search(line.split("：", 1)[1])


# -- several files at once ---------------------------------------------------------------


@pytest.fixture
def three_files(write_workbook, clean_doc, tmp_path):
    good = write_workbook(clean_doc, "good.xlsx")
    bad = write_workbook(set_fact(example("made-up-qingfeng-2021"), "proactive.rules.issued", "/"), "bad.xlsx")
    return good, bad, tmp_path / "notafile.xlsx"


def test_validate_several_files_text(three_files):
    good, bad, missing = three_files
    done = run_cli("validate", str(good), str(bad), str(missing))
    assert done.returncode == 2  # unreadable wins over errors
    status = [line for line in done.stdout.splitlines() if line.startswith("【")]
    assert status == [
        f"【通过】{good}：校验通过",
        f"【有错误】{bad}：发现 1 处错误、0 处警告",
        f"【无法读取】{missing}：文件不存在",
    ]
    assert "不能填「/」" in done.stdout and f"规则 value.type；单元格 {ref('proactive.rules.issued')}" in done.stdout


def test_validate_several_files_json(three_files):
    good, bad, missing = three_files
    done = run_cli("validate", "--format", "json", str(good), str(bad), str(missing))
    assert done.returncode == 2
    files = json.loads(done.stdout)["files"]
    assert [f["path"] for f in files] == [str(good), str(bad), str(missing)]
    assert [f["valid"] for f in files] == [True, False, False]
    for entry in files:
        assert {"path", "valid", "findings"} <= set(entry)
    assert "error" not in files[0] and "error" not in files[1]
    assert files[2]["error"] == "文件不存在" and files[2]["findings"] == []
    assert files[0]["findings"] == []
    (finding,) = files[1]["findings"]
    assert set(finding) == {"rule", "severity", "message", "facts", "cells", "expected", "actual", "fingerprint", "origin", "issuer"}
    assert finding["rule"] == "value.type" and finding["severity"] == "error"
    assert finding["facts"] == ["proactive.rules.issued"]
    assert finding["cells"] == [ref("proactive.rules.issued")]
    assert finding["actual"] == "/" and "不能填「/」" in finding["message"]


# -- exit codes -------------------------------------------------------------------------


def test_exit_code_clean_file(write_workbook, clean_doc, capsys):
    path = write_workbook(clean_doc)
    code, out, err = cli(capsys, "validate", str(path))
    assert code == 0
    assert out == f"【通过】{path}：校验通过\n" and err == ""


@pytest.fixture
def matching_prior(write_workbook):
    """Last year's report (qingfeng 2021) whose carried-forward applications equal qingfeng 2022's carried-over ones.

    The bundled 2021 example carries 4 natural-person applications forward, the 2022 one carries 5 over
    (an error on purpose); here the prior says 5, so only the rule under test can fail.
    """
    prior = example("made-up-qingfeng-2021")
    current = example("made-up-qingfeng-2022")
    for col, value in current["applications"]["carried_over"].items():
        set_fact(prior, f"applications.carried_forward.{col}", value)
    return write_workbook(prior, "prior.xlsx")


def _in_force_facts() -> tuple[str, ...]:
    return tuple(f"proactive.normative_documents.{k}" for k in ("in_force", "issued", "repealed"))


def test_exit_code_warnings_only(write_workbook, matching_prior, capsys):
    current = example("made-up-qingfeng-2022")
    prior_doc = xxgk.load(matching_prior).facts
    in_force, issued, repealed = (get_fact(current, f) for f in _in_force_facts())
    expected = prior_doc["proactive.normative_documents.in_force"] + issued - repealed

    # first the consistent pair: nothing to say (the text states no stock figure here)
    current["texts"]["overview"] = current["texts"]["overview"].replace("，现行有效行政规范性文件20件", "")
    set_fact(current, "proactive.normative_documents.in_force", expected)
    consistent = write_workbook(current, "consistent.xlsx")
    code, out, _ = cli(capsys, "validate", str(consistent), "--prior", str(matching_prior))
    assert code == 0 and out == f"【通过】{consistent}：校验通过\n"

    # then only the number in force changes: a warning, and still exit 0
    set_fact(current, "proactive.normative_documents.in_force", expected + 2)
    path = write_workbook(current, "warning.xlsx")
    result = xxgk.validate(xxgk.load(path), xxgk.load(matching_prior))
    assert result.valid
    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("prior.in_force", "warning")
    assert finding.facts == _in_force_facts()
    assert finding.cells == tuple(ref(f) for f in _in_force_facts())
    assert (finding.actual, finding.expected) == (expected + 2, expected)
    assert "现行有效件数" in finding.message and "请核实" in finding.message

    code, out, err = cli(capsys, "validate", str(path), "--prior", str(matching_prior))
    assert code == 0
    assert out.splitlines()[0] == f"【通过】{path}：校验通过，有 1 处警告"
    assert "[警告]" in out and f"规则 prior.in_force；单元格 {ref('proactive.normative_documents.in_force')}" in out


def test_exit_code_errors(write_workbook, capsys):
    prior = write_workbook(example("made-up-qingfeng-2021"), "prior.xlsx")
    path = write_workbook(example("made-up-qingfeng-2022"), "current.xlsx")
    result = xxgk.validate(xxgk.load(path), xxgk.load(prior))
    carried = [f for f in result.findings if f.rule == "prior.carried_over"]
    assert [f.facts for f in carried] == [("applications.carried_over.natural_persons",),
                                          ("applications.carried_over.total",)]
    assert carried[0].cells == (ref("applications.carried_over.natural_persons",),)
    assert (carried[0].actual, carried[0].expected) == (5, 4)
    assert "上年结转" in carried[0].message

    code, out, err = cli(capsys, "validate", str(path), "--prior", str(prior))
    assert code == 1
    assert out.splitlines()[0].startswith(f"【有错误】{path}：发现 2 处错误")
    assert f"规则 prior.carried_over；单元格 {ref('applications.carried_over.natural_persons')}" in out


@pytest.mark.parametrize("make, fragment", [
    pytest.param(_missing, "文件不存在", id="missing"),
    pytest.param(_csv, "不是有效的 Excel 工作簿", id="csv-renamed-xlsx"),
    pytest.param(_json_list, "不是政府信息公开工作年度报告文档", id="json-list"),
])
def test_unreadable_prior(tmp_path, write_workbook, clean_doc, capsys, make, fragment):
    path = write_workbook(clean_doc)
    prior = make(tmp_path, write_workbook)
    code, out, err = cli(capsys, "validate", str(path), "--prior", str(prior))
    assert code == 2
    assert out == ""
    assert err.splitlines() == [err.rstrip("\n")]
    assert err.startswith(f"xxgk：{prior}：") and fragment in err


def test_unreadable_prior_subprocess(tmp_path, write_workbook, clean_doc):
    path = write_workbook(clean_doc)
    done = run_cli("validate", str(path), "--prior", str(tmp_path / "去年.xlsx"), "--format", "json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"xxgk：{tmp_path / '去年.xlsx'}：文件不存在"
