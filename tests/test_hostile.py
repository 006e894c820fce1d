"""Hostile and broken files: each gets a clear Chinese answer and the right exit code, and nothing is lost.

The malformed files are made on purpose here, from a real filled workbook (the project's `fill`)
edited at the zip or XML level.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import xxgk
from conftest import CORPUS, corpus_entries, example, jobs_for, replay, rezip, run_cli
from strategies import damaged
from xxgk.addin import addin_path
from xxgk.errors import XxgkError
from xxgk.output import write_atomic


def run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return run_cli(*args, timeout=timeout)  # fails on exit 3 (internal error) or a death by signal


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> bytes:
    return xxgk.fill(xxgk.from_document(example("made-up-qingfeng-2021")))


def refused(tmp_path: Path, name: str, data: bytes, *fragments: str) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    start = time.perf_counter()
    proc = run("validate", str(path))
    assert time.perf_counter() - start < 30
    assert proc.returncode == 2, proc.stdout
    (line,) = proc.stdout.splitlines()
    assert line.startswith("【无法读取】")
    for fragment in fragments:
        assert fragment in line, line
    return line


def test_zip_bomb_is_refused_by_its_declared_size(tmp_path, good):
    data = io.BytesIO(good)
    with zipfile.ZipFile(data, "a", zipfile.ZIP_DEFLATED) as z, z.open("xl/media/bomb.bin", "w") as fh:
        chunk = b"\0" * 2**20
        for _ in range(300):  # 300 MB of zeros: a few hundred KB compressed
            fh.write(chunk)
    assert len(data.getvalue()) < 2 * 2**20
    refused(tmp_path, "bomb.xlsx", data.getvalue(), "压缩炸弹")


def test_a_part_whose_header_lies_about_its_size_is_not_trusted(tmp_path, good):
    """Declared small, inflates larger: zipfile stops at the declared size and the CRC fails."""
    blob = zipfile.ZipFile(io.BytesIO(good))
    name = "xl/worksheets/sheet3.xml"
    size = blob.getinfo(name).file_size
    data = bytearray(good)
    # patch the declared uncompressed size in the local header and the central directory
    for match in re.finditer(re.escape(name.encode()), bytes(data)):
        for offset in (match.start() - 30 + 22, match.start() - 46 + 24):  # local header / central entry
            if 0 <= offset and int.from_bytes(data[offset:offset + 4], "little") == size:
                data[offset:offset + 4] = (size // 10).to_bytes(4, "little")
    refused(tmp_path, "lying.xlsx", bytes(data), "不是有效的 Excel 工作簿")


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]>')


@pytest.mark.parametrize("part", ["xl/workbook.xml", "xl/worksheets/sheet3.xml", "xl/sharedStrings.xml",
                                  "[Content_Types].xml"])
def test_entity_expansion_in_any_part_is_refused(tmp_path, good, part):
    def edit(name, body):
        if name == part:
            return BILLION_LAUGHS + re.sub(rb"^<\?xml[^>]*\?>", b"", body)
        return body

    if part not in zipfile.ZipFile(io.BytesIO(good)).namelist():
        good = rezip(good, lambda n, b: b)  # no shared strings part in this file: add one
        good = _with_part(good, part, b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>')
    refused(tmp_path, "laughs.xlsx", rezip(good, edit), "DTD")


def _with_part(data: bytes, name: str, body: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as z:
        z.writestr(name, body)
    return out.getvalue()


def test_external_entities_leak_nothing(tmp_path, good):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE", encoding="utf-8")
    xxe = f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "{secret.as_uri()}">]>'.encode()

    def edit(name, body):
        if name == "xl/worksheets/sheet1.xml":
            body = xxe + re.sub(rb"^<\?xml[^>]*\?>", b"", body)
            return body.replace("富阳".encode(), b"&e;", 1)
        return body

    line = refused(tmp_path, "xxe.xlsx", rezip(good, edit), "DTD")
    assert "TOP-SECRET" not in line


def test_absurd_dimensions_are_refused_quickly(tmp_path, good):
    def edit(name, body):
        if name == "xl/worksheets/sheet3.xml":
            return body.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>')
        return body

    refused(tmp_path, "huge.xlsx", rezip(good, edit), "数据区域异常大", "1,048,576 行")


def test_a_lying_dimension_element_alone_is_harmless(tmp_path, good):
    def edit(name, body):
        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', body) if "worksheets" in name else body

    path = tmp_path / "dim.xlsx"
    path.write_bytes(rezip(good, edit))
    assert run("validate", str(path)).returncode == 0


def test_macro_workbook_is_read_and_nothing_runs(tmp_path, good):
    vba = zipfile.ZipFile(addin_path()).read("xl/vbaProject.bin")

    def edit(name, body):
        if name == "[Content_Types].xml":
            return body.replace(b"</Types>", b'<Override PartName="/xl/vbaProject.bin" '
                                b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
        return body

    path = tmp_path / "宏.xlsm"
    path.write_bytes(_with_part(rezip(good, edit), "xl/vbaProject.bin", vba))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    proc = run("validate", str(path))
    assert proc.returncode == 0 and "校验通过" in proc.stdout
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_ods_is_named_as_such(tmp_path):
    ods = io.BytesIO()
    with zipfile.ZipFile(ods, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    refused(tmp_path, "报告.xlsx", ods.getvalue(), ".ods", "另存为")
    (tmp_path / "报告.ods").write_bytes(ods.getvalue())
    proc = run("validate", str(tmp_path / "报告.ods"))
    assert proc.returncode == 2 and ".ods" in proc.stdout


def test_json_nan_and_absurd_numbers_are_findings(tmp_path):
    doc = json.dumps(example("lushan-2021"), ensure_ascii=False)
    doc = doc.replace('"amount": 0', '"amount": NaN', 1)
    path = tmp_path / "nan.json"
    path.write_text(doc, encoding="utf-8")
    proc = run("validate", str(path), "--format", "json")
    assert proc.returncode == 1
    (finding,) = [f for f in json.loads(proc.stdout)["files"][0]["findings"] if f["rule"] == "value.type"]
    assert finding["facts"] == ["proactive.fees.amount"] and "NaN" in finding["message"]
    big = example("lushan-2021")
    big["reviews"]["reconsideration"]["upheld"] = 1e300
    found = xxgk.validate(xxgk.from_document(big)).findings
    assert any("大得不合常理" in f.message for f in found)
    assert all("000000000000000000" not in f.message for f in found)  # shown as 1e+300, not 301 digits


def test_formula_injection_stays_text_in_every_output(tmp_path):
    doc = example("made-up-qingfeng-2021")
    doc["agency"] = '=HYPERLINK("http://example.invalid","点我")'
    (tmp_path / "in").mkdir()
    source = tmp_path / "in" / "u.xlsx"
    source.write_bytes(xxgk.fill(xxgk.from_document(doc)))
    out = tmp_path / "t.xlsx"
    assert run("consolidate", str(tmp_path / "in"), "-o", str(out), "-q", "--html", str(tmp_path / "t.html")).returncode == 0
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>HYPERLINK" not in z.read(name), name  # never a formula
    assert "=HYPERLINK" not in (tmp_path / "t.html").read_text(encoding="utf-8").replace("=HYPERLINK(&quot;", "")


# -- nothing lost ----------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_previous_output_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "out.xlsx"
    target.write_bytes(b"previous")

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(XxgkError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


# -- fuzzing: whatever the damage, a report, findings, or a clean error, within bounds -------------
#
# Both tests run the inputs through the crash harness (conftest `replay`): a child process under a
# memory limit, each input a job with a time limit. The corpus (tests/corpus/, see its README) holds
# every input that ever crashed and is replayed first, through the library and every CLI command; the
# property test then tries new damage with a fixed seed (the "ci" hypothesis profile in conftest).
# benchmarks/fuzz.py is the longer campaign, run by hand, that adds what it finds to the corpus.


def _failures(outcomes: list[dict], slow: float) -> list[str]:
    return [f"{o['outcome'] if o['outcome'] != 'ok' else 'slow'}: xxgk {' '.join(Path(a).name for a in o['job'])}"
            f" ({o['kind']}) {o['detail'][-300:]}".rstrip()
            for o in outcomes if o["outcome"] != "ok" or (o["job"][0] == "load" and o["seconds"] > slow)]


def test_corpus_of_inputs_that_once_crashed_is_handled_by_every_command(tmp_path):
    entries = corpus_entries()
    assert entries, f"no inputs in {CORPUS}"
    companion = tmp_path / "companion.xlsx"  # another unit, consolidated together with each input
    companion.write_bytes(xxgk.fill(xxgk.from_document(example("lushan-2021"))))
    jobs, expected = [], {}
    for n, entry in enumerate(entries):
        path = tmp_path / f"{n:03d}" / entry["name"]
        path.parent.mkdir()
        path.write_bytes(entry["data"])
        jobs += jobs_for(path, path.parent, companion, entry["commands"])
        if entry["expect"]:
            expected[str(path)] = (entry["source"], entry["expect"])
    outcomes = replay(jobs)
    failures = _failures(outcomes, slow=5)
    failures += [f"{source}: expected {expect}, got {o['kind']}" for o in outcomes if o["job"][0] == "load"
                 for source, expect in [expected.get(o["job"][1], (None, None))]
                 if expect and o["outcome"] == "ok" and o["kind"] != expect]
    assert not failures, "\n".join(failures)


def test_property_fuzzed_workbooks_never_crash_hang_or_exhaust(tmp_path, good):
    files: list[Path] = []

    @settings(max_examples=150, suppress_health_check=list(HealthCheck))
    @given(damaged(good))
    def collect(data):
        path = tmp_path / f"f{len(files):04d}.xlsx"
        path.write_bytes(data)
        files.append(path)

    collect()
    outcomes = replay([["load", path] for path in files])
    failures = _failures(outcomes, slow=5)
    assert not failures, ("\n".join(failures[:10]) + f"\nThe inputs are in {tmp_path}: copy each one that failed into "
                          f"{CORPUS} so that it is replayed from now on.")
    kinds = {o["kind"] for o in outcomes}
    assert "refused" in kinds and kinds & {"valid", "findings"}


# -- the wrong template ----------------------------------------------------------------------------


def _names_shifted(wb, sheet: str, at: int, by: int) -> None:
    """Move the defined names into `sheet` at or below row `at` down by `by`, as Excel does on inserting rows."""
    for name, defined in list(wb.defined_names.items()):
        m = re.fullmatch(r"'(.+)'!\$([A-Z]+)\$(\d+)", defined.attr_text)
        if m and m.group(1) == sheet and int(m.group(3)) >= at:
            defined.attr_text = f"'{sheet}'!${m.group(2)}${int(m.group(3)) + by}"


def test_rows_inserted_after_unprotecting_are_followed_by_the_names(tmp_path, good):
    import openpyxl

    path = tmp_path / "inserted.xlsx"
    path.write_bytes(good)
    wb = openpyxl.load_workbook(path)
    ws = wb["表三 依申请公开"]
    ws.protection.sheet = False
    ws.insert_rows(7, amount=2)  # openpyxl moves the cells; Excel would also move the names and formulas
    _names_shifted(wb, "表三 依申请公开", 7, 2)
    wb.save(path)
    report = xxgk.load(path)
    original = xxgk.from_document(example("made-up-qingfeng-2021"))
    inputs = [f for f in original.facts if f.startswith("applications.") and not f.endswith(".total")
              and ".results.total." not in f]
    assert {f: report.facts[f] for f in inputs} == {f: original.facts[f] for f in inputs}


def test_a_name_pointing_into_another_row_is_refused(tmp_path, good):
    import openpyxl

    path = tmp_path / "repointed.xlsx"
    path.write_bytes(good)
    wb = openpyxl.load_workbook(path)
    from xxgk.layout import load_layout, name_for

    here = wb.defined_names[name_for("applications.received.natural_persons")]
    other = wb.defined_names[name_for("applications.carried_over.natural_persons")]
    here.attr_text, other.attr_text = other.attr_text, here.attr_text  # swapped: the numbers would be read crosswise
    wb.save(path)
    line = refused(tmp_path, "repointed-run.xlsx", path.read_bytes(), "不在「一、本年新收政府信息公开申请数量」这一行")
    assert name_for("applications.received.natural_persons") in line
    assert load_layout().row_labels["applications.received.natural_persons"][1] in line


def test_a_renamed_sheet_is_followed_when_its_names_follow_and_refused_when_they_do_not(tmp_path, good):
    def renamed(name, body):  # as Excel does: the sheet and every name pointing into it
        return body.replace("表四 复议诉讼".encode(), "表四（改）".encode()) if name == "xl/workbook.xml" else body

    path = tmp_path / "renamed.xlsx"
    path.write_bytes(rezip(good, renamed))
    assert xxgk.validate(xxgk.load(path)).valid

    def only_the_sheet(name, body):  # the names still point at the old sheet name
        return body.replace('name="表四 复议诉讼"'.encode(), 'name="表四（改）"'.encode()) if name == "xl/workbook.xml" else body

    refused(tmp_path, "stale-names.xlsx", rezip(good, only_the_sheet), "缺少工作表「表四 复议诉讼」")


def test_a_deleted_sheet_is_refused(tmp_path, good):
    def deleted(name, body):  # Excel turns the names into #REF!
        if name == "xl/workbook.xml":
            body = re.sub(rb'<sheet name="\xe8\xa1\xa8\xe5\x9b\x9b[^>]*/>', b"", body)
            return re.sub("'表四 复议诉讼'!\\$[A-Z]+\\$\\d+".encode(), b"#REF!", body)
        return body

    refused(tmp_path, "deleted.xlsx", rezip(good, deleted), "定义名称")
