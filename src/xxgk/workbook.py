"""Reading a filled template: values through python-calamine, cells found by the template's defined names.

The workbook part (`xl/workbook.xml`) is parsed directly for the names and the sheet files; no
openpyxl load. An empty value is looked at once more in the sheet's XML, because calamine shows
a blank cell, an error value and a formula never calculated all as ''.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import io
import posixpath
import re
from functools import cache
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook

from .errors import NotAReport
from .layout import META_SHEET, SETTING_PREFIX, fact_for_name, formula, load_layout, name_for
from .package import MAX_TREE_BYTES, WORKBOOK, Package, open_package
from .report import Report
from .rules import load_rules, value_of, whole
from .schema import load_schema

_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pr": "http://schemas.openxmlformats.org/package/2006/relationships",
}
_SHEET = (_NS["m"] + "}sheets", _NS["m"] + "}sheet")  # paths below the root, as expat names them
_DEFINED_NAME = (_NS["m"] + "}definedNames", _NS["m"] + "}definedName")
_RELATIONSHIP = (_NS["pr"] + "}Relationship",)
_R_ID = _NS["r"] + "}id"
_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Z]{1,3})\$?(\d+)$")
DETAIL_SHEET = "明细"  # see consolidate
PRIOR_HINT = SETTING_PREFIX + "prior."  # setting cells named after a fact: last year's value of it
_BROKEN_BOOK = "工作簿的结构部件已损坏（{}），不是完整的 Excel 工作簿：请用 Excel 或 WPS 重新保存后再提交"

MAX_SHEET_CELLS = 2_000_000  # rows x columns of one sheet's used area (a report sheet has about 300)

# A start tag's attributes as calamine's XML parser reads them: either quote, any spacing around `=`,
# no space needed after a quoted value, and a `>` inside a quoted value does not end the tag.
# Possessive throughout, so that no input makes these backtrack.
_TAG_ATTRS = rb"((?:[^>\"'/]++|/(?!>)|\"[^\"]*+\"|'[^']*+')*+)"
_START = re.compile(rb"<(?:[\w.-]+:)?(?:c|row)(?=[\s/>])" + _TAG_ATTRS)
_CELL = re.compile(rb"<(?:[\w.-]+:)?c(?=[\s/>])" + _TAG_ATTRS + rb"(/>|>(.*?)</(?:[\w.-]+:)?c\s*>)", re.S)
_ATTR = re.compile(rb"(?<![^\s\"'])([^\s=\"'<>/]++)\s*+=\s*+(?:\"([^\"]*+)\"|'([^']*+)')")
# every `r` that is a cell address, in attribute text: the closing quote is left for the next match
_R_ADDRESS = re.compile(rb"[\s\"']r\s*+=\s*+([\"'])([A-Za-z]*+)(\d++)(?=\1)")
_ADDRESS = re.compile(rb"([A-Za-z]*)(\d+)")
# the same, in any text (a superset: see `_extent_bound`)
_R_ANYWHERE = re.compile(rb"r\s*+=\s*+[\"']([A-Za-z]*+)(\d++)")
# one of those with 3 letters or 4 digits (none: every reference within A1:ZZ999, `_NEAR_AREA` cells)
_FAR_ADDRESS = re.compile(rb"r\s*+=\s*+[\"'](?:[A-Za-z]{3}|[A-Za-z]{0,2}+\d{4})")
_NEAR_AREA = 999 * (26 + 26 * 26)


# What workbook.xml and its rels say (sheet parts, defined names), by the exact bytes of both parts as
# stored (compressed: the same stored bytes always inflate to the same content, so nothing is inflated to
# look them up): every file made from one template has the same two parts, parsed once per process.
# Keyed by content, never by a file's name, so a changed workbook.xml is always parsed (and refused) on
# its own; a part is only looked up after the package inspection has passed it (no DTD, sizes sane).
_BOOK_PARTS: dict[tuple, tuple[dict[str, str], dict[str, str]]] = {}
_POSITIONS: dict[tuple, tuple[dict, dict]] = {}  # the names resolved to cells, same key
_BOOK_CACHE = 8  # templates of one run: one, or a few (a total's own, last year's)


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _attribute(attrs: bytes, wanted: bytes) -> bytes | None:
    """The raw value of an attribute in a start tag's attribute text, however it is quoted.

    The last one when it is there twice: calamine keeps the last.
    """
    value = None
    for match in _ATTR.finditer(attrs):
        if match.group(1) == wanted:
            value = match.group(2) if match.group(2) is not None else match.group(3)
    return value


def _address(value: bytes | None) -> tuple[int, int] | None:
    """(row, column) of a cell address as calamine reads it (letters of either case); None if it is not one."""
    m = _ADDRESS.fullmatch(value or b"")
    return (int(m.group(2)), _col_number(m.group(1).decode())) if m else None


class _Declared(Exception):
    """A DTD or an entity declared in a part: refused, never expanded."""


class _Package(Package):
    """The workbook's zip, its sheet names, sheet part paths and defined names."""

    def __init__(self, path: Path, data: bytes):
        super().__init__(path, data, WORKBOOK)
        self.extents: dict[str | None, tuple[int, int]] = {}
        key = None
        if self.has("xl/workbook.xml") and self.has("xl/_rels/workbook.xml.rels"):
            key = (self.stored("xl/workbook.xml"), self.stored("xl/_rels/workbook.xml.rels"))
        self.key = key
        known = _BOOK_PARTS.get(key) if key is not None else None
        if known is None:
            known = self._book_parts()
            if key is not None:
                if len(_BOOK_PARTS) >= _BOOK_CACHE:
                    _BOOK_PARTS.pop(next(iter(_BOOK_PARTS)))
                _BOOK_PARTS[key] = known
        self.sheet_parts, self.names = known

    def _book_parts(self) -> tuple[dict[str, str], dict[str, str]]:
        """Sheet name -> part, and workbook-level defined names, parsed from workbook.xml and its rels."""
        book = self._elements("xl/workbook.xml", {_SHEET, _DEFINED_NAME})
        rels = self._elements("xl/_rels/workbook.xml.rels", {_RELATIONSHIP})
        targets = {a.get("Id"): a.get("Target") for _, a, _ in rels if a.get("Id") and a.get("Target")}
        sheet_parts: dict[str, str] = {}
        for _, sheet, _ in (e for e in book if e[0] == _SHEET):
            name = sheet.get("name")
            if not name:
                raise self.refuse(_BROKEN_BOOK.format("有一个工作表没有名称"))
            target = targets.get(sheet.get(_R_ID))
            if not target:
                raise self.refuse(_BROKEN_BOOK.format(f"工作表「{name}」在 xl/_rels/workbook.xml.rels 中没有带 Id 和 Target 的关系"))
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            sheet_parts[name] = part
        names: dict[str, str] = {}
        for _, defined, text in (e for e in book if e[0] == _DEFINED_NAME):
            name = defined.get("name")
            if not name:
                raise self.refuse(_BROKEN_BOOK.format("有一个定义名称没有 name"))
            if defined.get("localSheetId") is None:
                names[name] = text.strip()
        return sheet_parts, names

    def _elements(self, name: str, wanted: set[tuple[str, ...]]) -> list[tuple[tuple[str, ...], dict, str]]:
        """(path, attributes, text before any child) of the elements of one XML part at the `wanted` paths
        (tuples of namespace-qualified names below the root, whatever the root), in document order.

        Parsed with expat, as defusedxml's parser would be, minus its pure-Python tree: a part too big to
        hold, not well-formed, or declaring a DTD or an entity (also refused by the package inspection)
        is refused; no entity is ever expanded, no external resource ever read.
        """
        from xml.parsers import expat

        if not self.has(name):
            raise self.refuse(self.kind.damaged)
        if self.zip.getinfo(name).file_size > MAX_TREE_BYTES:
            raise self.refuse(f"文件的 {name} 解压后达 {self.zip.getinfo(name).file_size / 2**20:,.0f} MB，远超正常大小，已拒绝")
        found: list[tuple[tuple[str, ...], dict, list[str]]] = []
        path: list[str] = []
        open_: list[list[str] | None] = []  # per open element: its text pieces while no child has begun, else None

        def start(tag: str, attrs: dict) -> None:
            if open_:
                open_[-1] = None
            path.append(tag)
            here = tuple(path[1:])
            text: list[str] | None = [] if here in wanted else None
            if text is not None:
                found.append((here, attrs, text))
            open_.append(text)

        def end(tag: str) -> None:
            path.pop()
            open_.pop()

        def text(data: str) -> None:
            if open_ and open_[-1] is not None:
                open_[-1].append(data)

        def declared(*_: Any) -> None:
            raise _Declared

        parser = expat.ParserCreate(namespace_separator="}")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = parser.UnparsedEntityDeclHandler = declared
        parser.ExternalEntityRefHandler = declared
        try:
            parser.Parse(self.read(name), True)
        except (expat.ExpatError, _Declared, ValueError):
            raise self.refuse(self.kind.damaged) from None
        return [(here, attrs, "".join(pieces)) for here, attrs, pieces in found]

    def extent(self, sheet: str) -> tuple[int, int]:
        part = self.sheet_parts.get(sheet)
        if part not in self.extents:
            self.extents[part] = _extent(self.read(part)) if part and self.has(part) else (0, 0)
        return self.extents[part]

    def check_extent(self, sheet: str, limit: int = MAX_SHEET_CELLS) -> None:
        """Refuse a sheet whose used area is absurd: reading it would need a cell grid of that size.

        A cheap bound first (`_extent_bound`, never below the exact extent): when it is within the
        limit so is the used area; only beyond it is the exact extent measured, to refuse or not.
        """
        part = self.sheet_parts.get(sheet)
        if part not in self.extents:
            xml = self.read(part) if part and self.has(part) else b""
            if _NEAR_AREA <= limit and not _FAR_ADDRESS.search(xml):
                return  # no reference anywhere has 3 letters or 4 digits: at most 999 rows x 702 columns
            rows, cols = _extent_bound(xml)
            if rows * cols <= limit:
                return
        rows, cols = self.extent(sheet)
        if rows * cols > limit:
            raise self.refuse(f"工作表「{sheet}」的数据区域异常大（{rows:,} 行 × {cols:,} 列），不是正常的年度报告，已拒绝")

    def cell_kinds(self, sheet: str, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, str]]:
        """For cells calamine read as '': ('formula', text), ('error', code) or absent (truly blank).

        A scan of the cell elements rather than a full XML parse: calamine has already read this
        part, so it is well-formed, and only a few cells are looked at.
        """
        found: dict[tuple[int, int], tuple[str, str]] = {}
        part = self.sheet_parts.get(sheet)
        if not part or not wanted:
            return found
        xml = self.read(part)
        for match in _CELL.finditer(xml):
            pos = _address(_attribute(match.group(1), b"r"))
            if pos not in wanted:
                continue
            body = match.group(3) or b""
            if _attribute(match.group(1), b"t") == b"e":
                value = _VALUE.search(body)
                found[pos] = ("error", _unescape(value.group(1)) if value else "#错误")
            elif (formula := _FORMULA.search(body)) is not None:
                found[pos] = ("formula", "=" + _unescape(formula.group(1) or b""))
        return found


