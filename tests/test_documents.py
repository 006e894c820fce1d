"""What people see: the published report rendered and read back.

The Word document is converted to PDF by LibreOffice, as `xxgk publish -o 报告.pdf` does (xxgk.pdfout),
and each page's text is read back with pdfplumber: tables 三 and 四 each on one page, a page number
"— N —" on every page at the outer edge, every official column label in one line, the exact title, no
sentence twice. The HTML pages (published and consolidation) are laid out by headless Chromium, and
each column label's rendered lines are measured in the page itself.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from conftest import example, scaled, set_fact, soffice

import xxgk
from xxgk.publish import FONT_FALLBACKS, TITLE_FONT, docx_bytes, fee_sentence, html_bytes, tables, title, title_lines

pdfplumber = pytest.importorskip("pdfplumber")

NUMBER = re.compile(r"-?\d+(\.\d+)?")
PAGE_NUMBER = re.compile(r"^— (\d+) —$")
FOUR = "四、政府信息公开行政复议、行政诉讼情况"


def made_up_long():
    """A made-up report with long figures (six digits) and the fee sentence already in its own 六 text."""
    document = scaled(example("made-up-qingfeng-2021"), 1000, "青峰街道办事处（虚构示例）")
    for fact_id, value in (("fees.notices", 2), ("fees.amount_billed", 120.5), ("fees.amount_collected", 80),
                           ("texts.other_matters", "")):
        set_fact(document, fact_id, value)
    own = fee_sentence(xxgk.from_document(document).facts)  # the sentence publish would add, written by the clerk
    assert own and own.startswith("本年度发出信息处理费收费通知2件")
    return set_fact(document, "texts.other_matters", own)


REPORTS = {"lushan-2021": lambda: example("lushan-2021"), "made-up-long": made_up_long,
           "lushan-2021-as-given": lambda: example("lushan-2021")}  # converted without the font fallbacks


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """name -> (report, [page text lines], [page words], page width)."""
    soffice()
    from xxgk.pdfout import docx_to_pdf

    out = {}
    folder = tmp_path_factory.mktemp("documents")
    for name, make in REPORTS.items():
        rep = xxgk.from_document(make())
        pdf = docx_to_pdf(docx_bytes(rep), fallbacks=not name.endswith("-as-given"))
        (folder / f"{name}.pdf").write_bytes(pdf)
        with pdfplumber.open(io.BytesIO(pdf)) as doc:
            pages = [(page.extract_text().splitlines(), page.extract_words(), float(page.width)) for page in doc.pages]
        out[name] = (rep, pages)
    return out


def labels(part: str) -> Counter:
    """A table's own column labels (one column each), as many times as the table has them."""
    rep = xxgk.from_document(example("made-up-qingfeng-2021"))
    return Counter(c.text for c in tables(rep)[part].cells if c.role == "header" and c.colspan == 1)


def page_of(pages, text: str) -> int:
    found = [i for i, (lines, _, _) in enumerate(pages) if any(text in line for line in lines)]
    assert found, text
    return found[0]


@pytest.mark.parametrize("name", REPORTS)
def test_table_three_on_one_page(rendered, name):
    rep, pages = rendered[name]
    grid = tables(rep)["三"]
    rows = [c.text for c in grid.cells if c.role == "label" and c.colspan == 3]  # 一、… 二、… 四、…
    first, last = rows[0], rows[-1]
    page = page_of(pages, first)
    assert page == page_of(pages, last), (first, last)
    lines = pages[page][0]
    # every data row's seven figures are on that page (a wrapped row label puts them on a line of their own)
    def trailing_numbers(line: str) -> int:
        tokens = line.split()
        return next((i for i, t in enumerate(reversed(tokens)) if not NUMBER.fullmatch(t)), len(tokens))

    figures = [line for line in lines if trailing_numbers(line) == 7]
    # a row label too long for its column breaks after its punctuation, never inside a phrase
    for label in (c.text for c in grid.cells if c.role == "label" and c.rowspan == 1 and c.colspan == 1):
        line = next(x for x in lines if label[:6] in x)
        shown = line[line.index(label[:6]):].split()[0]
        assert shown == label or (label.startswith(shown) and shown[-1] in "、，；"), (label, shown)
    data_rows = len({c.row for c in grid.cells if c.role == "value"})
    assert len(figures) == data_rows == 25


