"""The report as the body publishes it: a Word document (.docx) and one self-contained HTML page.

`docx_bytes(report)` gives the document in the official order and headings of 国办公开办函〔2021〕30号:
the title, 一、总体情况, the tables of parts 二, 三 and 四, then 五 and 六. Page A4, margins as government
documents use (3.7/3.5/2.8/2.6 cm top/bottom/left/right), headings 黑体 三号, body 仿宋_GB2312 三号 with a
two-character first-line indent, tables 宋体 五号. Tables 三 and 四 go in a landscape section (the
orientation their sheet declares in the schema) with margins of its own, so that each fits on one page;
the rest is portrait. Page numbers as GB/T 9704 prints them: "— 1 —", 4号 半角宋体, odd pages at the
right and even pages at the left, one character in from the edge of the text block.

Column widths come from the labels (`column_widths`): a column is never narrower than its own header
label in one line (结果维持, 社会公益组织 …); a long row label breaks after its punctuation, in two lines.
Each font named here has fallbacks in the document's font table (`FONT_FALLBACKS`) for a machine without it.

`html_bytes(report)` gives the same content as a single UTF-8 page for the 信息公开 web column: real
header cells with `scope`, `colspan`/`rowspan` for the official merges, a caption per table; no
JavaScript, no external resource, everything HTML-escaped.

The tables are drawn from the template's geometry (`layout.load_layout()`), which is derived from the
schema: every label, every merge and every fact's cell is the one the workbook uses, so the three
forms of the report cannot disagree. The same report always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import math
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .layout import SheetLayout, load_layout
from .report import Report, without_controls
from .schema import load_schema

FIXED_TIME = (2021, 9, 26, 0, 0, 0)  # the date of 国办公开办函〔2021〕30号
TEXT_PARTS = {"一": "texts.overview", "五": "texts.problems", "六": "texts.other_matters"}
TABLE_ROOTS = {"二": "proactive", "三": "applications", "四": "reviews"}
ORDER = ("一", "二", "三", "四", "五", "六")

TITLE_FONT = "方正小标宋简体"
HEADING_FONT = "黑体"
BODY_FONT = "仿宋_GB2312"
TABLE_FONT = "宋体"
TITLE_SIZE, HEADING_SIZE, BODY_SIZE, TABLE_SIZE = 22, 16, 16, 10.5  # 二号, 三号, 三号, 五号
TABLE_SIZES = (10.5, 9)  # 五号, else 小五 where a table's header labels do not fit in one line at 五号
PAGE_NUMBER_FONT, PAGE_NUMBER_SIZE = "宋体", 14  # 4号 半角宋体
MARGINS_CM = (3.7, 3.5, 2.8, 2.6)  # top, bottom, left, right
LANDSCAPE_MARGINS_CM = (2.2, 2.0, 2.2, 2.2)  # a wide table's page: 三 and 四 each on one page
PAGE_NUMBER_GAP_CM = 0.7  # GB/T 9704: the page number line sits 7 mm below the text block
CELL_MARGIN_CM = 0.1  # left and right inside a table cell
LABEL_LINES = 2  # a row label wraps in at most two lines
GROUP_LABEL_EM = 8  # a row group's label up to this long stays in one line (（六）其他处理)
GROUP_LABEL_LINES = 3  # a longer one (三、本年度办理结果) in three
A4_CM = (21.0, 29.7)

# A font missing on the reader's machine is replaced by the first of these that is there: the document's
# font table names the first as the alternative (w:altName, with the face's classification), and the PDF
# made here (pdfout) gives LibreOffice the whole list.
FONT_FALLBACKS = {
    TITLE_FONT: ("华文中宋", "宋体", "SimSun", "Noto Serif CJK SC", "Source Han Serif SC"),
    HEADING_FONT: ("SimHei", "Noto Sans CJK SC", "Source Han Sans SC"),
    BODY_FONT: ("仿宋", "FangSong", "华文仿宋", "Noto Serif CJK SC", "Source Han Serif SC"),
    TABLE_FONT: ("SimSun", "Noto Serif CJK SC", "Source Han Serif SC"),
}
SERIF = {TITLE_FONT, BODY_FONT, TABLE_FONT}  # the others are sans (黑体)


# -- content shared by both forms --------------------------------------------
def num(value: Any) -> str:
    """A number as the report gives it: integers without .0, amounts as given (no exponent); else as text."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return without_controls(str(value))
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def title(report: Report) -> str:
    """The official title, "<机关名称><年度>年政府信息公开工作年度报告": what `xxgk import` reads back."""
    year = report.year if report.year is not None else ""
    return without_controls(f"{report.agency or ''}{year}年政府信息公开工作年度报告")


