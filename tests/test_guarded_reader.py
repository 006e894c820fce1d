"""The guarded package reader: every zip-based input (workbook, Word file, the finalise stamp) goes
through it, and whatever was done to the file the answer is a report or a Chinese refusal (exit 2).

Every input here is built from a real file made by the project's own code (`fill`, `finalize`,
`publish`), edited at the zip or XML level.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest

import xxgk
from conftest import example, rezip, run_cli
from xxgk.finalize import STAMP_UNREADABLE, _finalized_facts, finalised_state, finalize
from xxgk.layout import load_layout, name_for
from xxgk.package import prolog_has_dtd

T2, T3, T4 = "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml", "xl/worksheets/sheet4.xml"


def run(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """The command as a user runs it, in its own process: a crash of the reader cannot take pytest down."""
    return run_cli(*args, timeout=timeout)


def on(part: str, change):
    """An edit for `rezip` that changes one part only."""
    return lambda name, body: change(body) if name == part else body


def refused(tmp_path: Path, name: str, data: bytes, *fragments: str, command: tuple[str, ...] = ("validate",)) -> str:
    """Run the command on the file: exit 2 (a refusal), within bounds, its reason naming every fragment."""
    path = tmp_path / name
    path.write_bytes(data)
    start = time.perf_counter()
    extra = ("-o", tmp_path / "imported.json") if command == ("import",) else ()
    proc = run(*command, path, *extra)
    assert time.perf_counter() - start < 60
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    text = proc.stdout + proc.stderr
    for fragment in fragments:
        assert fragment in text, text
    return text


@pytest.fixture(scope="module")
def good() -> bytes:
    return xxgk.fill(xxgk.from_document(example("made-up-qingfeng-2021")))


@pytest.fixture(scope="module")
def word() -> bytes:
    from xxgk.publish import docx_bytes

    return docx_bytes(xxgk.from_document(example("made-up-qingfeng-2021")))


def patch_header(data: bytes, member: str, *, flags: int = 0, method: int | None = None) -> bytes:
    """Set flag bits or the compression method of one member, in its local header and its central entry:
    what zipfile cannot write (an encrypted member, a method Office never uses)."""
    out = bytearray(data)
    patched = 0
    for match in re.finditer(re.escape(member.encode()), data):
        for start, flag_at, method_at, signature in ((match.start() - 30, 6, 8, b"PK\x03\x04"),
                                                     (match.start() - 46, 8, 10, b"PK\x01\x02")):
            if start >= 0 and data[start:start + 4] == signature:
                old = int.from_bytes(out[start + flag_at:start + flag_at + 2], "little")
                out[start + flag_at:start + flag_at + 2] = (old | flags).to_bytes(2, "little")
                if method is not None:
                    out[start + method_at:start + method_at + 2] = method.to_bytes(2, "little")
                patched += 1
    assert patched == 2, f"{member}: {patched} headers"
    return bytes(out)


# -- the DTD check reads the whole prolog -----------------------------------------------------------

DTD = b'<!DOCTYPE x [<!ENTITY e "e">]>'
LONG_COMMENT = b"<!--" + b" long comment " * 400 + b"-->"  # about 5.6 KB: past the 4 KB the reader once looked at


def _after_declaration(body: bytes, insert: bytes) -> bytes:
    declaration = re.match(rb"<\?xml[^>]*\?>", body)
    cut = declaration.end() if declaration else 0
    return body[:cut] + insert + body[cut:]


@pytest.mark.parametrize("part", ["xl/workbook.xml", T3, "[Content_Types].xml", "docProps/core.xml"])
def test_a_dtd_after_a_long_comment_is_refused(tmp_path, good, part):
    data = rezip(good, on(part, lambda b: _after_declaration(b, LONG_COMMENT + DTD)))
    refused(tmp_path, "late-dtd.xlsx", data, "DTD", part)


def test_a_dtd_after_many_comments_and_instructions_is_refused(tmp_path, good):
    prolog = b"".join(b"<!-- note %d -->\n<?pi %d?>\n" % (i, i) for i in range(400)) + DTD
    refused(tmp_path, "many.xlsx", rezip(good, on(T3, lambda b: _after_declaration(b, prolog))), "DTD")


def test_a_dtd_in_a_utf16_part_is_refused(tmp_path, good):
    def utf16(body: bytes) -> bytes:
        text = re.sub(r"^<\?xml[^>]*\?>", "", body.decode("utf-8"))
        return ('<?xml version="1.0" encoding="UTF-16"?>' + DTD.decode() + text).encode("utf-16")

    refused(tmp_path, "utf16.xlsx", rezip(good, on("xl/workbook.xml", utf16)), "DTD", "xl/workbook.xml")


def test_the_prolog_scan_holds_a_chunk_not_the_part():
    """A comment of 200 MB before the root costs time only: the scan keeps a few bytes between chunks."""
    def chunks(tail: bytes):
        yield b'<?xml version="1.0"?>\n<!--'
        for _ in range(200):
            yield b"-" * 2**20  # dashes: every chunk could be the start of the comment's end
        yield b"-->" + tail

    tracemalloc.start()
    try:
        assert prolog_has_dtd(chunks(DTD + b"<root/>"))
        assert not prolog_has_dtd(chunks(b"<root><!DOCTYPE is-not-in-the-prolog></root>"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak


@pytest.mark.parametrize("pieces, expected", [
    ([b"<root/>"], False),
    ([b"\xef\xbb\xbf<?xml version='1.0'?>", b"<!DOCTYPE r>", b"<r/>"], True),
    ([b"<!", b"-", b"- a -", b"-", b"> <!", b"ENTITY x 'y'>"], True),  # a comment's ends split across chunks
    ([b"<?x?>", b"<!", b"-- only a comment --", b"><root/>"], False),
    ([b"<?pi ?", b"> <!-- --><root>"], False),
    ([b"   \n\t<!doctype r><r/>"], True),
    ([b"\x89PNG\r\n\x1a\n<!DOCTYPE"], False),  # not XML at all
    ([b"<!-- never closed"], False),
    ([], False),
])
def test_the_prolog_scan_decides_from_the_prolog_alone(pieces, expected):
    assert prolog_has_dtd(iter(pieces)) is expected


# -- members a zip can hold but an Office file never does -------------------------------------------


def test_an_encrypted_member_of_a_workbook_is_refused_for_what_it_is(tmp_path, good):
    refused(tmp_path, "encrypted.xlsx", patch_header(good, T3, flags=0x1), "已加密", T3)


def test_an_unknown_compression_method_in_a_workbook_is_refused_for_what_it_is(tmp_path, good):
    refused(tmp_path, "method.xlsx", patch_header(good, T3, method=6), "压缩方式", T3)


def test_a_member_stored_twice_is_refused(tmp_path, good):
    """Two copies of one sheet, one with a far cell: the checks and calamine must not look at different copies."""
    out = io.BytesIO()
    far = b"<row r='30'><c r='XFD1048576'><v>1</v></c></row></sheetData>"
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name": the point of this file
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == T3:
                dst.writestr(T3, body.replace(b"</sheetData>", far))
            dst.writestr(info, body)
    refused(tmp_path, "twice.xlsx", out.getvalue(), "出现了两次", T3)


def test_a_member_named_otherwise_in_its_local_header_is_refused(tmp_path, good):
    """The central directory says one name, the member's own header another: which one a reader
    believes is its choice, so neither is read."""
    data = bytearray(good)
    local = [m.start() for m in re.finditer(re.escape(T3.encode()), good) if good[m.start() - 30:m.start() - 26] == b"PK\x03\x04"]
    assert len(local) == 1
    data[local[0]:local[0] + len(T3)] = T3.replace("sheet3", "sheet9").encode()
    refused(tmp_path, "renamed.xlsx", bytes(data), "不是有效的 Excel 工作簿")


def test_a_member_whose_bytes_do_not_match_its_crc_is_refused(tmp_path, good):
    """A few bytes of a sheet stored uncompressed (the rest deflated, a small file) changed after its CRC was written."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename),
                         compress_type=zipfile.ZIP_STORED if info.filename == T3 else zipfile.ZIP_DEFLATED)
    data = out.getvalue()
    at = data.index(b"<sheetData>", zipfile.ZipFile(io.BytesIO(data)).getinfo(T3).header_offset)  # in sheet3's bytes
    data = data[:at] + b"<sheetDatA>" + data[at + 11:]
    refused(tmp_path, "crc.xlsx", data, "不是有效的 Excel 工作簿")