@pytest.mark.parametrize("name", REPORTS)
def test_table_four_on_one_page(rendered, name):
    rep, pages = rendered[name]
    page = page_of(pages, FOUR)
    lines = pages[page][0]
    assert any(line.startswith("四、政府信息公开行政复议") for line in lines)
    assert [line for line in lines if len(line.split()) == 15 and all(NUMBER.fullmatch(t) for t in line.split())]


@pytest.mark.parametrize("name", REPORTS)
def test_column_labels_never_broken(rendered, name):
    """Each official column label of 三 and 四 is one word on its page's lines, as often as the table has it."""
    _, pages = rendered[name]
    for part, anchor in (("三", "申请人情况"), ("四", FOUR)):
        lines = pages[page_of(pages, anchor)][0]
        words = Counter(w for line in lines for w in line.split())
        for label, n in labels(part).items():
            assert words[label] >= n, (part, label, words[label], n)
        assert "社会公益组织" in labels("三") and "结果维持" in labels("四")


@pytest.mark.parametrize("name", REPORTS)
def test_every_page_numbered_at_the_outer_edge(rendered, name):
    _, pages = rendered[name]
    assert len(pages) >= 3
    for n, (lines, words, width) in enumerate(pages, 1):
        assert PAGE_NUMBER.match(lines[-1]) and int(PAGE_NUMBER.match(lines[-1]).group(1)) == n, (n, lines[-1])
        number = [w for w in words if w["text"] == str(n)][-1]
        middle = (number["x0"] + number["x1"]) / 2
        if n % 2:  # odd pages at the right, even pages at the left
            assert middle > 0.75 * width, (n, middle, width)
        else:
            assert middle < 0.25 * width, (n, middle, width)


@pytest.mark.parametrize("name", REPORTS)
def test_title_and_no_sentence_twice(rendered, name):
    rep, pages = rendered[name]
    first = pages[0][0]
    head = "".join(first[:first.index("一、总体情况")])
    assert re.sub(r"\s", "", head) == re.sub(r"\s", "", title(rep))
    # a title too long for one line breaks after the body's name, never inside a word
    printed = [re.sub(r"\s", "", line) for line in first[:first.index("一、总体情况")]]
    assert printed == [re.sub(r"\s", "", line) for line in title_lines(rep)], printed
    assert head.replace(" ", "").startswith(rep.agency) and title(rep) == f"{rep.agency}{rep.year}年政府信息公开工作年度报告"
    text = re.sub(r"\s", "", "".join("".join(lines[:-1]) for lines, _, _ in pages))  # page numbers left out
    sentences = Counter(s for s in re.split(r"(?<=[。！？])", text) if len(s) >= 6)
    assert sentences and not [s for s, n in sentences.items() if n > 1]
    if name == "made-up-long":  # the clerk's own fee sentence is there once, and publish adds no second one
        assert fee_sentence(rep.facts) is None
        assert text.count(re.sub(r"\s", "", rep.facts["texts.other_matters"])) == 1


def test_docx_page_number_field_and_fonts():
    data = docx_bytes(xxgk.from_document(example("lushan-2021")))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        settings = z.read("word/settings.xml").decode()
        footers = [z.read(n).decode() for n in z.namelist() if re.fullmatch(r"word/footer\d*\.xml", n)]
        fonts = z.read("word/fontTable.xml").decode()
    assert "<w:evenAndOddHeaders" in settings
    assert len(footers) == 2
    for xml in footers:
        assert re.sub(r"<[^>]+>", "", xml).strip().startswith("— ") and " PAGE " in xml
        assert 'w:sz w:val="28"' in xml and 'w:ascii="宋体"' in xml  # 4号 (14 pt) 半角宋体
    assert sorted(re.findall(r'<w:jc w:val="(\w+)"/>', "".join(footers))) == ["left", "right"]
    for name, fallbacks in FONT_FALLBACKS.items():
        entry = re.search(rf'<w:font w:name="{re.escape(name)}">(.*?)</w:font>', fonts, re.S).group(1)
        assert f'<w:altName w:val="{fallbacks[0]}"/>' in entry and '<w:charset w:val="86"/>' in entry
    assert FONT_FALLBACKS[TITLE_FONT][:2] == ("华文中宋", "宋体")


