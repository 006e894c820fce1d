"""The consolidation's HTML page: one self-contained file, escaped input, the right numbers, and what
headless Chromium (Debian's package) makes of it — the DOM it builds and a screenshot of the charts."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import example, scaled

import xxgk
from xxgk.consolidate import STATUS_LABEL, consolidate
from xxgk.htmlreport import BAR, BAR_EXCLUDED, RECEIVED, REVIEW_COLOURS, html_bytes, num, result_kinds
from xxgk.schema import load_schema

SCHEMA = load_schema()
SCRIPT_AGENCY = "<script>alert(1)</script>"
ODD_FILE = '错漏<i>街道&"x".xlsx'  # a file name with markup in it
ROSTER_ONLY = "<b>名单中的单位</b>"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# -- inputs made with the project's own code ---------------------------------------------------------



def write(folder: Path, documents: dict[str, dict]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, document in documents.items():
        path = folder / name
        path.write_bytes(xxgk.fill(xxgk.from_document(document)))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    """Six valid units (one named like a script tag), an invalid one, and an unreadable file; a roster."""
    folder = tmp_path_factory.mktemp("district")
    base = example("made-up-qingfeng-2021")
    broken = example("made-up-errors-2022")
    broken["year"] = 2021  # same year as the others, so it is refused for its errors, not its year
    paths = write(folder / "in", {
        "鹿山街道.xlsx": example("lushan-2021"),
        "清风街道.xlsx": base,
        "东湖街道.xlsx": scaled(base, 2, "东湖街道（虚构）"),
        "西山镇.xlsx": scaled(base, 3, "西山镇人民政府（虚构）"),
        "南湖街道.xlsx": scaled(base, 4, "南湖街道（虚构）"),
        "script.xlsx": scaled(base, 1, SCRIPT_AGENCY),
        ODD_FILE: broken,
    })
    unreadable = folder / "in" / "损坏.xlsx"
    unreadable.write_bytes(b"not a workbook")
    paths.append(unreadable)
    roster = folder / "roster.csv"
    roster.write_text("单位名称\n富阳区鹿山街道\n清风街道（虚构示例）\n东湖街道（虚构）\n西山镇人民政府（虚构）\n"
                      f"南湖街道（虚构）\n{ROSTER_ONLY}\n", encoding="utf-8")
    result = consolidate(sorted(paths), agency="某区（虚构）", roster=roster, allow_invalid=True)
    page = folder / "汇总.html"
    page.write_bytes(html_bytes(result))
    return {"result": result, "page": page, "text": page.read_text(encoding="utf-8"), "paths": sorted(paths),
            "roster": roster, "folder": folder}


class Page(HTMLParser):
    """The parts of the page the tests look at: every tag's attributes, the number cells by fact id,
    the unit table's rows, the text of each table's header cells, and the SVG elements."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.facts: dict[str, list[str]] = {}
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}  # table id -> rows of (tag, text) cells
        self.svg_ids: list[str] = []
        self.svg_titles: list[str] = []
        self._table: list[str | None] = []
        self._cell: tuple[str, dict] | None = None
        self._text: list[str] = []
        self._in_svg_title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table.append(attrs.get("id"))
            if attrs.get("id"):
                self.tables[attrs["id"]] = []
        elif tag == "tr" and self._table and self._table[-1]:
            self.tables[self._table[-1]].append([])
        elif tag in ("td", "th") and self._table:
            self._cell, self._text = (tag, attrs), []
        elif tag == "svg":
            self.svg_ids.append(attrs.get("id", ""))
        elif tag == "title" and self.svg_ids:
            self._in_svg_title, self._text = True, []

    def handle_endtag(self, tag):
        if tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th") and self._cell:
            text = "".join(self._text).strip()
            tag_, attrs = self._cell
            if "data-fact" in attrs:
                self.facts.setdefault(attrs["data-fact"], []).append(text)
            if self._table and self._table[-1] and self.tables[self._table[-1]]:
                self.tables[self._table[-1]][-1].append((tag_, text))
            self._cell = None
        elif tag == "title" and self._in_svg_title:
            self.svg_titles.append("".join(self._text))
            self._in_svg_title = False

    def handle_data(self, data):
        if self._cell or self._in_svg_title:
            self._text.append(data)


