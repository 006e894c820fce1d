"""The locked Excel template, rendered from the layout with openpyxl; filling it is the same code with values.

The output is byte-for-byte reproducible (fixed zip timestamps and document dates), so the committed
`templates/report_template.xlsx` can be compared with what the code builds.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from .checks import FIRST_ROW as FIRST_CHECK_ROW
from .checks import HEADER as CHECK_HEADER
from .checks import NUMBER_COL
from .checks import SHEET as CHECK_SHEET
from .checks import STATUS, load_checks
from .checks import flags as check_flags
from .findings import SEVERITY_LABEL
from .layout import META_SHEET, Layout, SheetLayout, a1, column_letter, formula, load_layout, name_for, quote_sheet
from .report import without_controls
from .rules import load_rules
from .schema import load_schema

FIXED_TIME = (2021, 9, 26, 0, 0, 0)  # the date of 国办公开办函〔2021〕30号
_FIXED_ISO = "2021-09-26T00:00:00Z"

_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_BODY_FONT = "宋体"
_STYLES = {
    "title": dict(font=Font(name="黑体", size=14, bold=True), alignment=Alignment(horizontal="center", vertical="center")),
    "header": dict(font=Font(name=_BODY_FONT, size=10, bold=True), border=_BORDER,
                   fill=PatternFill("solid", fgColor="F2F2F2"),
                   alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
    "label": dict(font=Font(name=_BODY_FONT, size=10), border=_BORDER,
                  alignment=Alignment(horizontal="left", vertical="center", wrap_text=True)),
    "note": dict(font=Font(name=_BODY_FONT, size=9), border=_BORDER,
                 alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
    "input": dict(font=Font(name=_BODY_FONT, size=10), border=_BORDER, fill=PatternFill("solid", fgColor="FFF2CC"),
                  alignment=Alignment(horizontal="center", vertical="center"), protection=Protection(locked=False)),
    "text": dict(font=Font(name="仿宋", size=12), border=_BORDER, fill=PatternFill("solid", fgColor="FFF2CC"),
                 alignment=Alignment(horizontal="left", vertical="top", wrap_text=True), protection=Protection(locked=False)),
    "computed": dict(font=Font(name=_BODY_FONT, size=10, bold=True), border=_BORDER,
                     fill=PatternFill("solid", fgColor="DDEBF7"), alignment=Alignment(horizontal="center", vertical="center")),
    "const": dict(font=Font(name=_BODY_FONT, size=10), border=_BORDER, alignment=Alignment(horizontal="left", vertical="center")),
    "status": dict(font=Font(name="黑体", size=11, bold=True, color="1F4E79"),
                   alignment=Alignment(horizontal="left", vertical="center")),
    "check": dict(font=Font(name=_BODY_FONT, size=10), border=_BORDER,
                  alignment=Alignment(horizontal="left", vertical="center")),
    "explain": dict(font=Font(name=_BODY_FONT, size=10), alignment=Alignment(horizontal="left", vertical="top", wrap_text=True)),
}
_FAIL_FILL = {"error": PatternFill("solid", fgColor="FF8B8B", bgColor="FF8B8B"),
              "warning": PatternFill("solid", fgColor="FFC000", bgColor="FFC000")}

_VALIDATION = {
    "count": dict(type="whole", operator="greaterThanOrEqual", formula1="0",
                  prompt="填写不小于 0 的整数。没有发生的事项填 0，不要留空，也不要填“/”“无”或带单位。",
                  error="这里只能填不小于 0 的整数（没有发生的填 0）。"),
    "amount": dict(type="decimal", operator="greaterThanOrEqual", formula1="0",
                   prompt="填写不小于 0 的数，可以有小数。没有发生的填 0。",
                   error="这里只能填不小于 0 的数（没有发生的填 0）。"),
    "integer": dict(type="whole", operator="between", formula1="2021", formula2="2100",
                    prompt="填写报告所属年度，如 2024（2021 年及以后使用本格式）。",
                    error="年度应为 2021 至 2100 之间的整数。"),
    "string": dict(type="textLength", operator="lessThanOrEqual", formula1="200",
                   prompt="按机关全称填写。", error="文字过长（最多 200 字）。"),
    "text": dict(type="textLength", operator="lessThanOrEqual", formula1="32767",
                 prompt="填写本部分正文。文中的数字应与表格一致。", error="单元格最多 32767 字。"),
}


def _style(cell, role: str) -> None:
    for attr, value in _STYLES[role].items():
        setattr(cell, attr, value)


def _render_sheet(ws, sheet: SheetLayout, values: dict[str, Any], computed: dict, layout: Layout,
                  locked: frozenset[str], settings: dict[str, Any]) -> None:
    schema = load_schema()
    for label in sheet.labels:
        cell = ws.cell(label.row, label.col, label.text)
        if label.to_row or label.to_col:
            ws.merge_cells(start_row=label.row, start_column=label.col, end_row=label.to_row, end_column=label.to_col)
            for row in ws.iter_rows(min_row=label.row, max_row=label.to_row, min_col=label.col, max_col=label.to_col):
                for c in row:
                    _style(c, label.role)
        else:
            _style(cell, label.role)
    row, col, last_col = sheet.status
    ws.cell(row, col, f"={quote_sheet(CHECK_SHEET)}!$A$2")
    ws.merge_cells(start_row=row, start_column=col, end_row=row, end_column=last_col)
    _style(ws.cell(row, col), "status")
    flags = check_flags()
    validations: dict[str, DataValidation] = {}
    for fact_id, (row, col) in sheet.facts.items():
        for severity, condition in zip(("error", "warning"), flags.get(fact_id, ("", "")), strict=True):
            if condition:
                ws.conditional_formatting.add(a1(row, col), FormulaRule(formula=[condition], fill=_FAIL_FILL[severity],
                                                                        stopIfTrue=True))
        fact = schema.facts[fact_id]
        cell = ws.cell(row, col)
        if fact_id in computed:
            cell.value = formula(computed[fact_id], sheet.name)
            role = "computed"
        elif fact.kind == "const":
            cell.value = fact.node["const"]
            role = "const"
        else:
            role = "text" if fact.kind == "text" else "input"
            if fact_id in values and values[fact_id] is not None:
                value = values[fact_id]
                cell.value = without_controls(value) if isinstance(value, str) else value  # validate calls them errors
                if isinstance(value, str):
                    cell.data_type = "s"  # text stays text, even when it starts with "="
            if fact_id in locked:
                role = "const"  # given, not to be typed over: locked, no input validation
            else:
                dv = validations.get(fact.kind)
                if dv is None:
                    spec = _VALIDATION[fact.kind]
                    dv = DataValidation(allow_blank=True, showInputMessage=True, showErrorMessage=True,
                                        promptTitle="填写说明", errorTitle="输入有误", errorStyle="stop", **spec)
                    validations[fact.kind] = dv
                dv.add(cell.coordinate)
        last = sheet.value_merge.get(fact_id)
        if last:
            ws.merge_cells(start_row=row, start_column=col, end_row=row, end_column=last)
            for c in range(col, last + 1):
                _style(ws.cell(row, c), role)
        else:
            _style(cell, role)
    for key, (row, col) in sheet.settings.items():
        value = settings.get(key)
        if value is not None:
            ws.cell(row, col, without_controls(value) if isinstance(value, str) else value)
            if isinstance(value, str):
                ws.cell(row, col).data_type = "s"
        _style(ws.cell(row, col), "input")
        ws.cell(row, col).alignment = Alignment(horizontal="left", vertical="center")
    for dv in validations.values():
        ws.add_data_validation(dv)
    for col, width in sheet.widths.items():
        ws.column_dimensions[a1(1, col)[:-1]].width = width
    for row, height in sheet.heights.items():
        ws.row_dimensions[row].height = height
    for row, height in _label_heights(sheet).items():
        ws.row_dimensions[row].height = height
    printed = _render_print_copy(ws, sheet, values)
    # print on A4 as the official tables look
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = sheet.orientation
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    first, last_header = sheet.header_rows
    if printed:  # the texts print from their print copy; the title and status repeat on each page
        ws.print_area = f"A{printed[0]}:{a1(printed[1], sheet.last_col)}"
        ws.print_title_rows = "1:2"
    else:
        ws.print_area = f"A1:{a1(sheet.last_row, sheet.last_col)}"
        ws.print_title_rows = f"{first}:{last_header}"
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


LABEL_LINE_PT = 15  # one wrapped line of a 10-pt label, with LibreOffice's and WPS's leading
LABEL_CJK_WIDTH = 2.1  # column-width units (Excel's, Calibri 11 digits) one 10-pt Chinese character takes


def label_lines(text: str, width: float) -> int:
    """How many lines a wrapped 10-pt label takes in a column `width` wide (Chinese counts double)."""
    per_line = max(1, int(width / LABEL_CJK_WIDTH))
    units = sum(1 if ord(ch) > 0x2E80 else 0.5 for ch in text)
    return max(1, -(-int(units * 2) // (per_line * 2)))


def _label_heights(sheet: SheetLayout) -> dict[int, float]:
    """Rows of a form sheet whose label wraps: tall enough for every line (no row grows by itself in Excel)."""
    heights = {}
    for label in sheet.labels:
        if label.role != "label" or label.to_row or label.row in sheet.heights:
            continue
        lines = label_lines(label.text, sheet.widths.get(label.col, 8.43))
        if lines > 1:
            heights[label.row] = LABEL_LINE_PT * lines + 4
    return heights


PRINT_LINE = 36  # characters on one printed line of a text: 仿宋 12pt in column B (about 40 fit; a line that
                 # a wider font makes too long shrinks to fit)
PRINT_LINE_PT = 16.5  # the height of one printed line
PRINT_SPARE = 60  # printed lines per text in a template without the text (about 2,000 characters)
PRINT_MORE = 5  # lines left free under a filled text, for a few more sentences typed later
PRINT_CACHE = "_xxgk_print_cache"  # attribute of the workbook holding the print copy's saved text
_START_COL, _TAKEN_COL = 3, 4  # hidden helper columns of the print copy: where a line starts, how much it takes
_OVERFLOW = "（正文超出打印稿的行数，以上未印完：请用 xxgk fill 重新生成工作簿，或复制全文打印）"


def print_lines(text: str, size: int = PRINT_LINE) -> list[str]:
    """The text as the print copy's formulas cut it: at each line break, and after `size` characters."""
    out, start = [], 0
    while start < len(text):
        window = text[start:start + size]
        cut = window.find("\n")
        if cut >= 0:
            out.append(window[:cut])
            start += cut + 1
        else:
            out.append(window)
            start += size
    return out


