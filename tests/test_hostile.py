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
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xxgk
from conftest import example
from xxgk.addin import addin_path
from xxgk.errors import XxgkError
from xxgk.output import write_atomic


def run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "xxgk.cli", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> bytes:
    return xxgk.fill(xxgk.from_document(example("made-up-qingfeng-2021")))


def rezip(data: bytes, edit) -> bytes:
    """A copy of the workbook with `edit(name, body) -> body | None` applied to every part (None drops it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = edit(info.filename, src.read(info.filename))
            if body is not None:
                dst.writestr(info, body)
    return out.getvalue()


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


def test_a_killed_run_leaves_the_previous_output_intact(tmp_path):
    base = example("made-up-qingfeng-2021")
    (tmp_path / "in").mkdir()
    for i in range(60):
        doc = dict(base, agency=f"单位{i}")
        (tmp_path / "in" / f"u{i}.xlsx").write_bytes(xxgk.fill(xxgk.from_document(doc)))
    out = tmp_path / "t.xlsx"
    assert run("consolidate", str(tmp_path / "in"), "-o", str(out), "-q").returncode == 0
    previous = out.read_bytes()
    for delay in (0.3, 0.8, 1.5, 2.5):
        proc = subprocess.Popen([sys.executable, "-m", "xxgk.cli", "consolidate", str(tmp_path / "in"), "-o", str(out),
                                 "-q", "--jobs", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert out.read_bytes() == previous  # old or (identical) new: never half a file
    assert xxgk.validate(xxgk.load(out)).valid


def test_two_runs_writing_the_same_output_do_not_corrupt_it(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "u.xlsx").write_bytes(xxgk.fill(xxgk.from_document(example("lushan-2021"))))
    out = tmp_path / "t.xlsx"
    procs = [subprocess.Popen([sys.executable, "-m", "xxgk.cli", "consolidate", str(tmp_path / "in"), "-o", str(out),
                               "-q", "--agency", name], stdout=subprocess.DEVNULL) for name in ("甲区", "乙区")]
    assert [p.wait() for p in procs] == [0, 0]
    assert xxgk.load(out).agency in ("甲区", "乙区")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- fuzzing: whatever the damage, a report, findings, or a clean error, within bounds -------------

_CHILD = r"""
import resource, sys, time, json
resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))
import xxgk
from xxgk.errors import XxgkError
out = []
for path in sys.argv[1:]:
    print(path, flush=True, file=sys.stderr)
    start = time.perf_counter()
    try:
        result = xxgk.validate(xxgk.load(path))
        kind = "valid" if result.valid else "findings"
    except XxgkError:
        kind = "refused"
    except Exception as exc:
        kind = "crash:" + type(exc).__name__ + ":" + str(exc)[:200]
    out.append([path, kind, time.perf_counter() - start])
print(json.dumps(out))
"""


@st.composite
def damaged(draw, good: bytes) -> bytes:
    how = draw(st.sampled_from(["bytes", "xml", "cell"]))
    if how == "bytes":  # anywhere in the zip
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    part = draw(st.sampled_from(["xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/worksheets/sheet3.xml",
                                 "xl/_rels/workbook.xml.rels", "xl/styles.xml", "[Content_Types].xml"]))
    if how == "xml":  # structure: cut, duplicate or garble a stretch of one part
        def edit(name, body):
            if name != part:
                return body
            i = draw(st.integers(0, len(body)))
            j = draw(st.integers(i, min(len(body), i + 400)))
            action = draw(st.sampled_from(["cut", "dup", "junk"]))
            if action == "cut":
                return body[:i] + body[j:]
            if action == "dup":
                return body[:j] + body[i:j] + body[j:]
            return body[:i] + draw(st.binary(min_size=1, max_size=40)) + body[j:]
        return rezip(good, edit)

    def cell(name, body):  # values: replace a number in a report sheet by something odd
        if name != "xl/worksheets/sheet3.xml":
            return body
        odd = draw(st.sampled_from([b"-1", b"1e300", b"NaN", b"2.5", b"", b"abc", b"99999999999999999999"]))
        return re.sub(rb"<v>\d+</v>", b"<v>" + odd + b"</v>", body, count=draw(st.integers(1, 5)))
    return rezip(good, cell)


def test_property_fuzzed_workbooks_never_crash_hang_or_exhaust(tmp_path, good):
    files: list[Path] = []

    @settings(max_examples=150, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(damaged(good))
    def collect(data):
        path = tmp_path / f"f{len(files):04d}.xlsx"
        path.write_bytes(data)
        files.append(path)

    collect()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *map(str, files)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"child died on {proc.stderr.strip().splitlines()[-1:]}: {proc.stderr[-500:]}"
    outcomes = json.loads(proc.stdout)
    crashes = [o for o in outcomes if o[1].startswith("crash")]
    assert not crashes, crashes[:5]
    slow = [o for o in outcomes if o[2] > 5]
    assert not slow, slow[:5]
    kinds = {o[1] for o in outcomes}
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
