"""A text PDF (as bodies publish their reports: exported from Word or WPS, or printed from a web page)
turned into the importer's tokens, so that its tables are read by their labels like any other format.

    >>> tokens = pdf_tokens(data, Path("report.pdf"))

Paragraphs become LINE tokens (lines of one paragraph joined, no space between Chinese characters);
ruled tables become CELL ... BREAK rows (a cell's lines joined into one text, a merged cell given once);
a table continued on the next page is joined, its repeated header row dropped; page numbers and
running headers/footers are dropped. Only the drawn rules make a table: text laid out in columns
without rules stays as lines, and the reader then reports what it could not find.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NotAReport
from .importer import BREAK, CELL, LINE, Token

# A report is 5-30 pages; a file far longer is not one report (and would only cost time).
MAX_PAGES = 200
# Reading a normal report takes a few seconds; a hostile file that takes far longer is refused.
MAX_SECONDS = 120.0
# Far above any real page (a dense page has 2,000 characters and a few hundred rules); beyond this
# the table finder's work grows too fast.
MAX_CHARS_PER_PAGE = 60_000
MAX_EDGES_PER_PAGE = 20_000
# Below this many characters in the whole file there is no text layer to read.
MIN_TEXT_CHARS = 20

_MARGIN_BAND = 0.14  # the top and bottom share of a page where running headers and page numbers live

# Simplified forms that fonts map to "CJK Radicals Supplement" code points (Chromium's PDFs do);
# NFKC does not fold these, unlike the Kangxi radicals and compatibility ideographs.
_RADICALS = {
    "⺟": "母", "⺠": "民", "⺢": "水", "⺩": "王", "⻄": "西", "⻅": "见", "⻆": "角", "⻇": "赤",
    "⻉": "贝", "⻊": "足", "⻋": "车", "⻑": "長", "⻒": "長", "⻓": "长", "⻔": "门", "⻕": "門",
    "⻗": "雨", "⻘": "青", "⻙": "韦", "⻚": "页", "⻛": "风", "⻜": "飞", "⻝": "食", "⻡": "首",
    "⻢": "马", "⻣": "骨", "⻤": "鬼", "⻥": "鱼", "⻦": "鸟", "⻨": "麦", "⻩": "黄", "⻬": "齐",
    "⻮": "齿", "⻰": "龙", "⻳": "龟",
}

_PAGE_NUMBER = re.compile(
    r"^(?:[-—–－‐―~～]*\d{1,4}[-—–－‐―~～]*"  # 5  -5-  — 5 —
    r"|第\d{1,4}页(?:[,，/]?共\d{1,4}页)?"  # 第5页  第5页共9页
    r"|共\d{1,4}页[,，]?第\d{1,4}页"
    r"|\d{1,4}/\d{1,4}"  # 5/9
    r"|(?:page)?\d{1,4}(?:of\d{1,4})?)$",  # Page 5 of 9
    re.IGNORECASE,
)
_PART_HEADING = re.compile(r"^[一二三四五六]、")


def _fold(ch: str) -> str:
    """One character as a reader compares it: radical and compatibility forms to the ordinary character."""
    cp = ord(ch)
    if 0x2F00 <= cp <= 0x2FDF or 0xF900 <= cp <= 0xFAFF:
        return unicodedata.normalize("NFKC", ch)
    if 0x2E80 <= cp <= 0x2EFF:
        return _RADICALS.get(ch, ch)
    return ch


def _is_cjk(ch: str) -> bool:
    return ch > "\u2e7f" and not ch.isspace()


@dataclass
class _Line:
    page: int
    top: float
    bottom: float
    x0: float
    x1: float
    size: float
    text: str


@dataclass
class _Table:
    page: int
    top: float
    bottom: float
    x0: float
    x1: float
    rows: list[list[str | None]] = field(default_factory=list)  # None: a position a merged cell covers
    open_top: bool = False  # cut by the page break: no rule of its own at the top
    open_bottom: bool = False


@dataclass
class _Page:
    number: int
    width: float
    height: float
    lines: list[_Line]
    tables: list[_Table]


# -- characters -> lines --------------------------------------------------
def _baseline(char: dict) -> float:
    matrix = char.get("matrix")
    # the text origin: the same for a CJK and a Latin font on one line, where their boxes differ
    return -float(matrix[5]) if matrix else float(char["bottom"])


def _line_text(chars: list[dict]) -> str:
    """Characters of one printed line, left to right. A space is kept where the PDF has one, or where
    Latin letters/digits stand apart; never between Chinese characters and their neighbours."""
    out: list[str] = []
    prev = None
    for c in chars:
        text = "".join(_fold(ch) for ch in c["text"])
        if not text:
            continue
        if text.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            prev = None
            continue
        if prev is not None and out and out[-1] != " ":
            gap = c["x0"] - prev["x1"]
            size = max(prev["size"], c["size"], 1.0)
            a, b = out[-1][-1], text[0]
            if gap > 1.5 * size or (not _is_cjk(a) and not _is_cjk(b) and gap > 0.15 * size):
                out.append(" ")
        out.append(text)
        prev = c
    return "".join(out).strip()


def _lines(chars: list[dict], page: int) -> list[_Line]:
    """Group characters into printed lines by their baseline (not their boxes: a digit in a Latin font
    sits in a different box from the Chinese characters beside it)."""
    chars = [c for c in chars if c.get("text")]
    chars.sort(key=lambda c: (_baseline(c), c["x0"]))
    groups: list[list[dict]] = []
    base = None
    for c in chars:
        b = _baseline(c)
        size = max(float(c.get("size") or 0), 1.0)
        if groups and base is not None and abs(b - base) <= 0.45 * size:
            groups[-1].append(c)
        else:
            groups.append([c])
            base = b
    lines = []
    for group in groups:
        group.sort(key=lambda c: c["x0"])
        text = _line_text(group)
        if not text:
            continue
        visible = [c for c in group if not c["text"].isspace()]
        lines.append(_Line(
            page=page,
            top=min(c["top"] for c in visible),
            bottom=max(c["bottom"] for c in visible),
            x0=min(c["x0"] for c in visible),
            x1=max(c["x1"] for c in visible),
            size=statistics.median(float(c.get("size") or 0) for c in visible),
            text=text,
        ))
    return lines


def _cell_text(chars: list[dict], page: int) -> str:
    """A cell's lines as one text (a header split over lines is one label). Two numbers on separate
    lines keep a space between them, so that they are never read as one larger number."""
    text = ""
    for line in _lines(chars, page):
        if text and text[-1].isdigit() and line.text[0].isdigit():
            text += " "
        text += line.text
    return text


# -- one page -------------------------------------------------------------
def _ruling(obj: dict) -> bool:
    """Graphics that can be a table's rules: lines, stroked rectangles and curves, and thin filled
    rectangles (how Word and Chromium draw borders). Large filled rectangles are shading or a page
    background (WPS puts a white box behind every paragraph) and would make tables out of text."""
    kind = obj.get("object_type")
    if kind == "char":
        return True
    if kind == "line":
        return True
    if kind in ("rect", "curve"):
        if obj.get("stroke"):
            return True
        return min(float(obj.get("width") or 0), float(obj.get("height") or 0)) <= 2.0
    return False


def _inside(char: dict, box: tuple[float, float, float, float]) -> bool:
    x = (char["x0"] + char["x1"]) / 2
    y = (char["top"] + char["bottom"]) / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _closing_rules(edges: list[dict]) -> list[tuple[dict, str]]:
    """Rules that close a table cut by a page break. Chromium leaves a row that moved to the next page
    without its top rule (and a row cut in two without its bottom rule); where two or more vertical
    rules end at one height with no horizontal rule there, a rule across their ends is added."""
    columns: dict[int, list[list[float]]] = {}
    for e in edges:
        if e["orientation"] == "v" and e["bottom"] - e["top"] >= 3:
            columns.setdefault(round((e["x0"] + e["x1"]) / 3), []).append([e["top"], e["bottom"], e["x0"]])
    rules_h = [e for e in edges if e["orientation"] == "h" and e["x1"] - e["x0"] >= 5]
    ends: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for spans in columns.values():
        spans.sort()
        merged = [spans[0]]
        for top, bottom, x in spans[1:]:
            if top <= merged[-1][1] + 3:
                merged[-1][1] = max(merged[-1][1], bottom)
            else:
                merged.append([top, bottom, x])
        for top, bottom, x in merged:
            for end, y in (("top", top), ("bottom", bottom)):
                if not any(abs(h["top"] - y) <= 3 and h["x0"] - 3 <= x <= h["x1"] + 3 for h in rules_h):
                    ends.setdefault((end, round(y / 3)), []).append((x, y))
    rules = []
    for (end, _), points in ends.items():
        xs = sorted(x for x, _ in points)
        if len(xs) >= 2 and xs[-1] - xs[0] > 3:
            y = statistics.median(y for _, y in points)
            rules.append(({"object_type": "line", "x0": xs[0], "x1": xs[-1], "top": y, "bottom": y,
                           "width": xs[-1] - xs[0], "height": 0}, end))
    return rules


def _read_page(page, number: int, path: Path) -> _Page:
    chars = page.chars
    if len(chars) > MAX_CHARS_PER_PAGE:
        raise NotAReport(f"PDF 第 {number} 页的文字过多（超过 {MAX_CHARS_PER_PAGE} 个字符），不像年度报告，无法导入",
                         path=str(path))
    ruled = page.filter(_ruling)
    if len(ruled.edges) > MAX_EDGES_PER_PAGE:
        raise NotAReport(f"PDF 第 {number} 页的图形过多（超过 {MAX_EDGES_PER_PAGE} 条线），不像年度报告，无法导入",
                         path=str(path))
    tables: list[_Table] = []
    boxes = []
    closing = _closing_rules(ruled.edges)
    settings = {"vertical_strategy": "lines", "horizontal_strategy": "lines",
                "explicit_horizontal_lines": [rule for rule, _ in closing]}
    for found in ruled.find_tables(settings):
        rows = [row.cells for row in found.rows]
        if len(rows) < 2 or max(sum(1 for c in r if c is not None) for r in rows) < 2:
            continue  # a box drawn around text is not a table
        box = found.bbox
        inner = [c for c in chars if _inside(c, box)]
        table = _Table(number, box[1], box[3], box[0], box[2])
        table.open_top = any(end == "top" and abs(rule["top"] - box[1]) <= 3 for rule, end in closing)
        table.open_bottom = any(end == "bottom" and abs(rule["top"] - box[3]) <= 3 for rule, end in closing)
        for cells in rows:
            row: list[str | None] = []
            for cell in cells:
                if cell is None:
                    row.append(None)
                    continue
                row.append(_cell_text([c for c in inner if _inside(c, cell)], number))
            table.rows.append(row)
        tables.append(table)
        boxes.append(box)
    body = [c for c in chars if not any(_inside(c, b) for b in boxes)]
    return _Page(number, float(page.width), float(page.height), _lines(body, number), tables)


# -- running headers, footers and page numbers ------------------------------
def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _drop_running(pages: list[_Page]) -> None:
    """Remove page numbers at the top/bottom of a page, and lines that repeat in the top or bottom band
    of most pages (digits aside: "第 3 页", a date and time, a file name with its page count)."""
    def banded(page: _Page) -> list[tuple[_Line, str]]:
        out = []
        lines = sorted(page.lines, key=lambda ln: ln.top)
        for ln in lines[:3]:
            if ln.bottom <= page.height * _MARGIN_BAND:
                out.append((ln, "top"))
        for ln in lines[-3:]:
            if ln.top >= page.height * (1 - _MARGIN_BAND):
                out.append((ln, "bottom"))
        return out

    def shape(ln: _Line, band: str) -> tuple[str, str]:
        return band, re.sub(r"\d+", "#", _squeeze(ln.text))

    counts: Counter = Counter()
    for page in pages:
        counts.update({shape(ln, band) for ln, band in banded(page)})
    needed = max(2, (len(pages) + 1) // 2)
    for page in pages:
        drop = set()
        for ln, band in banded(page):
            if _PAGE_NUMBER.match(_squeeze(ln.text)) or (len(pages) > 1 and counts[shape(ln, band)] >= needed):
                drop.add(id(ln))
        page.lines = [ln for ln in page.lines if id(ln) not in drop]


# -- paragraphs and tables in reading order ---------------------------------
def _margins(pages: list[_Page]) -> dict[int, tuple[float, float]]:
    """Left and right edge of the text on each page: from its own long lines, or else from the other
    pages of the same width."""
    own: dict[int, tuple[float, float]] = {}
    by_width: dict[int, list[tuple[float, float]]] = {}
    for page in pages:
        long = [ln for ln in page.lines if len(ln.text) >= 10]
        if len(long) >= 3:
            own[page.number] = (min(ln.x0 for ln in long), max(ln.x1 for ln in long))
            by_width.setdefault(round(page.width), []).append(own[page.number])
    result = {}
    for page in pages:
        if page.number in own:
            result[page.number] = own[page.number]
        else:
            known = by_width.get(round(page.width))
            if known:
                result[page.number] = (statistics.median(k[0] for k in known), statistics.median(k[1] for k in known))
            else:
                result[page.number] = (page.width * 0.1, page.width * 0.9)
    return result


def _continues(a: _Line, b: _Line, margins: dict[int, tuple[float, float]], first_on_page: bool) -> bool:
    """Is line b the wrapped continuation of line a's paragraph? a runs to the right edge (or nearly,
    without ending a sentence), b starts at the left edge (no first-line indent), same type size, no
    gap, and b is not a part heading."""
    size = max(a.size, 1.0)
    if abs(a.size - b.size) > 0.15 * size or _PART_HEADING.match(b.text):
        return False
    _, right_a = margins[a.page]
    left_b, _ = margins[b.page]
    if b.x0 > left_b + 0.6 * size:
        return False
    short = right_a - a.x1
    # ragged right (a web page's text): a line ends early when the next run of digits or Latin letters
    # does not fit, but a paragraph's last line ends a sentence
    if short > 1.5 * size and (short > 8 * size or a.text[-1:] in "。！？；：!?;:"):
        return False
    if b.page == a.page:
        return b.top - a.bottom <= 1.3 * size
    return b.page == a.page + 1 and first_on_page


def _join(a: str, b: str) -> str:
    if a.endswith("-") and len(a) > 1 and a[-2].isascii() and a[-2].isalpha() and b[:1].islower():
        return a[:-1] + b  # a word hyphenated at the line's end
    if a[-1:].isascii() and a[-1:].isalnum() and b[:1].isascii() and b[:1].isalnum():
        return a + " " + b
    return a + b


def _header_rows(rows: list[list[str | None]]) -> int:
    """How many leading rows are header (before the first row holding a number)."""
    for i, row in enumerate(rows):
        if any(c and re.fullmatch(r"[\d.,\s]+", c) for c in row):
            return i
    return 0


def _same_row(a: list[str | None], b: list[str | None]) -> bool:
    return [_squeeze(c or "") for c in a] == [_squeeze(c or "") for c in b]


def _blocks(pages: list[_Page]) -> list[tuple[str, object]]:
    """Paragraph texts and tables in reading order, with paragraphs and tables joined across pages."""
    margins = _margins(pages)
    out: list[tuple[str, object]] = []
    para: list[str] = []
    last_line: _Line | None = None
    last_table: _Table | None = None  # the table that ended the previous page, still joinable

    def flush():
        nonlocal para
        if para:
            out.append(("line", "".join(para)))
            para = []

    for page in pages:
        items = [(ln.top, 0, ln) for ln in page.lines] + [(t.top, 1, t) for t in page.tables]
        items.sort(key=lambda it: (it[0], it[1]))
        first = True
        for _, _, item in items:
            if isinstance(item, _Table):
                flush()
                last_line = None
                prev = last_table
                if (first and prev is not None and prev.page == item.page - 1
                        and abs(prev.x0 - item.x0) < 20 and abs(prev.x1 - item.x1) < 20):
                    rows = item.rows
                    head = _header_rows(prev.rows)
                    k = 0
                    while k < head and k < len(rows) - 1 and _same_row(rows[k], prev.rows[k]):
                        k += 1
                    prev.rows.extend(rows[k:])  # a table continued from the previous page
                    prev.page = item.page
                    prev.bottom = item.bottom
                else:
                    out.append(("table", item))
                    last_table = item
            else:
                if para and last_line is not None and _continues(last_line, item, margins, first):
                    para[-1] = _join(para[-1], item.text)
                else:
                    flush()
                    para.append(item.text)
                last_line = item
                last_table = None
            first = False
        # a table or paragraph may go on at the top of the next page
    flush()
    return out


def _tokens(blocks: list[tuple[str, object]]) -> list[Token]:
    tokens: list[Token] = []
    for kind, item in blocks:
        if kind == "line":
            tokens.append(Token(LINE, item))
            continue
        for row in item.rows:
            for cell in row:
                if cell is not None:  # a merged cell is given once, as the HTML reader gives it
                    tokens.append(Token(CELL, cell))
            tokens.append(Token(BREAK))
    return tokens


# -- the file -------------------------------------------------------------
def _pages(pdf, path: Path):
    """The pages one by one; a page whose dictionary is damaged (no MediaBox, a bad object) is the
    file's problem, named by its number, whether pdfplumber fails making it or reading it."""
    for n in range(len(pdf.pages)):
        try:
            yield pdf.pages[n]
        except Exception as exc:
            raise NotAReport(f"PDF 第 {n + 1} 页无法读取：{_why(exc)}", path=str(path)) from None


