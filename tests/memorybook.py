"""An in-memory `SheetBook`: a filled template as Excel would hold it open, for the add-in's tests.

Built from a real .xlsx made by the project's `fill`: values, fills, notes, protection (with its
options) and names come from the file (read with openpyxl); the template's sum formulas get the
values a spreadsheet computes. It records every write and every protect call, so tests can prove
what the add-in touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl

from xxgk.layout import load_layout
from xxgk.rules import load_rules
from xxgk.sheetbook import protection_options


class MemoryBook:
    def __init__(self, path: Path | None = None):
        self.path = str(path) if path else None
        self.values: dict[tuple[str, str], Any] = {}
        self.fills: dict[tuple[str, str], str] = {}
        self.notes: dict[tuple[str, str], str] = {}
        self.sheets: list[str] = []
        self.hidden: set[str] = set()
        self.protected: set[str] = set()
        self.protection: dict[str, dict[str, bool]] = {}  # sheet -> Excel's Protect options in force
        self.protect_calls: list[tuple[str, dict[str, bool] | None]] = []
        self.structure = False
        self.names: dict[str, str] = {}
        self.links: dict[tuple[str, int, int], str] = {}
        self.rows: dict[str, list[list[Any]]] = {}
        self.messages: list[str] = []
        self.value_writes: list[tuple[str, str]] = []

    @classmethod
    def from_xlsx(cls, path: Path) -> MemoryBook:
        book = cls(path)
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            book.sheets.append(ws.title)
            if ws.sheet_state != "visible":
                book.hidden.add(ws.title)
            if ws.protection.sheet:
                book.protected.add(ws.title)
                book.protection[ws.title] = protection_options(ws.protection)
            for row in ws.iter_rows():
                for cell in row:
                    key = (ws.title, cell.coordinate)
                    value = cell.value
                    if isinstance(value, str) and value.startswith("=") and cell.data_type == "f":
                        value = None  # the template's sums: computed below, as a spreadsheet does
                    if value is not None:
                        book.values[key] = value
                    if cell.fill is not None and cell.fill.fill_type == "solid":
                        book.fills[key] = "#" + str(cell.fill.fgColor.rgb)[-6:].upper()
                    if cell.comment is not None:
                        book.notes[key] = cell.comment.text
            if ws.title == "_xxgk":  # the identity sheet, as the add-in reads it (read_rows)
                book.rows[ws.title] = [[c.value for c in r] for r in ws.iter_rows()]
        book.structure = bool(wb.security and wb.security.lockStructure)
        book.names = {name: dn.attr_text for name, dn in wb.defined_names.items()}
        book._recalculate()
        return book

    # -- SheetBook -------------------------------------------------------------------------------
    def sheet_names(self) -> list[str]:
        return list(self.sheets)

    def defined_names(self) -> dict[str, str]:
        return dict(self.names)

    def get_value(self, sheet: str, cell: str) -> Any:
        return self.values.get((sheet, cell))

    def get_fill(self, sheet: str, cell: str) -> str | None:
        return self.fills.get((sheet, cell))

    def set_fill(self, sheet: str, cell: str, color: str | None) -> None:
        self._editable(sheet)
        if color is None:
            self.fills.pop((sheet, cell), None)
        else:
            self.fills[(sheet, cell)] = color

    def get_note(self, sheet: str, cell: str) -> str | None:
        return self.notes.get((sheet, cell))

    def set_note(self, sheet: str, cell: str, text: str | None) -> None:
        self._editable(sheet)
        if text is None:
            self.notes.pop((sheet, cell), None)
        else:
            self.notes[(sheet, cell)] = text

    def sheet_protection(self, sheet: str) -> dict[str, bool] | None:
        return dict(self.protection[sheet]) if sheet in self.protected else None

    def protect_sheet(self, sheet: str, options: dict[str, bool] | None) -> None:
        self.protect_calls.append((sheet, None if options is None else dict(options)))
        if options is None:
            self.protected.discard(sheet)
            self.protection.pop(sheet, None)
        else:
            self.protected.add(sheet)
            self.protection[sheet] = dict(options)

    def structure_protected(self) -> bool:
        return self.structure

    def protect_structure(self, on: bool) -> None:
        self.structure = on

    def add_sheet(self, name: str, hidden: bool = False) -> None:
        if self.structure:
            raise PermissionError("workbook structure is protected")
        assert name not in self.sheets
        self.sheets.append(name)
        if hidden:
            self.hidden.add(name)

    def delete_sheet(self, name: str) -> None:
        if self.structure:
            raise PermissionError("workbook structure is protected")
        self.sheets.remove(name)
        self.hidden.discard(name)
        self.rows.pop(name, None)
        self.links = {k: v for k, v in self.links.items() if k[0] != name}

    def write_rows(self, sheet: str, rows: list[list[Any]], links: dict[tuple[int, int], str]) -> None:
        self._editable(sheet)
        self.rows[sheet] = [list(r) for r in rows]
        for (row, col), address in links.items():
            self.links[(sheet, row, col)] = address

    def read_rows(self, sheet: str) -> list[list[Any]]:
        return [list(r) for r in self.rows.get(sheet, [])]

    def tell(self, message: str) -> None:
        self.messages.append(message)

    def _editable(self, sheet: str) -> None:
        if sheet in self.protected:
            raise PermissionError(f"sheet {sheet} is protected")

    # -- for the tests: changing a value as the clerk would type it ------------------------------
    def type_value(self, fact_id: str, value: Any) -> None:
        """Type into a fact's cell; the template's sums recalculate as a spreadsheet's SUM does."""
        self.values[self._cell(fact_id)] = value
        self._recalculate()

    def _recalculate(self) -> None:
        computed = load_rules().computed()

        def total(fid: str) -> float:
            if fid not in computed:
                v = self.values.get(self._cell(fid))
                return v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0  # SUM skips text
            return sum(t.coef * total(t.fact) for t in computed[fid])

        for fid in computed:
            self.values[self._cell(fid)] = total(fid)

    @staticmethod
    def _cell(fact_id: str) -> tuple[str, str]:
        sheet, row, col = load_layout().cells[fact_id]
        return sheet, f"{openpyxl.utils.get_column_letter(col)}{row}"