def title_lines(report: Report) -> list[str]:
    """The title as printed: one line when it fits the portrait text width at 二号, else broken after the
    body's name, so that no word of the title is split at the line's end."""
    whole = title(report)
    usable_cm = A4_CM[0] - MARGINS_CM[2] - MARGINS_CM[3]
    fits = text_em(whole) * TITLE_SIZE <= usable_cm / 2.54 * 72
    agency = without_controls(report.agency or "")
    if fits or not agency or not whole.startswith(agency) or whole == agency:
        return [whole]
    return [agency, whole[len(agency):]]


def headings() -> dict[str, str]:
    """Part number -> official heading, read from the schema."""
    schema = load_schema()
    found = {part: schema.facts[fid].labels[-1] for part, fid in TEXT_PARTS.items()}
    found.update({part: schema.object(root)["title"] for part, root in TABLE_ROOTS.items()})
    return found


def lines(value: Any) -> list[str]:
    if value is None:
        return []
    return [line.strip() for line in without_controls(str(value)).splitlines() if line.strip()]


def fee_sentence(facts: dict[str, Any]) -> str | None:
    """One sentence on the 信息处理费 fee notices and amounts, with the figures the report gives and its
    text of 六 does not already state (so the figure is not printed twice, nor the sentence doubled when
    an imported report is published again). `xxgk import` reads this sentence back into fees.*."""
    from .importer import fees_stated

    stated, _ = fees_stated(str(facts.get("texts.other_matters") or ""))
    wording = (("fees.notices", "本年度发出信息处理费收费通知{}件"), ("fees.amount_billed", "收费通知总金额{}元"),
               ("fees.amount_collected", "实际收取信息处理费{}元"))
    parts = [text.format(num(facts[fact_id])) for fact_id, text in wording
             if isinstance(facts.get(fact_id), (int, float)) and not isinstance(facts[fact_id], bool)
             and not (fact_id in stated and stated[fact_id] == facts[fact_id])]
    return "，".join(parts) + "。" if parts else None


@dataclass(frozen=True)
class Cell:
    row: int  # 0-based in the table
    col: int
    text: str
    role: str  # header | label | note | value
    rowspan: int = 1
    colspan: int = 1
    fact: str | None = None


@dataclass
class Table:
    part: str
    caption: str
    orientation: str
    rows: int
    cols: int
    cells: list[Cell]
    header_rows: int  # rows at the top that head the whole table (repeated on each page)
    widths: list[float]  # relative column widths


def tables(report: Report) -> dict[str, Table]:
    """Tables 二, 三 and 四 as cells with their merges, from the template's geometry."""
    schema = load_schema()
    layout = load_layout()
    by_root = {spec.get("root"): spec for spec in schema.sheets}
    sheets = {s.name: s for s in layout.sheets}
    found = {}
    for part, root in TABLE_ROOTS.items():
        spec = by_root[root]
        found[part] = _table(part, schema.object(root)["title"], spec.get("orientation", "portrait"),
                             sheets[spec["name"]], report.facts)
    return found


