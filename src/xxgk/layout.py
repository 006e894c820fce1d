"""Where everything goes in the template, derived from the schema: cells, labels, merges.

Pure geometry, no openpyxl: the template writer renders it, and findings use it to name cells.
Each table sheet is laid out by one of four shapes declared in the schema's `x-sheets`:
`form` (label | value), `blocks` (table 二), `matrix` (table 三), `column-groups` (table 四).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from .errors import SchemaError
from .schema import Schema, load_schema

if TYPE_CHECKING:
    from .rules import Term


META_SHEET = "_xxgk"
NAME_PREFIX = "xxgk_"


SETTING_PREFIX = "setting."


def name_for(fact_id: str) -> str:
    """The defined name of a fact: `applications.received.total` -> `xxgk_applications__received__total`.

    Excel, WPS and LibreOffice all accept letters, digits and underscores; ids never contain `__`.
    """
    return NAME_PREFIX + fact_id.replace(".", "__")


def fact_for_name(name: str) -> str | None:
    if not name.startswith(NAME_PREFIX):
        return None
    return name[len(NAME_PREFIX):].replace("__", ".")


def column_letter(col: int) -> str:
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def a1(row: int, col: int, absolute: bool = False) -> str:
    d = "$" if absolute else ""
    return f"{d}{column_letter(col)}{d}{row}"


def quote_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


@dataclass(frozen=True)
class Label:
    row: int
    col: int
    text: str
    role: str  # title | header | label | note
    to_row: int = 0  # merge end (0: no merge)
    to_col: int = 0


@dataclass
class SheetLayout:
    name: str
    title: str
    orientation: str
    labels: list[Label] = field(default_factory=list)
    facts: dict[str, tuple[int, int]] = field(default_factory=dict)
    settings: dict[str, tuple[int, int]] = field(default_factory=dict)  # "setting.<id>" -> cell: not report facts
    value_merge: dict[str, int] = field(default_factory=dict)  # fact id -> last column of its merged cell
    widths: dict[int, float] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    header_rows: tuple[int, int] = (1, 1)
    status: tuple[int, int, int] = (0, 0, 0)  # row, first and last column of the check-status line
    last_row: int = 1
    last_col: int = 1

    def label(self, row, col, text, role, to_row=0, to_col=0):
        if (to_row and to_row != row) or (to_col and to_col != col):
            self.labels.append(Label(row, col, text, role, to_row or row, to_col or col))
        else:
            self.labels.append(Label(row, col, text, role))
        self.last_row = max(self.last_row, to_row or row)
        self.last_col = max(self.last_col, to_col or col)

    def place(self, fact_id: str, row: int, col: int, to_col: int = 0) -> None:
        self.facts[fact_id] = (row, col)
        if to_col and to_col != col:
            self.value_merge[fact_id] = to_col
        self.last_row = max(self.last_row, row)
        self.last_col = max(self.last_col, to_col or col)


@dataclass
class Layout:
    sheets: list[SheetLayout]
    cells: dict[str, tuple[str, int, int]]  # fact id -> (sheet, row, col)

    @property
    def settings(self) -> dict[str, tuple[str, int, int]]:
        """Cells the add-in reads that are not part of the report (e.g. last year's file)."""
        return {key: (s.name, *pos) for s in self.sheets for key, pos in s.settings.items()}

    def ref(self, fact_id: str) -> str:
        """The fact's cell in the official template, as `'sheet'!D5` (one string per fact, shared by all findings)."""
        refs = self.__dict__.setdefault("_refs", {})
        if fact_id not in refs:
            sheet, row, col = self.cells[fact_id]
            refs[fact_id] = f"{quote_sheet(sheet)}!{a1(row, col)}"
        return refs[fact_id]

    @property
    def row_labels(self) -> dict[str, tuple[int, str]]:
        """Fact id -> (column, text) of the label that names its row, in the fact's own row."""
        if not hasattr(self, "_row_labels"):
            found = {}
            for sheet in self.sheets:
                by_row: dict[int, list[Label]] = {}
                for label in sheet.labels:
                    if label.role == "label":
                        by_row.setdefault(label.row, []).append(label)
                for fact_id, (row, col) in sheet.facts.items():
                    left = [lb for lb in by_row.get(row, []) if lb.col < col]
                    if left:
                        nearest = max(left, key=lambda lb: lb.col)
                        found[fact_id] = (nearest.col, nearest.text)
            self._row_labels = found
        return self._row_labels

    @property
    def column_labels(self) -> dict[str, tuple[tuple[int, int, str], ...]]:
        """Fact id -> (row, column, text) of each header naming its column, outermost first.

        The headers are those covering the fact's column in the run of header rows nearest above
        it (its own block in table 二, the whole header of tables 三 and 四); a merged header is
        given by its top-left cell, where its text is. Facts with no header above (form sheets)
        have none.
        """
        if not hasattr(self, "_column_labels"):
            found: dict[str, tuple[tuple[int, int, str], ...]] = {}
            for sheet in self.sheets:
                headers = [lb for lb in sheet.labels if lb.role == "header" and lb.text]
                fact_rows = {row for row, _ in sheet.facts.values()}
                for fact_id, (row, col) in sheet.facts.items():
                    def over(r: int) -> list[Label]:  # headers covering this column in row r
                        return [lb for lb in headers
                                if lb.row <= r <= (lb.to_row or lb.row) and lb.col <= col <= (lb.to_col or lb.col)]
                    r = row - 1
                    while r >= 1 and r in fact_rows and not over(r):
                        r -= 1  # other rows of the same block
                    run: list[Label] = []
                    while r >= 1 and (here := over(r)):
                        run += [lb for lb in here if lb not in run]
                        r -= 1
                    if run:
                        found[fact_id] = tuple((lb.row, lb.col, lb.text) for lb in sorted(run, key=lambda lb: lb.row))
            self._column_labels = found
        return self._column_labels

    def fingerprint(self) -> str:
        """Over fact ids, kinds and positions: two templates with the same fingerprint read the same.

        Computed once: every workbook read compares its own with it.
        """
        if getattr(self, "_fingerprint", None) is None:
            schema = load_schema()
            canon = [[f, schema.facts[f].kind, *self.cells[f]] for f in sorted(self.cells)]
            self._fingerprint = hashlib.sha256(json.dumps(canon, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
        return self._fingerprint


def _title(sheet: SheetLayout, width: int) -> int:
    """The sheet's title in row 1 and the workbook's check status in row 2; the content starts in row 3."""
    sheet.label(1, 1, sheet.title, "title", 1, width)
    sheet.heights[1] = 30
    sheet.status = (2, 1, width)
    sheet.last_row = max(sheet.last_row, 2)
    return 3


def _form(sheet: SheetLayout, spec: dict, schema: Schema) -> None:
    row = _title(sheet, 2)
    sheet.widths.update({1: 34, 2: 90})
    for fact_id in spec["facts"]:
        fact = schema.facts[fact_id]
        sheet.label(row, 1, fact.labels[-1], "label")
        sheet.place(fact_id, row, 2)
        if fact.kind == "text":
            sheet.heights[row] = 320
        row += 1
    for setting in spec.get("settings", ()):
        sheet.label(row, 1, setting["title"], "label")
        sheet.settings[SETTING_PREFIX + setting["id"]] = (row, 2)
        sheet.last_row = max(sheet.last_row, row)
        row += 1
    sheet.header_rows = (1, 1)


def _blocks(sheet: SheetLayout, spec: dict, schema: Schema) -> None:
    root = spec["root"]
    node = schema.object(root)
    rows = schema.rows(root)
    width = 1 + max(len(schema.columns(f"{root}.{r}")) for r in rows)
    row = _title(sheet, width)
    sheet.widths.update({1: 30, **{c: 22 for c in range(2, width + 1)}})
    block = None
    for key in rows:
        path = f"{root}.{key}"
        obj = schema.object(path)
        cols = schema.columns(path)
        if obj.get("x-block") != block:
            block = obj.get("x-block")
            if not block:
                raise SchemaError(f"schema: {path} needs x-block")
            sheet.label(row, 1, block, "header", row, width)
            row += 1
            sheet.label(row, 1, node.get("x-row-header", ""), "header")
            for i, col in enumerate(cols):
                last = width if i == len(cols) - 1 else 2 + i
                sheet.label(row, 2 + i, schema.resolve(obj["properties"][col])["title"], "header", row, last)
            row += 1
        sheet.label(row, 1, obj["title"], "label")
        for i, col in enumerate(cols):
            sheet.place(f"{path}.{col}", row, 2 + i, width if i == len(cols) - 1 else 0)
        row += 1
    sheet.header_rows = (1, 1)


def _matrix(sheet: SheetLayout, spec: dict, schema: Schema) -> None:
    root = spec["root"]
    node = schema.object(root)
    rows = schema.rows(root)
    depth = max(r.count(".") + 1 for r in rows)
    cols = schema.columns(f"{root}.{rows[0]}")
    if any(schema.columns(f"{root}.{r}") != cols for r in rows):
        raise SchemaError(f"schema: the rows of {root} must share their columns")
    first_col = depth + 1
    width = depth + len(cols)
    top = _title(sheet, width)
    defs = [schema.resolve(schema.object(f"{root}.{rows[0]}")["properties"][c]) for c in cols]
    # header: the corner note, the table header, column groups, column titles
    sheet.label(top, 1, node.get("x-note", ""), "note", top + 2, depth)
    sheet.label(top, first_col, node.get("x-header", ""), "header", top, width)
    i = 0
    while i < len(cols):
        col = first_col + i
        group = defs[i].get("x-group")
        if not group:
            sheet.label(top + 1, col, defs[i]["title"], "header", top + 2, col)
            i += 1
            continue
        j = i
        while j < len(cols) and defs[j].get("x-group") == group:
            sheet.label(top + 2, first_col + j, defs[j]["title"], "header")
            j += 1
        sheet.label(top + 1, col, group, "header", top + 1, first_col + j - 1)
        i = j
    sheet.header_rows = (top, top + 2)
    # body: each row's own title at its depth; ancestors' titles merged down over their rows
    row = top + 3
    started: set[str] = set()
    for key in rows:
        parts = key.split(".")
        for level in range(1, len(parts)):
            ancestor = ".".join(parts[:level])
            if ancestor in started:
                continue
            started.add(ancestor)
            span = sum(1 for r in rows if r.startswith(ancestor + "."))
            sheet.label(row, level, schema.object(f"{root}.{ancestor}")["title"], "label", row + span - 1, level)
        title = schema.object(f"{root}.{key}")["title"]
        sheet.label(row, len(parts), title, "label", row, depth)
        lines = -(-len(title) // _CJK_PER_LINE[min(len(parts), depth)])
        if lines > 1:
            sheet.heights[row] = 14 * lines
        for i, col in enumerate(cols):
            sheet.place(f"{root}.{key}.{col}", row, first_col + i)
        row += 1
    sheet.widths.update({1: 14, 2: 16, depth: 2 * _CJK_PER_LINE[depth], **{first_col + i: 11 for i in range(len(cols))}})


_CJK_PER_LINE = {1: 30, 2: 30, 3: 24}  # label width in Chinese characters, by the label's column


def _column_groups(sheet: SheetLayout, spec: dict, schema: Schema) -> None:
    root = spec["root"]
    groups = schema.rows(root)
    width = sum(len(schema.columns(f"{root}.{g}")) for g in groups)
    top = _title(sheet, width)
    col = 1
    i = 0
    while i < len(groups):
        obj = schema.object(f"{root}.{groups[i]}")
        outer = obj.get("x-group")
        if not outer:
            n = len(schema.columns(f"{root}.{groups[i]}"))
            sheet.label(top, col, obj["title"], "header", top + 1, col + n - 1)
            spans = [(groups[i], col, n)]
            i += 1
        else:
            spans, start = [], col
            while i < len(groups) and schema.object(f"{root}.{groups[i]}").get("x-group") == outer:
                n = len(schema.columns(f"{root}.{groups[i]}"))
                sheet.label(top + 1, col, schema.object(f"{root}.{groups[i]}")["title"], "header", top + 1, col + n - 1)
                spans.append((groups[i], col, n))
                col += n
                i += 1
            sheet.label(top, start, outer, "header", top, col - 1)
            col = start
        for group, start, n in spans:
            group_obj = schema.object(f"{root}.{group}")
            for k, key in enumerate(schema.columns(f"{root}.{group}")):
                sheet.label(top + 2, start + k, schema.resolve(group_obj["properties"][key])["title"], "header")
                sheet.place(f"{root}.{group}.{key}", top + 3, start + k)
            col = start + n
    sheet.header_rows = (top, top + 2)
    sheet.widths.update({c: 10 for c in range(1, width + 1)})
    sheet.heights[top + 2] = 36


_SHAPES = {"form": _form, "blocks": _blocks, "matrix": _matrix, "column-groups": _column_groups}


@cache
def load_layout() -> Layout:
    schema = load_schema()
    sheets, cells = [], {}
    for spec in schema.sheets:
        sheet = SheetLayout(spec["name"], spec["title"], spec.get("orientation", "portrait"))
        try:
            _SHAPES[spec["layout"]](sheet, spec, schema)
        except KeyError as exc:
            raise SchemaError(f"schema: unknown layout {spec.get('layout')!r}") from exc
        for fact_id, (row, col) in sheet.facts.items():
            if fact_id in cells:
                raise SchemaError(f"schema: fact {fact_id} placed twice")
            cells[fact_id] = (sheet.name, row, col)
        sheets.append(sheet)
    missing = set(schema.facts) - set(cells)
    if missing:
        raise SchemaError(f"schema: facts on no sheet: {sorted(missing)}")
    return Layout(sheets, cells)


def formula(terms: tuple["Term", ...], sheet: str) -> str:
    """`=SUM(D7:D27)` where the parts are plain cells, runs of neighbours collapsed into ranges."""
    layout = load_layout()
    refs = []
    for term in terms:
        s, row, col = layout.cells[term.fact]
        refs.append((term.coef, s, row, col))
    if any(coef != 1 for coef, *_ in refs):
        body = "".join(f"{'+' if c > 0 else '-'}{'' if abs(c) == 1 else f'{abs(c)}*'}{_cell(s, r, k, sheet)}"
                       for c, s, r, k in refs)
        return "=" + body.lstrip("+")
    parts, i = [], 0
    while i < len(refs):
        _, s, r, k = refs[i]
        j = i
        while j + 1 < len(refs) and refs[j + 1][1] == s and (
            (refs[j + 1][2] == refs[j][2] + 1 and refs[j + 1][3] == k) or (refs[j + 1][3] == refs[j][3] + 1 and refs[j + 1][2] == r)
        ):
            j += 1
        start = _cell(s, r, k, sheet)
        parts.append(start if j == i else f"{start}:{a1(refs[j][2], refs[j][3])}")
        i = j + 1
    return f"=SUM({','.join(parts)})"


def _cell(sheet: str, row: int, col: int, here: str) -> str:
    return a1(row, col) if sheet == here else f"{quote_sheet(sheet)}!{a1(row, col)}"
