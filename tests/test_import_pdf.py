"""Importing published PDFs: a real one (WPS export, 洪泽区 2024), the two real web pages printed to PDF by
Chromium, and the project's own Word files converted to PDF by LibreOffice; scans, damaged and encrypted
files are refused with exit 2."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import SHARED, example, need_shared, run_cli, soffice
from test_htmlreport import CHROMIUM_FLAGS, chromium

import xxgk
from xxgk import NotAReport
from xxgk import pdfsource
from xxgk.importer import BREAK, CELL, LINE, import_report
from xxgk.pdfsource import _Line, _Page, pdf_tokens
from xxgk.schema import load_schema

SCHEMA = load_schema()
REAL = SHARED / "real-reports"
HONGZE = REAL / "hongze-2024.pdf"
PAGES = ("pingtan-2021", "shuyang-fgj-2023")
EXAMPLES = ("lushan-2021", "made-up-qingfeng-2021", "made-up-qingfeng-2022", "made-up-errors-2022")
TABLES = ("proactive.", "applications.", "reviews.")
TEXTS = ("overview", "problems", "other_matters")


need = need_shared


def norm(text) -> str:
    return re.sub(r"\s+", "", text or "")


def table_numbers(facts: dict) -> dict:
    """The figures of tables 二, 三 and 四 (not the fee figures read from the text of 六)."""
    return {k: v for k, v in facts.items() if SCHEMA.facts[k].numeric and k.startswith(TABLES)}


def imported(pdf: Path, tmp: Path) -> tuple[dict, str]:
    """`xxgk import FILE.pdf -o out.json` as a user runs it: the document and what it said."""
    out = tmp / (pdf.stem + ".json")
    proc = run_cli("import", pdf, "-o", out)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(out.read_text(encoding="utf-8")), proc.stdout + proc.stderr


# -- the real PDF: 淮安市洪泽区人民政府 2024 (exported by WPS; every number below read off the PDF) ---------
ZEROS = dict.fromkeys(("commercial", "research", "nonprofit", "legal_services", "other_orgs"), 0)


def persons(n: int) -> dict:
    """A row of table 三 in this report: only 自然人 applied."""
    return {"natural_persons": n, **ZEROS, "total": n}


HONGZE_TABLES = {
    "proactive": {
        "rules": {"issued": 0, "repealed": 0, "in_force": 0},
        "normative_documents": {"issued": 3, "repealed": 0, "in_force": 8},
        "licensing": {"decisions": 9487},
        "penalties": {"decisions": 2776},
        "coercive_measures": {"decisions": 84},
        "fees": {"amount": 7545},
    },
    "applications": {
        "received": persons(95),
        "carried_over": persons(0),
        "results": {
            "granted": persons(50),
            "partially_granted": persons(9),
            "withheld": {
                "state_secrets": persons(0), "prohibited_by_law": persons(0),
                "three_securities_one_stability": persons(1), "third_party_rights": persons(0),
                "internal_affairs": persons(0), "process_information": persons(1),
                "enforcement_files": persons(1), "administrative_queries": persons(0),
            },
            "unavailable": {"not_held": persons(31), "needs_creation": persons(1),
                            "unclear_after_correction": persons(0)},
            "not_processed": {"petitions": persons(1), "duplicates": persons(0), "publications": persons(0),
                              "excessive": persons(0), "confirmations": persons(0)},
            # printed as one row 「（六）其他处理」 of zeros: the three official rows are zero
            "other": {"no_correction": persons(0), "unpaid_fees": persons(0), "other": persons(0)},
            "total": persons(95),
        },
        "carried_forward": persons(0),
    },
    "reviews": {
        "reconsideration": {"upheld": 1, "corrected": 1, "other": 0, "pending": 0, "total": 2},
        "litigation_direct": {"upheld": 1, "corrected": 0, "other": 0, "pending": 0, "total": 1},
        "litigation_after_reconsideration": {"upheld": 2, "corrected": 0, "other": 1, "pending": 0, "total": 3},
    },
}
# the PDF prints this row's label as 「2.其他法律行政止公开」 (法规禁 missing)
MISPRINTED_ROW = "applications.results.withheld.prohibited_by_law."


@pytest.fixture(scope="module")
def hongze(tmp_path_factory):
    return imported(need(HONGZE), tmp_path_factory.mktemp("hongze"))


def test_hongze_every_number(hongze):
    document, said = hongze
    assert document["agency"] == "淮安市洪泽区人民政府"
    assert document["year"] == 2024
    expected = SCHEMA.flatten(HONGZE_TABLES)
    assert len(expected) == 10 + 175 + 15
    got = table_numbers(SCHEMA.flatten(document))
    wrong = {k: (got.get(k), v) for k, v in expected.items()
             if not k.startswith(MISPRINTED_ROW) and got.get(k) != v}
    assert wrong == {}


def test_hongze_misprinted_row_label(hongze):
    document, said = hongze
    got = table_numbers(SCHEMA.flatten(document))
    assert {k: got.get(k) for k in got if k.startswith(MISPRINTED_ROW)} == {
        MISPRINTED_ROW + c: 0 for c in ("natural_persons", *ZEROS, "total")}
    assert "其他法律行政止公开" in said  # the loosely matched label is named


def test_hongze_texts_are_whole_paragraphs_without_page_numbers(hongze):
    document, _ = hongze
    texts = document["texts"]
    overview = texts["overview"].split("\n")
    # six paragraphs, each joined across its line wraps (and 一's first paragraph across pages 1-2)
    assert len(overview) == 6
    assert overview[0].startswith("2024年，淮安市洪泽区人民政府坚持以习近平新时代中国特色社会主义思想为指导，全面贯彻")
    assert overview[2].endswith("2024年，区政府办代表区政府受理政府信息公开申请17件，均已在法定期限内予以答复。")
    assert overview[3] == ("（三）政府信息管理情况。加强区政府门户网站及政务新媒体日常管理，运用第三方检测平台实行常态化监测，"
                           "新增信息审核发布报备制度。严格执行“分级审核、先审后发”程序，落实“三审三校”制度，从严从实把好"
                           "政治关、法律关、政策关、保密关、文字关，未经审核报备的信息一律不准发布。")
    problems = texts["problems"].split("\n")
    assert len(problems) == 2
    # this paragraph runs from page 4 onto page 5, over the page number 「- 4 -」
    assert "更新编制适用性广、操作性强的依申请公开政府信息答复书模板，使各行政机关答复的方式、格式" in problems[1]
    assert problems[1].endswith("不断提高各单位政府信息公开工作人员的思想认识和业务工作水平。")
    assert texts["other_matters"] == ("2024年，区政府严格落实《政府信息公开信息处理费管理办法》，"
                                      "全年收取政府信息公开信息处理费0元。")
    for text in texts.values():
        assert not re.search(r"-\s*\d+\s*-", text), text


def test_hongze_text_difference_is_a_warning():
    report, _ = import_report(need(HONGZE))
    found = [f for f in xxgk.validate(report).findings if f.rule == "text.applications_received"]
    assert [f.severity for f in found] == ["warning"]
    assert "17" in found[0].message and "95" in found[0].message


# -- the real web pages printed to PDF by headless Chromium ------------------------------------------
@pytest.fixture(scope="session")
def chromium_pdfs(tmp_path_factory):
    """Each real page printed by Chromium: running header (date, title) and footer (file URL, n/m) on
    every page, text in a different font for digits, table rows moved to the next page."""
    binary = chromium()
    tmp = tmp_path_factory.mktemp("chromium-pdf")
    made = {}
    for name in PAGES:
        page = need(REAL / f"{name}.html")
        out = tmp / f"{name}.pdf"
        proc = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / ('profile-' + name)}",
                               f"--print-to-pdf={out}", page.resolve().as_uri()],
                              capture_output=True, timeout=180, stdin=subprocess.DEVNULL, check=False)
        assert out.exists() and out.stat().st_size > 1000, proc.stderr.decode("utf-8", "replace")[-2000:]
        made[name] = out
    return made


@pytest.mark.parametrize("name", PAGES)
def test_chromium_pdf_imports_like_the_page(chromium_pdfs, name, tmp_path):
    document, said = imported(chromium_pdfs[name], tmp_path)
    page, _ = import_report(REAL / f"{name}.html")
    assert "读取问题" not in said
    assert (document["agency"], document["year"]) == (page.agency, page.year)
    got = table_numbers(SCHEMA.flatten(document))
    assert len(got) == 200
    assert got == table_numbers(page.facts)
    for name_ in TEXTS:  # no running header, footer or page number inside; the same paragraphs
        text = document["texts"][name_]
        assert norm(text) == norm(page.facts[f"texts.{name_}"]), name_
        assert text.count("\n") == page.facts[f"texts.{name_}"].count("\n"), name_


# -- the project's own Word files, converted to PDF by LibreOffice -------------------------------------
@pytest.fixture(scope="session")
def office_pdfs(tmp_path_factory):
    """`xxgk publish` of each example, then LibreOffice's PDF of it (table 三 across a page break on a
    landscape page, its header row repeated)."""
    binary = soffice()
    tmp = tmp_path_factory.mktemp("office-pdf")
    sources = []
    for name in EXAMPLES:
        report = tmp / f"{name}.json"
        report.write_text(json.dumps(example(name), ensure_ascii=False), encoding="utf-8")
        word = tmp / f"{name}.docx"
        proc = run_cli("publish", report, "-o", word)
        assert word.exists(), proc.stderr
        sources.append(word)
    subprocess.run([binary, "--headless", "--norestore", f"-env:UserInstallation={(tmp / 'profile').as_uri()}",
                    "--convert-to", "pdf", "--outdir", str(tmp / "pdf"), *map(str, sources)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False)
    made = {name: tmp / "pdf" / f"{name}.pdf" for name in EXAMPLES}
    missing = [n for n, p in made.items() if not p.exists()]
    assert not missing, f"LibreOffice wrote no PDF for {missing}"
    return made


@pytest.mark.parametrize("name", EXAMPLES)
def test_office_pdf_gives_back_the_example(office_pdfs, name, tmp_path):
    document, said = imported(office_pdfs[name], tmp_path)
    source = example(name)
    expected = SCHEMA.flatten(source)
    assert (document.get("agency"), document.get("year")) == (source["agency"], source["year"])
    got = table_numbers(SCHEMA.flatten(document))
    # what the Word file itself imports to (made-up-errors has "3件", "/" and 2.5 where counts belong:
    # every reader leaves those blank and says so)
    word, _ = import_report(office_pdfs[name].parent.parent / f"{name}.docx")
    assert got == table_numbers(word.facts)
    if name != "made-up-errors-2022":
        assert got == table_numbers(expected)
    for text in TEXTS:
        got, want = document["texts"][text], expected[f"texts.{text}"]
        assert norm(got) == norm(want), text
        assert got.count("\n") == want.count("\n"), text


def test_table_across_pages_is_one_table_with_one_header(office_pdfs):
    tokens = pdf_tokens(office_pdfs["lushan-2021"].read_bytes(), office_pdfs["lushan-2021"])
    cells = [t.text for t in tokens if t.kind == CELL]
    assert sum("本列数据的勾稽关系" in c for c in cells) == 1  # the header LibreOffice repeats on page 2
    assert "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）" in cells  # split over 2 lines
    # table 三 runs without a paragraph in between from its first row to its last
    first = next(i for i, t in enumerate(tokens) if t.text == "一、本年新收政府信息公开申请数量")
    last = next(i for i, t in enumerate(tokens) if t.text == "四、结转下年度继续办理")
    assert all(t.kind in (CELL, BREAK) for t in tokens[first:last])
    assert "申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请" in "".join(cells)


def test_protected_against_copying_still_imports(office_pdfs, tmp_path):
    """Many bodies publish PDFs with an owner password (no copying, no printing): no password is needed
    to read them, so they import."""
    out = tmp_path / "pdf"
    subprocess.run([soffice(), "--headless", "--norestore", f"-env:UserInstallation={(tmp_path / 'p').as_uri()}",
                    "--convert-to", 'pdf:writer_pdf_Export:{"RestrictPermissions":{"type":"boolean","value":"true"},'
                    '"PermissionPassword":{"type":"string","value":"owner"},'
                    '"EnableCopyingOfContent":{"type":"boolean","value":"false"}}',
                    "--outdir", str(out), str(office_pdfs["lushan-2021"].parent.parent / "lushan-2021.docx")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300, check=False)
    pdf = out / "lushan-2021.pdf"
    assert b"/Encrypt" in pdf.read_bytes()
    document, _ = imported(pdf, tmp_path)
    assert table_numbers(SCHEMA.flatten(document)) == table_numbers(SCHEMA.flatten(example("lushan-2021")))


def test_encrypted_pdf_is_refused(office_pdfs, tmp_path):
    out = tmp_path / "pdf"
    subprocess.run([soffice(), "--headless", "--norestore", f"-env:UserInstallation={(tmp_path / 'p').as_uri()}",
                    "--convert-to", 'pdf:writer_pdf_Export:{"EncryptFile":{"type":"boolean","value":"true"},'
                    '"DocumentOpenPassword":{"type":"string","value":"secret"}}',
                    "--outdir", str(out), str(office_pdfs["lushan-2021"].parent.parent / "lushan-2021.docx")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300, check=False)
    proc = run_cli("import", out / "lushan-2021.pdf", "-o", tmp_path / "x.json")
    assert proc.returncode == 2
    assert "PDF 已加密（需要打开密码）" in proc.stderr


# -- refused: scans, damaged files, too many pages -------------------------------------------------------
def test_scanned_pdf_is_refused(tmp_path):
    from PIL import Image, ImageDraw  # Pillow comes with pdfplumber

    page = Image.new("RGB", (850, 1200), "white")
    draw = ImageDraw.Draw(page)
    for y in range(300, 900, 40):  # a ruled table, as a scanner sees it
        draw.line((80, y, 770, y), fill="black", width=2)
    for x in (80, 300, 440, 580, 770):
        draw.line((x, 300, x, 860), fill="black", width=2)
    scan = tmp_path / "scan.pdf"
    page.save(scan, "PDF", resolution=100.0, save_all=True, append_images=[page.copy()])
    proc = run_cli("import", scan, "-o", tmp_path / "scan.json")
    assert proc.returncode == 2
    assert "扫描件，没有文字层" in proc.stderr
    assert not (tmp_path / "scan.json").exists()


def damaged_pdfs() -> dict[str, bytes]:
    real = HONGZE.read_bytes() if HONGZE.exists() else b""
    cases = {
        "garbage": b"\x00\xffnot a pdf at all" * 100,
        "header only": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        "bad xref": b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 9 0 R >>\n%%EOF",
        "empty": b"",
    }
    if real:
        cases["truncated"] = real[: len(real) // 3]
        cases["middle cut out"] = real[:20000] + real[len(real) // 2:]
    return cases


@pytest.mark.parametrize("case", sorted(damaged_pdfs()))
def test_damaged_pdf_is_refused_not_a_crash(case, tmp_path):
    pdf = tmp_path / "damaged.pdf"
    pdf.write_bytes(damaged_pdfs()[case])
    proc = run_cli("import", pdf, "-o", tmp_path / "out.json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.search(r"[\u4e00-\u9fff]", proc.stderr) and "Traceback" not in proc.stderr


def test_too_many_pages_is_refused(monkeypatch):
    monkeypatch.setattr(pdfsource, "MAX_PAGES", 3)
    with pytest.raises(NotAReport, match="超过 3 页"):
        import_report(need(HONGZE))


# -- page numbers and running lines, on made-up pages --------------------------------------------------
def lines_of(page: int, body: list[str], top: list[str] = (), bottom: list[str] = ()) -> _Page:
    lines = [_Line(page, 20 + 14 * i, 32 + 14 * i, 90, 500, 12, t) for i, t in enumerate(top)]
    lines += [_Line(page, 150 + 30 * i, 166 + 30 * i, 90, 500, 16, t) for i, t in enumerate(body)]
    lines += [_Line(page, 790 + 14 * i, 802 + 14 * i, 280, 320, 12, t) for i, t in enumerate(bottom)]
    return _Page(page, 595, 842, lines, [])


def test_page_numbers_and_running_headers_are_dropped():
    pages = [
        lines_of(1, ["某某区2023年政府信息公开工作年度报告", "一、总体情况"], top=["某某区人民政府办公室"], bottom=["- 1 -"]),
        lines_of(2, ["正文第二页", "六、其他需要报告的事项"], top=["某某区人民政府办公室"], bottom=["第 2 页 共 4 页"]),
        lines_of(3, ["正文第三页"], top=["某某区人民政府办公室", "2024/1/20 发布"], bottom=["3/4"]),
        lines_of(4, ["正文第四页", "全年收取信息处理费 0 元。"], top=["某某区人民政府办公室", "2024/1/21 发布"],
                 bottom=["— 4 —"]),
    ]
    pdfsource._drop_running(pages)
    kept = [[ln.text for ln in p.lines] for p in pages]
    assert kept == [
        ["某某区2023年政府信息公开工作年度报告", "一、总体情况"],
        ["正文第二页", "六、其他需要报告的事项"],
        ["正文第三页"],
        ["正文第四页", "全年收取信息处理费 0 元。"],
    ]


def test_a_single_page_keeps_its_lines():
    page = lines_of(1, ["某某区2023年政府信息公开工作年度报告"], top=["某某区人民政府办公室"], bottom=["共 1 页 第 1 页"])
    pdfsource._drop_running([page])
    assert [ln.text for ln in page.lines] == ["某某区人民政府办公室", "某某区2023年政府信息公开工作年度报告"]


def test_lines_are_paragraphs(office_pdfs):
    """Headings stay lines of their own (the reader finds the parts by them)."""
    tokens = pdf_tokens(office_pdfs["lushan-2021"].read_bytes(), office_pdfs["lushan-2021"])
    lines = [t.text for t in tokens if t.kind == LINE]
    for heading in ("一、总体情况", "二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况",
                    "四、政府信息公开行政复议、行政诉讼情况", "五、存在的主要问题及改进情况", "六、其他需要报告的事项"):
        assert heading in lines