def as_number(text: str):
    return float(text) if "." in text else int(text)


# -- the page itself ---------------------------------------------------------------------------------


def test_one_self_contained_file(district):
    text = district["text"]
    page = Page(text)
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "data", "poster", "xlink:href"):
            value = attrs.get(name)
            if value is not None:
                assert name == "href" and value.startswith("#"), f"<{tag} {name}={value!r}> points outside the page"
        assert tag not in ("link", "script", "iframe", "object", "embed", "img", "base", "frame"), tag
    lowered = text.lower()
    for needle in ("<link", "@import", "url(", "<script", "javascript:", "@font-face"):
        assert needle not in lowered, needle
    # the only address in the page is SVG's namespace name, which is never fetched
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) <= {"http://www.w3.org/2000/svg"}
    assert '<meta charset="utf-8">' in text and text.startswith("<!DOCTYPE html>")


def test_input_text_is_escaped(district):
    text = district["text"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in text.lower()
    assert "错漏&lt;i&gt;街道&amp;&quot;x&quot;.xlsx" in text and "<i>" not in text
    assert "&lt;b&gt;名单中的单位&lt;/b&gt;" in text and "<b>" not in text
    # the text survives as text: a parser reads back exactly the agency's name and the file's name
    rows = Page(text).tables["units"]
    assert ("th", SCRIPT_AGENCY) in [cell for row in rows for cell in row]
    assert ("td", ODD_FILE) in [cell for row in rows for cell in row]
    assert any(SCRIPT_AGENCY in t for t in Page(text).svg_titles)  # the bar's tooltip, in chart 1


def test_title_and_incomplete_warning(district):
    result, text = district["result"], district["text"]
    assert f"<title>某区（虚构） {result.year} 年政府信息公开工作年度报告汇总</title>" in text
    assert f"<h1>某区（虚构） {result.year} 年政府信息公开工作年度报告汇总</h1>" in text
    assert not result.complete and len(result.excluded) == 2
    assert 'role="alert"' in text and "本汇总不完整" in text and "2 个输入文件未计入汇总" in text
    assert "只汇总了通过校验的文件" in text  # why a total exists at all, in words
    assert "--" not in text.split('id="status"')[1].split("</div>")[0]  # no command-line flag for readers
    assert "汇总完整" not in text
    # the roster comparison
    assert result.missing == [ROSTER_ONLY]
    assert 'id="roster-missing"' in text and 'id="roster-unknown"' in text


def test_unit_table(district):
    result = district["result"]
    rows = Page(district["text"]).tables["units"]
    head, body, foot = rows[0], rows[1:-1], rows[-1]
    assert all(tag == "th" for tag, _ in head)
    assert [t for _, t in head] == ["序号", "单位名称", "机关代码", "来源文件", "校验结果", "错误数", "警告数", "本年新收申请"]
    assert 'scope="col"' in district["text"] and 'scope="row"' in district["text"]
    assert len(body) == len(result.units)
    for unit, row in zip(result.units, body):
        cells = [t for _, t in row]
        assert row[1] == ("th", unit.agency or "（无法读取单位名称）")
        assert cells[3] == Path(unit.path).name
        assert cells[4].startswith(STATUS_LABEL[unit.status])
        if not unit.used:
            assert unit.reason in cells[4] and "未计入" in cells[4]
        if unit.facts:
            assert cells[5] == str(len(unit.errors))
            assert cells[6] == str(len(unit.findings) - len(unit.errors))
        assert cells[7] == num(unit.facts.get(RECEIVED))
    assert foot[-1] == ("td", str(result.totals[RECEIVED]))
    assert sum(u.facts[RECEIVED] for u in result.used) == result.totals[RECEIVED]


def test_district_tables_show_the_totals(district):
    result = district["result"]
    page = Page(district["text"])
    wanted = [f.id for f in SCHEMA if f.numeric and f.id != "year" and f.id.split(".")[0] in
              ("proactive", "applications", "reviews", "fees")]
    assert len([f for f in wanted if f.startswith("applications.")]) == 25 * 7
    for fact_id in wanted:
        shown = page.facts.get(fact_id)
        assert shown, f"{fact_id} is not in the page"
        for text in shown:
            assert as_number(text) == pytest.approx(result.totals[fact_id]), fact_id
    # the labels are the schema's: every row and column label of table 三 is a header cell of it
    headers = {t for row in page.tables["table-3"] for tag, t in row if tag == "th"}
    for row in SCHEMA.rows("applications"):
        assert set(SCHEMA.titles(f"applications.{row}")[1:]) <= headers, row
    for column in SCHEMA.columns("applications.received"):
        assert SCHEMA.facts[f"applications.received.{column}"].labels[-1] in headers
    assert SCHEMA.object("applications")["x-note"] in headers


def test_results_chart_covers_every_result_row(district):
    totals = district["result"].totals
    kinds = result_kinds(totals)
    assert [k for k, _, _ in kinds] == ["results.granted", "results.partially_granted", "results.withheld",
                                        "results.unavailable", "results.not_processed", "results.other"]
    # the kinds add up to （七）总计 (rule 2), so no result row is left out
    assert sum(v for _, _, v in kinds) == totals["applications.results.total.total"] > 0
    withheld = sum(totals[f"applications.{r}.total"] for r in SCHEMA.rows("applications")
                   if r.startswith("results.withheld."))
    assert {k: v for k, _, v in kinds}["results.withheld"] == withheld
    desc = district["text"].split('<desc id="chart-results-desc">')[1].split("</desc>")[0]
    for label, value in (("予以公开", totals["applications.results.granted.total"]), ("不予公开", withheld)):
        assert f"{label} {value} 件" in desc


def test_same_result_same_bytes(district):
    result = district["result"]
    assert html_bytes(result) == district["page"].read_bytes()
    again = consolidate(district["paths"], agency="某区（虚构）", roster=district["roster"], allow_invalid=True)
    assert html_bytes(again) == district["page"].read_bytes()


def test_complete_roll_up(tmp_path):
    paths = write(tmp_path, {"a.xlsx": example("lushan-2021"), "b.xlsx": example("made-up-qingfeng-2021")})
    result = consolidate(paths)
    text = html_bytes(result).decode("utf-8")
    assert result.complete
    assert "汇总完整" in text and "不完整" not in text and 'role="alert"' not in text


def test_all_zero_figures(tmp_path):
    paths = write(tmp_path, {"zero.xlsx": scaled(example("made-up-qingfeng-2021"), 0, "零街道（虚构）")})
    result = consolidate(paths, agency="零区（虚构）")
    assert result.complete and result.totals[RECEIVED] == 0
    text = html_bytes(result).decode("utf-8")
    assert text.count('class="nodata"') == 3  # each chart says 无数据 instead of dividing by zero
    assert "%" not in text.split('id="chart-results"')[1].split("</svg>")[0]
    assert Page(text).facts[RECEIVED] == ["0", "0"]  # table 三 and the unit table's total


# -- headless Chromium -------------------------------------------------------------------------------


def chromium() -> str:
    """Debian's Chromium; tests that need it skip without it, except where CI requires it."""
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if not found:
        if os.environ.get("XXGK_REQUIRE_CHROMIUM"):
            pytest.fail("Chromium (/usr/bin/chromium) is required here but not installed")
        pytest.skip("Chromium (/usr/bin/chromium) not installed")
    return found


def run_chromium(tmp: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    profile.mkdir()
    proc = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, stderr[-2000:]
    assert not [line for line in stderr.splitlines() if re.search(
        r"Uncaught|SyntaxError|ReferenceError|TypeError|CONSOLE\(", line)], stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def dom(district, tmp_path_factory):
    proc = run_chromium(tmp_path_factory.mktemp("chromium-dom"), district["page"], "--dump-dom")
    return proc.stdout.decode("utf-8")


def test_chromium_builds_the_charts_and_the_unit_table(district, dom):
    page = Page(dom)
    assert page.svg_ids == ["chart-received", "chart-results", "chart-reviews"]
    for cid in page.svg_ids:  # each chart is named for screen readers
        assert re.search(f'<svg [^>]*aria-labelledby="{cid}-title {cid}-desc"', dom)
        assert f'<title id="{cid}-title">图' in dom and f'<desc id="{cid}-desc">' in dom
    rows = page.tables["units"]
    assert len(rows) == 1 + len(district["result"].units) + 1
    assert ("th", SCRIPT_AGENCY) in [cell for row in rows for cell in row]  # text, not a script
    assert "<script" not in dom.lower()
    assert page.facts[RECEIVED] == [str(district["result"].totals[RECEIVED])] * 2


def read_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit, non-interlaced RGB or RGBA PNG: stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6), header
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == height * (stride + 1)
    low = int.from_bytes(b"\x7f" * stride, "big")
    high = int.from_bytes(b"\x80" * stride, "big")
    prev, rows = bytes(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], raw[start + 1:start + 1 + stride]
        if kind == 0:  # None
            out = bytes(line)
        elif kind == 2:  # Up: bytewise addition mod 256 of two rows, done on whole rows as integers
            a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            out = (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride, "big")
        else:
            row = bytearray(line)
            if kind == 1:  # Sub
                for i in range(bpp, stride):
                    row[i] = (row[i] + row[i - bpp]) & 255
            elif kind == 3:  # Average
                for i in range(stride):
                    row[i] = (row[i] + (((row[i - bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 255
            elif kind == 4:  # Paeth
                for i in range(stride):
                    a, c = (row[i - bpp], prev[i - bpp]) if i >= bpp else (0, 0)
                    b = prev[i]
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            else:
                raise AssertionError(f"PNG filter type {kind}")
            out = bytes(row)
        rows.append(out)
        prev = out
    return width, height, bpp, rows


def write_png(pixels: list[list[tuple[int, int, int]]], filters: list[int]) -> bytes:
    """An RGB PNG whose row y uses filter filters[y]: to test read_png on every filter type."""
    raw, prev = b"", bytes(len(pixels[0]) * 3)
    for row, kind in zip(pixels, filters, strict=True):
        line = bytes(v for px in row for v in px)
        encoded = bytearray([kind])
        for i, value in enumerate(line):
            a = line[i - 3] if i >= 3 else 0
            b = prev[i]
            c = prev[i - 3] if i >= 3 else 0
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            paeth = a if pa <= pb and pa <= pc else b if pb <= pc else c
            encoded.append((value - (0, a, b, (a + b) >> 1, paeth)[kind]) & 255)
        raw += bytes(encoded)
        prev = line

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    head = struct.pack(">IIBBBBB", len(pixels[0]), len(pixels), 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_png_reader_handles_every_filter():
    pixels = [[((x * 37 + y * 11) % 256, (x * x + y) % 256, (255 - x * y) % 256) for x in range(7)] for y in range(10)]
    filters = [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]
    width, height, bpp, rows = read_png(write_png(pixels, filters))
    assert (width, height, bpp) == (7, 10, 3)
    assert rows == [bytes(v for px in row for v in px) for row in pixels]


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def count_near(rows: list[bytes], bpp: int, rgb: tuple[int, int, int], tolerance: int = 6) -> int:
    r0, g0, b0 = rgb
    n = 0
    for row in rows:
        for i in range(0, len(row), bpp):
            if abs(row[i] - r0) <= tolerance and abs(row[i + 1] - g0) <= tolerance and abs(row[i + 2] - b0) <= tolerance:
                n += 1
    return n


def bar_area(text: str) -> dict[str, float]:
    """Square pixels of each fill colour of the charts' bars, from the page's SVG."""
    area: dict[str, float] = {}
    for tag, attrs in Page(text).tags:
        if tag == "rect" and "fill" in attrs:
            area[attrs["fill"]] = area.get(attrs["fill"], 0) + float(attrs["width"]) * float(attrs["height"])
    return area


def test_chromium_screenshot_shows_the_bars(district, tmp_path):
    shot = tmp_path / "page.png"
    run_chromium(tmp_path, district["page"], f"--screenshot={shot}", "--window-size=1280,2400")
    width, height, bpp, rows = read_png(shot.read_bytes())
    assert (width, height) == (1280, 2400)
    bar = count_near(rows, bpp, hex_rgb(BAR))
    corrected = count_near(rows, bpp, hex_rgb(REVIEW_COLOURS[1]))
    pending = count_near(rows, bpp, hex_rgb(REVIEW_COLOURS[3]))
    white = count_near(rows, bpp, (255, 255, 255), tolerance=0)
    print(f"\nscreenshot {width}×{height}: bar colour {BAR}: {bar} px; {REVIEW_COLOURS[1]}: {corrected} px; "
          f"{REVIEW_COLOURS[3]}: {pending} px; white {white} px ({white / (width * height):.1%})")
    assert bar >= 5000  # the bars of charts 1 and 2 (and 3) are drawn, in the bar colour
    assert corrected >= 500 and pending >= 500  # chart 3's 结果纠正 and 尚未审结 bars
    # all three charts are in the window here, so the pixels match the bars' area in the SVG (edges blend)
    area = bar_area(district["text"])
    print(f"bar area in the SVG: {area}")
    for colour, counted in ((BAR, bar), (REVIEW_COLOURS[1], corrected), (REVIEW_COLOURS[3], pending)):
        assert 0.9 * area[colour] <= counted <= 1.1 * area[colour] + 100, colour
    assert white < 0.95 * width * height  # not a blank page


# -- a page people can read: no None, no flood of errors, one meaning per colour ----------------------


def garbled(document: dict) -> dict:
    """Every figure replaced by a small number, some negative: a file with dozens of errors."""
    from conftest import set_fact

    for i, fact in enumerate(SCHEMA):
        if fact.numeric and fact.id != "year":
            set_fact(document, fact.id, (i * 37) % 11 - 2)
    document["agency"] = "乱填街道（虚构）"
    return document


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Two valid units, the blank template sent back unfilled, and a file with dozens of errors."""
    folder = tmp_path_factory.mktemp("messy")
    paths = write(folder, {"鹿山街道.xlsx": example("lushan-2021"), "清风街道.xlsx": example("made-up-qingfeng-2021"),
                           "乱填.xlsx": garbled(example("made-up-qingfeng-2021"))})
    blank = folder / "空白模板.xlsx"
    blank.write_bytes(xxgk.build_template())
    result = consolidate(sorted([*paths, blank]), agency="某区（虚构）", allow_invalid=True)
    return result, html_bytes(result).decode("utf-8")


def test_no_python_none_on_the_page(messy):
    result, text = messy
    assert any(u.year is None for u in result.units)  # the blank template is among the inputs
    assert "None" not in text
    assert "未填年度" in text  # what is said instead


def test_findings_are_summarised_per_file(messy):
    from xxgk.htmlreport import FOLDED_FINDINGS, SHOWN_FINDINGS

    result, text = messy
    appendix = text.split('id="sec-findings"')[1]
    files = appendix.split('<details class="file"')[1:]
    assert len(files) == sum(1 for u in result.units if u.findings)
    flooded = [u for u in result.units if len(u.findings) > FOLDED_FINDINGS]
    assert flooded, [len(u.findings) for u in result.units]
    for unit, part in zip([u for u in result.units if u.findings], files):
        summary = part.split("</summary>")[0]
        assert f"{len(unit.errors)} 处错误" in summary
        shown, _, folded = part.partition('<details class="more">')
        assert shown.count("<li>") == min(len(unit.findings), SHOWN_FINDINGS)
        assert folded.count("<li>") == min(max(len(unit.findings) - SHOWN_FINDINGS, 0), FOLDED_FINDINGS - SHOWN_FINDINGS)
        if len(unit.findings) > FOLDED_FINDINGS:
            assert f"另有 {len(unit.findings) - FOLDED_FINDINGS} 条未列出" in part and "按规则：" in shown
    assert appendix.count("<li>") <= FOLDED_FINDINGS * len(files)


def chart_fills(text: str, cid: str) -> set[str]:
    svg = text.split(f'id="{cid}"')[1].split("</svg>")[0]
    return set(re.findall(r'<rect x="\d[^>]*fill="(#[0-9a-f]{6})"', svg)) - {"#fff", "#fafafa"}


def test_one_meaning_per_colour(district, messy):
    for text in (district["text"], messy[1]):
        received, results, reviews = (chart_fills(text, c) for c in ("chart-received", "chart-results", "chart-reviews"))
        assert BAR_EXCLUDED in received and received <= {BAR, BAR_EXCLUDED}  # counted / left out
        assert results == {BAR}
        assert reviews and not reviews & {BAR, BAR_EXCLUDED}  # the outcomes have colours of their own
        assert len(set(REVIEW_COLOURS)) == len(REVIEW_COLOURS)
