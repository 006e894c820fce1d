"""Reading a filled template: values through python-calamine, cells found by the template's defined names.

The workbook part (`xl/workbook.xml`) is parsed directly for the names and the sheet files; no
openpyxl load. An empty value is looked at once more in the sheet's XML, because calamine shows
a blank cell, an error value and a formula never calculated all as ''.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import posixpath
import re
import zipfile
import zlib
from functools import cache
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET
from python_calamine import CalamineWorkbook

from .errors import NotAReport
from .layout import META_SHEET, SETTING_PREFIX, fact_for_name, formula, load_layout, name_for
from .report import Report
from .rules import load_rules, value_of
from .schema import load_schema

_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pr": "http://schemas.openxmlformats.org/package/2006/relationships",
}
_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Z]{1,3})\$?(\d+)$")
DETAIL_SHEET = "明细"  # see consolidate
PRIOR_HINT = SETTING_PREFIX + "prior."  # setting cells named after a fact: last year's value of it
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# what zipfile raises for a damaged archive: bad headers, bad deflate data, odd versions, bad offsets
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, NotImplementedError, ValueError, RuntimeError, OSError)
_DAMAGED_MESSAGE = "不是有效的 Excel 工作簿（.xlsx）：文件已损坏、不完整，或是改了扩展名的其他文件"


MAX_PARTS = 2000
MAX_PART_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 256 * 2**20
MAX_RATIO = 200  # a worksheet compresses about 10 to 30 times; a bomb by thousands
MAX_SHEET_CELLS = 2_000_000  # rows x columns of one sheet's used area (a report sheet has about 300)
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)
_CELL_REF = re.compile(rb'<(?:\w+:)?(?:c|row)\b[^>]*?\br="([A-Z]{0,3})(\d+)"')


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


class _Package:
    """The zip, its sheet names, sheet part paths and defined names."""

    def __init__(self, path: Path, data: bytes):
        self.path = path
        if data.startswith(_OLE_MAGIC):
            raise NotAReport("文件已加密（设有打开密码）或是旧版 .xls 文件：请在 Excel 中“文件→信息→保护工作簿→用密码进行加密”"
                             "清空密码，另存为 .xlsx 后再提交", path=str(path))
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except _DAMAGED:
            raise NotAReport(_DAMAGED_MESSAGE, path=str(path)) from None
        if "mimetype" in self.zip.namelist() and b"opendocument" in self.part("mimetype"):
            raise NotAReport("这是 OpenDocument 表格（.ods）：请在 WPS 或 LibreOffice 中另存为 Excel 工作簿（.xlsx）后再提交",
                             path=str(path))
        self._inspect()
        self.extents: dict[str | None, tuple[int, int]] = {}
        try:
            root = SafeET.fromstring(self.part("xl/workbook.xml"))
            rels = SafeET.fromstring(self.part("xl/_rels/workbook.xml.rels"))
        except (*_DAMAGED, SafeET.ParseError):
            raise NotAReport(_DAMAGED_MESSAGE, path=str(path)) from None
        targets = {r.get("Id"): r.get("Target") for r in rels.findall("pr:Relationship", _NS)}
        self.sheet_parts: dict[str, str] = {}
        for sheet in root.findall("m:sheets/m:sheet", _NS):
            target = targets.get(sheet.get(f"{{{_NS['r']}}}id"), "")
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            self.sheet_parts[sheet.get("name")] = part
        self.names = {
            n.get("name"): (n.text or "").strip()
            for n in root.findall("m:definedNames/m:definedName", _NS)
            if n.get("localSheetId") is None
        }

    def _inspect(self) -> None:
        """Refuse what could exhaust the machine or smuggle XML tricks in, before anything inflates it.

        Declared sizes first (a zip bomb announces gigabytes). Deflate inflates at most about 1,032
        times, so a small file cannot hide much; a larger one has every part inflated here through
        zipfile, which stops at the declared size and checks the CRC, so a lying header goes no
        further. No part of a workbook has a DTD: one is refused (entity expansion, external entities).
        """
        infos = self.zip.infolist()
        if len(infos) > MAX_PARTS:
            raise NotAReport(f"文件中有 {len(infos)} 个部件，不是正常的年度报告", path=str(self.path))
        declared = sum(i.file_size for i in infos)
        bomb = next((i for i in infos if i.file_size > MAX_PART_BYTES
                     or (i.file_size > 2**20 and i.file_size > MAX_RATIO * max(i.compress_size, 1))), None)
        if declared > MAX_TOTAL_BYTES or bomb:
            raise NotAReport(f"文件解压后达 {declared / 2**20:,.0f} MB，远超正常的年度报告，可能是恶意构造的“压缩炸弹”，已拒绝",
                             path=str(self.path))
        inflate_all = sum(i.compress_size for i in infos) * 1032 > MAX_TOTAL_BYTES
        for info in infos:
            if inflate_all:
                self.part(info.filename)
            if info.filename.endswith((".xml", ".rels", ".vml")):
                try:
                    with self.zip.open(info) as fh:
                        head = fh.read(4096)
                except _DAMAGED:
                    raise NotAReport(_DAMAGED_MESSAGE, path=str(self.path)) from None
                if _DTD.search(head):
                    raise NotAReport(f"文件的 {info.filename} 含有 DTD/实体声明（正常工作簿没有），可能是恶意文件，已拒绝",
                                     path=str(self.path))

    def extent(self, sheet: str) -> tuple[int, int]:
        part = self.sheet_parts.get(sheet)
        if part not in self.extents:
            self.extents[part] = _extent(self.part(part)) if part in self.zip.namelist() else (0, 0)
        return self.extents[part]

    def check_extent(self, sheet: str, limit: int = MAX_SHEET_CELLS) -> None:
        """Refuse a sheet whose used area is absurd: reading it would need a cell grid of that size."""
        rows, cols = self.extent(sheet)
        if rows * cols > limit:
            raise NotAReport(f"工作表「{sheet}」的数据区域异常大（{rows:,} 行 × {cols:,} 列），不是正常的年度报告，已拒绝",
                             path=str(self.path))

    def part(self, name: str) -> bytes:
        """One member of the archive; any damage to the archive is the user's file, not our bug."""
        try:
            return self.zip.read(name)
        except _DAMAGED:
            raise NotAReport(_DAMAGED_MESSAGE, path=str(self.path)) from None

    def cell_kinds(self, sheet: str, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, str]]:
        """For cells calamine read as '': ('formula', text), ('error', code) or absent (truly blank).

        A scan of the cell elements rather than a full XML parse: calamine has already read this
        part, so it is well-formed, and only a few cells are looked at.
        """
        found: dict[tuple[int, int], tuple[str, str]] = {}
        part = self.sheet_parts.get(sheet)
        if not part or not wanted:
            return found
        xml = self.part(part)
        for match in _CELL.finditer(xml):
            ref = _ATTR_R.search(match.group(1))
            m = re.match(rb"([A-Z]+)(\d+)$", ref.group(1)) if ref else None
            if not m or (pos := (int(m.group(2)), _col_number(m.group(1).decode()))) not in wanted:
                continue
            body = match.group(3) or b""
            if _ATTR_T_ERROR.search(match.group(1)):
                value = _VALUE.search(body)
                found[pos] = ("error", _unescape(value.group(1)) if value else "#错误")
            elif (formula := _FORMULA.search(body)) is not None:
                found[pos] = ("formula", "=" + _unescape(formula.group(1) or b""))
        return found


