"""Read a published annual report (plain text from its Word file, or a government web page) into a report document.

    >>> report, problems = import_report(Path("report.html"))

Everything is driven by the official labels in the schema: the row titles of tables 二 and 三 are found in
order and the numbers after each are read; table 四 is the 15 numbers after its header cells. A cell that
is blank or "/" becomes None (so `xxgk.validate` reports it at that cell); a cell that cannot be read as a
number becomes None too and is listed in `problems` (Chinese, with its row and column labels). Nothing is
guessed: a row whose numbers cannot be placed in their columns is left empty and reported.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from .errors import NotAReport, SchemaError
from .report import Report, from_document, read_input
from .schema import load_schema

# -- tokens ---------------------------------------------------------------
LINE, CELL, BREAK = "line", "cell", "break"


@dataclass
class Token:
    kind: str  # line (a paragraph or heading) | cell (a table cell) | break (end of a table row)
    text: str = ""


_BLANKS = {"", "/", "／", "\\", "-", "－", "—", "——", "–"}
_UNREADABLE_VALUES = {"无", "零", "空", "暂无", "没有", "不适用"}
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_NUMBERING = re.compile(r"^[一二三四五六七八九十\d]+")
_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")


def _clean(text: str) -> str:
    """NFKC (full-width digits and brackets to ASCII) and no whitespace at all: how cells are compared."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", text)


def _key(text: str) -> str:
    """A label without whitespace or punctuation: "（三）不予公开" -> "三不予公开"."""
    return _PUNCT.sub("", _clean(text))


def _bare(key: str) -> str:
    return _NUMBERING.sub("", key)


MAX_NUMBER_CHARS = 40  # a figure longer than this is no count or amount: left unread (and named), never converted


def _number(text: str):
    cleaned = _clean(text).replace(",", "")
    if len(cleaned) <= MAX_NUMBER_CHARS and _NUMBER.fullmatch(cleaned):
        return float(cleaned) if "." in cleaned else int(cleaned)
    return None


def _is_blank(text: str) -> bool:
    return _clean(text) in _BLANKS


def _is_value(text: str) -> bool:
    """A cell that stands where a number belongs: a number, a blank, "/", or a word like 无."""
    cleaned = _clean(text)
    return (
        cleaned in _BLANKS
        or cleaned in _UNREADABLE_VALUES
        or _number(cleaned) is not None
        or bool(re.fullmatch(r"\d+(?:\.\d+)?[件个条次元万]+", cleaned))
    )


def _matches(cell: str, label: str) -> bool:
    """Does a cell carry this official label? Whitespace, punctuation and numbering style do not matter;
    a shortened label (规范性文件, （二）部分公开) is accepted when it is at least four characters long."""
    return _match_level(cell, label) > 0


def _match_level(cell: str, label: str) -> int:
    """3: the label itself; 2: the same label under another numbering; 1: a shortened label
    (a prefix or suffix of at least four characters); 0: not this label."""
    c, lab = _key(cell), _key(label)
    if not c:
        return 0
    if c == lab:
        return 3
    bc, bl = _bare(c), _bare(lab)
    if bc and bc == bl:
        return 2
    return 1 if len(bc) >= 4 and (bl.endswith(bc) or bl.startswith(bc)) else 0


def _near(cell: str, label: str) -> bool:
    """A misprinted long label: one character different in a label of 6-9 characters, two in one of 10-11,
    three in a longer one (hongze-2024 prints 其他法律行政法规禁止公开 as 其他法律行政止公开); numbering,
    whitespace and punctuation aside. Short labels must match exactly."""
    a, b = _bare(_key(cell)), _bare(_key(label))
    if len(b) < 6 or not a:
        return False
    limit = 1 if len(b) < 10 else 2 if len(b) < 12 else 3
    return abs(len(a) - len(b)) <= limit and 0 < _distance(a, b, limit) <= limit


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance, giving up (limit + 1) once every path is over the limit."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


# -- readers: file -> tokens ----------------------------------------------
def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise NotAReport("无法识别文件的文字编码（应为 UTF-8 或 GB18030）", path=str(path))