def _table(part: str, caption: str, orientation: str, sheet: SheetLayout, facts: dict[str, Any]) -> Table:
    top = min(lb.row for lb in sheet.labels if lb.role != "title")  # below the title and status rows
    cells = []
    for lb in sheet.labels:
        if lb.role == "title" or lb.row < top:
            continue
        to_row, to_col = lb.to_row or lb.row, lb.to_col or lb.col
        cells.append(Cell(lb.row - top, lb.col - 1, lb.text, lb.role, to_row - lb.row + 1, to_col - lb.col + 1))
    for fact_id, (row, col) in sheet.facts.items():
        to_col = sheet.value_merge.get(fact_id, col)
        cells.append(Cell(row - top, col - 1, num(facts.get(fact_id)), "value", 1, to_col - col + 1, fact_id))
    cells.sort(key=lambda c: (c.row, c.col))
    first, last = sheet.header_rows
    header_rows = last - top + 1 if first >= top else 0
    widths = [float(sheet.widths.get(c, 10)) for c in range(1, sheet.last_col + 1)]
    return Table(part, caption, orientation, sheet.last_row - top + 1, sheet.last_col, cells, header_rows, widths)


# -- Word ---------------------------------------------------------------------
def docx_bytes(report: Report) -> bytes:
    """The report as a .docx document, byte for byte the same for the same report."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.enum.section import WD_ORIENT, WD_SECTION
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
    from docx.shared import Cm, Pt, RGBColor

    doc = Document()
    facts = report.facts
    heads = headings()
    grids = tables(report)

    normal = doc.styles["Normal"]
    _font(normal, BODY_FONT, BODY_SIZE)
    normal.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    normal.paragraph_format.line_spacing = Pt(28)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(0)
    heading = doc.styles["Heading 1"]
    _font(heading, HEADING_FONT, HEADING_SIZE)
    heading.font.bold = False
    heading.font.italic = False
    heading.font.color.rgb = RGBColor(0, 0, 0)
    heading.paragraph_format.space_before = Pt(0)
    heading.paragraph_format.space_after = Pt(0)
    heading.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    heading.paragraph_format.line_spacing = Pt(28)
    heading.paragraph_format.keep_with_next = True
    _indent(heading.paragraph_format)

    def page(section, orientation: str) -> None:
        short, long_ = Cm(A4_CM[0]), Cm(A4_CM[1])
        margins = LANDSCAPE_MARGINS_CM if orientation == "landscape" else MARGINS_CM
        top, bottom, left, right = (Cm(v) for v in margins)
        if orientation == "landscape":
            section.orientation = WD_ORIENT.LANDSCAPE
            section.page_width, section.page_height = long_, short
        else:
            section.orientation = WD_ORIENT.PORTRAIT
            section.page_width, section.page_height = short, long_
        section.top_margin, section.bottom_margin = top, bottom
        section.left_margin, section.right_margin = left, right
        section.header_distance = Cm(min(margins[0] / 2, 1.5))
        # the number's line ends 7 mm below the text block: footer distance = margin - 7 mm - one line
        section.footer_distance = Cm(margins[1] - PAGE_NUMBER_GAP_CM) - Pt(PAGE_NUMBER_SIZE * 1.3)

    current = "portrait"
    page(doc.sections[0], current)
    _page_numbers(doc)

    def orient(orientation: str) -> None:
        nonlocal current
        if orientation != current:
            page(doc.add_section(WD_SECTION.NEW_PAGE), orientation)
            current = orientation

    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.first_line_indent = Pt(0)
    p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    p.paragraph_format.space_after = Pt(16)
    for i, line in enumerate(title_lines(report)):
        run = _run(p, line, TITLE_FONT, TITLE_SIZE)
        if i:
            run._r.insert(0, run._r.makeelement(qn("w:br"), {}))

    def body(text: str) -> None:
        para = doc.add_paragraph()
        _indent(para.paragraph_format)
        _run(para, text, BODY_FONT, BODY_SIZE)

    for part in ORDER:
        if part in grids:
            table = grids[part]
            orient(table.orientation)
        elif current != "portrait":
            orient("portrait")
        doc.add_paragraph(heads[part], style="Heading 1")
        if part in grids:
            section = doc.sections[-1]
            usable = section.page_width - section.left_margin - section.right_margin
            _docx_table(doc, grids[part], usable, Pt, WD_ALIGN_PARAGRAPH, WD_TABLE_ALIGNMENT)
            continue
        for line in lines(facts.get(TEXT_PARTS[part])):
            body(line)
        if part == "六":
            sentence = fee_sentence(facts)
            if sentence:
                body(sentence)

    props = doc.core_properties
    fixed = dt.datetime(*FIXED_TIME)
    props.title = title(report)
    props.subject = "政府信息公开工作年度报告（国办公开办函〔2021〕30号）"
    props.author = "xxgk"
    props.last_modified_by = "xxgk"
    props.comments = ""
    props.revision = 1
    props.created = fixed
    props.modified = fixed
    props.last_printed = fixed
    _font_table(doc)
    raw = io.BytesIO()
    doc.save(raw)
    return _rezip(raw.getvalue())


def _page_numbers(doc) -> None:
    """"— N —" in the footer (later sections inherit it): odd pages at the right, even pages at the left,
    one character in from the edge of the text block (GB/T 9704)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc.settings.odd_and_even_pages_header_footer = True
    section = doc.sections[0]
    for footer, odd in ((section.footer, True), (section.even_page_footer, False)):
        para = footer.paragraphs[0]
        para.alignment = WD_ALIGN_PARAGRAPH.RIGHT if odd else WD_ALIGN_PARAGRAPH.LEFT
        fmt = para.paragraph_format
        fmt.first_line_indent = Pt(0)
        fmt.space_before = fmt.space_after = Pt(0)
        fmt.line_spacing = 1.0
        if odd:
            fmt.right_indent = Pt(PAGE_NUMBER_SIZE)
        else:
            fmt.left_indent = Pt(PAGE_NUMBER_SIZE)
        ind = fmt.element.get_or_add_pPr().get_or_add_ind()
        ind.set(qn("w:firstLineChars"), "0")
        _page_number_run(para, "— ")
        run = _page_number_run(para, "")
        for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
            if kind:
                el = OxmlElement("w:fldChar")
                el.set(qn("w:fldCharType"), kind)
            elif text == " PAGE ":
                el = OxmlElement("w:instrText")
                el.set(qn("xml:space"), "preserve")
                el.text = text
            else:
                el = OxmlElement("w:t")
                el.text = text
            run._r.append(el)
        _page_number_run(para, " —")