# -- import of a Word file goes through the same guard ---------------------------------------------


def test_a_published_word_file_still_imports(tmp_path, word):
    path = tmp_path / "published.docx"
    path.write_bytes(word)
    proc = run("import", path, "-o", tmp_path / "out.json")
    assert proc.returncode in (0, 1), (proc.returncode, proc.stdout, proc.stderr[-2000:])
    facts = xxgk.load(tmp_path / "out.json").facts
    assert facts["applications.received.natural_persons"] == \
        xxgk.from_document(example("made-up-qingfeng-2021")).facts["applications.received.natural_persons"]


def test_a_word_file_that_is_a_zip_bomb_is_refused_by_its_declared_size(tmp_path, word):
    def bomb(body: bytes) -> bytes:  # the document itself inflates to 300 MB
        return body.replace(b"<w:body>", b"<w:body>" + b" " * (300 * 2**20), 1)

    data = rezip(word, on("word/document.xml", bomb))
    assert len(data) < 2 * 2**20
    refused(tmp_path, "bomb.docx", data, "压缩炸弹", command=("import",))


def test_an_encrypted_member_of_a_word_file_is_refused(tmp_path, word):
    refused(tmp_path, "encrypted.docx", patch_header(word, "word/document.xml", flags=0x1), "已加密",
            command=("import",))


