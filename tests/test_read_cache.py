"""The reader's per-template cache of workbook.xml (issue 14): keyed by the bytes of the parts, never by a
file's name, so a workbook read after a good one from the same template is judged on its own parts.

Every file is made by the project's own `fill`; the changed ones are edited at the zip level, the way
a hand-edited or hostile file reaches the reader.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from conftest import example

import xxgk
from xxgk import workbook
from xxgk.errors import NotAReport
from xxgk.layout import name_for
from xxgk.report import Report
from xxgk.schema import load_schema


def rezip(data: bytes, part: str, edit) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            dst.writestr(info, edit(body) if info.filename == part else body)
    return out.getvalue()


@pytest.fixture
def good() -> bytes:
    return xxgk.fill(xxgk.from_document(example("made-up-qingfeng-2021")))


def read(tmp_path, data: bytes, name: str = "report.xlsx") -> Report:
    path = tmp_path / name
    path.write_bytes(data)
    return xxgk.load(path)


def swap_names(body: bytes, a: str, b: str) -> bytes:
    """workbook.xml with the targets of two defined names exchanged."""
    def target(name: str) -> bytes:
        return re.search(rb'<definedName name="' + name.encode() + rb'"[^>]*>([^<]*)<', body).group(1)

    ta, tb = target(a), target(b)
    body = body.replace(b'name="' + a.encode() + b'">' + ta, b'name="' + a.encode() + b'">\0')
    body = body.replace(b'name="' + b.encode() + b'">' + tb, b'name="' + b.encode() + b'">' + ta)
    return body.replace(b'name="' + a.encode() + b'">\0', b'name="' + a.encode() + b'">' + tb)


def test_a_cached_read_is_the_same_report_as_a_first_read(tmp_path, good):
    workbook._BOOK_PARTS.clear()
    workbook._POSITIONS.clear()
    first = read(tmp_path, good, "a.xlsx")
    assert workbook._BOOK_PARTS, "the first read fills the cache"
    second = read(tmp_path, good, "b.xlsx")
    assert second.facts == first.facts and second.document == first.document
    assert second.derived == first.derived and second.prior_hints == first.prior_hints
    assert list(second.facts) == list(load_schema().flatten(second.document))  # facts in the schema's order


def test_names_repointed_after_a_good_read_of_the_same_template_are_refused(tmp_path, good):
    read(tmp_path, good, "unit.xlsx")  # the template's workbook.xml is now known
    a, b = name_for("applications.received.natural_persons"), name_for("applications.carried_over.commercial")
    changed = rezip(good, "xl/workbook.xml", lambda body: swap_names(body, a, b))
    for _ in range(2):  # and again: a refusal is never remembered as a pass
        with pytest.raises(NotAReport, match="结构被改动过"):
            read(tmp_path, changed, "unit.xlsx")  # the same file name as the good one
    read(tmp_path, good, "unit.xlsx")  # the good file still reads


def test_a_name_pointing_nowhere_after_a_good_read_is_refused(tmp_path, good):
    read(tmp_path, good)
    name = name_for("applications.received.natural_persons")
    changed = rezip(good, "xl/workbook.xml", lambda body: re.sub(
        rb'(<definedName name="' + name.encode() + rb'"[^>]*>)[^<]*', rb"\1#REF!", body))
    with pytest.raises(NotAReport, match="指向无效位置"):
        read(tmp_path, changed)


def test_a_dtd_in_workbook_xml_after_a_good_read_is_refused(tmp_path, good):
    read(tmp_path, good)
    dtd = b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
    changed = rezip(good, "xl/workbook.xml", lambda body: dtd + body.split(b"?>", 1)[-1] if body.startswith(b"<?xml")
                    else dtd + body)
    with pytest.raises(NotAReport, match="DTD"):
        read(tmp_path, changed)


def test_a_changed_rels_part_after_a_good_read_is_refused(tmp_path, good):
    read(tmp_path, good)
    changed = rezip(good, "xl/_rels/workbook.xml.rels", lambda body: re.sub(rb'Target="[^"]*"', b'Target=""', body))
    with pytest.raises(NotAReport, match="没有带 Id 和 Target 的关系"):
        read(tmp_path, changed)


@pytest.mark.parametrize("declaration", [
    b'<!DOCTYPE w [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>',
    b'<!DOCTYPE w SYSTEM "http://example.invalid/w.dtd">',
    b'<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/hostname">]>',
])
def test_the_workbook_part_parser_refuses_a_dtd_even_past_the_inspection(good, declaration):
    """The inspection refuses a DTD first; the parser of workbook.xml refuses one on its own as well."""
    package = workbook._Package("report.xlsx", good)
    body = package.read("xl/workbook.xml")
    package._parts["xl/workbook.xml"] = declaration + (body.split(b"?>", 1)[-1] if body.startswith(b"<?xml") else body)
    with pytest.raises(NotAReport, match="已损坏"):
        package._book_parts()
    package._parts["xl/workbook.xml"] = body
    assert package._book_parts() == (package.sheet_parts, package.names)


def test_the_same_workbook_part_stored_otherwise_reads_the_same(tmp_path, good):
    """The cache is keyed by the part as stored: the same content stored uncompressed is another key,
    parsed on its own, and gives the same report."""
    first = read(tmp_path, good, "a.xlsx")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            stored = info.filename in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels")
            dst.writestr(info.filename, src.read(info.filename),
                         compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    before = len(workbook._BOOK_PARTS)
    second = read(tmp_path, out.getvalue(), "b.xlsx")
    assert second.facts == first.facts and second.derived == first.derived
    assert len(workbook._BOOK_PARTS) == min(before + 1, workbook._BOOK_CACHE)