def _line_formulas(text_cell: str, row: int) -> tuple[str, str]:
    """Characters taken and text of one printed line, as formulas over the text cell (Excel, WPS, LibreOffice)."""
    t, c = text_cell, a1(row, _START_COL)
    window = f"MID({t},{c},{PRINT_LINE})"
    cut = f"IFERROR(FIND(CHAR(10),{window}),0)"
    taken = f"=IF({cut}>0,{cut},{PRINT_LINE})"
    text = f'=IF({c}>LEN({t}),"",IF({cut}>0,LEFT({window},{cut}-1),{window}))'
    return taken, text


def _render_print_copy(ws, sheet: SheetLayout, values: dict[str, Any]) -> tuple[int, int] | None:
    """Below a sheet with long texts, the copy that prints: each text cut into lines, one row per line.

    A cell holds up to 32,767 characters, but a row is at most 409 pt high and never breaks across
    pages, so a long text in one cell is cut off on paper. The print copy cuts each text with
    formulas (so text typed later prints too) into lines of at most PRINT_LINE characters, one row
    each, all of one fixed height: nothing depends on a program fitting rows to text (LibreOffice
    does not on opening a file, Excel not for formula results). `fill` gives each text as many
    lines as it needs (and saves their text, for programs that show saved values); the template
    has PRINT_SPARE per text, and a line under each text says when it did not all fit.
    The cells people type in stay where they were. Returns the first and last row to print.
    """
    schema = load_schema()
    texts = [f for f in sheet.facts if schema.facts[f].kind == "text"]
    if not texts:
        return None
    note = sheet.last_row + 2
    ws.cell(note, 1, "打印稿：以下由上面各格自动生成，无需填写；打印本表时只印这一部分（正文按行排开，长文也能完整印出）")
    ws.merge_cells(start_row=note, start_column=1, end_row=note, end_column=sheet.last_col)
    _style(ws.cell(note, 1), "explain")
    ws.row_dimensions[note].height = 30
    row = first = note + 1
    cache: dict[str, str] = {}  # saved values of the print copy's lines, written by reproducible_bytes
    side = Side(style="thin", color="000000")
    width = sheet.widths.get(1, 8.43)
    for fact_id, (fact_row, fact_col) in sheet.facts.items():
        label = next(lb.text for lb in sheet.labels if lb.row == fact_row and lb.col < fact_col)
        source = a1(fact_row, fact_col, absolute=True)
        if fact_id not in texts:
            _style(ws.cell(row, 1, label), "label")
            _style(ws.cell(row, fact_col, f'=IF(ISBLANK({source}),"",{source})'), "const")
            ws.row_dimensions[row].height = max(PRINT_LINE_PT, LABEL_LINE_PT * label_lines(label, width) + 4)
            row += 1
            continue
        text = values.get(fact_id)
        lines = print_lines(text) if isinstance(text, str) else []
        count = max(len(lines) + PRINT_MORE, label_lines(label, width) + 1) if lines else PRINT_SPARE
        for k in range(count):
            r = row + k
            taken, line = _line_formulas(source, r)
            ws.cell(r, _START_COL, "=1" if k == 0 else f"={a1(r - 1, _START_COL)}+{a1(r - 1, _TAKEN_COL)}")
            ws.cell(r, _TAKEN_COL, taken)
            cell = ws.cell(r, fact_col, line)
            if lines:
                cache[cell.coordinate] = lines[k] if k < len(lines) else ""
            cell.font = _STYLES["text"]["font"]
            cell.alignment = Alignment(horizontal="left", vertical="center", shrink_to_fit=True)
            cell.border = Border(left=side, right=side, top=side if k == 0 else None)
            ws.row_dimensions[r].height = PRINT_LINE_PT
        end = row + count  # the line saying whether the text did not all fit
        last = a1(end - 1, _START_COL)
        ws.cell(end, fact_col, f'=IF({last}+{a1(end - 1, _TAKEN_COL)}<=LEN({source}),"{_OVERFLOW}","")')
        if lines:
            cache[a1(end, fact_col)] = ""
        ws.cell(end, fact_col).font = Font(name=_BODY_FONT, size=10, bold=True, color="C00000")
        ws.cell(end, fact_col).alignment = Alignment(horizontal="left", vertical="center", shrink_to_fit=True)
        ws.cell(end, fact_col).border = Border(left=side, right=side, bottom=side)
        ws.row_dimensions[end].height = PRINT_LINE_PT
        ws.cell(row, 1, label)
        ws.merge_cells(start_row=row, start_column=1, end_row=end, end_column=1)
        for r in range(row, end + 1):
            ws.cell(r, 1).border = Border(left=side, right=side, top=side if r == row else None,
                                          bottom=side if r == end else None)
        ws.cell(row, 1).font = _STYLES["label"]["font"]
        ws.cell(row, 1).alignment = Alignment(horizontal="left", vertical="top", wrap_text=True)
        row = end + 1
    for col in (_START_COL, _TAKEN_COL):
        ws.column_dimensions[a1(1, col)[:-1]].hidden = True
    if cache:
        setattr(ws.parent, PRINT_CACHE, {**getattr(ws.parent, PRINT_CACHE, {}), ws.title: cache})
    return first, row - 1


