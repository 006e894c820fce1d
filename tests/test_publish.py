"""The published forms of a report (xxgk.publish): the .docx document and the web page.

Cells are found the way a reader finds them: by the row labels to their left and the column headers
above them, as read back from the document itself, never by fixed positions.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import example, set_fact, soffice

import xxgk
from xxgk.schema import load_schema

docx = pytest.importorskip("docx")
from xxgk.publish import docx_bytes, html_bytes  # noqa: E402

HEADINGS = ["一、总体情况", "二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况",
            "四、政府信息公开行政复议、行政诉讼情况", "五、存在的主要问题及改进情况", "六、其他需要报告的事项"]
ROOTS = ("proactive", "applications", "reviews")
NUMBER = re.compile(r"-?\d+(\.\d+)?|—")
EXAMPLES = ("made-up-qingfeng-2021", "lushan-2021")


def report(name: str):
    return xxgk.from_document(example(name))


def expected_keys(root: str) -> dict[frozenset, str]:
    """For each fact of a table: every official label that names its cell (row, block, group, column)."""
    schema = load_schema()
    found = {}
    for fact in schema:
        if not fact.id.startswith(root + "."):
            continue
        row = schema.object(fact.id.rsplit(".", 1)[0])
        names = set(fact.labels[1:]) | {row.get("x-block"), row.get("x-group"), fact.group,
                                          schema.object(root).get("x-header")}
        found[frozenset(names - {None})] = fact.id
    return found


# -- grids: (key of the merged cell, text) for every grid position -----------------------
def docx_grid(table) -> tuple[list[list[tuple[int, str]]], list]:
    """The grid, and the cell elements it refers to (keep them: their ids name the merged cells)."""
    cells = table._cells  # python-docx resolves both gridSpan and vMerge to the merged cell
    cols = len(table.columns)
    keep = [c._tc for c in cells]
    grid = [[(id(keep[r * cols + c]), cells[r * cols + c].text.replace("\n", "")) for c in range(cols)]
            for r in range(len(cells) // cols)]
    return grid, keep


def spans(grid) -> dict[int, tuple[set, set]]:
    found: dict[int, tuple[set, set]] = {}
    for r, row in enumerate(grid):
        for c, (key, _) in enumerate(row):
            rows, cols = found.setdefault(key, (set(), set()))
            rows.add(r)
            cols.add(c)
    return found


def located(grid) -> dict[frozenset, str]:
    """Each number cell, keyed by the labels to its left and the headers above it."""
    data_rows = {r for r, row in enumerate(grid) if any(NUMBER.fullmatch(t) for _, t in row)}
    found, seen = {}, set()
    for r, row in enumerate(grid):
        for c, (key, text) in enumerate(row):
            if not NUMBER.fullmatch(text) or key in seen:
                continue
            seen.add(key)
            names, keys = [], set()
            for k, t in row[:c]:
                if k not in keys and not NUMBER.fullmatch(t):
                    keys.add(k)
                    names.append(t)
            up = r - 1
            while up >= 0 and up in data_rows:
                up -= 1
            while up >= 0 and up not in data_rows:
                k, t = grid[up][c]
                if k not in keys:
                    keys.add(k)
                    names.append(t)
                up -= 1
            label = frozenset(names)
            assert label not in found, f"two cells named {sorted(label)}"
            found[label] = text
    return found


def check_numbers(grid, root: str, facts: dict) -> int:
    cells = located(grid)
    wanted = expected_keys(root)
    assert set(cells) == set(wanted), (set(cells) ^ set(wanted))
    for names, fact_id in wanted.items():
        text, value = cells[names], facts[fact_id]
        assert float(text) == value, (fact_id, text, value)
        if isinstance(value, int) or float(value).is_integer():
            assert "." not in text, (fact_id, text)
    return len(wanted)


# -- the Word document ----------------------------------------------------------------
@pytest.fixture(scope="module")
def documents() -> dict[str, bytes]:
    return {name: docx_bytes(report(name)) for name in EXAMPLES}


def heading_texts(doc) -> list[str]:
    return [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_docx_headings_texts_and_page(documents, name):
    doc = docx.Document(io.BytesIO(documents[name]))
    rep = report(name)
    assert heading_texts(doc) == HEADINGS
    assert doc.paragraphs[0].text.replace("\n", "") == f"{rep.agency}{rep.year}年政府信息公开工作年度报告"
    body = [p.text for p in doc.paragraphs]
    for fact_id in ("texts.overview", "texts.problems", "texts.other_matters"):
        for line in filter(None, (x.strip() for x in rep.facts[fact_id].splitlines())):
            assert line in body, (fact_id, line)
    # the texts come after their own heading and before the next
    where = {p.text: i for i, p in enumerate(doc.paragraphs)}
    first_overview = rep.facts["texts.overview"].splitlines()[0].strip()
    assert where[HEADINGS[0]] < where[first_overview] < where[HEADINGS[1]]
    if "fees.notices" in rep.facts:  # stated once: by the text of 六, or by the sentence publish adds
        from xxgk.importer import fees_stated

        stated, _ = fees_stated("\n".join(body[where[HEADINGS[5]]:]))
        assert stated["fees.notices"] == rep.facts["fees.notices"]
    from xxgk.publish import LANDSCAPE_MARGINS_CM, MARGINS_CM

    for section in doc.sections:  # A4, either way round; each with its own margins
        size = sorted((section.page_width.cm, section.page_height.cm))
        assert size == pytest.approx([21.0, 29.7], abs=0.05)
        wide = section.page_width > section.page_height
        margins = [section.top_margin.cm, section.bottom_margin.cm, section.left_margin.cm, section.right_margin.cm]
        assert margins == pytest.approx(list(LANDSCAPE_MARGINS_CM if wide else MARGINS_CM), abs=0.01)
    assert doc.sections[0].page_width < doc.sections[0].page_height  # starts portrait
    title_fonts = doc.paragraphs[0].runs[0]._r.rPr.rFonts
    assert title_fonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia") == "方正小标宋简体"


@pytest.mark.parametrize("name", EXAMPLES)
def test_docx_every_number_in_its_official_cell(documents, name):
    doc = docx.Document(io.BytesIO(documents[name]))
    facts = report(name).facts
    assert len(doc.tables) == 3
    counts = []
    for table, root in zip(doc.tables, ROOTS):
        grid, _keep = docx_grid(table)
        counts.append(check_numbers(grid, root, facts))
    assert counts == [10, 175, 15]


def test_docx_merges_follow_the_official_table(documents):
    schema = load_schema()
    doc = docx.Document(io.BytesIO(documents["made-up-qingfeng-2021"]))
    by_text = {}
    for table in doc.tables:
        grid, _keep = docx_grid(table)
        for key, (rows, cols) in spans(grid).items():
            text = next(t for row in grid for k, t in row if k == key)
            by_text.setdefault(text, (len(rows), len(cols)))
    apps = schema.object("applications")
    assert by_text[apps["x-note"]] == (3, 3)
    assert by_text[apps["x-header"]] == (1, 7)
    assert by_text[schema.object("applications.results")["title"]] == (22, 1)
    assert by_text[schema.object("applications.results.withheld")["title"]] == (8, 1)
    assert by_text["法人或其他组织"] == (1, 5)
    assert by_text["自然人"] == (2, 1)
    assert by_text[schema.object("reviews.reconsideration")["title"]] == (2, 5)
    assert by_text["行政诉讼"] == (1, 10)
    assert by_text[schema.object("reviews.litigation_direct")["title"]] == (1, 5)
    assert by_text[schema.object("proactive.rules")["x-block"]] == (1, 4)


def test_same_report_same_bytes(documents):
    rep = report("made-up-qingfeng-2021")
    assert docx_bytes(rep) == docx_bytes(report("made-up-qingfeng-2021")) == documents["made-up-qingfeng-2021"]
    assert html_bytes(rep) == html_bytes(report("made-up-qingfeng-2021"))


# -- rendered by LibreOffice ------------------------------------------------------------
def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def test_libreoffice_renders_the_document(documents, tmp_path):
    binary = soffice()
    sources = []
    for name, data in documents.items():
        (tmp_path / f"{name}.docx").write_bytes(data)
        sources.append(tmp_path / f"{name}.docx")
    profile = (tmp_path / "profile").resolve()
    out = tmp_path / "pdf"
    subprocess.run([binary, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                    "--convert-to", "pdf", "--outdir", str(out), *map(str, sources)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    pdfs = [out / f"{name}.pdf" for name in documents]
    if not all(p.exists() for p in pdfs):
        program = Path(os.path.realpath(binary)).parent
        if not list(program.glob("libswlo*")) and not os.environ.get("XXGK_REQUIRE_SOFFICE"):
            pytest.skip("LibreOffice Writer is not installed (libreoffice-writer)")
        pytest.fail(f"LibreOffice wrote no PDF for {[p.name for p in pdfs if not p.exists()]}")
    for pdf in pdfs:
        pages = page_count(pdf.read_bytes())
        assert pages >= 2, (pdf.name, pages)
    if not shutil.which("pdftoppm"):
        return  # poppler-utils missing: the blank-page check needs it
    from test_htmlreport import read_png

    pdf = pdfs[0]
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(out / "page")], check=True, timeout=60)
    images = sorted(out.glob("page*.png"))
    assert len(images) == page_count(pdf.read_bytes())
    for image in images:
        width, height, bpp, rows = read_png(image.read_bytes())
        ink = sum(1 for row in rows for x in range(0, len(row), bpp) if min(row[x:x + 3]) < 200)
        assert ink / (width * height) > 0.005, (image.name, ink / (width * height))


# -- the web page -----------------------------------------------------------------------
class Page(HTMLParser):
    """Tables as grids (merges resolved), headings, paragraphs and every tag with its attributes."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tables: list[list[list]] = []
        self.captions: list[str] = []
        self.headings: list[str] = []
        self.paragraphs: list[str] = []
        self._text: list[str] | None = None
        self._cell: dict | None = None
        self._pending: dict[tuple[int, int], dict] = {}
        self._row = -1
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self.tables.append([])
            self._pending, self._row = {}, -1
        elif tag == "tr":
            self._row += 1
            self.tables[-1].append([])
        elif tag in ("th", "td"):
            self._cell = {"tag": tag, "scope": attrs.get("scope"), "text": "",
                          "rowspan": int(attrs.get("rowspan", 1)), "colspan": int(attrs.get("colspan", 1))}
        elif tag in ("h1", "h2", "p", "caption"):
            self._text = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        elif self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            cell, self._cell = self._cell, None
            row = self.tables[-1][self._row]
            col = len(row)
            while (self._row, col) in self._pending:
                row.append(self._pending.pop((self._row, col)))
                col = len(row)
            for i in range(cell["rowspan"]):
                for j in range(cell["colspan"]):
                    if i == 0 and j == 0:
                        row.append(cell)
                    elif i == 0:
                        row.append(cell)
                    else:
                        self._pending[(self._row + i, col + j)] = cell
        elif tag == "tr":
            row = self.tables[-1][self._row]
            while (self._row, len(row)) in self._pending:
                row.append(self._pending.pop((self._row, len(row))))
        elif tag in ("h2", "p", "caption") and self._text is not None:
            text, self._text = "".join(self._text), None
            {"h2": self.headings, "p": self.paragraphs, "caption": self.captions}[tag].append(text)
        elif tag == "h1":
            self._text = None


