"""What the add-in needs from an open workbook, as a small interface, and its xlwings implementation.

The button logic (`excel`) and the worksheet functions (`udfs`) speak only to `SheetBook`, so they
run the same against Excel (through `XlwingsBook`, Windows only) and against an in-memory book in
the tests. Cells are `(sheet name, "A1")`; colours are "#RRGGBB" strings, None for no fill.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

_TARGET = re.compile(r"^=?(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Z]{1,3})\$?(\d+)$")

# A sheet's protection as the keyword arguments of Excel's Worksheet.Protect, each paired with the
# attribute of OOXML's <sheetProtection> that records it. OOXML says what is locked (1 = forbidden),
# Excel's Allow* arguments say what is allowed: hence `allowed` (Allow* = not locked).
PROTECT_OPTIONS = {
    "DrawingObjects": ("objects", False),
    "Scenarios": ("scenarios", False),
    "AllowFormattingCells": ("formatCells", True),
    "AllowFormattingColumns": ("formatColumns", True),
    "AllowFormattingRows": ("formatRows", True),
    "AllowInsertingColumns": ("insertColumns", True),
    "AllowInsertingRows": ("insertRows", True),
    "AllowInsertingHyperlinks": ("insertHyperlinks", True),
    "AllowDeletingColumns": ("deleteColumns", True),
    "AllowDeletingRows": ("deleteRows", True),
    "AllowSorting": ("sort", True),
    "AllowFiltering": ("autoFilter", True),
    "AllowUsingPivotTables": ("pivotTables", True),
}


def protection_options(sheet_protection: Any) -> dict[str, bool] | None:
    """Excel's Protect arguments for a sheet protected as an openpyxl `SheetProtection` says; None if unprotected.

    This is how the template's own protection (rows and columns may be resized) is carried over.
    """
    if not sheet_protection.sheet:
        return None
    options = {"Contents": True}
    for argument, (attribute, allowed) in PROTECT_OPTIONS.items():
        locked = bool(getattr(sheet_protection, attribute))
        options[argument] = not locked if allowed else locked
    return options


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

    def sheet_protection(self, sheet: str) -> dict[str, bool] | None:
        """The sheet's protection as Excel's Protect arguments (see PROTECT_OPTIONS); None if unprotected."""

    def protect_sheet(self, sheet: str, options: dict[str, bool] | None) -> None:
        """Protect with exactly these options (as `sheet_protection` gave them), or lift protection (None)."""

    def structure_protected(self) -> bool: ...

    def protect_structure(self, on: bool) -> None: ...

    def add_sheet(self, name: str, hidden: bool = False) -> None: ...

    def delete_sheet(self, name: str) -> None: ...

    def write_rows(self, sheet: str, rows: list[list[Any]], links: dict[tuple[int, int], str]) -> None:
        """Write rows from A1; `links` puts a hyperlink to `'sheet'!A1` on the (row, column) given (1-based)."""

    def read_rows(self, sheet: str) -> list[list[Any]]: ...

    def tell(self, message: str) -> None:
        """Show the user a short message (a message box)."""


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

    def sheet_protection(self, sheet: str) -> dict[str, bool] | None:
        api = self.book.sheets[sheet].api
        if not api.ProtectContents:
            return None
        options = {"Contents": True, "DrawingObjects": bool(api.ProtectDrawingObjects),
                   "Scenarios": bool(api.ProtectScenarios)}
        for argument in PROTECT_OPTIONS:
            if argument.startswith("Allow"):
                options[argument] = bool(getattr(api.Protection, argument))
        return options

    def protect_sheet(self, sheet: str, options: dict[str, bool] | None) -> None:
        api = self.book.sheets[sheet].api
        api.Unprotect() if options is None else api.Protect(**options)

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
        # a message box only: the status bar belongs to the ribbon callback, which shows 正在校验… while
        # Python runs and puts the bar back afterwards
        self.book.app.alert(message, self.TITLE)