def text_tokens(text: str) -> list[Token]:
    """Plain text: from a Word file, a tab-indented line is a table cell (blank if nothing follows the
    tab), an empty line ends a table row, any other line is a paragraph. Text without that layout (from
    `pdftotext -layout` or copied out of a PDF viewer) is read by `_layout_tokens` instead."""
    lines = [_BOOKMARK.sub("", raw) for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    if sum(1 for raw in lines if _tab_cell(raw)) < 5:
        return _layout_tokens(lines)
    tokens: list[Token] = []
    for raw in lines:
        if not raw.strip():
            tokens.append(Token(CELL, "") if "\t" in raw else Token(BREAK))
        elif _tab_cell(raw):
            tokens.append(Token(CELL, raw.strip()))
        else:
            tokens.append(Token(LINE, raw.strip()))
    return tokens


def _tab_cell(raw: str) -> bool:
    return bool(raw.strip()) and (raw.startswith("\t") or (raw[:1] in " \u3000" and "\t" in raw[:4]))


_GAP = re.compile(r"[ \u3000\xa0]{2,}|\t")
_SPACE = re.compile(r"[\s\u3000\xa0]+")
_PAGE_NUMBER = re.compile(r"^[-—–－]?\s*\d{1,3}\s*[-—–－]?$|^第\s*\d+\s*页")


def _layout_tokens(lines: list[str]) -> list[Token]:
    """Text whose table cells are separated by spaces (pdftotext -layout) or stand one per line (a copy
    from a PDF viewer). A line is a table row when it has a gap of two or more spaces (or a tab) inside
    it, or ends in figures after a label, or is a row of figures; such a line is split at every space
    into CELLs and ends with a BREAK. Next to such rows, a line with a space between two Chinese
    characters (label fragments of a merged cell, "三、本年 （一）予以公开") is a row too, and a short
    line without sentence punctuation is a label fragment (a CELL). A lone figure is a CELL when it
    stands among other figures or after a label, so a page number between paragraphs stays a LINE.
    Anything else (paragraphs, where pdftotext puts single spaces around digits) stays a LINE."""
    bodies = [raw.replace("\f", "").strip(" \t\u3000\xa0") for raw in lines]
    chunks = [[c for c in _SPACE.split(b) if c] for b in bodies]
    n = len(bodies)
    kind = [""] * n  # "" blank | row | value (a lone figure) | label | line

    def strong(i: int) -> bool:
        cs = chunks[i]
        if len(cs) < 2:
            return False
        if _GAP.search(bodies[i]):
            return True
        trailing = 0
        for c in reversed(cs):
            if not _is_value(c):
                break
            trailing += 1
        numeric = sum(1 for c in cs[len(cs) - trailing:] if _number(c) is not None)
        return trailing >= 2 and numeric >= 1 and not _PAGE_NUMBER.match(bodies[i])

    def labelish(i: int) -> bool:
        text = bodies[i]
        return (len(chunks[i]) == 1 and len(text) <= 60 and _part_of(text) is None
                and text[-1] not in "。；;！？!?：:" and not _is_value(text))

    for i in range(n):
        if not bodies[i]:
            continue
        kind[i] = "row" if strong(i) else "line"
    near = lambda i, kinds: any(0 <= j < n and kind[j] in kinds for j in (i - 1, i + 1))  # noqa: E731
    for i in range(n):
        if kind[i] == "line" and len(chunks[i]) > 1 and _part_of(bodies[i]) is None \
                and _CJK_SPACE.search(bodies[i]) and near(i, ("row",)):
            kind[i] = "row"
    for i in range(n):
        if kind[i] == "line" and len(chunks[i]) == 1 and _is_value(bodies[i]):
            lone_values = any(0 <= j < n and len(chunks[j]) == 1 and _is_value(bodies[j]) for j in (i - 1, i + 1))
            if lone_values or near(i, ("row",)) or (i > 0 and kind[i - 1] == "line" and labelish(i - 1)):
                kind[i] = "value"
    for i in range(n):
        if kind[i] == "line" and labelish(i):
            after = kind[i + 1] if i + 1 < n else ""
            before = kind[i - 1] if i > 0 else ""
            if after == "value" or (after in ("row", "value", "label") and before in ("row", "value", "label")):
                kind[i] = "label"

    tokens: list[Token] = []
    for i in range(n):
        if kind[i] == "":
            tokens.append(Token(BREAK))
        elif kind[i] == "row":
            tokens.extend(Token(CELL, c) for c in chunks[i])
            tokens.append(Token(BREAK))
        elif kind[i] in ("value", "label"):
            tokens.append(Token(CELL, bodies[i]))
        else:
            tokens.append(Token(LINE, bodies[i]))
    return tokens


_CJK_SPACE = re.compile(r"[^\x00-\x7f][ \u3000\xa0]+[^\x00-\x7f]")


_BLOCK = {
    "p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section", "article", "title",
    "header", "footer", "nav", "blockquote", "pre", "hr", "dd", "dt", "form", "center",
}
_SKIP = {"script", "style", "noscript", "template", "head"}


class _Page(HTMLParser):
    """Paragraphs outside tables become LINE tokens; each table becomes a grid (rowspan and colspan
    expanded: a merged cell's text is repeated in every position it covers), emitted row by row."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tokens: list[Token] = []
        self.title = ""
        self._line: list[str] = []
        self._skip = 0
        self._in_title = False
        self._tables: list[dict] = []  # stack: rows [[(text, rowspan, colspan)]], current row, current cell

    # paragraphs
    def _flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self._line).replace("\xa0", " ")).strip()
        self._line = []
        if text:
            self.tokens.append(Token(LINE, text))

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            if tag == "head":
                return  # the <title> inside <head> is wanted
            self._skip += 1
            return
        if tag == "title":
            self._in_title = True
            return
        if tag == "table":
            if not self._tables:
                self._flush()
            self._tables.append({"rows": [], "row": None, "cell": None})
            return
        if self._tables:
            table = self._tables[-1]
            if tag == "tr":
                table["row"] = []
                table["rows"].append(table["row"])
            elif tag in ("td", "th"):
                if table["row"] is None:
                    table["row"] = []
                    table["rows"].append(table["row"])
                attr = dict(attrs)
                cell = {"text": [], "rowspan": _span(attr.get("rowspan")), "colspan": _span(attr.get("colspan"))}
                table["row"].append(cell)
                table["cell"] = cell
            return
        if tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag):
        if tag in _SKIP:
            if tag != "head":
                self._skip = max(0, self._skip - 1)
            return
        if tag == "title":
            self._in_title = False
            return
        if tag == "table" and self._tables:
            table = self._tables.pop()
            if self._tables:  # a table inside a cell: its text joins the outer cell
                outer = self._tables[-1].get("cell")
                if outer is not None:
                    outer["text"].append("".join("".join(c["text"]) for r in table["rows"] for c in r))
            else:
                self._emit(table["rows"])
            return
        if self._tables:
            if tag in ("td", "th"):
                self._tables[-1]["cell"] = None
            elif tag == "tr":
                self._tables[-1]["row"] = None
            return
        if tag in _BLOCK:
            self._flush()

    def handle_data(self, data):
        if self._skip:
            return
        if self._in_title:
            self.title += data
            return
        if self._tables:
            cell = self._tables[-1]["cell"]
            if cell is not None:
                cell["text"].append(data)
            return
        self._line.append(data)

    def close(self):
        super().close()
        while self._tables:
            self._emit(self._tables.pop()["rows"])
        self._flush()

    def _emit(self, rows: list[list[dict]]) -> None:
        # (text, first column of a merged cell?) per position; a merged cell's later columns are not
        # emitted (a number spanning three columns is one number), its later rows repeat its text
        grid: dict[tuple[int, int], tuple[str, bool]] = {}
        for r, row in enumerate(rows):
            c = 0
            for cell in row:
                while (r, c) in grid:
                    c += 1
                text = _clean("".join(cell["text"]))
                for dr in range(cell["rowspan"]):
                    for dc in range(cell["colspan"]):
                        grid[(r + dr, c + dc)] = (text, dc == 0)
                c += cell["colspan"]
        height = max((r for r, _ in grid), default=-1) + 1
        for r in range(height):
            width = max((c for rr, c in grid if rr == r), default=-1) + 1
            for c in range(width):
                text, first = grid.get((r, c), ("", True))
                if first:
                    self.tokens.append(Token(CELL, text))
            self.tokens.append(Token(BREAK))


def _span(value) -> int:
    try:
        return max(1, min(int(str(value).strip()), 100))
    except (TypeError, ValueError):
        return 1


def html_tokens(text: str) -> tuple[list[Token], str]:
    page = _Page()
    page.feed(text)
    page.close()
    return page.tokens, re.sub(r"\s+", " ", page.title).strip()


# -- the report's parts ---------------------------------------------------
_PART_NUMBERS = "一二三四五六"
_PART_WORDS = {
    1: (("总体情况",),),
    2: (("主动公开",),),
    3: (("收到和处理",), ("依申请",), ("申请情况",)),
    4: (("行政复议",), ("行政诉讼",)),
    5: (("问题",), ("改进",), ("整改",)),
    6: (("其他", "事项"), ("其它", "事项")),
}
_HEADING = re.compile(r"^([一二三四五六1-6])\s*[、.．,，:：]?\s*(.*)$")


def _part_of(line: str) -> int | None:
    """The part number (1-6) of a part heading such as "5、 存在问题及整改情况", else None."""
    text = unicodedata.normalize("NFKC", line).strip()
    if len(_clean(text)) > 40:
        return None
    m = _HEADING.match(text)
    if not m or not m.group(2):
        return None
    first = m.group(1)
    number = int(first) if first.isdigit() else _PART_NUMBERS.index(first) + 1
    rest = _clean(m.group(2))
    if not re.match(r"[一二三四五六1-6]\s*[、.．,，:：\s]", text) and not any(
            rest.startswith(w) for words in _PART_WORDS[number] for w in words + ("存在", "政府信息公开")):
        return None  # "2021年主动公开…", "六是其他事项…": a sentence, not a heading
    if re.search(r"[。，；,;]", rest):
        return None  # "2.主动公开方面，全年…": a numbered sentence of a text
    if any(all(w in rest for w in words) for words in _PART_WORDS[number]):
        return number
    return None


_TELLTALES_2019 = ("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "政府集中采购")
_FOOTER = re.compile(
    r"^(附件|扫一扫|关闭|打印|分享|相关链接|上一篇|下一篇|【|责任编辑|版权所有|主办|承办|网站标识码|ICP|"
    r"微信|微博|字号|来源[:：]|浏览次数)"
)

# -- the title: agency and year ----------------------------------------------
# The official wording and the usual variants: 政府信息公开工作年度报告, 年度政府信息公开工作报告,
# 政府信息公开年度报告 (and 政务公开…); the agency before or after the year; 年 or 年度.
_REPORT_WORDS = r"(?:年度)?(?:政府信息公开|政务公开|信息公开)(?:工作)?(?:年度)?(?:工作)?(?:年报|报告)"
_TITLE_TAIL = r"(?:[(（][^()（）]{1,20}[)）])?"  # （全文）, （修订）
_AGENCY_FIRST = re.compile(rf"(?P<agency>.*?)(?P<year>(?:19|20)\d\d)年度?{_REPORT_WORDS}{_TITLE_TAIL}")
_YEAR_FIRST = re.compile(rf"(?P<year>(?:19|20)\d\d)年度?(?P<agency>.+?){_REPORT_WORDS}{_TITLE_TAIL}")
_TITLE_PREFIX = re.compile(r"^(?:标题|题目|文章标题)[:：]|^关于")
_SEGMENTS = re.compile(r"[_|｜]+|\s+[-—–－]+\s+|[-—–－]{1,2}")  # "report_site name", "report - site"
_AGENCY_CHARS = re.compile(r"[\u3400-\u9fffA-Za-z0-9（）()·〇]{2,40}")
_NOT_AGENCY = ("根据", "公布", "条例", "首页", "当前位置", "现将", "印发", "如下", "年报", "年度报告")
_GENERIC = {"政府", "人民政府", "政务", "本机关", "本单位", "我局", "我委", "我办", "本局", "政府信息公开", "信息公开", "政务公开"}
_AGENCY_END = re.compile(r"(政府|办公室|办公厅|厅|局|委员会|委|办|街道|镇|乡|区|县|市|省|院|中心|管委会|署|所|站|部|处|会)$")
_PAREN_END = re.compile(r"[（(][^（）()]*[）)]$")  # 清风街道（虚构示例）: the name ends before its remark
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _squeeze(text: str) -> str:
    """No whitespace, ASCII digits; other characters kept as written (an agency's （） stay full-width)."""
    return re.sub(r"\s+", "", text.translate(_FULLWIDTH_DIGITS))


def _agency_ok(agency: str) -> bool:
    """A name, not a sentence, a breadcrumb or a site's section: no punctuation, no preamble words."""
    return (bool(_AGENCY_CHARS.fullmatch(agency)) and agency not in _GENERIC
            and not any(w in agency for w in _NOT_AGENCY))


def _title_in(text: str) -> tuple[str | None, int] | None:
    """(agency or None, year) when `text` (or one of its "_"/"-" separated parts) is a report title."""
    if re.search(r"[>＞»›]|当前位置", text):
        return None  # a breadcrumb, even if its last crumb is the title
    year_only = None
    for segment in _SEGMENTS.split(text):
        s = _TITLE_PREFIX.sub("", _squeeze(segment))
        for pattern in (_AGENCY_FIRST, _YEAR_FIRST):
            m = pattern.fullmatch(s)
            if not m:
                continue
            agency = re.sub(r"关于$", "", m.group("agency"))
            if pattern is _YEAR_FIRST and agency.endswith("人民"):
                agency += "政府"  # 2022年××市人民政府信息公开…: 人民政府 + 信息公开
            if _agency_ok(agency):
                return agency, int(m.group("year"))
            if not agency or agency in _GENERIC:
                year_only = year_only or (None, int(m.group("year")))
    return year_only


def _find_title(page_title: str, lines: list[str], last: bool = True) -> tuple[str | None, int | None]:
    """Agency and year from the page's <title>, else from a heading among `lines` (the lines above
    part 一; the last title there, as site menus list other reports first). A title broken over two
    lines is joined; an agency on the first line above a title without one is taken; nothing else is."""
    found: list[tuple[str | None, int]] = []
    if page_title:
        hit = _title_in(page_title)
        if hit and hit[0]:
            return hit
        if hit:
            found.append(hit)
    body: list[tuple[str | None, int]] = []
    for i, line in enumerate(lines):
        hit = _title_in(line)
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if hit is None and following and re.search(r"(?:19|20)\d\d\s*年", line) and _title_in(following) is None:
            hit = _title_in(line + following)  # 富阳区鹿山街道2021年政府信息公开工作 / 年度报告
        if hit and hit[0] is None and i == 1 and _agency_ok(_squeeze(lines[0])) and _AGENCY_END.search(_PAREN_END.sub("", _squeeze(lines[0]))):
            hit = (_squeeze(lines[0]), hit[1])  # 上海市××局 / 2022年政府信息公开工作年度报告
        if hit:
            body.append(hit)
    full = [h for h in body if h[0]]
    if full:
        return full[-1] if last else full[0]
    found.extend(body)
    return (None, found[0][1]) if found else (None, None)


# -- texts: page furniture, and the fee figures of 六 ---------------------------------
_PAGE_NUMBER = re.compile(
    r"[-—–~_]+\s*\d{1,4}\s*[-—–~_]+|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?|共\s*\d{1,4}\s*页\s*[,，]?\s*第\s*\d{1,4}\s*页"
    r"|\d{1,4}\s*/\s*\d{1,4}|\d{1,3}|[Pp]age\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?"
)
_EDGE_PAGE_NUMBER = re.compile(
    r"^[-—–－]\s*\d{1,4}\s*[-—–－]\s+|\s+[-—–－]\s*\d{1,4}\s*[-—–－]$"
    r"|\s+(?:共\s*\d{1,4}\s*页\s*)?第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?$"
)
_DATE_LINE = re.compile(r"(?:\d{4}|[〇零一二三四五六七八九]{4})年[\d〇零一二三四五六七八九十]{1,3}月[\d〇零一二三四五六七八九十]{1,3}日")


def _without_page_number(text: str) -> str:
    """A line with a page number ("- 5 -") run into its start or end, as text taken from a PDF has it."""
    return _EDGE_PAGE_NUMBER.sub("", text).strip()


def _running_lines(lines: list[str], agency: str | None) -> set[str]:
    """Short lines that recur page after page (a running header or footer), never a sentence or a
    numbered heading: the same line three times, or twice when it names the agency or the report."""
    counts: dict[str, int] = {}
    for line in lines:
        key = _squeeze(_without_page_number(line))
        counts[key] = counts.get(key, 0) + 1
    found = set()
    for key, count in counts.items():
        if not 4 <= len(key) <= 40 or re.search(r"[。；;！!？?：:，,]$", key) or _part_of(key):
            continue
        if re.match(r"^[(（]?[一二三四五六七八九十\d]+[)）、.．]", key):
            continue
        named = (agency and key == agency) or "信息公开" in key and "报告" in key
        if count >= 3 or (count >= 2 and named):
            found.add(key)
    return found


_FEE_NUM = r"(\d[\d,]*(?:\.\d+)?|[零〇一二两三四五六七八九十]+)"
# The sentence `publish.fee_sentence` writes; `xxgk import` takes it back into fees.*.
_OWN_FEE_SENTENCE = re.compile(
    r"(?:本年度发出信息处理费收费通知(\d+)件)?[，,]?(?:收费通知总金额(\d+(?:\.\d+)?)元)?[，,]?"
    r"(?:实际收取信息处理费(\d+(?:\.\d+)?)元)?。"
)
_FEE_NOTICES = (
    re.compile(r"通知(?:书|单)?[^\d零〇一二两三四五六七八九十，]{0,12}?" + _FEE_NUM + r"(?:件|份|张)"),
    re.compile(_FEE_NUM + r"(?:件|份|张)[^，]{0,8}?(?:收费|缴费)通知"),
    re.compile(r"通知[^，]{0,6}件数(?:为|是|共|合计)?" + _FEE_NUM),
)
_NO_NOTICES = re.compile(r"(?:未|没有|无|未曾|不曾|并未)(?:向[^，]{0,12}?)?(?:发出|开具|下发|送达|发放|产生)?过?"
                         r"(?:任何)?(?:信息处理费)?(?:的)?(?:收费|缴费)通知")
_NOT_COLLECTED = re.compile(
    r"(?:未|没有|无|不|未曾|不曾|并未|无需)(?:发生|进行|存在|产生)?(?:向[^，]{0,12}?)?(?:实际)?(?:收取|收费(?!通知))"
    r"|(?:未|没有|无)(?:产生|发生)?(?:任何)?信息处理费(?!收费通知)"
)
_FEE_NAMES = {"fees.notices": "收费通知件数", "fees.amount_billed": "收费通知总金额",
              "fees.amount_collected": "实际收取的总金额"}
_FEE_AMOUNT = re.compile(_FEE_NUM + r"(万)?元")
_CHINESE_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}


def _fee_number(text: str):
    text = text.replace(",", "")
    if text[0].isdigit():
        return float(text) if "." in text else int(text)
    if text in _CHINESE_DIGITS:
        return _CHINESE_DIGITS[text]
    m = re.fullmatch(r"([一二三四五六七八九])?十([一二三四五六七八九])?", text)
    if m:
        return _CHINESE_DIGITS.get(m.group(1) or "一") * 10 + _CHINESE_DIGITS.get(m.group(2) or "零")
    return None


def fees_stated(text: str) -> tuple[dict, dict[str, list]]:
    """The fee figures (fees.notices, fees.amount_billed, fees.amount_collected) that a text of 六 states,
    and the figures it states in two different ways (left out, with the values given). 未收取信息处理费 states only the amount collected;
    未发出收费通知 states the notices and their amount (both 0); a figure not stated is not in the result."""
    values: dict[str, set] = {}

    def put(fact_id: str, value) -> None:
        if value is not None:
            values.setdefault(fact_id, set()).add(int(value) if float(value).is_integer() else value)

    for sentence in re.split(r"[。；;！!\n]", _squeeze(text)):
        if not re.search(r"费|收取|实收|应收", sentence):
            continue
        if re.search(r"(?:均|都|皆)(?:为|是)(?:0|零)(?:元|件)?$", sentence):  # 件数、总金额、实际收取的总金额均为0
            if "通知" in sentence or "件数" in sentence:
                put("fees.notices", 0)
            if re.search(r"应收|总金额|通知金额|收费金额", sentence.replace("实际收取的总金额", "")):
                put("fees.amount_billed", 0)
            if re.search(r"实际收取|实收|收取的", sentence):
                put("fees.amount_collected", 0)
            continue
        notices_here = "通知" in sentence
        for clause in re.split(r"[，：:]|,(?!\d)", sentence):
            if _NO_NOTICES.search(clause):
                put("fees.notices", 0)
                put("fees.amount_billed", 0)
            else:
                m = next((m for m in (p.search(clause) for p in _FEE_NOTICES) if m), None)
                if m:
                    put("fees.notices", _fee_number(m.group(1)))
            for m in _FEE_AMOUNT.finditer(clause):
                amount = _fee_number(m.group(1))
                if amount is not None and m.group(2):
                    amount = amount * 10000
                if re.search(r"应收|应缴", clause):
                    put("fees.amount_billed", amount)
                elif re.search(r"实收|实际收|已收|收取|收缴|收到", clause):
                    put("fees.amount_collected", amount)
                elif notices_here and re.search(r"通知|金额|合计|共计", clause):
                    put("fees.amount_billed", amount)
            if _NOT_COLLECTED.search(clause) and not _FEE_AMOUNT.search(clause):
                put("fees.amount_collected", 0)
    stated = {k: next(iter(v)) for k, v in values.items() if len(v) == 1}
    return stated, {k: sorted(v) for k, v in values.items() if len(v) > 1}


class _Reader:
    def __init__(self, tokens: list[Token], path: Path, title: str = ""):
        self.tokens = tokens
        self.path = path
        self.title = title
        self.schema = load_schema()
        self.flat: dict = {"format": "2021"}
        self.problems: list[str] = []
        # what the table printed where a number belongs but none is: "" (blank), "/", "-", "——", 不适用.
        # validate words its findings with it ("公布的表格中此格为“/”"), so these are not import problems.
        self.marks: dict[str, str] = {}

    def describe(self, fact_id: str) -> str:
        try:
            return self.schema.describe(fact_id)
        except (SchemaError, KeyError):  # pragma: no cover - every fact is on a sheet
            return fact_id

    # the parts
    def headings(self) -> dict[int, int]:
        found: dict[int, int] = {}
        last = -1
        for i, tok in enumerate(self.tokens):
            if tok.kind != LINE:
                continue
            part = _part_of(tok.text)
            if part and part not in found and i > last and all(p < part for p in found):
                found[part] = i
                last = i
        return found

    def run(self) -> tuple[dict, list[str]]:
        cells = {_key(t.text) for t in self.tokens if t.kind == CELL}
        alltext = "".join(_key(t.text) for t in self.tokens if t.kind in (CELL, LINE))
        tells = [w for w in _TELLTALES_2019 if any(w in c for c in cells)]
        if "六其他处理" in cells and "申请人无正当理由逾期不补正" not in alltext:
            tells.append("单一的（六）其他处理")
        if len(tells) >= 2:
            raise NotAReport(
                "这是 2019 年试行格式（国办公开办函〔2019〕60号）的年度报告（含有"
                + "、".join(tells)
                + "），不是 2021 年格式（国办公开办函〔2021〕30号），无法导入",
                path=str(self.path),
            )

        heads = self.headings()
        top = min(heads.values()) if heads else len(self.tokens)  # the title stands above part 一
        lines = [t.text for t in self.tokens[:top] if t.kind == LINE][-80:] if heads else \
            [t.text for t in self.tokens if t.kind == LINE][:80]
        agency, year = _find_title(self.title, lines, last=bool(heads))
        n = len(self.tokens)

        def span(part: int, default_start: int = 0) -> tuple[int, int]:
            start = heads.get(part, default_start)
            following = [i for p, i in heads.items() if p > part and i > start]
            return start, (min(following) if following else n)

        rows3 = self.schema.rows("applications")
        label_hits = sum(
            1 for t in self.tokens if t.kind == CELL and any(
                _key(t.text) == _key(self.schema.titles(f"applications.{r}")[-1]) for r in rows3[:3]
            )
        )
        if label_hits == 0 and not (agency and len(heads) >= 4):
            raise NotAReport(
                "不是政府信息公开工作年度报告：没有找到表三「收到和处理政府信息公开申请情况」的行标题"
                "（如「一、本年新收政府信息公开申请数量」）",
                path=str(self.path),
            )
        if year is None:
            self.problems.append("未找到报告标题（如「××2021年政府信息公开工作年度报告」），机关名称和年度未读出，请补填")
        elif agency is None:
            self.problems.append(f"报告标题中没有机关名称（只有「{year}年」），机关名称未读出，请补填")
        if agency is not None:
            self.flat["agency"] = agency
        if year is not None:
            self.flat["year"] = year

        s2, e2 = span(2)
        s3, e3 = span(3, s2)
        s4, e4 = span(4, s3)
        self.read_rows("proactive", s2, e2)
        self.read_rows("applications", s3, e3)
        self.read_reviews(s4 if 4 in heads else None, e4)
        self.read_texts(heads, agency)
        return self.schema.nest(self.flat), self.problems

    # tables
    def read_rows(self, root: str, start: int, end: int) -> None:
        pos = start
        table = "表二" if root == "proactive" else "表三"
        rows = self.schema.rows(root)
        labels = {row: self.schema.titles(f"{root}.{row}")[-1] for row in rows}
        order = None  # table 三's columns as printed (an eighth, 法人或其他组织 subtotal, is "subtotal")
        skip: set[str] = set()
        for row in rows:
            if row in skip:
                continue
            row_path = f"{root}.{row}"
            label = labels[row]
            columns = self.schema.columns(row_path)
            if root == "applications" and order is None:
                first = self.find_row(label, [labels[r] for r in rows if r != row], start, end, quiet=True)
                order = self.columns3(start, first if first is not None else end, columns)
            if root == "applications" and row == "results.other.no_correction":
                single = self.read_single_other(pos, end, labels, order)
                if single is not None:
                    pos = single
                    skip = {"results.other.unpaid_fees", "results.other.other"}
                    continue
            at = self.find_row(label, [labels[r] for r in rows if r != row], pos, end)
            if at is None:
                self.problems.append(f"{table}：未找到行「{label}」，该行各数值未读出")
                continue
            # a merged label repeated by colspan/rowspan expansion
            while at + 1 < end and self.tokens[at + 1].kind == CELL and _matches(self.tokens[at + 1].text, label):
                at += 1
            pos = at + 1
            where = f"{table}「{label}」"
            first = self.skip_fragments(at + 1, end, list(labels.values()))
            if root == "applications" and order != list(columns):
                values, pos = self.read_values(first, end, len(order))
                values = self.drop_subtotal(values, order, where, columns)
            else:
                values, pos = self.read_values(first, end, len(columns))
            self.assign([f"{row_path}.{c}" for c in columns], values, where)

    def find_row(self, label: str, others: list[str], start: int, end: int, quiet: bool = False) -> int | None:
        """The cell carrying a row label: the label itself first, then under another numbering, then a
        shortened label that fits no other row (a wrapped label's tail, "不再处理其政府信息公开申请",
        fits two), then a misprint of a long label, named in the problems."""
        cells = [i for i in range(start, end) if self.tokens[i].kind == CELL and self.tokens[i].text]
        for level in (3, 2, 1):
            for i in cells:
                text = self.tokens[i].text
                if _match_level(text, label) == level and (
                        level > 1 or not any(_matches(text, other) for other in others)):
                    return i
        for i in cells:  # a label broken into cells on one line: "3." "危及" "“" "三安全一"
            joined = ""
            for k in range(i, min(i + 5, end)):
                if self.tokens[k].kind != CELL or _is_value(self.tokens[k].text):
                    break
                joined += self.tokens[k].text
                if k > i and _match_level(joined, label) and not any(_matches(joined, o) for o in others):
                    return k
        for i in cells:
            text = self.tokens[i].text
            if _near(text, label) and not any(_matches(text, o) or _near(text, o) for o in others):
                if not quiet:
                    self.problems.append(f"行标题「{_clean(text)}」与官方的「{label}」不完全相同，已按「{label}」读入，请核实")
                return i
        return None

    def skip_fragments(self, start: int, end: int, labels: list[str]) -> int:
        """Where a row's values start: after the rest of a label wrapped onto the next line ("的，只计
        这一情形，不计其 5 0 0 …"), i.e. cells that are no figure and no row label, at most six."""
        i, skipped = start, 0
        while i < end and skipped <= 6:
            tok = self.tokens[i]
            if tok.kind == BREAK:
                i += 1
                continue
            if tok.kind != CELL or _is_value(tok.text) or any(_matches(tok.text, lab) for lab in labels):
                break
            i += 1
            skipped += 1
        if i < end and skipped and self.tokens[i].kind == CELL and _is_value(self.tokens[i].text):
            return i
        return start

    _COLUMNS3 = {
        "natural_persons": ("自然人",), "commercial": ("商业企业",), "research": ("科研机构",),
        "nonprofit": ("社会公益组织",), "legal_services": ("法律服务机构",), "other_orgs": ("其他",),
        "subtotal": ("小计", "合计", "法人或其他组织小计", "法人或其他组织合计"), "total": ("总计", "合计总计"),
    }

    def columns3(self, start: int, end: int, columns: list[str]) -> list[str]:
        """Table 三's columns in the order printed. The official seven, unless the header (the cells
        before the first row) carries a 法人或其他组织 subtotal — 小计/合计, or 法人或其他组织 printed
        after 其他 in one header row; the order is then that header row's, when every column is named
        in it once, else the official order with the subtotal between 其他 and 总计."""
        header_rows: list[list[str]] = [[]]
        for tok in self.tokens[start:end]:
            if tok.kind == BREAK:
                header_rows.append([])
            elif tok.kind == CELL and tok.text:
                header_rows[-1].append(_key(tok.text))

        def column_of(key: str) -> str | None:
            for column, names in self._COLUMNS3.items():
                if any(key == _key(name) for name in names):
                    return column
            return None

        subtotal = False
        named: list[str] | None = None
        for cells in header_rows:
            found = [column_of(c) for c in cells]
            if "other_orgs" in found and any(
                    c == _key("法人或其他组织") for c in cells[found.index("other_orgs") + 1:]):
                found = [f if f or c != _key("法人或其他组织") or i < found.index("other_orgs") else "subtotal"
                         for i, (f, c) in enumerate(zip(found, cells))]
            if "subtotal" in found:
                subtotal = True
            ordered = [f for i, f in enumerate(found) if f and (i == 0 or found[i - 1] != f)]
            if "subtotal" in ordered and sorted(ordered) == sorted(list(columns) + ["subtotal"]):
                named = ordered
        if not subtotal:
            return list(columns)
        if named:
            return named
        return list(columns[:-1]) + ["subtotal", columns[-1]]

    def drop_subtotal(self, values: list[str] | None, order: list[str], where: str,
                      columns: list[str]) -> list[str] | None:
        """Values in the official column order; the printed 法人或其他组织 subtotal is checked against
        the five organisation columns and then left out (it is not a fact of the official format)."""
        if values is None:
            return None
        by = dict(zip(order, values))
        if "subtotal" in by:
            parts = [_number(by[c]) for c in ("commercial", "research", "nonprofit", "legal_services", "other_orgs")]
            sub = _number(by["subtotal"])
            if sub is not None and all(p is not None for p in parts) and sum(parts) != sub:
                self.problems.append(
                    f"{where}：法人或其他组织小计为 {by['subtotal']}，与商业企业、科研机构、社会公益组织、"
                    f"法律服务机构、其他五列之和 {sum(parts)} 不符（五列已按原表读入，小计未采用）")
        return [by[c] for c in columns]

    def read_single_other(self, pos: int, end: int, labels: dict, order: list[str]) -> int | None:
        """（六）其他处理 printed as one row (as the 2019 form had it) instead of its three official rows.
        A row of zeros gives the three rows (all zero); any other figures cannot be split, so the three
        rows are left blank and the problems say why. None when the table has the three rows."""
        rows = ("results.other.no_correction", "results.other.unpaid_fees", "results.other.other")
        stop = self.find_row(labels["results.total"], [], pos, end, quiet=True) or end
        at = next((i for i in range(pos, stop) if self.tokens[i].kind == CELL
                   and _bare(_key(self.tokens[i].text)) == "其他处理"), None)
        if at is None:
            return None
        j = at + 1
        while j < stop and self.tokens[j].kind == BREAK:
            j += 1
        if j >= stop or self.tokens[j].kind != CELL or not _is_value(self.tokens[j].text):
            return None  # a group label: the three rows follow
        values, after = self.read_values(at + 1, end, len(order))
        columns = self.schema.columns("applications.results.other.no_correction")
        values = self.drop_subtotal(values, order, "表三「（六）其他处理」", columns)
        if values is not None and all(_number(v) == 0 for v in values):
            self.problems.append("表三：「（六）其他处理」印成一行（官方格式分为 3 行），该行全为 0，三行均按 0 读入")
            for row in rows:
                self.assign([f"applications.{row}.{c}" for c in columns], values, "")
        else:
            self.problems.append("表三：「（六）其他处理」印成一行（官方格式分为 3 行），其中有非 0 的数或空格，"
                                 "无法分到三行，这三行已留空，请对照原文核实")
            for row in rows:
                for c in columns:
                    self.flat[f"applications.{row}.{c}"] = None
        return after

    def read_reviews(self, start: int | None, end: int) -> None:
        ids = [f"reviews.{r}.{c}" for r in self.schema.rows("reviews") for c in self.schema.columns(f"reviews.{r}")]
        headers = {_key(x) for i in ids for x in self.schema.facts[i].labels[1:]}
        headers |= {_key(self.schema.facts[i].group) for i in ids if self.schema.facts[i].group}
        headers.add("行政诉讼")
        if start is None:
            self.problems.append("未找到第四部分「政府信息公开行政复议、行政诉讼情况」，表四各数值未读出")
            return
        last = None
        for i in range(start, end):  # header cells; in text copied cell by cell they may be LINEs
            if self.tokens[i].kind in (CELL, LINE) and _key(self.tokens[i].text) in headers:
                last = i
        if last is None:
            self.problems.append("表四：未找到表头（结果维持、结果纠正……），表四各数值未读出")
            return
        # fragments of a header split over lines ("结果维" / "持") after the last whole header cell
        first = last + 1
        while first < end and (self.tokens[first].kind == BREAK or (
                self.tokens[first].kind in (CELL, LINE) and len(_clean(self.tokens[first].text)) <= 8
                and not _is_value(self.tokens[first].text))):
            first += 1
        values, _ = self.read_values(first, end, len(ids))
        self.assign(ids, values, "表四")

    def read_values(self, start: int, end: int, count: int) -> tuple[list | None, int]:
        """The `count` cells after a row label. Positional when the row's own cells (up to the end of
        the row) are exactly `count` (blanks kept in place); otherwise exactly `count` non-blank values
        in the cells that follow; otherwise None: the values cannot be placed in their columns."""
        i = start
        while i < end and self.tokens[i].kind == BREAK:
            i += 1
        segment: list[str] = []
        values: list[str] = []
        in_first = True
        while i < end:
            tok = self.tokens[i]
            if tok.kind == BREAK:
                in_first = False
            elif _is_value(tok.text) and (tok.kind == CELL or _number(tok.text) is not None):
                if in_first:
                    segment.append(tok.text)
                if not _is_blank(tok.text):
                    values.append(tok.text)
            else:
                break
            i += 1
        if len(segment) == count:
            return segment, i
        if len(values) == count:
            return values, i
        return None, i if values or segment else start

    def assign(self, ids: list[str], values: list[str] | None, where: str) -> None:
        if values is None:
            self.problems.append(f"{where}：读不出 {len(ids)} 个数值（单元格数目与列数不符），该行已留空，请对照原文核实")
            for fact_id in ids:
                self.flat[fact_id] = None
            return
        for fact_id, text in zip(ids, values):
            number = _number(text)
            if _is_blank(text) or _clean(text) == "不适用":
                self.marks[fact_id] = _clean(text)
                if _clean(text) == "不适用":  # a word, not a blank: named here as well
                    self.problems.append(f"{self.describe(fact_id)}：原表为「不适用」（官方格式应填 0），已留空")
            elif number is None:
                self.problems.append(f"{self.describe(fact_id)}：「{text}」不是数字，已留空")
            if number is not None and self.schema.facts[fact_id].kind != "amount" and isinstance(number, float):
                if number.is_integer():
                    number = int(number)
                else:
                    self.problems.append(f"{self.describe(fact_id)}：「{text}」不是整数，已留空")
                    number = None
            self.flat[fact_id] = number

    # texts
    def read_texts(self, heads: dict[int, int], agency: str | None) -> None:
        """The texts of 一, 五 and 六 as the report wrote them: without page numbers, running headers and
        footers (a PDF's), a page's own footer after 六, the signature, or the fee sentence `publish` adds."""
        n = len(self.tokens)
        names = {1: ("overview", "一、总体情况"), 5: ("problems", "五、存在的主要问题及改进情况"),
                 6: ("other_matters", "六、其他需要报告的事项")}
        repeated = _running_lines([t.text for t in self.tokens if t.kind == LINE], agency)
        for part, (name, title) in names.items():
            if part not in heads:
                self.problems.append(f"未找到第{_PART_NUMBERS[part - 1]}部分「{title[2:]}」的标题，该部分文字未读出")
                continue
            start = heads[part] + 1
            following = [i for p, i in heads.items() if p > part and i > start]
            end = min(following) if following else n
            lines: list[str] = []
            for tok in self.tokens[start:end]:
                if tok.kind != LINE:
                    if tok.kind == CELL and part == 6 and lines:
                        break  # a table after 六 is the page's, not the report's
                    continue
                text = _without_page_number(tok.text.strip())
                if part == 6 and _FOOTER.match(text):
                    break
                if not text or _PAGE_NUMBER.fullmatch(unicodedata.normalize("NFKC", text).strip()):
                    continue
                if _squeeze(text) in repeated or _title_in(text):
                    continue  # a running header or footer, or the title repeated on each page
                if lines and re.search(r"[A-Za-z]-$", lines[-1]) and re.match(r"[a-z]", text):
                    lines[-1] = lines[-1][:-1] + text  # infor- / mation: hyphenated at the line break
                    continue
                lines.append(text)
            if part == 6:  # the signature: the agency's name and the date
                while lines and _DATE_LINE.fullmatch(_squeeze(lines[-1])):
                    lines.pop()
                while (lines and agency and agency in _squeeze(lines[-1])
                       and len(_squeeze(lines[-1])) <= len(agency) + 12 and not re.search(r"[。，；,;]", lines[-1])):
                    lines.pop()
                own = _OWN_FEE_SENTENCE.fullmatch(_squeeze(lines[-1])) if lines else None
                if own and any(own.groups()):
                    lines.pop()  # written by `xxgk publish` from fees.*: read back as fees, not as text
                self.read_fees("\n".join(lines), own.group(0) if own and any(own.groups()) else "")
            self.flat[f"texts.{name}"] = "\n".join(lines)

    def read_fees(self, text: str, own_sentence: str = "") -> None:
        """fees.* from what 六 states (a figure it does not state is left out); the sentence `publish`
        wrote, if any, gives the figures the text did not already state."""
        stated, conflicts = fees_stated(text)
        own, _ = fees_stated(own_sentence)
        stated.update(own)
        for fact_id, given in conflicts.items():
            if fact_id not in own:
                figures = "、".join(str(v) for v in given)
                self.problems.append(f"六、其他需要报告的事项：信息处理费{_FEE_NAMES[fact_id]}写有不同的数字（{figures}），"
                                     "未读出，请核实")
        self.flat.update(stated)


def import_report(path: Path, data: bytes | None = None) -> tuple[Report, list[str]]:
    """Read a published report (.txt as from its Word file, or .html/.htm) into a report document.

    Returns the report and a list of Chinese problems met while reading (cells that could not be read,
    rows or parts not found). Raises NotAReport for anything that is not a 2021-format annual report.
    `data`: the file's bytes when the caller has already read them with `read_input`."""
    path = Path(path)
    if data is None:
        data = read_input(path)
    suffix = path.suffix.lower()
    title = ""
    if suffix in (".html", ".htm", ".shtml", ".xhtml"):
        tokens, title = html_tokens(_decode(data, path))
    elif suffix == ".txt":
        tokens = text_tokens(_decode(data, path))
    elif suffix == ".docx":
        tokens = docx_tokens(data, path)
    elif suffix == ".pdf":
        from .pdfsource import pdf_tokens  # pdfplumber is loaded only for a PDF

        tokens = pdf_tokens(data, path)
    else:
        raise NotAReport(
            f"不支持导入「{path.suffix or '无扩展名'}」文件，应为 .txt（由 Word 另存的纯文本）、.html、.docx 或 .pdf",
            path=str(path),
        )
    reader = _Reader(tokens, path, title)
    document, problems = reader.run()
    report = from_document(document, path, hashlib.sha256(data).hexdigest())
    report.source = "published"  # blanks are what the body published: findings word them so (validate)
    report.marks = dict(reader.marks)
    return report, problems


# -- .docx (optional): word/document.xml, paragraphs and tables ------------
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def docx_tokens(data: bytes, path: Path) -> list[Token]:
    """Paragraphs and table cells of a Word file, read through the guarded package reader."""
    from .package import DOCUMENT, Package

    package = Package(path, data, DOCUMENT)
    root = package.xml("word/document.xml")
    body = root.find(f"{_W}body")
    tokens: list[Token] = []
    if body is None:
        return tokens

    def text_of(node) -> str:
        return "".join(t.text or "" for t in node.iter(f"{_W}t"))

    for child in body:
        if child.tag == f"{_W}p":
            text = text_of(child).strip()
            if text:
                tokens.append(Token(LINE, text))
        elif child.tag == f"{_W}tbl":
            above: dict[int, str] = {}  # vMerge continuation: the text of the cell above, by column
            for tr in child.iter(f"{_W}tr"):
                c = 0
                texts: dict[int, str] = {}
                for tc in tr.findall(f"{_W}tc"):
                    props = tc.find(f"{_W}tcPr")
                    span = 1
                    merged = False
                    if props is not None:
                        grid = props.find(f"{_W}gridSpan")
                        if grid is not None:
                            span = _span(grid.get(f"{_W}val"))
                        vmerge = props.find(f"{_W}vMerge")
                        merged = vmerge is not None and vmerge.get(f"{_W}val") in (None, "continue")
                    text = above.get(c, "") if merged else _clean(text_of(tc))
                    texts[c] = text  # a cell spanning columns is one cell, as in the HTML grid
                    tokens.append(Token(CELL, text))
                    c += span
                above = texts
                tokens.append(Token(BREAK))
    return tokens
