"""What people get on paper: the filled workbook and the district total, printed to PDF by LibreOffice
headless with a fresh profile (as a user's first run), then read back page by page with pdftotext.

- the filled 鹿山街道 workbook (the real example): every text prints to its last line; the 校验 sheet is
  not printed unless shown again, and then fits its page width; the 基本信息 labels have rows tall
  enough for their lines and no two printed words overlap;
- the district total: no English header on any visible sheet, frozen headers, print settings, and a
  bounded page count; a total written by the earlier version (English headers shown, sample made by
  that version's code) is still read as a total, one level up and by finalize.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from conftest import example, run_cli, soffice
from xxgk import from_document
from xxgk.checks import SHEET as CHECK_SHEET
from xxgk.consolidate import DETAIL_KEYS, REVIEW_KEYS, REVIEW_LABELS, numeric_facts
from xxgk.layout import load_layout
from xxgk.schema import load_schema
from xxgk.template import fill, print_lines
from xxgk.totalsheets import DETAIL_WIDTHS, FACT_WIDTH, PAGE_UNITS

DATA = Path(__file__).parent / "data"
OLD_TOTAL = DATA / "total-2021-english-headers.xlsx"  # written by consolidate before issue 13 (commit a5e4cd6)
ENGLISH = {*DETAIL_KEYS, "tool", "ruleset", "template", "year", "run_id"}


def to_pdf(sources: list[Path], outdir: Path) -> list[Path]:
    """Print each workbook to PDF with LibreOffice headless (a fresh profile: its default settings)."""
    binary = soffice()
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext (poppler-utils) is needed to read the printed pages")
    profile = outdir.parent / f"{outdir.name}-profile"
    subprocess.run([binary, "--headless", "--norestore", f"-env:UserInstallation={profile.resolve().as_uri()}",
                    "--convert-to", "pdf", "--outdir", str(outdir), *map(str, sources)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False)
    made = [outdir / f"{s.stem}.pdf" for s in sources]
    assert all(p.exists() for p in made), f"LibreOffice printed no {[p.name for p in made if not p.exists()]}"
    return made


def pages(pdf: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True).stdout
    return out.decode("utf-8").split("\f")[:-1]


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def lushan(tmp_path_factory) -> dict:
    """The real 鹿山街道 report filled by `fill`, the same with its 校验 sheet shown again, both printed."""
    tmp = tmp_path_factory.mktemp("print")
    workbook = tmp / "lushan.xlsx"
    workbook.write_bytes(fill(from_document(example("lushan-2021"))))
    shown = tmp / "lushan-checks-shown.xlsx"  # a clerk's 右键 → 取消隐藏 on the 校验 sheet
    with zipfile.ZipFile(workbook) as src, zipfile.ZipFile(shown, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = re.sub(rb'(name="' + CHECK_SHEET.encode() + rb'"[^>]*?)state="hidden"', rb"\1", data)
            dst.writestr(info, data)
    report, asked = to_pdf([workbook, shown], tmp / "pdf")
    return {"workbook": workbook, "pages": pages(report), "asked": pages(asked), "pdf": report}


def test_every_text_prints_to_its_last_line(lushan):
    """Each text, cut into the print copy's lines, is on the printed pages line by line in order, to the end."""
    document = example("lushan-2021")
    printed = flat("".join(lushan["pages"]))
    for key, text in document["texts"].items():
        lines = [flat(line) for line in print_lines(text) if flat(line)]
        assert len(flat(text)) > 200 or key != "overview"  # the long one this guards
        at = 0
        for n, line in enumerate(lines):
            found = printed.find(line, at)
            assert found >= 0, f"texts.{key}: line {n + 1} of {len(lines)} not printed: {line}"
            at = found + len(line)
        last_sentence = [s for s in re.split(r"(?<=[。；])", flat(text)) if s][-1]
        assert last_sentence in printed, f"texts.{key}: its last sentence is not printed"
    assert "正文超出打印稿的行数" not in printed


def test_the_check_sheet_is_printed_only_when_asked_and_fits_its_page_width(lushan):
    title = "校验：勾稽关系与填写规范"
    assert not any(title in page for page in lushan["pages"])
    # one page for each part of the report, then one for the 复核说明 (explanations of warnings) it carries
    assert len(lushan["pages"]) == len(load_layout().sheets) + 1
    assert "复核说明" in lushan["pages"][-1] and not any("复核说明" in page for page in lushan["pages"][:-1])
    checks = [page for page in lushan["asked"] if "applications.balance" in page or title in page]
    assert checks, "the 校验 sheet, shown again, did not print"
    for page in checks:  # one page wide: the first and the last column on every page, under the repeated header
        assert "序号" in page and "单元格" in page and "结果" in page, page[:300]