def pdf_tokens(data: bytes, path: Path) -> list[Token]:
    """The tokens of a text PDF. Refuses (NotAReport, exit 2) a damaged or encrypted file, a scan
    without a text layer, and files too long or too complex to be a report."""
    try:
        import pdfplumber
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise NotAReport("读取 PDF 需要 pdfplumber（pip install pdfplumber）", path=str(path)) from exc
    from io import BytesIO

    logger = logging.getLogger("pdfminer")
    level = logger.level
    logger.setLevel(logging.ERROR)  # pdfminer warns about every odd font on stderr
    start = time.monotonic()
    pages: list[_Page] = []
    images = 0
    try:
        try:
            pdf = pdfplumber.open(BytesIO(data))
        except Exception as exc:
            raise NotAReport(_why(exc), path=str(path)) from None
        try:  # not `with pdf`: closing iterates the pages again, and on a damaged file that raises too
            try:
                count = len(pdf.pages)
            except Exception as exc:
                raise NotAReport(_why(exc), path=str(path)) from None
            if count == 0:
                raise NotAReport("PDF 文件没有页面，无法导入", path=str(path))
            if count > MAX_PAGES:
                raise NotAReport(f"PDF 有 {count} 页，超过 {MAX_PAGES} 页，不像一份年度报告，无法导入",
                                 path=str(path))
            for n, page in enumerate(_pages(pdf, path), start=1):
                if time.monotonic() - start > MAX_SECONDS:
                    raise NotAReport(f"PDF 读取超过 {int(MAX_SECONDS)} 秒仍未完成（文件过于复杂或已损坏），无法导入",
                                     path=str(path))
                try:
                    pages.append(_read_page(page, n, path))
                    images += len(page.images)
                except NotAReport:
                    raise
                except Exception as exc:
                    raise NotAReport(f"PDF 第 {n} 页无法读取：{_why(exc)}", path=str(path)) from None
                finally:
                    try:
                        page.close()
                    except Exception:  # pragma: no cover - releasing a cache
                        pass
        finally:
            try:
                pdf.close()
            except Exception:  # releasing caches of a damaged file: nothing left to read
                pass
    except RecursionError:
        raise NotAReport("PDF 文件结构嵌套过深（已损坏或被构造），无法导入", path=str(path)) from None
    finally:
        logger.setLevel(level)

    text = "".join(ln.text for p in pages for ln in p.lines) + "".join(
        c or "" for p in pages for t in p.tables for r in t.rows for c in r)
    visible = re.sub(r"\s+", "", text)
    if len(visible) < MIN_TEXT_CHARS:
        what = "页面只有图片" if images else "页面上读不到文字"
        raise NotAReport(f"这是扫描件，没有文字层（{what}），无法导入；请使用可复制文字的 PDF 或原 Word 文件",
                         path=str(path))
    unmapped = visible.count("(cid:") * 6 + sum(1 for ch in visible if "\ue000" <= ch <= "\uf8ff")
    if unmapped > len(visible) * 0.3:
        raise NotAReport("PDF 的文字无法识别（字体缺少字符映射，复制出来是乱码），无法导入；请使用原 Word 文件",
                         path=str(path))
    _drop_running(pages)
    return _tokens(_blocks(pages))


def _why(exc: BaseException) -> str:
    """A Chinese reason for a failure inside pdfminer/pdfplumber."""
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    detail = " ".join(str(e) for e in (exc, exc.__cause__) if e is not None)
    if names & {"PDFPasswordIncorrect", "PDFEncryptionError", "PDFEncryptionWarning"} or "password" in detail.lower():
        return "PDF 已加密（需要打开密码），无法导入；请提供未加密的文件"
    if "PDFSyntaxError" in names or "No /Root object" in detail:
        return "不是有效的 PDF 文件（文件已损坏或不完整），无法导入"
    return "PDF 文件已损坏或格式不受支持，无法导入"