def test_an_unknown_compression_method_in_a_word_file_is_refused(tmp_path, word):
    refused(tmp_path, "method.docx", patch_header(word, "word/document.xml", method=6), "压缩方式",
            command=("import",))


def test_a_dtd_in_a_word_file_is_refused(tmp_path, word):
    doctype = b'<!DOCTYPE w:document SYSTEM "http://example.invalid/w.dtd">'  # no entity: defusedxml alone lets it by
    data = rezip(word, on("word/document.xml", lambda b: _after_declaration(b, LONG_COMMENT + doctype)))
    refused(tmp_path, "dtd.docx", data, "DTD", command=("import",))


def test_an_old_or_password_protected_word_file_is_named_as_such(tmp_path):
    refused(tmp_path, "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096, "旧版 .doc", command=("import",))


# -- attributes however they are quoted -------------------------------------------------------------

FAR = [  # the row element says row 30: only the cell's own reference is far
    b"<c r='XFD1048576'><v>1</v></c>",  # single quotes
    b'<c r  =  "XFD1048576"><v>1</v></c>',  # spaces around =
    b'<c r="xfd1048576"><v>1</v></c>',  # lower-case letters
    b'<c s=">" r="XFD1048576"><v>1</v></c>',  # a ">" in an earlier value
    b'<c r="A30" r="XFD1048576"><v>1</v></c>',  # twice: calamine keeps the last
    b'<c s="0"r="XFD1048576"><v>1</v></c>',  # no space after the previous value
    b'<c r="ZZZZ1048576"><v>1</v></c>',  # four column letters
]


@pytest.mark.parametrize("cell", FAR, ids=range(len(FAR)))
def test_a_far_cell_is_refused_however_its_reference_is_written(tmp_path, good, cell):
    row = b'<row r="30">' + cell + b"</row>"
    data = rezip(good, on(T3, lambda b: b.replace(b"</sheetData>", row + b"</sheetData>")))
    refused(tmp_path, "far.xlsx", data, "数据区域异常大", "1,048,576 行")


@pytest.mark.parametrize("cell", FAR, ids=range(len(FAR)))
def test_the_quick_area_bound_is_never_below_the_exact_area(good, cell):
    """The check's cheap first scan may only overestimate: every far reference it must see, it sees."""
    from xxgk.workbook import _FAR_ADDRESS, _extent, _extent_bound

    with zipfile.ZipFile(io.BytesIO(good)) as z:
        bodies = [z.read(T3).replace(b"</sheetData>", b'<row r="30">' + cell + b"</row></sheetData>")] + \
                 [z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/")]
    for body in bodies:
        rows, cols = _extent(body)
        bound_rows, bound_cols = _extent_bound(body)
        assert bound_rows >= rows and bound_cols >= cols, (cell, rows, cols, bound_rows, bound_cols)
    assert _extent(bodies[0])[0] == 1048576
    assert _FAR_ADDRESS.search(bodies[0]), "the quickest look sees the far reference too"


def test_a_far_reference_in_a_cells_text_is_no_far_cell(tmp_path, good):
    """Text that looks like a far reference overshoots the quick bound; the exact scan then lets the file through."""
    text = b'<t xml:space="preserve">r="XFD1048576"</t>'
    row = b'<row r="200"><c r="A200" t="inlineStr"><is>' + text + b"</is></c></row>"
    path = tmp_path / "text.xlsx"
    path.write_bytes(rezip(good, on(T3, lambda b: b.replace(b"</sheetData>", row + b"</sheetData>"))))
    proc = run("validate", path)
    assert proc.returncode in (0, 1), (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "数据区域异常大" not in proc.stdout + proc.stderr


def test_error_and_formula_cells_are_seen_whatever_the_quoting(tmp_path, good):
    """An error value and a formula without a value read as '' in calamine: the XML scan must still find them."""
    layout = load_layout()

    def cell_of(fact_id: str) -> bytes:
        _, row, col = layout.cells[fact_id]
        from xxgk.layout import a1

        return a1(row, col).encode()

    error, typed = "applications.received.natural_persons", "applications.received.commercial"

    def edit(body: bytes) -> bytes:
        for fact_id, new in ((error, b"<c t = 'e' r='%s'><v>#DIV/0!</v></c>"),
                             (typed, b"<c r = '%s'><f>1+1</f></c>")):
            ref = cell_of(fact_id)
            body, n = re.subn(rb'<c r="' + ref + rb'"[^>]*?(?:/>|>.*?</c>)', new % ref, body, count=1, flags=re.S)
            assert n == 1, ref
        return body

    path = tmp_path / "kinds.xlsx"
    path.write_bytes(rezip(good, on(T3, edit)))
    facts = xxgk.load(path).facts
    assert facts[error] == "#DIV/0!"
    assert facts[typed] == "=1+1"


# -- the workbook's own parts, damaged --------------------------------------------------------------

RELS, BOOK = "xl/_rels/workbook.xml.rels", "xl/workbook.xml"
DAMAGED_BOOK = [
    ("a relationship without Target", RELS, lambda b: b.replace(b'Target="/xl/worksheets/sheet3.xml" ', b""), "Target"),
    ("a relationship without Id", RELS, lambda b: b.replace(b'Id="rId3"', b""), "Target"),
    ("the identity sheet's relationship without Target", RELS,
     lambda b: b.replace(b'Target="/xl/worksheets/sheet8.xml" ', b""), "_xxgk"),
    ("a sheet without its relationship id", BOOK, lambda b: b.replace(b' r:id="rId3"', b""), "表三"),
    ("a sheet without a name", BOOK, lambda b: re.sub(rb'name="[^"]*" sheetId="3"', b'sheetId="3"', b), "工作表没有名称"),
    ("a defined name without name", BOOK,
     lambda b: b.replace(b'<definedName name="xxgk_agency">', b"<definedName>", 1), "定义名称没有 name"),
]


@pytest.mark.parametrize("part, change, fragment", [c[1:] for c in DAMAGED_BOOK], ids=[c[0] for c in DAMAGED_BOOK])
def test_a_damaged_workbook_part_is_a_refusal_not_a_crash(tmp_path, good, part, change, fragment):
    data = rezip(good, on(part, change))
    assert data != good
    refused(tmp_path, "damaged.xlsx", data, "已损坏", fragment)


# -- the finalise stamp, damaged --------------------------------------------------------------------


@pytest.fixture(scope="module")
def finalised(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("finalised")
    source = folder / "report.json"
    source.write_text(xxgk.from_document(example("lushan-2021")).to_json(), encoding="utf-8")
    target, _ = finalize(source, folder)
    source.unlink()
    return target


CUSTOM = "docProps/custom.xml"
BROKEN_STAMPS = {"empty": lambda b: b"", "malformed": lambda b: b[: len(b) // 2], "not-xml": lambda b: b"\x00\x01garbage"}


@pytest.mark.parametrize("damage", list(BROKEN_STAMPS))
def test_verify_answers_when_the_stamp_cannot_be_read(tmp_path, finalised, damage):
    data = finalised.read_bytes()
    assert CUSTOM in zipfile.ZipFile(io.BytesIO(data)).namelist()
    refused(tmp_path, "stamp.xlsx", rezip(data, on(CUSTOM, BROKEN_STAMPS[damage])), STAMP_UNREADABLE,
            command=("verify",))


def test_a_consolidation_names_an_unreadable_stamp_and_goes_on(tmp_path, finalised):
    units = tmp_path / "units"
    units.mkdir()
    broken = units / finalised.name
    broken.write_bytes(rezip(finalised.read_bytes(), on(CUSTOM, BROKEN_STAMPS["malformed"])))
    (units / "other.xlsx").write_bytes(xxgk.fill(xxgk.from_document(example("made-up-qingfeng-2021"))))
    assert finalised_state(xxgk.load(broken), broken.read_bytes()) == STAMP_UNREADABLE
    out = tmp_path / "total.xlsx"
    proc = run("consolidate", units, "-o", out, "-q")
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    manifest = json.loads(out.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    states = {Path(i["path"]).name: i["finalised"] for i in manifest["inputs"]}
    assert states == {broken.name: STAMP_UNREADABLE, "other.xlsx": "未定稿"}


def test_the_kept_facts_that_cannot_be_read_leave_the_changes_unnamed(tmp_path, finalised):
    """The identity sheet's copy of the finalised facts: unreadable (nested too deep) is not a crash."""
    import openpyxl

    path = tmp_path / finalised.name
    path.write_bytes(finalised.read_bytes())
    wb = openpyxl.load_workbook(path)
    meta = wb["_xxgk"]
    (row,) = [r for r in meta.iter_rows() if r[0].value == "finalized_facts"]
    row[1].value = "[" * 100_000 + "]" * 100_000
    (sheet, coord), = wb.defined_names[name_for("applications.received.legal_services")].destinations
    wb[sheet].protection.sheet = False
    wb[sheet][coord.replace("$", "")] = 4  # changed after finalising: verify looks at the kept facts
    wb.save(path)
    proc = run("verify", path)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "定稿后被修改" in proc.stdout and "无法判断改了哪些内容" in proc.stdout
    assert _finalized_facts(b"not a workbook at all") is None  # calamine's own error: nothing to compare


# -- names read crosswise ---------------------------------------------------------------------------


def swap_names(data: bytes, first: str, second: str) -> bytes:
    """The workbook with the cells of two defined names exchanged, as a careless edit of the names would."""
    def edit(body: bytes) -> bytes:
        targets = {}
        for fact_id in (first, second):
            m = re.search(rb'<definedName name="' + name_for(fact_id).encode() + rb'">([^<]*)</definedName>', body)
            targets[fact_id] = m
        a, b = targets[first], targets[second]
        (lo, hi) = sorted((a, b), key=lambda m: m.start())
        return (body[:lo.start(1)] + hi.group(1) + body[lo.end(1):hi.start(1)] + lo.group(1) + body[hi.end(1):])

    return rezip(data, on(BOOK, edit))


CROSSWISE = [
    ("表三 D<->E", "applications.received.natural_persons", "applications.received.commercial", "自然人"),
    ("表三 a column and the total", "applications.results.granted.research", "applications.results.granted.total", "科研机构"),
    ("表四 two outcomes", "reviews.reconsideration.upheld", "reviews.reconsideration.corrected", "结果维持"),
    ("表四 one outcome of two groups", "reviews.reconsideration.upheld", "reviews.litigation_direct.upheld", "行政复议"),
    ("表四 two lawsuits", "reviews.litigation_direct.pending", "reviews.litigation_after_reconsideration.pending",
     "未经复议直接起诉"),
    ("表二 制发<->废止", "proactive.rules.issued", "proactive.rules.repealed", "本年制发件数"),
    ("表二 废止<->现行有效", "proactive.normative_documents.repealed", "proactive.normative_documents.in_force",
     "本年废止件数"),
]


@pytest.mark.parametrize("first, second, label", [c[1:] for c in CROSSWISE], ids=[c[0] for c in CROSSWISE])
def test_names_swapped_between_columns_are_refused(tmp_path, good, first, second, label):
    text = refused(tmp_path, "crosswise.xlsx", swap_names(good, first, second), f"不在「{label}」这一列")
    assert name_for(first) in text


def test_every_fact_of_the_three_tables_has_its_column_headers():
    layout = load_layout()
    labels = layout.column_labels
    tables = {s.name for s in layout.sheets if s.name.startswith(("表二", "表三", "表四"))}
    assert {f for f, (sheet, _, _) in layout.cells.items() if sheet in tables} <= set(labels)
    texts = {f: [t for _, _, t in h] for f, h in labels.items()}
    assert texts["applications.received.commercial"] == ["申请人情况", "法人或其他组织", "商业企业"]
    assert texts["reviews.litigation_direct.upheld"] == ["行政诉讼", "未经复议直接起诉", "结果维持"]
    assert texts["proactive.rules.repealed"][-1] == "本年废止件数"
    assert texts["proactive.fees.amount"][-1] == "本年收费金额（单位：万元）"
    assert "agency" not in labels  # a form sheet: label | value, no column header


def _names_shifted(wb, sheet: str, at: int, by: int) -> None:
    """Move the defined names into `sheet` at or below row `at` down by `by`, as Excel does on inserting rows."""
    for defined in wb.defined_names.values():
        m = re.fullmatch(r"'(.+)'!\$([A-Z]+)\$(\d+)", defined.attr_text)
        if m and m.group(1) == sheet and int(m.group(3)) >= at:
            defined.attr_text = f"'{sheet}'!${m.group(2)}${int(m.group(3)) + by}"


@pytest.mark.parametrize("sheet, at", [("表四 复议诉讼", 2), ("表二 主动公开", 2), ("表二 主动公开", 7),
                                       ("表二 主动公开", 6), ("表三 依申请公开", 3), ("表三 依申请公开", 9)])
def test_rows_inserted_above_or_between_the_headers_are_still_followed(tmp_path, good, sheet, at):
    """Headers and cells both move down, or only the cells do: either way every name is still read."""
    import openpyxl

    path = tmp_path / "inserted.xlsx"
    path.write_bytes(good)
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    ws.protection.sheet = False
    ws.insert_rows(at, amount=3)
    _names_shifted(wb, sheet, at, 3)
    wb.save(path)
    report = xxgk.load(path)
    original = xxgk.from_document(example("made-up-qingfeng-2021"))
    own = [f for f, (s, _, _) in load_layout().cells.items() if s == sheet]
    assert {f: report.facts.get(f) for f in own} == {f: original.facts.get(f) for f in own}