_VALUE = re.compile(rb"<(?:[\w.-]+:)?v(?:\s[^>]*)?>([^<]*)</(?:[\w.-]+:)?v\s*>")
_FORMULA = re.compile(rb"<(?:[\w.-]+:)?f(?:\s[^>]*)?(?:/>|>([^<]*)</(?:[\w.-]+:)?f\s*>)")


def _unescape(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


def _extent(sheet_xml: bytes) -> tuple[int, int]:
    """(last row, last column) of the cells a sheet's XML holds: what a reader's grid will span.

    Every `r` of a cell or row element counts, however it is quoted or spaced, and also when one
    element has it twice; column letters count in either case and at any length, as calamine
    reads them. A value that is no address makes calamine fail on the sheet, refused then.
    """
    found = _R_ADDRESS.findall(b" ".join(_START.findall(sheet_xml)))
    rows = max((int(digits) for _, _, digits in found), default=0)
    cols = max((_col_number(letters.decode()) for letters in {lt for _, lt, _ in found}), default=0)
    return rows, cols


def _extent_bound(sheet_xml: bytes) -> tuple[int, int]:
    """(rows, columns) at least as large as `_extent`'s, by one scan of the whole part.

    Every `r = "address"` anywhere counts, not only in cell and row tags: a superset of what
    `_extent` counts (each of its matches is one of these, with the same letters and digits), so the
    bound can only be larger. Only the lengths are looked at: a row number of d digits is below
    10**d, a column of k letters below 27**k. Several times cheaper than finding the tags first.
    """
    found = _R_ANYWHERE.findall(sheet_xml)
    if not found:
        return 0, 0
    letters, digits = zip(*found)
    return 10 ** min(max(map(len, digits)), 12), 27 ** min(max(map(len, letters)), 12)  # clamped: past the limit anyway


def _normal(value: Any) -> Any:
    kind = type(value)
    if kind is float:  # a figure as calamine gives it: `whole`, inline (the commonest cell)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if value is None or kind is str or kind is int:  # nothing to change
        return value
    value = whole(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return value


def read(path: Path, data: bytes, sha256: str | None = None) -> Report:
    """Read a filled template workbook into a Report; raise NotAReport when it is not one.

    `sha256`: the hash of `data` when the caller has already computed it (hashed once).
    """
    layout = load_layout()
    package = open_package(path, data, WORKBOOK, _Package)
    if META_SHEET not in package.sheet_parts:
        raise NotAReport("不是本工具的年度报告模板（缺少模板标识工作表），请用 xxgk template 生成的模板填报", path=str(path))
    package.check_extent(META_SHEET)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        meta = {str(row[0]): row[1] for row in book.get_sheet_by_name(META_SHEET).to_python() if len(row) > 1}
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # calamine's own errors for damaged parts; a Rust panic is pyo3's PanicException
        raise NotAReport(f"工作簿无法读取（{type(exc).__name__}）", path=str(path)) from None
    if str(meta.get("format")) != "2021":
        raise NotAReport(f"模板格式为「{meta.get('format')}」，本工具只处理 2021 年格式（国办公开办函〔2021〕30号）", path=str(path))
    if meta.get("layout") != layout.fingerprint():
        raise NotAReport(f"模板版本不符（该文件模板 {str(meta.get('layout') or '未知')[:12]}，当前模板 {layout_version()}）："
                         "请用 xxgk template 生成当前模板，把数字和文字复制过去后再提交", path=str(path))

    # cells by defined name, never by fixed coordinates
    resolved = _POSITIONS.get(package.key) if package.key is not None else None
    if resolved is None:
        resolved = (*_resolve_names(package.names, path),)
        resolved += (_header_cells(resolved[0]), {pos: f for f, pos in resolved[0].items()},
                     tuple(dict.fromkeys(p[0] for p in resolved[0].values())))
        if package.key is not None:
            if len(_POSITIONS) >= _BOOK_CACHE:
                _POSITIONS.pop(next(iter(_POSITIONS)))
            _POSITIONS[package.key] = resolved
    positions, hints, headers, by_pos, report_sheets = resolved

    grids: dict[str, list[list[Any]]] = {}
    for sheet in report_sheets:
        if sheet not in package.sheet_parts:
            raise NotAReport(f"缺少工作表「{sheet}」（可能被删除或改名）", path=str(path))
        package.check_extent(sheet)
        try:
            grids[sheet] = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # as above: calamine's errors and panics
            raise NotAReport(f"工作表「{sheet}」无法读取（{type(exc).__name__}）", path=str(path)) from None

    # a name must still sit in the row its label names: catches names repointed or rows swapped
    for fact_id, (label_col, text) in layout.row_labels.items():
        sheet, row, _ = positions[fact_id]
        grid = grids[sheet]
        found = grid[row - 1][label_col - 1] if row <= len(grid) and label_col <= len(grid[row - 1]) else ""
        if str(found).strip() != text:
            raise NotAReport(f"定义名称 {name_for(fact_id)} 指向的单元格不在「{text}」这一行（该行是「{found}」）："
                             "工作簿的结构被改动过，请用原模板填报", path=str(path))
    if headers is None or any(_cell(grids[sheet], row, col) != text for sheet, row, col, text in headers):
        _check_columns(grids, positions, path)  # says which name is out of place

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
    report = report_from_cells(flat, path, sha256 or hashlib.sha256(data).hexdigest(), unsaved, prior)
    report.sheet_names = tuple(package.sheet_parts)
    report.identity = meta  # format, layout, and what consolidation and finalize wrote there
    report.explanations = _explanations(package, book, path)
    if DETAIL_SHEET in package.sheet_parts:  # a roll-up's detail sheet: its size decides whether to read it
        report.sheet_sizes[DETAIL_SHEET] = package.extent(DETAIL_SHEET)
    return report


def _explanations(package: _Package, book: CalamineWorkbook, path: Path) -> list:
    """The 复核说明 sheet's explanations of warnings (see `review`); none when the sheet is absent."""
    from . import review

    if review.SHEET not in package.sheet_parts:
        return []
    package.check_extent(review.SHEET)
    try:
        grid = book.get_sheet_by_name(review.SHEET).to_python()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # as for the report's sheets: calamine's errors and panics
        raise NotAReport(f"工作表「{review.SHEET}」无法读取（{type(exc).__name__}）", path=str(path)) from None
    return review.read_rows(grid)
def _resolve_names(names: dict[str, str], path: Path) -> tuple[dict[str, tuple[str, int, int]], dict[str, tuple[str, int, int]]]:
    """The cell of every fact (and of every last-year hint) by the workbook's defined names."""
    schema = load_schema()
    positions: dict[str, tuple[str, int, int]] = {}
    hints: dict[str, tuple[str, int, int]] = {}  # last year's figures carried by the template's setting cells
    for name, target in names.items():
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
    return positions, hints


def _cell(grid: list[list[Any]], row: int, col: int) -> str:
    return str(grid[row - 1][col - 1]).strip() if 1 <= row <= len(grid) and 1 <= col <= len(grid[row - 1]) else ""


def _header_cells(positions: dict[str, tuple[str, int, int]]) -> tuple[tuple[str, int, int, str], ...] | None:
    """Every column header the names' cells must sit under, once each, when no cell has moved from its
    row in the template (the usual case: then each header is one cell to compare); None otherwise."""
    layout = load_layout()
    cells: dict[tuple[str, int, int, str], None] = {}
    for fact_id, headers in layout.column_labels.items():
        sheet, row, col = positions[fact_id]
        _, home_row, home_col = layout.cells[fact_id]
        if row != home_row:
            return None
        for header_row, header_col, text in reversed(headers):
            cells[(sheet, header_row, col + header_col - home_col, text)] = None
    return tuple(cells)


def _check_columns(grids: dict[str, list[list[Any]]], positions: dict[str, tuple[str, int, int]], path: Path) -> None:
    """Each name must sit under the headers that name its column: catches names swapped between columns.

    A header is looked for at its own offset from the cell, in its row of the template or, when
    rows were inserted or deleted above the cell (the cell moved by `shift`), anywhere between
    that row and the row moved by as much: inserted rows may lie above or below the header.
    """
    layout = load_layout()
    index: dict[tuple[str, int], dict[str, list[int]]] = {}  # (sheet, column) -> text -> rows holding it
    for fact_id, headers in layout.column_labels.items():
        sheet, row, col = positions[fact_id]
        _, home_row, home_col = layout.cells[fact_id]
        shift = row - home_row
        for header_row, header_col, text in reversed(headers):  # the column's own title first
            at = col + header_col - home_col
            if not shift and _cell(grids[sheet], header_row, at) == text:
                continue  # the cell has not moved and its header is in place: the usual case, no index needed
            if (sheet, at) not in index:
                grid = grids[sheet]
                column: dict[str, list[int]] = {}
                for r in range(1, len(grid) + 1):
                    column.setdefault(_cell(grid, r, at), []).append(r)
                index[(sheet, at)] = column
            low, high = header_row + min(0, shift), header_row + max(0, shift)
            rows = index[(sheet, at)].get(text, [])
            first = bisect.bisect_left(rows, low)  # the first row at or below `low` holding the text
            if first == len(rows) or rows[first] > high:
                found = _cell(grids[sheet], header_row + shift, at) or _cell(grids[sheet], header_row, at)
                raise NotAReport(f"定义名称 {name_for(fact_id)} 指向的单元格不在「{text}」这一列（该处是「{found}」）："
                                 "工作簿的结构被改动过，请用原模板填报", path=str(path))


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
    report = Report(None, path, sha256, frozenset(derived), hints, canonical=True)  # document: nested on demand
    report._facts = {f: flat[f] for f in schema.facts if f in flat}  # what flatten(nest(flat)) gives, without the walks
    return report


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
    order = _totals_order()
    if order is not None:  # the same settlement, in an order where every part comes before its total
        derived: set[str] = set()
        for fact_id in order:
            own = flat.get(fact_id)
            if fact_id in formulas or (own if type(own) is int else value_of(own)) is not None:
                derived.add(fact_id)
                numbers = [v if type(v) is int else value_of(v) for v in map(flat.get, _parts_of(fact_id))]
                if any(n is None for n in numbers):
                    flat[fact_id] = None
                elif fact_id in formulas:
                    flat[fact_id] = sum(t.coef * n for t, n in zip(computed[fact_id], numbers, strict=True))
        return derived
    derived = set()
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


@cache
def _parts_of(fact_id: str) -> tuple[str, ...]:
    """The facts a template sum adds up, in its terms' order."""
    return tuple(t.fact for t in load_rules().computed()[fact_id])


@cache
def _totals_order() -> tuple[str, ...] | None:
    """The template's sums, each after the sums it adds up; None when they refer to each other in a
    circle (then `_resolve_totals` walks them one by one, and says so)."""
    computed = load_rules().computed()
    order: dict[str, None] = {}
    visiting: set[str] = set()

    def visit(fact_id: str) -> bool:
        if fact_id not in computed or fact_id in order:
            return True
        if fact_id in visiting:
            return False
        visiting.add(fact_id)
        if not all(visit(t.fact) for t in computed[fact_id]):
            return False
        visiting.discard(fact_id)
        order[fact_id] = None
        return True

    return tuple(order) if all(visit(f) for f in computed) else None


def layout_version() -> str:
    return load_layout().fingerprint()[:12]