def build(values: dict[str, Any] | None = None) -> bytes:
    """The template as .xlsx bytes; with `values` (fact id -> value), a filled copy.

    Facts the template computes (sums) are always formulas; values given for them are not written,
    and the formulas are saved with the value a spreadsheet computes, as Excel saves them.
    """
    return reproducible_bytes(build_workbook(values), cached_sums(values or {}))


def build_workbook(values: dict[str, Any] | None = None, locked: frozenset[str] = frozenset(),
                   settings: dict[str, Any] | None = None, local: tuple[dict, ...] = ()) -> Workbook:
    """The template (filled with `values`) as an openpyxl workbook, for callers that add sheets.

    `locked`: input facts whose value is given and must not be changed (e.g. last year's carry-over);
    `settings`: values of the setting cells (e.g. "setting.prior_file");
    `local`: checked local rule files (see localrules): their formula rules join the 校验 sheet and the
    files are embedded in the identity sheet, so every later step applies them.
    """
    values = values or {}
    layout = load_layout()
    computed = load_rules().computed()
    wb = Workbook()
    wb.remove(wb.active)
    for sheet in layout.sheets:
        _render_sheet(wb.create_sheet(sheet.name), sheet, values, computed, layout, locked, settings or {})
    _render_checks(wb.create_sheet(CHECK_SHEET), local)
    from . import review

    review.render(wb.create_sheet(review.SHEET))  # 复核说明: explanations of warnings, see `review`
    for fact_id, (sheet, row, col) in {**layout.cells, **layout.settings}.items():
        name = name_for(fact_id)
        wb.defined_names[name] = DefinedName(name, attr_text=f"{quote_sheet(sheet)}!{a1(row, col, absolute=True)}")
    meta = wb.create_sheet(META_SHEET)
    for key, value in template_identity().items():
        meta.append([key, value])
    if local:
        from .localrules import embed_rows

        for key_value in embed_rows(local):
            meta.append(key_value)
            meta.cell(meta.max_row, 2).data_type = "s"  # a JSON chunk may start with "=": text, never a formula
    meta.sheet_state = "veryHidden"
    meta.protection.sheet = True
    wb.security = WorkbookProtection(lockStructure=True)
    wb.properties.title = "政府信息公开工作年度报告"
    wb.properties.subject = "国办公开办函〔2021〕30号"
    wb.properties.creator = "xxgk"
    wb.active = 0
    return wb


