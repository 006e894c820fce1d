"""An OOXML package (a .xlsx workbook, a .docx document), opened safely.

Every zip-based input goes through `Package` before any of its parts is parsed: the archive's
declared sizes and compression ratios (a zip bomb announces gigabytes), encrypted or strangely
compressed members, and a DTD anywhere in an XML part's prolog (entity expansion, external
entities) are refused with a Chinese reason, and any damage to the archive met later while
reading a part is the user's file (NotAReport), never an internal error.
"""

from __future__ import annotations

import codecs
import io
import itertools
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import NotAReport

MAX_PARTS = 2000
MAX_PART_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 256 * 2**20
MAX_RATIO = 200  # a worksheet compresses about 10 to 30 times; a bomb by thousands
MAX_TREE_BYTES = 16 * 2**20  # a part parsed whole into a tree: about 400 MB of memory at worst
_INFLATE_LIMIT = 1032  # the most deflate can inflate one byte
_CHUNK = 64 * 1024
_FIRST = 1024  # the first read of a part in the inspection (a prolog is some 60 bytes): its whole when smaller
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED = 0x1  # general purpose flag bit 0 of a zip member
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # the only two an OOXML package may use
# what zipfile raises for a damaged archive: bad headers, bad deflate data, odd versions, bad offsets
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, NotImplementedError, ValueError, RuntimeError, OSError)


@dataclass(frozen=True)
class Kind:
    """What the package should be, for the messages a person reads."""

    damaged: str
    encrypted: str  # an OLE compound file: a password-protected Office file, or the old binary format
    opendocument: str


WORKBOOK = Kind(
    damaged="不是有效的 Excel 工作簿（.xlsx）：文件已损坏、不完整，或是改了扩展名的其他文件",
    encrypted="文件已加密（设有打开密码）或是旧版 .xls 文件：请在 Excel 中“文件→信息→保护工作簿→用密码进行加密”"
              "清空密码，另存为 .xlsx 后再提交",
    opendocument="这是 OpenDocument 表格（.ods）：请在 WPS 或 LibreOffice 中另存为 Excel 工作簿（.xlsx）后再提交",
)
DOCUMENT = Kind(
    damaged="不是有效的 Word（.docx）文件：文件已损坏、不完整，或是改了扩展名的其他文件",
    encrypted="文件已加密（设有打开密码）或是旧版 .doc 文件：请在 Word 中清除密码，另存为 .docx 后再导入",
    opendocument="这是 OpenDocument 文本（.odt）：请在 WPS 或 LibreOffice 中另存为 Word 文档（.docx）后再导入",
)