def html_grid(table) -> list[list[tuple[int, str]]]:
    return [[(id(cell), cell["text"]) for cell in row] for row in table]


@pytest.mark.parametrize("name", EXAMPLES)
def test_html_page(name):
    rep = report(name)
    text = html_bytes(rep).decode("utf-8")
    page = Page(text)
    assert page.headings == HEADINGS
    assert page.captions == []  # each table is named by its heading (aria-labelledby), not a second title
    for n, table_tag in enumerate((a for t, a in page.tags if t == "table"), 2):
        assert table_tag["aria-labelledby"] == f"heading-{'一二三四'[n - 1]}"
    counts = [check_numbers(html_grid(table), root, rep.facts) for table, root in zip(page.tables, ROOTS)]
    assert counts == [10, 175, 15]
    for table in page.tables:
        for row in table:
            for cell in row:
                if NUMBER.fullmatch(cell["text"]):
                    assert cell["tag"] == "td"
                else:
                    assert cell["tag"] == "th" and cell["scope"] in ("col", "row", "colgroup", "rowgroup"), cell
    spans_by_text = {c["text"]: (c["rowspan"], c["colspan"]) for t in page.tables for r in t for c in r}
    schema = load_schema()
    assert spans_by_text[schema.object("applications")["x-note"]] == (3, 3)
    assert spans_by_text[schema.object("applications.results")["title"]] == (22, 1)
    assert spans_by_text["行政诉讼"] == (1, 10)
    for line in filter(None, (x.strip() for x in rep.facts["texts.problems"].splitlines())):
        assert line in page.paragraphs
    lowered = text.lower()
    for needle in ("<script", "javascript:", "<link", "@import", "url(", "src=", "http://", "https://", "//cdn"):
        assert needle not in lowered, needle


def test_html_and_docx_escape_the_agency():
    document = set_fact(example("made-up-qingfeng-2021"), "agency", "<b>x</b>")
    set_fact(document, "texts.problems", "a < b & \"c\"\n<script>alert(1)</script>")
    rep = xxgk.from_document(document)
    text = html_bytes(rep).decode("utf-8")
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text
    assert "<script" not in text.lower()
    page = Page(text)
    assert "<script>alert(1)</script>" in page.paragraphs
    assert not any(tag == "b" for tag, _ in page.tags)
    doc = docx.Document(io.BytesIO(docx_bytes(rep)))
    assert doc.paragraphs[0].text.replace("\n", "") == "<b>x</b>2021年政府信息公开工作年度报告"