def test_basic_info_labels_have_rows_for_all_their_lines(lushan):
    """A label that wraps needs a row of its lines' height: Excel does not grow a row when it opens a file."""
    sheet = load_layout().sheets[0]
    ws = load_workbook(lushan["workbook"])[sheet.name]
    width_px = ws.column_dimensions["A"].width * 7 + 5 - 6  # Excel's pixels, less the cell's padding
    per_line = int(width_px // (10 * 96 / 72))  # a 10-pt Chinese character is 13.3 px wide
    wrapped = 0
    for label in sheet.labels:
        if label.role != "label":
            continue
        lines = math.ceil(len(label.text) / per_line)
        if lines > 1:
            wrapped += 1
            height = ws.row_dimensions[label.row].height
            assert height and height >= 13.5 * lines, f"row {label.row} 「{label.text}」: {height} pt for {lines} lines"
    assert wrapped >= 3  # rows 8-10


def test_no_two_printed_words_overlap_on_the_basic_info_page(lushan):
    out = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(lushan["pdf"]), "-"],
                         capture_output=True, check=True).stdout.decode("utf-8")
    boxes = [tuple(float(v) for v in m.groups()) for m in
             re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', out)]
    assert len(boxes) > 10
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        for a0, b0, a1, b1 in boxes[i + 1:]:
            overlap_x = min(x1, a1) - max(x0, a0)
            overlap_y = min(y1, b1) - max(y0, b0)
            assert not (overlap_x > 1 and overlap_y > 1), f"words overprint at {(x0, y0)} and {(a0, b0)}"


# -- the district total ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def total(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("total")
    folder = tmp / "in"
    folder.mkdir()
    for name in ("lushan-2021", "made-up-qingfeng-2021"):
        (folder / f"{name}.xlsx").write_bytes(fill(from_document(example(name))))
    out = tmp / "district.xlsx"
    proc = run_cli("consolidate", folder, "-o", out, "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (pdf,) = to_pdf([out], tmp / "pdf")
    return {"workbook": out, "pages": pages(pdf)}


def test_no_english_header_on_a_visible_sheet_of_the_total(total):
    wb = load_workbook(total["workbook"])
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        for row in ws.iter_rows():
            if row and ws.row_dimensions[row[0].row].hidden:
                continue
            for cell in row:
                assert not (isinstance(cell.value, str) and cell.value.strip() in ENGLISH), \
                    f"{ws.title}!{cell.coordinate}: {cell.value}"
    detail = wb["明细"]
    assert detail.row_dimensions[1].hidden  # the ids readers go by
    assert [c.value for c in detail[1]][:len(DETAIL_KEYS)] == list(DETAIL_KEYS)
    schema = load_schema()
    assert [c.value for c in detail[2]][len(DETAIL_KEYS):] == [schema.describe(f) for f in numeric_facts()] + list(REVIEW_LABELS)


def test_total_sheets_are_laid_out_for_screen_and_paper(total):
    wb = load_workbook(total["workbook"])
    detail, listing = wb["明细"], wb["清单"]
    assert detail.freeze_panes == "C3"  # level and name, under the header
    assert detail.print_title_rows == "$2:$2" and detail.print_title_cols == "$A:$B"
    for ws in (detail, listing):
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0
        assert ws.column_dimensions["A"].width and ws.column_dimensions["B"].width
    first_fact = detail.cell(3, len(DETAIL_KEYS) + 1)
    assert first_fact.number_format == "#,##0" and first_fact.border.left.style == "thin"
    assert detail.cell(2, 1).font.bold and detail.cell(2, 1).alignment.wrap_text


def test_the_total_prints_in_a_bounded_number_of_pages(total):
    """Before: 37 pages for two units (every 明细 column at default width, one page each way). Now: the
    report's five, the 明细 a few pages wide with level and name on each, the 清单 on one."""
    printed = total["pages"]
    columns = [*DETAIL_KEYS, *numeric_facts(), *REVIEW_KEYS]
    wide = math.ceil(sum(DETAIL_WIDTHS.get(c, FACT_WIDTH) for c in columns) / PAGE_UNITS)
    assert len(printed) <= len(load_layout().sheets) + 1 + wide + 1, len(printed)  # report, 复核说明, 明细, 清单
    detail = [p for p in printed if "层级" in p]
    assert len(detail) == wide
    assert all("单位名称" in p and "第" in p for p in detail)  # titles and page numbers on every page


def test_a_total_written_with_english_headers_is_still_read_as_a_total(tmp_path):
    """The committed sample was written by the earlier consolidate (row 1 ids shown, English 清单 keys)."""
    total = tmp_path / "old.xlsx"
    total.write_bytes(OLD_TOTAL.read_bytes())
    up = tmp_path / "up.xlsx"
    proc = run_cli("consolidate", total, "-o", up, "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wb = load_workbook(up)
    rows = list(wb["明细"].iter_rows(min_row=3, values_only=True))
    assert sorted(r[0] for r in rows if r[0]) == [1, 2, 2]  # the old total and the two units inside it
    proc = run_cli("finalize", total, "-o", tmp_path / "final")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (final,) = (tmp_path / "final").glob("*.xlsx")
    detail = load_workbook(final)["明细"]
    assert detail.row_dimensions[1].hidden and detail.cell(2, 1).value == "层级"  # carried, now in the new look
    proc = run_cli("verify", final)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_text_typed_into_the_blank_template_prints_whole(tmp_path):
    """Typed, not filled: no saved values and no fitted rows, yet the print copy prints every line."""
    from xxgk.template import build

    layout = load_layout()
    sheet, row, col = layout.cells["texts.overview"]
    text = example("lushan-2021")["texts"]["overview"]
    wb = load_workbook(io.BytesIO(build()))  # the blank template (the committed one is these bytes)
    wb[sheet].cell(row, col).value = text  # as a clerk types it (openpyxl keeps the formulas, saves no values)
    typed = tmp_path / "typed.xlsx"
    wb.save(typed)
    (pdf,) = to_pdf([typed], tmp_path / "pdf")
    printed = flat("".join(pages(pdf)))
    at = 0
    for line in (flat(x) for x in print_lines(text) if flat(x)):
        found = printed.find(line, at)
        assert found >= 0, f"not printed: {line}"
        at = found + len(line)
    assert "正文超出打印稿的行数" not in printed