class Package:
    """The zip archive of one input, inspected before anything in it is inflated for real."""

    def __init__(self, path: Path | str | None, data: bytes, kind: Kind = WORKBOOK):
        self.path = str(path) if path is not None else None
        self.kind = kind
        if data.startswith(_OLE_MAGIC):
            raise self.refuse(kind.encrypted)
        self._data = memoryview(data)
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except DAMAGED:
            raise self.refuse(kind.damaged) from None
        self._members = {info.filename for info in infos}
        self._parts: dict[str, bytes] = {}  # members inflated whole during the inspection, kept for `read`
        self._inspect(infos)
        if "mimetype" in self._members and b"opendocument" in self.read("mimetype")[:200]:
            raise self.refuse(kind.opendocument)

    def refuse(self, message: str) -> NotAReport:
        return NotAReport(message, path=self.path)

    def has(self, name: str) -> bool:
        return name in self._members

    def read(self, name: str) -> bytes:
        """One member of the archive; any damage to the archive is the user's file, not our bug."""
        kept = self._parts.get(name)
        if kept is not None:
            return kept
        try:
            return self._inflate(self.zip.getinfo(name))
        except DAMAGED:
            raise self.refuse(self.kind.damaged) from None

    def stored(self, name: str) -> tuple[int, bytes]:
        """A member as stored (its compression method and compressed bytes): the same stored bytes always
        inflate to the same content, so they can key what was learnt from that content."""
        info = self.zip.getinfo(name)
        try:
            return info.compress_type, bytes(self._span(info))
        except DAMAGED:
            raise self.refuse(self.kind.damaged) from None

    def _span(self, info: zipfile.ZipInfo) -> memoryview:
        """A member's stored bytes, found through its local header, checked as zipfile checks it (signature,
        the same name as in the central directory, no patch data or strong encryption, within the file)."""
        at = info.header_offset
        header = bytes(self._data[at:at + 30])
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("bad local header")
        flags, name_len, extra_len = (int.from_bytes(header[i:i + 2], "little") for i in (6, 26, 28))
        if info.flag_bits & 0x60:  # compressed patched data, strong encryption: what zipfile does not read
            raise NotImplementedError("unsupported member")
        name = bytes(self._data[at + 30:at + 30 + name_len]).decode("utf-8" if flags & 0x800 else "cp437")
        if name != info.orig_filename:
            raise zipfile.BadZipFile("member names differ")
        start = at + 30 + name_len + extra_len
        if start + info.compress_size > len(self._data):
            raise zipfile.BadZipFile("member past the end")
        return self._data[start:start + info.compress_size]

    def _inflate(self, info: zipfile.ZipInfo, limit: int | None = None) -> bytes:
        """A member inflated in one call (what zipfile does in many): whole, at most its declared size, its
        size and CRC checked; or, with `limit`, its first `limit` bytes only (a prolog), nothing checked."""
        raw = self._span(info)
        if info.compress_type == zipfile.ZIP_STORED:
            body = bytes(raw[:limit] if limit is not None else raw)
        elif limit is not None:
            return zlib.decompressobj(-15).decompress(raw[:3 * limit + 1024], limit)  # 3x: deflate's worst case, and more
        else:
            body = zlib.decompressobj(-15).decompress(raw, max(info.file_size, 1))  # 0 would mean: no limit
        if limit is None and (len(body) != info.file_size or zlib.crc32(body) != info.CRC):
            raise zipfile.BadZipFile("bad size or CRC")
        return body

    def xml(self, name: str, what: str | None = None):
        """One XML part parsed whole (defusedxml): a part too big to hold as a tree, or not well-formed, is refused."""
        info = self.zip.getinfo(name) if self.has(name) else None
        if info is None:
            raise self.refuse(what or self.kind.damaged)
        if info.file_size > MAX_TREE_BYTES:
            raise self.refuse(f"文件的 {name} 解压后达 {info.file_size / 2**20:,.0f} MB，远超正常大小，已拒绝")
        from defusedxml import DefusedXmlException  # imported here: a cached workbook.xml needs no parser
        from defusedxml import ElementTree as SafeET

        try:
            return SafeET.fromstring(self.read(name))
        except (SafeET.ParseError, DefusedXmlException, ValueError, RecursionError):
            raise self.refuse(what or self.kind.damaged) from None

    def _inspect(self, infos: list[zipfile.ZipInfo]) -> None:
        """Refuse what could exhaust the machine or smuggle XML tricks in, before anything inflates it.

        Declared sizes first (a zip bomb announces gigabytes). Deflate inflates at most about 1,032
        times, so a small file cannot hide much; a larger one has every part inflated here through
        zipfile, which stops at the declared size and checks the CRC, so a lying header goes no
        further. No part of an Office file has a DTD: one is refused (entity expansion, external
        entities), wherever it stands before the root element. A part no longer than the first chunk
        read for that check (1 KB) is inflated whole by it (its size and CRC checked): it is kept, so that
        reading it later inflates nothing again; a larger part is only inflated as far as its prolog.
        """
        if len(infos) > MAX_PARTS:
            raise self.refuse(f"文件中有 {len(infos)} 个部件，不是正常的 Office 文件，已拒绝")
        declared = sum(i.file_size for i in infos)
        bomb = next((i for i in infos if i.file_size > MAX_PART_BYTES
                     or (i.file_size > 2**20 and i.file_size > MAX_RATIO * max(i.compress_size, 1))), None)
        if declared > MAX_TOTAL_BYTES or bomb:
            raise self.refuse(f"文件解压后达 {declared / 2**20:,.0f} MB，远超正常大小，可能是恶意构造的“压缩炸弹”，已拒绝")
        seen: set[str] = set()
        for info in infos:
            if info.filename in seen:  # which copy a reader takes is its own choice: the checks could see the other
                raise self.refuse(f"文件中的 {info.filename} 出现了两次，不是正常的 Office 文件，已拒绝")
            seen.add(info.filename)
            if info.flag_bits & _ENCRYPTED:
                raise self.refuse(f"文件中的 {info.filename} 设有 zip 密码（已加密），无法读取：请提交未加密的原文件")
            if info.compress_type not in _METHODS:
                raise self.refuse(f"文件中的 {info.filename} 使用了 Office 文件不使用的压缩方式（编号 {info.compress_type}），"
                                  "无法读取：请用 Excel、WPS 或 Word 重新保存后再提交")
        inflate_all = sum(i.compress_size for i in infos) * _INFLATE_LIMIT > MAX_TOTAL_BYTES
        for info in infos:
            if info.is_dir():
                continue
            try:
                if inflate_all:
                    with self.zip.open(info) as fh:
                        chunks = iter(lambda: fh.read(_CHUNK), b"")
                        dtd = prolog_has_dtd(chunks)
                        for _ in chunks:  # the rest too, so that zipfile checks its size and CRC
                            pass
                elif info.file_size < _FIRST:  # inflated whole at once, its size and CRC checked
                    body = self._parts[info.filename] = self._inflate(info)
                    dtd = prolog_has_dtd((body,))
                else:  # a prolog is a few hundred bytes: a part nobody reads is not inflated for it
                    first = self._inflate(info, _FIRST)
                    dtd = prolog_has_dtd(itertools.chain((first,), self._after(info, len(first))))
            except DAMAGED:
                raise self.refuse(self.kind.damaged) from None
            if dtd:
                raise self.refuse(f"文件的 {info.filename} 含有 DTD/实体声明（正常的 Office 文件没有），可能是恶意文件，已拒绝")

    def _after(self, info: zipfile.ZipInfo, skip: int) -> Iterator[bytes]:
        """A member's bytes after its first `skip`, streamed by zipfile: for the rare prolog longer than a first read."""
        with self.zip.open(info) as fh:
            fh.read(skip)
            yield from iter(lambda: fh.read(_CHUNK), b"")