_CHECK_WIDTHS = (6, 28, 6, 72, 8, 8, 10, 80)
_CHECK_WIDTH = sum(_CHECK_WIDTHS)


def _render_checks(ws, local: tuple[dict, ...] = ()) -> None:
    """The check sheet (see `checks`): one row per rule instance and per cell, statuses as formulas."""
    if local:
        from .checks import build_checks
        from .localrules import combined

        sheet = build_checks(load_rules(), combined(local))
    else:
        sheet = load_checks()
    width = len(CHECK_HEADER)
    ws.cell(1, 1, "校验：勾稽关系与填写规范（本表由公式自动计算，无需填写）")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    _style(ws.cell(1, 1), "title")
    ws.cell(2, 1, sheet.overall)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    _style(ws.cell(2, 1), "status")
    ws.cell(3, 1, sheet.elsewhere)
    ws.merge_cells(start_row=3, start_column=1, end_row=3, end_column=width)
    _style(ws.cell(3, 1), "explain")
    ws.row_dimensions[3].height = LABEL_LINE_PT * label_lines(sheet.elsewhere, _CHECK_WIDTH) + 6
    for col, text in enumerate(CHECK_HEADER, 1):
        _style(ws.cell(4, col, text), "header")
    layout = load_layout()
    for i, row in enumerate(sheet.rows):
        r = sheet.row_of(i)
        cells = "、".join(layout.ref(f) for f in row.facts[:6]) + (f" 等 {len(row.facts)} 处" if len(row.facts) > 6 else "")
        values = (i + 1, row.rule, SEVERITY_LABEL[row.severity], row.statement, row.actual, row.expected, row.status, cells)
        for col, value in enumerate(values, 1):
            cell = ws.cell(r, col, value)
            if isinstance(value, str) and not value.startswith("="):  # text stays text
                cell.data_type = "s"
            _style(cell, "check")
        if row.number:
            ws.cell(r, NUMBER_COL, row.number)
    ws.column_dimensions[a1(1, NUMBER_COL)[:-1]].hidden = True
    status = f"{a1(FIRST_CHECK_ROW, 7)}:{a1(FIRST_CHECK_ROW + len(sheet.rows) - 1, 7)}"
    for text, fill in ((STATUS["error"], "FF8B8B"), (STATUS["warning"], "FFC000"), (STATUS["blank"], "FFF2CC"),
                       (STATUS["invalid"], "FF8B8B"), (STATUS["pass"], "C6EFCE")):
        ws.conditional_formatting.add(status, CellIsRule(operator="equal", formula=[f'"{text}"'],
                                                         fill=PatternFill("solid", fgColor=fill, bgColor=fill)))
    for col, width_chars in zip(range(1, width + 1), _CHECK_WIDTHS, strict=True):
        ws.column_dimensions[a1(1, col)[:-1]].width = width_chars
    ws.freeze_panes = "A5"
    ws.page_margins.left = ws.page_margins.right = 0.4
    # Not part of the printed report: "print the whole workbook" (Excel, WPS) and LibreOffice's print and
    # PDF export take every visible sheet, and visibility is the one setting all three honour (no print
    # area here: LibreOffice prints a hidden sheet that has one). Shown again with 右键工作表标签 →
    # 取消隐藏, it prints on its own (打印活动工作表), one page wide.
    ws.sheet_state = "hidden"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "4:4"
    ws.protection.sheet = True


