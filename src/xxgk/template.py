"""The locked Excel template, rendered from the layout with openpyxl; filling it is the same code with values.

The output is byte-for-byte reproducible (fixed zip timestamps and document dates), so the committed
`templates/report_template.xlsx` can be compared with what the code builds.
"""

from __future__ import annotations

import io
import re
import zipfile
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
from .layout import META_SHEET, Layout, SheetLayout, a1, formula, load_layout, name_for, quote_sheet
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
    # print on A4 as the official tables look
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = sheet.orientation
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.print_area = f"A1:{a1(sheet.last_row, sheet.last_col)}"
    first, last_header = sheet.header_rows
    ws.print_title_rows = f"{first}:{last_header}"
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


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
    ws.row_dimensions[3].height = 48
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
    for col, width_chars in zip(range(1, width + 1), (6, 28, 6, 72, 8, 8, 10, 80), strict=True):
        ws.column_dimensions[a1(1, col)[:-1]].width = width_chars
    ws.freeze_panes = "A5"
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
    """Write the saved value of each sum formula, as a spreadsheet does when it saves (openpyxl does not)."""
    for coordinate, value in cells.get(part, {}).items():
        data, n = re.subn(rb'(<c r="' + coordinate.encode() + rb'"[^>]*><f>[^<]*</f>)(?:<v\s*/>|<v></v>)',
                          rb"\g<1><v>" + repr(value).encode() + b"</v>", data)
        if n != 1:
            raise RuntimeError(f"template: sum cell {coordinate} not found in {part}")
    return data


def reproducible_bytes(wb: Workbook, sums: dict[str, Any] | None = None,
                       sheets: dict[str, Iterable[bytes]] | None = None) -> bytes:
    """Save with fixed zip timestamps and document dates: the same workbook always gives the same bytes.

    `sums` (fact id -> value, see `cached_sums`) are stored as the sum cells' saved values; `sheets`
    (title -> worksheet XML, see `sheet_xml`) replace the content of those (empty) sheets.
    """
    raw = io.BytesIO()
    wb.save(raw)
    replaced = {f"xl/worksheets/sheet{wb.sheetnames.index(title) + 1}.xml": xml for title, xml in (sheets or {}).items()}
    cells: dict[str, dict[str, Any]] = {}
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


def sheet_xml(rows: Iterable[list[Any]], frozen: tuple[int, int] = (0, 0)) -> Iterator[bytes]:
    """A protected worksheet holding `rows` as plain values (text stays text), as XML chunks.

    For sheets of thousands of rows (a district's 明细): building cells one by one in openpyxl costs
    seconds, and holding the sheet whole costs memory; rows are turned into XML as they come.
    """
    from xml.sax.saxutils import escape

    head = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">']
    if any(frozen):
        cols, rows_frozen = frozen
        head.append(f'<sheetViews><sheetView workbookViewId="0"><pane xSplit="{cols}" ySplit="{rows_frozen}" '
                    f'topLeftCell="{a1(rows_frozen + 1, cols + 1)}" activePane="bottomRight" state="frozen"/>'
                    "</sheetView></sheetViews>")
    head.append("<sheetData>")
    yield "".join(head).encode("utf-8")
    letters: list[str] = []
    for r, row in enumerate(rows, 1):
        while len(letters) < len(row):
            letters.append(a1(1, len(letters) + 1)[:-1])
        cells = []
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            ref = f"{letters[c]}{r}"
            if isinstance(value, bool):
                cells.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, (int, float)):
                cells.append(f'<c r="{ref}"><v>{value!r}</v></c>')
            else:
                text = escape(_XML_UNSAFE.sub("\ufffd", str(value)))
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>')
        yield f'<row r="{r}">{"".join(cells)}</row>'.encode("utf-8")
    yield b'</sheetData><sheetProtection sheet="1" objects="1" scenarios="1"/></worksheet>'


def fill(report) -> bytes:
    """A filled copy of the template; refuses (XxgkError) anything in the document that has no cell."""
    from .errors import XxgkError

    schema = load_schema()
    flat = schema.flatten(report.document)
    stray = [p for p in _leaf_paths(report.document) if p not in flat]
    unplaceable = [f for f, v in flat.items() if isinstance(v, (dict, list))]
    if stray or unplaceable:
        names = "、".join((stray + unplaceable)[:5])
        raise XxgkError(f"文档中有无法填入模板的内容：{names}{'等' if len(stray) + len(unplaceable) > 5 else ''}"
                        "（不是 2021 格式的字段，或该处应为单个数值）。为避免丢失数据，未生成工作簿", path=str(report.path or ""))
    too_long = [f for f, v in flat.items() if isinstance(v, str) and len(v) > 32767]
    if too_long:
        raise XxgkError(f"{schema.describe(too_long[0])} 超过 Excel 单元格上限 32767 字，无法完整写入，未生成工作簿",
                        path=str(report.path or ""))
    return build(flat)


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and (node or not prefix):
        paths = []
        for key, value in node.items():
            paths.extend(_leaf_paths(value, f"{prefix}.{key}" if prefix else str(key)))
        return paths
    return [prefix]