_CELL = re.compile(rb"<(?:\w+:)?c\s([^>]*?)(/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR_R = re.compile(rb'\br="([A-Z]+\d+)"')
_ATTR_T_ERROR = re.compile(rb'\bt="e"')
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_FORMULA = re.compile(rb"<(?:\w+:)?f(?:\s[^>]*)?(?:/>|>([^<]*)</(?:\w+:)?f>)")


def _unescape(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


def _extent(sheet_xml: bytes) -> tuple[int, int]:
    """(last row, last column) of the cells a sheet's XML holds: what a reader's grid will span."""
    rows = cols = 0
    for letters, number in _CELL_REF.findall(sheet_xml):
        rows = max(rows, int(number))
        if letters:
            cols = max(cols, _col_number(letters.decode()))
    return rows, cols


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return value


def read(path: Path, data: bytes) -> Report:
    """Read a filled template workbook into a Report; raise NotAReport when it is not one."""
    schema, layout = load_schema(), load_layout()
    package = _Package(path, data)
    if META_SHEET not in package.sheet_parts:
        raise NotAReport("不是本工具的年度报告模板（缺少模板标识工作表），请用 xxgk template 生成的模板填报", path=str(path))
    package.check_extent(META_SHEET)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        meta = {str(row[0]): row[1] for row in book.get_sheet_by_name(META_SHEET).to_python() if len(row) > 1}
    except Exception as exc:  # calamine raises its own error types for damaged parts
        raise NotAReport(f"工作簿无法读取（{type(exc).__name__}）", path=str(path)) from None
    if str(meta.get("format")) != "2021":
        raise NotAReport(f"模板格式为「{meta.get('format')}」，本工具只处理 2021 年格式（国办公开办函〔2021〕30号）", path=str(path))
    if meta.get("layout") != layout.fingerprint():
        raise NotAReport(f"模板版本不符（该文件模板 {str(meta.get('layout') or '未知')[:12]}，当前模板 {layout_version()}）："
                         "请用 xxgk template 生成当前模板，把数字和文字复制过去后再提交", path=str(path))

    # cells by defined name, never by fixed coordinates
    positions: dict[str, tuple[str, int, int]] = {}
    hints: dict[str, tuple[str, int, int]] = {}  # last year's figures carried by the template's setting cells
    for name, target in package.names.items():
        fact_id = fact_for_name(name)
        hinted = fact_id[len(PRIOR_HINT):] if fact_id and fact_id.startswith(PRIOR_HINT) else None
        if fact_id is None or (fact_id not in schema.facts and hinted not in schema.facts):
            continue
        m = _REF.match(target)
        if not m:
            raise NotAReport(f"定义名称 {name} 指向无效位置「{target}」（可能删除了行、列或工作表）", path=str(path))
        sheet = (m.group(1) or "").replace("''", "'") or m.group(2)
        (hints if hinted else positions)[hinted or fact_id] = (sheet, int(m.group(4)), _col_number(m.group(3)))
    missing = [f for f in schema.facts if f not in positions]
    if missing:
        raise NotAReport(f"缺少 {len(missing)} 个定义名称（如 {missing[0]}），工作簿不是完整的模板", path=str(path))

    grids: dict[str, list[list[Any]]] = {}
    for sheet in {p[0] for p in positions.values()}:
        if sheet not in package.sheet_parts:
            raise NotAReport(f"缺少工作表「{sheet}」（可能被删除或改名）", path=str(path))
        package.check_extent(sheet)
        try:
            grids[sheet] = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except Exception as exc:
            raise NotAReport(f"工作表「{sheet}」无法读取（{type(exc).__name__}）", path=str(path)) from None

    # a name must still sit in the row its label names: catches names repointed or rows swapped
    for fact_id, (label_col, text) in layout.row_labels.items():
        sheet, row, _ = positions[fact_id]
        grid = grids[sheet]
        found = grid[row - 1][label_col - 1] if row <= len(grid) and label_col <= len(grid[row - 1]) else ""
        if str(found).strip() != text:
            raise NotAReport(f"定义名称 {name_for(fact_id)} 指向的单元格不在「{text}」这一行（该行是「{found}」）："
                             "工作簿的结构被改动过，请用原模板填报", path=str(path))

    flat: dict[str, Any] = {}
    empty: dict[str, set[tuple[int, int]]] = {}
    for fact_id, (sheet, row, col) in positions.items():
        grid = grids[sheet]
        value = grid[row - 1][col - 1] if row <= len(grid) and col <= len(grid[row - 1]) else ""
        if value == "":
            empty.setdefault(sheet, set()).add((row, col))
            value = None
        flat[fact_id] = value

    formulas: set[str] = set()
    by_pos = {pos: f for f, pos in positions.items()}
    for sheet, cells in empty.items():
        for (row, col), (kind, text) in package.cell_kinds(sheet, cells).items():
            fact_id = by_pos[(sheet, row, col)]
            flat[fact_id] = text
            if kind == "formula":
                formulas.add(fact_id)
    unsaved = {f for f in formulas if _is_template_formula(f, flat[f], positions[f][0])}
    prior: dict[str, Any] = {}
    for fact_id, (sheet, row, col) in hints.items():
        grid = grids.get(sheet) or []
        prior[fact_id] = grid[row - 1][col - 1] if row <= len(grid) and col <= len(grid[row - 1]) else None
    report = report_from_cells(flat, path, hashlib.sha256(data).hexdigest(), unsaved, prior)
    report.sheet_names = tuple(package.sheet_parts)
    if DETAIL_SHEET in package.sheet_parts:  # a roll-up's detail sheet: its size decides whether to read it
        report.sheet_sizes[DETAIL_SHEET] = package.extent(DETAIL_SHEET)
    return report


def report_from_cells(values: dict[str, Any], path: Path | None = None, sha256: str | None = None,
                      unsaved: set[str] = frozenset(), prior: dict[str, Any] | None = None) -> Report:
    """A Report from the template's cell values by fact id, however they were read (file or open workbook).

    `unsaved`: template sums saved as formulas without a value, to be computed here.
    """
    schema = load_schema()
    flat = {fact_id: _normal(value) for fact_id, value in values.items()}
    derived = _resolve_totals(flat, set(unsaved))
    for fact_id in list(flat):
        if flat[fact_id] is None and not schema.facts[fact_id].required:
            del flat[fact_id]
    hints = {f: _normal(v) for f, v in (prior or {}).items() if value_of(_normal(v)) is not None}
    return Report(schema.nest(flat), path, sha256, frozenset(derived), hints, canonical=True)


def _canon(text: str) -> str:
    return text.replace("$", "").replace(" ", "").upper()


@cache
def _template_formulas() -> dict[str, str]:
    cells = load_layout().cells
    return {f: _canon(formula(terms, cells[f][0])) for f, terms in load_rules().computed().items()}


def _is_template_formula(fact_id: str, text: str, sheet: str) -> bool:
    """True when the cell still holds the sum the template put there (not a formula someone typed)."""
    return _template_formulas().get(fact_id) == _canon(text)


def _resolve_totals(flat: dict[str, Any], formulas: set[str]) -> set[str]:
    """Settle the template's sum cells; return the facts whose value stands for a sum of other cells.

    A sum saved without a value (`formulas`, e.g. by openpyxl) is computed here. A sum whose parts
    are not all numbers is unknown (None): a spreadsheet's SUM would skip a text such as "3件" and
    show a total built on a guess. A total cell holding text or nothing is left as it is, so the
    type check reports it.
    """
    computed = load_rules().computed()
    derived: set[str] = set()
    done: set[str] = set()

    def value(fact_id: str, trail: tuple[str, ...] = ()) -> Any:
        if fact_id not in computed or fact_id in done:
            return flat.get(fact_id)
        if fact_id in trail:
            raise NotAReport(f"模板公式循环引用：{fact_id}")
        numbers = [value_of(value(t.fact, trail + (fact_id,))) for t in computed[fact_id]]
        if fact_id in formulas or value_of(flat.get(fact_id)) is not None:
            derived.add(fact_id)
            if any(n is None for n in numbers):
                flat[fact_id] = None
            elif fact_id in formulas:
                flat[fact_id] = sum(t.coef * n for t, n in zip(computed[fact_id], numbers, strict=True))
        done.add(fact_id)
        return flat.get(fact_id)

    for fact_id in computed:
        value(fact_id)
    return derived


def layout_version() -> str:
    return load_layout().fingerprint()[:12]