def template_identity() -> dict[str, str]:
    """What the hidden sheet records: the format and fingerprints of the layout and the rules."""
    layout = load_layout()
    return {
        "format": "2021",
        "version": layout.fingerprint()[:12],
        "layout": layout.fingerprint(),
        "schema": load_schema().fingerprint(),
        "ruleset": load_rules().version,
    }


def cached_sums(values: dict[str, Any]) -> dict[str, int | float]:
    """What a spreadsheet shows in the template's sum cells: SUM adds numbers and skips text and TRUE/FALSE."""
    rules = load_rules()

    def number(fact_id: str) -> int | float:
        value = values.get(fact_id)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    return {fact_id: sum(number(leaf) for leaf in rules.leaves(fact_id)) for fact_id in rules.computed()}


def _with_cached_sums(part: str, data: bytes, cells: dict[str, dict[str, Any]]) -> bytes:
    """Write the saved value of each formula given (sums, the print copy's text), as a spreadsheet does when
    it saves (openpyxl does not): a program that shows saved values, and fits rows to them, needs them."""
    from xml.sax.saxutils import escape

    for coordinate, value in cells.get(part, {}).items():
        if isinstance(value, str):
            kind, saved = b' t="str"', escape(_XML_UNSAFE.sub("\ufffd", value)).encode()
        else:
            kind, saved = b"", repr(value).encode()
        data, n = re.subn(rb'(<c r="' + coordinate.encode() + rb'")([^>]*>)(<f>[^<]*</f>)(?:<v\s*/>|<v></v>)',
                          lambda m: m.group(1) + kind + m.group(2) + m.group(3) + b"<v>" + saved + b"</v>", data)
        if n != 1:
            raise RuntimeError(f"template: sum cell {coordinate} not found in {part}")
    return data


