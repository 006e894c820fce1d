"""What the add-in needs from an open workbook, as a small interface, and its xlwings implementation.

The button logic (`excel`) and the worksheet functions (`udfs`) speak only to `SheetBook`, so they
run the same against Excel (through `XlwingsBook`, Windows only) and against an in-memory book in
the tests. Cells are `(sheet name, "A1")`; colours are "#RRGGBB" strings, None for no fill.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

_TARGET = re.compile(r"^=?(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Z]{1,3})\$?(\d+)$")


def parse_target(target: str) -> tuple[str, str] | None:
    """`='表三 依申请公开'!$D$6` -> ("表三 依申请公开", "D6"); None for anything but one cell."""
    match = _TARGET.match(target.strip())
    if not match:
        return None
    sheet = (match.group(1) or "").replace("''", "'") or match.group(2)
    return sheet, f"{match.group(3)}{match.group(4)}"


class SheetBook(Protocol):
    """An open workbook, as far as the add-in touches it. Values are read, never written."""

    @property
    def path(self) -> str | None: ...

    def sheet_names(self) -> list[str]: ...

    def defined_names(self) -> dict[str, str]: ...

    def get_value(self, sheet: str, cell: str) -> Any: ...

    def get_fill(self, sheet: str, cell: str) -> str | None: ...

    def set_fill(self, sheet: str, cell: str, color: str | None) -> None: ...

    def get_note(self, sheet: str, cell: str) -> str | None: ...

    def set_note(self, sheet: str, cell: str, text: str | None) -> None: ...

    def sheet_protected(self, sheet: str) -> bool: ...

    def protect_sheet(self, sheet: str, on: bool) -> None: ...

    def structure_protected(self) -> bool: ...

    def protect_structure(self, on: bool) -> None: ...

    def add_sheet(self, name: str, hidden: bool = False) -> None: ...

    def delete_sheet(self, name: str) -> None: ...

    def write_rows(self, sheet: str, rows: list[list[Any]], links: dict[tuple[int, int], str]) -> None:
        """Write rows from A1; `links` puts a hyperlink to `'sheet'!A1` on the (row, column) given (1-based)."""

    def read_rows(self, sheet: str) -> list[list[Any]]: ...

    def tell(self, message: str) -> None:
        """Show the user a short message (status bar and a message box)."""


class XlwingsBook:
    """`SheetBook` over an xlwings Book in Windows Excel. Only a Windows Excel can run this class."""

    TITLE = "政府信息公开年报"

    def __init__(self, book: Any):
        self.book = book
        self._grids: dict[str, tuple[int, int, list[list[Any]]]] = {}

    @property
    def path(self) -> str | None:
        return self.book.fullname if self.book.fullname and "\\" in self.book.fullname else None

    def sheet_names(self) -> list[str]:
        return [s.name for s in self.book.sheets]

    def defined_names(self) -> dict[str, str]:
        return {n.name: n.refers_to for n in self.book.names}

    def get_value(self, sheet: str, cell: str) -> Any:
        # one call per sheet for the used range, then cells from memory: a UDF reads 200 cells
        if sheet not in self._grids:
            used = self.book.sheets[sheet].used_range
            values = used.options(ndim=2, err_to_str=True).value
            self._grids[sheet] = (used.row, used.column, values)
        top, left, values = self._grids[sheet]
        row, col = self.book.sheets[sheet].range(cell).row, self.book.sheets[sheet].range(cell).column
        try:
            return values[row - top][col - left]
        except IndexError:
            return None

    def get_fill(self, sheet: str, cell: str) -> str | None:
        color = self.book.sheets[sheet].range(cell).color
        return None if color is None else "#%02X%02X%02X" % tuple(color)

    def set_fill(self, sheet: str, cell: str, color: str | None) -> None:
        self.book.sheets[sheet].range(cell).color = color

    def get_note(self, sheet: str, cell: str) -> str | None:
        note = self.book.sheets[sheet].range(cell).note
        return None if note is None else note.text

    def set_note(self, sheet: str, cell: str, text: str | None) -> None:
        rng = self.book.sheets[sheet].range(cell)
        if rng.note is not None:
            rng.note.delete()
        if text is not None:
            rng.api.AddComment(text)

    def sheet_protected(self, sheet: str) -> bool:
        return bool(self.book.sheets[sheet].api.ProtectContents)

    def protect_sheet(self, sheet: str, on: bool) -> None:
        api = self.book.sheets[sheet].api
        api.Protect() if on else api.Unprotect()

    def structure_protected(self) -> bool:
        return bool(self.book.api.ProtectStructure)

    def protect_structure(self, on: bool) -> None:
        self.book.api.Protect(Structure=True) if on else self.book.api.Unprotect()

    def add_sheet(self, name: str, hidden: bool = False) -> None:
        sheet = self.book.sheets.add(name, after=self.book.sheets[-1])
        if hidden:
            sheet.api.Visible = 2  # xlSheetVeryHidden

    def delete_sheet(self, name: str) -> None:
        self.book.sheets[name].delete()

    def write_rows(self, sheet: str, rows: list[list[Any]], links: dict[tuple[int, int], str]) -> None:
        target = self.book.sheets[sheet]
        width = max(len(r) for r in rows)
        target.range("A1").value = [r + [None] * (width - len(r)) for r in rows]
        for (row, col), address in links.items():
            target.range((row, col)).add_hyperlink("#" + address, address)

    def read_rows(self, sheet: str) -> list[list[Any]]:
        return self.book.sheets[sheet].used_range.options(ndim=2).value

    def tell(self, message: str) -> None:
        self.book.app.status_bar = message
        self.book.app.alert(message, self.TITLE)