def test_pdf_fallback_fonts_are_the_first_installed():
    from xxgk.pdfout import with_fallbacks

    data = docx_bytes(xxgk.from_document(example("made-up-qingfeng-2021")))

    def names(docx: bytes) -> set[str]:
        with zipfile.ZipFile(io.BytesIO(docx)) as z:
            xml = z.read("word/document.xml").decode() + z.read("word/styles.xml").decode()
        return set(re.findall(r'w:eastAsia="([^"]+)"', xml))

    assert TITLE_FONT in names(data)
    assert with_fallbacks(data, None) == data  # no fontconfig: LibreOffice's own substitution
    assert with_fallbacks(data, {TITLE_FONT, *FONT_FALLBACKS}) == data  # all there: nothing renamed
    swapped = names(with_fallbacks(data, {"宋体", "Noto Serif CJK SC"}))
    assert TITLE_FONT not in swapped and "华文中宋" not in swapped and "宋体" in swapped
    swapped = names(with_fallbacks(data, {"华文中宋", "宋体"}))
    assert "华文中宋" in swapped and TITLE_FONT not in swapped


def test_pdf_title_is_set_in_a_serif_face(rendered):
    """Where only the open CJK faces are installed, the title falls back to the serif one (as 方正小标宋
    is), not to the sans face LibreOffice picks by itself."""
    from xxgk.pdfout import docx_to_pdf, installed_fonts

    fonts = installed_fonts()
    if not fonts or not ({"Noto Serif CJK SC", "Source Han Serif SC"} & fonts) or TITLE_FONT in fonts:
        pytest.skip("needs fontconfig with an open serif CJK face and without 方正小标宋")
    pdf = docx_to_pdf(docx_bytes(xxgk.from_document(example("lushan-2021"))))
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        chars = doc.pages[0].chars
    title_font = {c["fontname"] for c in chars if c["size"] > 20}
    heading_top = next(c["top"] for i, c in enumerate(chars) if "".join(x["text"] for x in chars[i:i + 6]) == "一、总体情况")
    heading_font = {c["fontname"] for c in chars if abs(c["top"] - heading_top) < 1}
    assert title_font and all("Serif" in f for f in title_font), title_font
    assert heading_font and all("Sans" in f for f in heading_font), heading_font  # 黑体 stays sans


# -- the HTML pages in headless Chromium ---------------------------------------------------------

MEASURE = """<script>
(function () {
  var out = [];
  document.querySelectorAll("th.col").forEach(function (th) {
    var range = document.createRange();
    range.selectNodeContents(th);
    var tops = {};
    Array.prototype.forEach.call(range.getClientRects(), function (r) { if (r.width > 0) tops[Math.round(r.top)] = 1; });
    out.push([th.closest("table").id, th.textContent, Object.keys(tops).length]);
  });
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def measured_lines(page: bytes, tmp: Path, width: int) -> list[tuple[str, str, int]]:
    """(table id, label, rendered lines) for every column label, from Chromium's layout at `width` px."""
    from test_htmlreport import run_chromium

    probe = tmp / f"probe-{width}.html"  # the page plus a measuring script: a copy made for the test only
    probe.write_bytes(page.replace(b"</body>", MEASURE.encode() + b"</body>"))
    dom = run_chromium(tmp, probe, "--dump-dom", f"--window-size={width},900").stdout.decode("utf-8")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, dom[-500:]
    return [tuple(x) for x in json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))]


def check_one_line(rows: list[tuple[str, str, int]], tables_: set[str]) -> None:
    seen = {t for t, _, _ in rows}
    assert tables_ <= seen, seen
    broken = [(t, label, n) for t, label, n in rows if n != 1]
    assert not broken, broken
    texts = {label for _, label, _ in rows}
    assert {"自然人", "商业企业", "社会公益组织", "其他", "总计", "结果维持", "尚未审结"} <= texts


@pytest.mark.parametrize("width", [1280, 480])
def test_published_page_labels_one_line(tmp_path, width):
    page = html_bytes(xxgk.from_document(example("lushan-2021")))
    check_one_line(measured_lines(page, tmp_path, width), {"table-二", "table-三", "table-四"})


@pytest.mark.parametrize("width", [1280, 480])
def test_consolidation_page_labels_one_line(tmp_path, width):
    from xxgk.consolidate import consolidate
    from xxgk.htmlreport import html_bytes as consolidation_html

    paths = []
    for n, document in enumerate((example("lushan-2021"), example("made-up-qingfeng-2021"))):
        path = tmp_path / f"{n}.xlsx"
        path.write_bytes(xxgk.fill(xxgk.from_document(document)))
        paths.append(path)
    page = consolidation_html(consolidate(paths, agency="某区（虚构）"))
    check_one_line(measured_lines(page, tmp_path, width), {"table-2", "table-3", "table-4"})