def reproducible_bytes(wb: Workbook, sums: dict[str, Any] | None = None,
                       sheets: dict[str, Iterable[bytes]] | None = None) -> bytes:
    """Save with fixed zip timestamps and document dates: the same workbook always gives the same bytes.

    `sums` (fact id -> value, see `cached_sums`) are stored as the sum cells' saved values; `sheets`
    (title -> worksheet XML, see `formed_sheet_xml`) replace the content of those (empty) sheets.
    """
    raw = io.BytesIO()
    wb.save(raw)
    replaced = {f"xl/worksheets/sheet{wb.sheetnames.index(title) + 1}.xml": xml for title, xml in (sheets or {}).items()}
    cells: dict[str, dict[str, Any]] = {}
    for title, saved in getattr(wb, PRINT_CACHE, {}).items():  # the print copy's text (see _render_print_copy)
        cells.setdefault(f"xl/worksheets/sheet{wb.sheetnames.index(title) + 1}.xml", {}).update(saved)
    for fact_id, value in (sums or {}).items():
        sheet, row, col = load_layout().cells[fact_id]
        part = f"xl/worksheets/sheet{wb.sheetnames.index(sheet) + 1}.xml"  # openpyxl's naming, in sheet order
        cells.setdefault(part, {})[a1(row, col)] = value
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            if info.filename in replaced:  # streamed: never the whole sheet in memory
                with dst.open(fixed, "w") as target:
                    for chunk in replaced[info.filename]:
                        target.write(chunk)
                continue
            data = src.read(info.filename)
            if info.filename in cells:
                data = _with_cached_sums(info.filename, data, cells)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + _FIXED_ISO.encode(), data)
            dst.writestr(fixed, data)
    return out.getvalue()