def _page_number_run(para, text: str):
    """A run in 4号 半角宋体: the same face for the dashes and the digits (ascii and East Asian)."""
    from docx.oxml.ns import qn

    run = _run(para, text, PAGE_NUMBER_FONT, PAGE_NUMBER_SIZE)
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), PAGE_NUMBER_FONT)
    return run


# panose-1 of a plain serif and a plain sans Chinese face, so a reader without the font gets its kind
_PANOSE = {True: "02010600030101010101", False: "02010600030101010101".replace("0201", "020B", 1)}


def _font_table(doc) -> None:
    """Declare each font the document names in its font table, with its first fallback as w:altName,
    the GB2312 character set and whether it is serif: what Word uses to replace a missing font."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from lxml import etree

    part = next(rel.target_part for rel in doc.part.rels.values() if rel.reltype == RT.FONT_TABLE)
    root = etree.fromstring(part.blob)
    for name, fallbacks in FONT_FALLBACKS.items():
        for old in root.findall(qn("w:font")):
            if old.get(qn("w:name")) == name:
                root.remove(old)
        font = OxmlElement("w:font")
        font.set(qn("w:name"), name)
        for tag, value in (("w:altName", fallbacks[0]), ("w:panose1", _PANOSE[name in SERIF]),
                           ("w:charset", "86"), ("w:family", "roman" if name in SERIF else "modern"),
                           ("w:pitch", "variable")):
            child = OxmlElement(tag)
            child.set(qn("w:val"), value)
            font.append(child)
        root.append(font)
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _font(style_or_run, name: str, size: float) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    style_or_run.font.name = name
    style_or_run.font.size = Pt(size)
    rpr = style_or_run._element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)


def _run(paragraph, text: str, font: str, size: float, bold: bool = False):
    run = paragraph.add_run(text)
    _font(run, font, size)
    run.font.bold = bold or None
    return run


def _indent(fmt) -> None:
    """First line indented two characters (w:firstLineChars, with the 三号 width for older readers)."""
    from docx.oxml.ns import qn
    from docx.shared import Pt

    fmt.first_line_indent = Pt(2 * BODY_SIZE)
    ind = fmt.element.get_or_add_pPr().get_or_add_ind()
    ind.set(qn("w:firstLineChars"), "200")


def text_em(text: str) -> float:
    """Width of one line of `text` in em, generously: CJK characters and full-width forms one em, others
    (digits in a proportional face are wider than half an em) 0.6 em."""
    import unicodedata

    return sum(1.0 if unicodedata.east_asian_width(ch) in "WFA" else 0.6 for ch in text)


def phrases(text: str) -> list[str]:
    """A label cut after each of its commas (、，；): the places a long label may break between lines."""
    return [part for part in re.split(r"(?<=[、，；])", text) if part]


def label_lines(text: str, capacity: float) -> list[str]:
    """A row label in lines of at most `capacity` em, broken only after its punctuation (a phrase longer
    than a line is left for the word processor to wrap)."""
    lines, line = [], ""
    for part in phrases(text):
        if line and text_em(line + part) > capacity:
            lines.append(line)
            line = part
        else:
            line += part
    return lines + [line]


def column_widths(table: Table, usable: float, size: float) -> list[float] | None:
    """Column widths (in points) filling `usable` points at `size` points: every column as wide as its
    header label and its numbers need in one line, its row labels in two (the long ones of 三's
    （六）其他处理), a short row group's label (（三）不予公开) in one and a long one in three; what is
    left goes to the row-label columns (no header of their own) in the template's proportions, or to all
    columns when there are none. None when the labels alone need more than `usable`."""
    margin = 2 * CELL_MARGIN_CM / 2.54 * 72
    need = [0.0] * table.cols
    headed = set()
    for cell in table.cells:
        if cell.colspan != 1:
            continue
        em = text_em(cell.text)
        if cell.role in ("header", "value"):
            lines = 1
            headed.add(cell.col)
        elif cell.rowspan == 1:  # a row label: in two lines, broken after its punctuation where it has some
            em = max([math.ceil(em / LABEL_LINES)] + [text_em(part) for part in phrases(cell.text)])
            lines = 1
        else:
            lines = 1 if em <= GROUP_LABEL_EM else GROUP_LABEL_LINES
            em += 1 if lines == 1 else 0  # and an em of air, so its text stands apart from the labels beside it
        need[cell.col] = max(need[cell.col], math.ceil(em / lines) * size * 1.06 + margin + 1)
    spare = usable - sum(need)
    if spare < 0:
        return None
    takers = [c for c in range(table.cols) if c not in headed] or list(range(table.cols))
    weight = sum(table.widths[c] for c in takers)
    return [need[c] + (spare * table.widths[c] / weight if c in takers else 0) for c in range(table.cols)]


def _docx_table(doc, table: Table, usable: int, Pt, WD_ALIGN_PARAGRAPH, WD_TABLE_ALIGNMENT) -> None:
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Emu

    usable_pt = Emu(usable).pt
    for size in TABLE_SIZES:
        points = column_widths(table, usable_pt, size)
        if points:
            break
    else:  # labels longer than the page is wide (not so in the official tables): the template's shares
        size, points = TABLE_SIZES[-1], [usable_pt * w / sum(table.widths) for w in table.widths]
    widths = [Pt(round(w, 1)) for w in points]
    t = doc.add_table(rows=table.rows, cols=table.cols)
    t.style = doc.styles["Table Grid"]
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False
    tbl_pr = t._tbl.tblPr
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        el = OxmlElement(f"w:{side}")
        el.set(qn("w:w"), str(round(CELL_MARGIN_CM / 2.54 * 1440)))
        el.set(qn("w:type"), "dxa")
        margins.append(el)
    look = tbl_pr.find(qn("w:tblLook"))
    if look is not None:  # schema order: tblCellMar comes before tblLook
        look.addprevious(margins)
    else:
        tbl_pr.append(margins)
    for c, col in enumerate(t.columns):
        col.width = widths[c]
    for row in t.rows:
        for c, cell in enumerate(row.cells):
            cell.width = widths[c]
    for r, row in enumerate(t.rows):  # no row split over two pages; the header rows repeat on each page
        tr_pr = row._tr.get_or_add_trPr()
        keep = OxmlElement("w:cantSplit")
        keep.set(qn("w:val"), "true")
        tr_pr.append(keep)
        if r < table.header_rows:
            header = OxmlElement("w:tblHeader")
            header.set(qn("w:val"), "true")
            tr_pr.append(header)
    for cell in table.cells:
        target = t.cell(cell.row, cell.col)
        if cell.rowspan > 1 or cell.colspan > 1:
            target = target.merge(t.cell(cell.row + cell.rowspan - 1, cell.col + cell.colspan - 1))
        if cell.role == "header" and cell.colspan == 1:  # a column's own label: one line, never broken
            target._tc.get_or_add_tcPr().append(OxmlElement("w:noWrap"))  # before w:vAlign, as the schema wants
        target.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        para = target.paragraphs[0]
        left = cell.role in ("label", "note") and (cell.rowspan == 1 or text_em(cell.text) <= GROUP_LABEL_EM)
        para.alignment = WD_ALIGN_PARAGRAPH.LEFT if left else WD_ALIGN_PARAGRAPH.CENTER
        texts = [cell.text]
        if cell.role == "label" and cell.rowspan == 1:  # a long row label breaks after its punctuation
            room = sum(points[cell.col:cell.col + cell.colspan]) - 2 * CELL_MARGIN_CM / 2.54 * 72
            texts = label_lines(cell.text, room / (size * 1.06))
        run = _run(para, texts[0], TABLE_FONT, size)
        for text in texts[1:]:
            run.add_break()
            run.add_text(text)
    for row in t.rows:  # every cell: no indent, lines at an exact height (a table fits its page)
        for c in row.cells:
            for para in c.paragraphs:
                para.paragraph_format.first_line_indent = Pt(0)
                ind = para.paragraph_format.element.get_or_add_pPr().get_or_add_ind()
                ind.set(qn("w:firstLineChars"), "0")
                para.paragraph_format.line_spacing = Pt(round(size * 1.2, 1))
                para.paragraph_format.space_before = para.paragraph_format.space_after = Pt(0)


def _rezip(data: bytes) -> bytes:
    """The same parts in the same order, with fixed timestamps and attributes: reproducible bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


