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
    c, lab = _key(cell), _key(label)
    if not c:
        return False
    if c == lab or (_bare(c) and _bare(c) == _bare(lab)):
        return True
    bc, bl = _bare(c), _bare(lab)
    return len(bc) >= 4 and (bl.endswith(bc) or bl.startswith(bc))


# -- readers: file -> tokens ----------------------------------------------
def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise NotAReport("无法识别文件的文字编码（应为 UTF-8 或 GB18030）", path=str(path))


def text_tokens(text: str) -> list[Token]:
    """Plain text from a Word file: a tab-indented line is a table cell (blank if nothing follows the
    tab), an empty line ends a table row, any other line is a paragraph."""
    tokens: list[Token] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        raw = _BOOKMARK.sub("", raw)
        if not raw.strip():
            tokens.append(Token(CELL, "") if "\t" in raw else Token(BREAK))
        elif raw.startswith("\t") or (raw[:1] in " \u3000" and "\t" in raw[:4]):
            tokens.append(Token(CELL, raw.strip()))
        else:
            tokens.append(Token(LINE, raw.strip()))
    return tokens


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
    if any(all(w in rest for w in words) for words in _PART_WORDS[number]):
        return number
    return None


_TITLE = re.compile(r"^(?:标题[:：])?\s*(.*?)\s*((?:19|20)\d\d)\s*年度?\s*(?:政府信息公开|政务公开|信息公开).*?年度?报告")
_TELLTALES_2019 = ("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "政府集中采购")
_FOOTER = re.compile(
    r"^(附件|扫一扫|关闭|打印|分享|相关链接|上一篇|下一篇|【|责任编辑|版权所有|主办|承办|网站标识码|ICP|"
    r"微信|微博|字号|来源[:：]|浏览次数)"
)


def _find_title(lines: list[str]) -> tuple[str | None, int | None]:
    for i, line in enumerate(lines):
        for candidate in (line, line + (lines[i + 1] if i + 1 < len(lines) else "")):
            m = _TITLE.match(_clean(candidate))
            if m and m.group(1):
                agency = re.sub(r"^(关于)", "", m.group(1))
                if 1 < len(agency) <= 40:
                    return agency, int(m.group(2))
    return None, None


class _Reader:
    def __init__(self, tokens: list[Token], path: Path, title: str = ""):
        self.tokens = tokens
        self.path = path
        self.title = title
        self.schema = load_schema()
        self.flat: dict = {"format": "2021"}
        self.problems: list[str] = []

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

        lines = [t.text for t in self.tokens if t.kind == LINE]
        agency, year = _find_title(([self.title] if self.title else []) + lines[:80])
        heads = self.headings()
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
        if agency is None:
            self.problems.append("未找到报告标题（如「××2021年政府信息公开工作年度报告」），机关名称和年度未读出")
        else:
            self.flat["agency"] = agency
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
        for row in self.schema.rows(root):
            row_path = f"{root}.{row}"
            label = self.schema.titles(row_path)[-1]
            columns = self.schema.columns(row_path)
            at = next(
                (i for i in range(pos, end) if self.tokens[i].kind == CELL and _matches(self.tokens[i].text, label)),
                None,
            )
            if at is None:
                self.problems.append(f"{table}：未找到行「{label}」，该行各数值未读出")
                continue
            # a merged label repeated by colspan/rowspan expansion
            while at + 1 < end and self.tokens[at + 1].kind == CELL and _matches(self.tokens[at + 1].text, label):
                at += 1
            pos = at + 1
            values, pos = self.read_values(at + 1, end, len(columns))
            where = f"{table}「{label}」"
            self.assign([f"{row_path}.{c}" for c in columns], values, where)

    def read_reviews(self, start: int | None, end: int) -> None:
        ids = [f"reviews.{r}.{c}" for r in self.schema.rows("reviews") for c in self.schema.columns(f"reviews.{r}")]
        headers = {_key(x) for i in ids for x in self.schema.facts[i].labels[1:]}
        headers |= {_key(self.schema.facts[i].group) for i in ids if self.schema.facts[i].group}
        headers.add("行政诉讼")
        if start is None:
            self.problems.append("未找到第四部分「政府信息公开行政复议、行政诉讼情况」，表四各数值未读出")
            return
        last = None
        for i in range(start, end):
            if self.tokens[i].kind == CELL and _key(self.tokens[i].text) in headers:
                last = i
        if last is None:
            self.problems.append("表四：未找到表头（结果维持、结果纠正……），表四各数值未读出")
            return
        values, _ = self.read_values(last + 1, end, len(ids))
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
            if number is None and not _is_blank(text):
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
        n = len(self.tokens)
        names = {1: ("overview", "一、总体情况"), 5: ("problems", "五、存在的主要问题及改进情况"),
                 6: ("other_matters", "六、其他需要报告的事项")}
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
                text = tok.text.strip()
                if part == 6 and _FOOTER.match(text):
                    break
                if text:
                    lines.append(text)
            if part == 6:  # the signature: the agency's name and the date
                while lines and re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", _clean(lines[-1])):
                    lines.pop()
                while lines and agency and agency in _clean(lines[-1]) and len(_clean(lines[-1])) <= len(agency) + 12:
                    lines.pop()
            self.flat[f"texts.{name}"] = "\n".join(lines)


def import_report(path: Path) -> tuple[Report, list[str]]:
    """Read a published report (.txt as from its Word file, or .html/.htm) into a report document.

    Returns the report and a list of Chinese problems met while reading (cells that could not be read,
    rows or parts not found). Raises NotAReport for anything that is not a 2021-format annual report."""
    path = Path(path)
    data = read_input(path)
    suffix = path.suffix.lower()
    title = ""
    if suffix in (".html", ".htm", ".shtml", ".xhtml"):
        tokens, title = html_tokens(_decode(data, path))
    elif suffix == ".txt":
        tokens = text_tokens(_decode(data, path))
    elif suffix == ".docx":
        tokens = docx_tokens(data, path)
    else:
        raise NotAReport(
            f"不支持导入「{path.suffix or '无扩展名'}」文件，应为 .txt（由 Word 另存的纯文本）、.html 或 .docx",
            path=str(path),
        )
    document, problems = _Reader(tokens, path, title).run()
    report = from_document(document, path, hashlib.sha256(data).hexdigest())
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