_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class SheetForm:
    """How a streamed sheet looks on screen and on paper (see `formed_sheet_xml`).

    `styles`: row kind -> cell style id of each column (the last one repeats); `heights` and `hidden`
    by row kind; `widths` of the columns; printed on A4, `landscape`, `fit_width` pages wide (0:
    at 100%), the rows `title_rows` (e.g. "2:2") and columns `title_cols` (e.g. "A:B") on every page.
    """

    styles: dict[str, tuple[int, ...]]
    widths: tuple[float, ...] = ()
    heights: dict[str, float] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    landscape: bool = True
    fit_width: int = 1
    footer: str = "第 &P 页，共 &N 页"


def _cell_field(value: Any) -> str:
    """What follows `<c r=".." s=".."` for one value: a number, TRUE/FALSE, text (kept as text) or nothing."""
    from xml.sax.saxutils import escape

    if value is None or value == "":
        return "/>"
    if isinstance(value, bool):
        return f' t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f"><v>{value!r}</v></c>"
    text = escape(_XML_UNSAFE.sub("\ufffd", str(value)))
    return f' t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


class _Fields(dict):
    """Value -> its cell XML (see `_cell_field`), remembering numbers: most figures of a 明细 repeat."""

    def __init__(self):
        super().__init__({None: b"/>", "": b"/>"})

    def __missing__(self, value: Any) -> bytes:
        got = _cell_field(value).encode("utf-8")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and len(self) < 100_000:
            self[value] = got
        return got