_LAST: list = []  # (data, kind, package) of the last package opened through `open_package`


def open_package(path: Path | str | None, data: bytes, kind: Kind = WORKBOOK, cls: type | None = None) -> Package:
    """The package of these very bytes: the one opened last when it is the same bytes object (a
    workbook's reader and its finalise stamp share one inspection), else a new one (of `cls`)."""
    cls = cls or Package
    if _LAST and _LAST[0][0] is data and _LAST[0][1] is kind and isinstance(_LAST[0][2], cls):
        return _LAST[0][2]
    package = cls(path, data, kind) if cls is Package else cls(path, data)
    _LAST[:] = [(data, kind, package)]
    return package


def prolog_has_dtd(chunks: Iterable[bytes]) -> bool:
    """Does an XML document declare a DTD (`<!DOCTYPE`, `<!ENTITY`, any `<!` but a comment) before its root?

    Reads the chunks only as far as the root element's `<`, holding a few bytes across chunk
    boundaries: a prolog of gigabytes of comments costs time, never memory. A part that is not XML
    at all (it does not begin with `<`) has no prolog. UTF-16 parts are looked at as UTF-8.
    """
    buf = b""
    until = b""  # inside a comment or processing instruction: the bytes that end it
    for chunk in itertools.chain(_as_utf8(iter(chunks)), [None]):
        final = chunk is None
        buf += chunk or b""
        while True:
            if until:
                end = buf.find(until)
                if end < 0:
                    if final:
                        return False  # never closed: not well-formed, and nothing follows it
                    buf = buf[-(len(until) - 1):]
                    break
                buf, until = buf[end + len(until):], b""
                continue
            buf = buf.lstrip()
            if len(buf) < 4 and not final:
                break  # too little to tell a comment from a declaration yet
            if buf.startswith(b"<!--"):
                buf, until = buf[4:], b"-->"
            elif buf.startswith(b"<?"):
                buf, until = buf[2:], b"?>"
            else:  # a declaration, the root element, or no XML at all
                return buf.startswith(b"<!")
    return False


def _as_utf8(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks of a part, re-encoded as UTF-8 when the part is UTF-16 (by its byte-order mark or its first `<`)."""
    first = next(chunks, b"")
    while len(first) < 4:
        more = next(chunks, None)
        if more is None:
            break
        first += more
    encoding = None
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8):]
    elif first.startswith((codecs.BOM_UTF16_LE, b"<\0")):
        encoding = "utf-16-le"
    elif first.startswith((codecs.BOM_UTF16_BE, b"\0<")):
        encoding = "utf-16-be"
    if encoding is None:
        yield first
        yield from chunks
        return
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    yield decoder.decode(first).lstrip("\ufeff").encode("utf-8")
    for chunk in chunks:
        yield decoder.decode(chunk).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")