# -- HTML ---------------------------------------------------------------------
CSS = """
:root { color-scheme: light; }
body { margin: 0; padding: 24px 32px 48px; font-family: "FangSong", "仿宋_GB2312", "仿宋", "Noto Serif CJK SC",
       "Source Han Serif SC", serif; font-size: 16px; line-height: 1.8; color: #1a1a1a; background: #fff; }
main { max-width: 1100px; margin: 0 auto; }
h1 { font-size: 26px; text-align: center; margin: 8px 0 24px; font-family: "SimSun", "宋体", serif; }
h2 { font-size: 19px; margin: 28px 0 10px; font-family: "SimHei", "黑体", "Noto Sans CJK SC", sans-serif; }
p { text-indent: 2em; margin: 0 0 6px; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px auto 16px; font-size: 14px; font-family: "SimSun", "宋体", serif; }
caption { font-weight: bold; padding: 4px 0; }
th, td { border: 1px solid #555; padding: 4px 8px; vertical-align: middle; }
th { font-weight: normal; background: #f4f6f9; text-align: center; }
th[scope="row"] { text-align: left; }
th.note { font-size: 12px; max-width: 220px; }
th.col { white-space: nowrap; }
td.num { text-align: center; font-variant-numeric: tabular-nums; white-space: nowrap; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_table(table: Table, table_id: str | None = None, labelled_by: str | None = None) -> str:
    """One official table as HTML: header cells with scope, merges as rowspan/colspan, numbers with data-fact.
    Named by the heading `labelled_by` (its id) when the page has one, so the heading is not printed twice;
    else by a caption. A column's own label (class "col") stays on one line, never broken mid-word."""
    name = f' aria-labelledby="{esc(labelled_by)}">' if labelled_by else f"><caption>{esc(table.caption)}</caption>"
    out = [f'<div class="wrap"><table id="{esc(table_id or "table-" + table.part)}"{name}']
    by_row: dict[int, list[Cell]] = {}
    for cell in table.cells:
        by_row.setdefault(cell.row, []).append(cell)
    covered = {(cell.row + i, cell.col + j) for cell in table.cells
               for i in range(cell.rowspan) for j in range(cell.colspan)}
    for r in range(table.rows):
        if r == 0 and table.header_rows:
            out.append("<thead>")
        if r == table.header_rows:
            out.append("<tbody>")
        out.append("<tr>")
        starts = {c.col: c for c in by_row.get(r, [])}
        for c in range(table.cols):
            if c in starts:
                out.append(_html_cell(starts[c]))
            elif (r, c) not in covered:
                out.append("<td></td>")
        out.append("</tr>")
        if table.header_rows and r == table.header_rows - 1:
            out.append("</thead>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _html_cell(cell: Cell) -> str:
    span = (f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else "") + (
        f' colspan="{cell.colspan}"' if cell.colspan > 1 else "")
    if cell.role == "value":
        return f'<td class="num" data-fact="{esc(cell.fact)}"{span}>{esc(cell.text)}</td>'
    if cell.role == "label":
        scope = "rowgroup" if cell.rowspan > 1 else "row"
        return f'<th scope="{scope}"{span}>{esc(cell.text)}</th>'
    scope = "colgroup" if cell.colspan > 1 else "col"
    cls = ' class="note"' if cell.role == "note" else ' class="col"' if cell.colspan == 1 else ""
    return f'<th scope="{scope}"{cls}{span}>{esc(cell.text)}</th>'


def html_bytes(report: Report) -> bytes:
    """The report as one self-contained UTF-8 HTML page; the same report always gives the same bytes."""
    facts = report.facts
    heads = headings()
    grids = tables(report)
    name = title(report)
    out = ['<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n',
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
           f"<title>{esc(name)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
           f"<h1>{esc(name)}</h1>\n"]
    for part in ORDER:
        out.append(f'<section id="part-{esc(part)}">\n<h2 id="heading-{esc(part)}">{esc(heads[part])}</h2>\n')
        if part in grids:
            out.append(html_table(grids[part], labelled_by=f"heading-{part}") + "\n")
        else:
            for line in lines(facts.get(TEXT_PARTS[part])):
                out.append(f"<p>{esc(line)}</p>\n")
            if part == "六":
                sentence = fee_sentence(facts)
                if sentence:
                    out.append(f'<p class="fees">{esc(sentence)}</p>\n')
        out.append("</section>\n")
    out.append("</main>\n</body>\n</html>\n")
    return "".join(out).encode("utf-8")