def formed_sheet_xml(rows: Iterable[tuple[str, list[Any]]], form: SheetForm,
                     frozen: tuple[int, int] = (0, 0)) -> Iterator[bytes]:
    """A protected worksheet of `rows` ((kind, values): kind picks the row's styles) as XML chunks, streamed.

    Every cell is written with its style (empty ones too, so that borders close); each row is one
    `%` over a byte template made once per kind and width (the row number put in by one replace),
    and values become XML through a cache: a district's 明细 of 10,000 units is two million cells.
    """
    from xml.sax.saxutils import escape

    head = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<sheetPr><pageSetUpPr fitToPage="{1 if form.fit_width else 0}"/></sheetPr>'
            '<sheetViews><sheetView workbookViewId="0">']
    if any(frozen):
        cols, rows_frozen = frozen
        head.append(f'<pane xSplit="{cols}" ySplit="{rows_frozen}" topLeftCell="{a1(rows_frozen + 1, cols + 1)}" '
                    'activePane="bottomRight" state="frozen"/>')
    head.append('</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>')
    if form.widths:
        head.append("<cols>" + "".join(f'<col min="{c}" max="{c}" width="{w}" customWidth="1"/>'
                                       for c, w in enumerate(form.widths, 1)) + "</cols>")
    head.append("<sheetData>")
    yield "".join(head).encode("utf-8")
    templates: dict[tuple[str, int], bytes] = {}
    fields = _Fields()
    for r, (kind, row) in enumerate(rows, 1):
        template = templates.get((kind, len(row)))
        if template is None:
            styles = form.styles[kind]
            attrs = ""
            if kind in form.heights:
                attrs += f' ht="{form.heights[kind]}" customHeight="1"'
            if kind in form.hidden:
                attrs += ' hidden="1"'
            cells = "".join(f'<c r="{column_letter(c + 1)}\x00" s="{styles[min(c, len(styles) - 1)]}"%s'
                            for c in range(len(row)))
            template = templates[(kind, len(row))] = f'<row r="\x00"{attrs}>{cells}</row>'.encode("utf-8")
        try:
            values = tuple(map(fields.__getitem__, row))
        except TypeError:  # an unhashable value: not from a workbook, but never a crash
            values = tuple(_cell_field(v).encode("utf-8") for v in row)
        yield template.replace(b"\x00", b"%d" % r) % values
    footer = escape(form.footer)  # "&P" (page) and "&N" (pages) are codes of the footer, "&" escaped in XML
    yield ('</sheetData><sheetProtection sheet="1" objects="1" scenarios="1" formatColumns="0" formatRows="0"/>'
           '<printOptions horizontalCentered="1"/>'
           '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
           f'<pageSetup paperSize="9" orientation="{"landscape" if form.landscape else "portrait"}"'
           + (f' fitToWidth="{form.fit_width}" fitToHeight="0"' if form.fit_width else "")
           + f'/><headerFooter><oddFooter>&amp;C{footer}</oddFooter></headerFooter></worksheet>').encode("utf-8")


def fill(report) -> bytes:
    """A filled copy of the template; refuses (XxgkError) anything in the document that has no cell."""
    from .errors import XxgkError

    from . import review

    schema = load_schema()
    document = {k: v for k, v in report.document.items() if k != review.DOCUMENT_KEY}  # not a cell: the 复核说明
    flat = schema.flatten(document)
    stray = [p for p in _leaf_paths(document) if p not in flat]
    unplaceable = [f for f, v in flat.items() if isinstance(v, (dict, list))]
    if stray or unplaceable:
        names = "、".join((stray + unplaceable)[:5])
        raise XxgkError(f"文档中有无法填入模板的内容：{names}{'等' if len(stray) + len(unplaceable) > 5 else ''}"
                        "（不是 2021 格式的字段，或该处应为单个数值）。为避免丢失数据，未生成工作簿", path=str(report.path or ""))
    too_long = [f for f, v in flat.items() if isinstance(v, str) and len(v) > 32767]
    if too_long:
        raise XxgkError(f"{schema.describe(too_long[0])} 超过 Excel 单元格上限 32767 字，无法完整写入，未生成工作簿",
                        path=str(report.path or ""))
    if not report.explanations:
        return build(flat)
    wb = build_workbook(flat)  # the document's explanations, as rows of the 复核说明 sheet
    at = wb.sheetnames.index(review.SHEET)
    wb.remove(wb[review.SHEET])
    review.render(wb.create_sheet(review.SHEET, at), review.document_rows(report.explanations))
    return reproducible_bytes(wb, cached_sums(flat))


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and (node or not prefix):
        paths = []
        for key, value in node.items():
            paths.extend(_leaf_paths(value, f"{prefix}.{key}" if prefix else str(key)))
        return paths
    return [prefix]
