"""复核说明 (issue 15, part 1): fingerprints of findings, explanations of warnings typed into the workbook
(in LibreOffice, through its own macro engine, as a clerk types), --strict, finalising with explanations,
the district total, the add-in, and a reviewer's decisions in `audit`."""

from __future__ import annotations

import copy
import io
import json
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest
from conftest import example, run_cli, set_fact, soffice
from memorybook import MemoryBook
from python_calamine import CalamineWorkbook

from xxgk import from_document
from xxgk.excel import validate_book
from xxgk.findings import FINGERPRINT_PATTERN
from xxgk.layout import META_SHEET, load_layout
from xxgk.report import load
from xxgk.review import FIRST_ROW, SHEET
from xxgk.rules import load_rules
from xxgk.template import fill
from xxgk.validate import validate

QF = "清风街道（虚构示例）"
RULE = "prior.in_force"  # the warning of the issue: a clean-up stops the stock of documents rolling forward
IN_FORCE = "proactive.normative_documents.in_force"

# A Basic macro LibreOffice runs headless: open a workbook, enter cells as typed (setFormula: "15" is a
# number, text stays text) or as text with line breaks (setString), save it as .xlsx again.
_BASIC = r'''
Sub TypeCells(spec As String)
  Dim sfa As Object, stream As Object, text As Object
  sfa = CreateUnoService("com.sun.star.ucb.SimpleFileAccess")
  stream = sfa.openFileRead(ConvertToURL(spec))
  text = CreateUnoService("com.sun.star.io.TextInputStream")
  text.setInputStream(stream)
  text.setEncoding("UTF-8")
  Dim path As String
  path = text.readLine()
  Dim args(0) As New com.sun.star.beans.PropertyValue
  args(0).Name = "Hidden"
  args(0).Value = True
  doc = StarDesktop.loadComponentFromURL(ConvertToURL(path), "_blank", 0, args())
  Do While Not text.isEOF()
    Dim line As String
    line = text.readLine()
    parts = Split(line, Chr(9))
    If UBound(parts) >= 3 Then
      cell = doc.Sheets.getByName(parts(0)).getCellRangeByName(parts(1))
      If parts(2) = "s" Then
        cell.setString(Replace(parts(3), "\n", Chr(10)))
      Else
        cell.setFormula(parts(3))
      End If
    End If
  Loop
  text.closeInput()
  Dim f(1) As New com.sun.star.beans.PropertyValue
  f(0).Name = "FilterName"
  f(0).Value = "Calc MS Excel 2007 XML"
  f(1).Name = "Overwrite"
  f(1).Value = True
  doc.storeToURL(ConvertToURL(path), f())
  doc.close(True)
End Sub
'''


@pytest.fixture(scope="module")
def typist(tmp_path_factory):
    """type(path, [(sheet, cell, value), ...]): the cells entered in LibreOffice and the file saved by it."""
    binary = soffice()
    root = tmp_path_factory.mktemp("lo")
    profile = root / "profile"
    subprocess.run([binary, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                    "--terminate_after_init"], timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    module = profile / "user" / "basic" / "Standard" / "Module1.xba"
    assert module.exists(), "LibreOffice did not create its user profile"
    module.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE script:module PUBLIC '
                      '"-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">\n<script:module '
                      'xmlns:script="http://openoffice.org/2000/script" script:name="Module1" '
                      f'script:language="StarBasic">{escape(_BASIC)}</script:module>\n', encoding="utf-8")

    def type_cells(path: Path, cells: list[tuple[str, str, object]]) -> Path:
        before = path.read_bytes()
        spec = root / "spec.txt"
        lines = [str(path.resolve())]
        for sheet, cell, value in cells:
            kind = "s" if isinstance(value, str) and not re.fullmatch(r"[a-p][0-9a-f]{15}", value) else "t"
            lines.append("\t".join((sheet, cell, kind, str(value).replace("\n", "\\n"))))
        spec.write_text("\n".join(lines) + "\nend\n", encoding="utf-8")  # the last line read is cut off
        subprocess.run([binary, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                        f'macro:///Standard.Module1.TypeCells("{spec.resolve()}")'], timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert path.read_bytes() != before, "LibreOffice did not save the typed cells"
        return path

    return type_cells


def cleaned_up(document: dict, in_force: int) -> dict:
    """The year's report after a clean-up: fewer documents in force than last year's stock rolls forward to."""
    document = set_fact(copy.deepcopy(document), IN_FORCE, in_force)
    document["texts"]["overview"] = re.sub(r"现行有效行政规范性文件\d+件", f"现行有效行政规范性文件{in_force}件",
                                           document["texts"]["overview"])
    return document


def json_validate(*args) -> dict:
    proc = run_cli("validate", "--format", "json", *args)
    return json.loads(proc.stdout)["files"][0]


def of_rule(data: dict, rule: str) -> dict:
    (found,) = [f for f in data["findings"] if f["rule"] == rule]
    return found


def review_cells(fingerprint: str, text: str, row: int = FIRST_ROW) -> list[tuple[str, str, str]]:
    return [(SHEET, f"A{row}", fingerprint), (SHEET, f"E{row}", text)]


# -- fingerprints ------------------------------------------------------------------------------------


def test_fingerprint_stable_across_runs_and_names_and_changes_with_the_compared_figures(tmp_path):
    prior = tmp_path / "2021.json"
    prior.write_text(json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=False), encoding="utf-8")
    document = cleaned_up(example("made-up-qingfeng-2022"), 15)
    first = tmp_path / "a.xlsx"
    first.write_bytes(fill(from_document(document)))
    renamed = tmp_path / "改名后的报告.xlsx"
    shutil.copy(first, renamed)
    print_ = of_rule(json_validate(first, "--prior", prior), RULE)["fingerprint"]
    assert re.fullmatch(FINGERPRINT_PATTERN, print_)
    assert of_rule(json_validate(first, "--prior", prior), RULE)["fingerprint"] == print_  # a second run
    assert of_rule(json_validate(renamed, "--prior", prior), RULE)["fingerprint"] == print_  # another name
    as_json = tmp_path / "a.json"
    as_json.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    assert of_rule(json_validate(as_json, "--prior", prior), RULE)["fingerprint"] == print_  # the same figures
    # a figure the rule does not compare: same fingerprint; one it compares: another
    renamed_body = tmp_path / "b.json"
    renamed_body.write_text(json.dumps({**document, "agency": "另一个机关"}, ensure_ascii=False), encoding="utf-8")
    assert of_rule(json_validate(renamed_body, "--prior", prior), RULE)["fingerprint"] == print_
    changed = tmp_path / "c.json"
    changed.write_text(json.dumps(cleaned_up(document, 14), ensure_ascii=False), encoding="utf-8")
    assert of_rule(json_validate(changed, "--prior", prior), RULE)["fingerprint"] != print_


def test_every_finding_of_a_report_has_its_own_fingerprint():
    for name in ("made-up-errors-2022", "lushan-2021"):
        result = validate(from_document(example(name)))
        prints = [f.fingerprint for f in result.findings]
        assert result.findings and all(re.fullmatch(FINGERPRINT_PATTERN, p) for p in prints)
        assert len(set(prints)) == len(prints)


# -- the workbook: typed in LibreOffice, strict, finalised --------------------------------------------


@pytest.fixture(scope="module")
def distributed(tmp_path_factory, typist):
    """A strict template sent out with last year's stock (distribute --strict --prior-dir), filled in
    LibreOffice with this year's figures after a clean-up: a prior.in_force warning."""
    root = tmp_path_factory.mktemp("review")
    priors = root / "上年"
    priors.mkdir()
    document = cleaned_up(example("made-up-qingfeng-2022"), 15)
    last_year = example("made-up-qingfeng-2021")  # what it carried forward is what this year carried over
    for column, value in from_document(document).facts.items():
        if column.startswith("applications.carried_over."):
            set_fact(last_year, column.replace("carried_over", "carried_forward"), value)
    (priors / "清风2021.xlsx").write_bytes(fill(from_document(last_year)))
    roster = root / "名单.csv"
    roster.write_text(f"名称\n{QF}\n", encoding="utf-8")
    out = root / "下发"
    run_cli("distribute", "--roster", roster, "--year", "2022", "-o", out, "--prior-dir", priors, "--strict")
    (template,) = out.glob("*.xlsx")
    facts = load_layout().cells
    computed = load_rules().computed()
    sheet_cells = openpyxl.load_workbook(template)
    flat = from_document(document).facts
    cells = []
    for fact_id, (sheet, row, col) in facts.items():
        cell = sheet_cells[sheet].cell(row, col)
        if fact_id in computed or cell.protection.locked or flat.get(fact_id) is None:
            continue  # sums, the given name and year, last year's carry-over
        cells.append((sheet, cell.coordinate, flat[fact_id]))
    filled = root / "清风2022.xlsx"
    shutil.copy(template, filled)
    typist(filled, cells)
    return {"root": root, "template": template, "filled": filled, "document": document}


def test_distributed_template_carries_the_strict_setting(distributed):
    meta = openpyxl.load_workbook(distributed["template"])[META_SHEET]
    assert {row[0]: row[1] for row in meta.iter_rows(values_only=True)}.get("strict") == "1"
    sheet = openpyxl.load_workbook(distributed["template"])[SHEET]
    assert sheet.protection.sheet  # the sheet is protected, its input cells are not
    assert not sheet[f"A{FIRST_ROW}"].protection.locked and not sheet[f"E{FIRST_ROW + 50}"].protection.locked
    assert sheet["A3"].protection.locked


def test_open_warning_blocks_finalize_under_the_templates_strict_setting(distributed, tmp_path):
    filled = distributed["filled"]
    data = json_validate(filled)
    assert data["valid"] and data["strict"] and not data["finalisable"]
    assert data["warnings_open"] == 1 and of_rule(data, RULE)["review"] == "open"
    text = run_cli("validate", filled)
    assert text.returncode == 1 and "【有未说明的警告】" in text.stdout
    proc = run_cli("finalize", filled, "-o", tmp_path)
    assert proc.returncode == 1 and "未说明的警告" in proc.stdout and not list(tmp_path.glob("*.xlsx"))


def test_explanation_typed_in_libreoffice_is_read_counted_and_finalised(distributed, typist, tmp_path):
    work = tmp_path / "清风2022.xlsx"
    shutil.copy(distributed["filled"], work)
    fingerprint = of_rule(json_validate(work), RULE)["fingerprint"]
    because = "2022年集中清理行政规范性文件，废止5件（清理决定见附件），故现行有效件数少于上年结转"
    typist(work, review_cells(fingerprint, because))
    data = json_validate(work)
    assert data["warnings_explained"] == 1 and data["warnings_open"] == 0 and data["finalisable"]
    assert of_rule(data, RULE)["review"] == "explained" and of_rule(data, RULE)["explanation"] == because
    text = run_cli("validate", work)
    assert text.returncode == 0 and "[已说明]" in text.stdout and f"说明：{because}" in text.stdout
    assert "1 处已说明、0 处未说明" in text.stdout

    out = tmp_path / "定稿"
    proc = run_cli("finalize", work, "-o", out)
    assert proc.returncode == 0, proc.stdout
    (final,) = out.glob("*.xlsx")
    sheet = openpyxl.load_workbook(final)[SHEET]
    assert sheet[f"A{FIRST_ROW}"].value == fingerprint and sheet[f"E{FIRST_ROW}"].value == because
    assert sheet[f"E{FIRST_ROW}"].protection.locked  # a submission copy: every cell locked
    verify = run_cli("verify", final)
    assert verify.returncode == 0 and "定稿后未被修改" in verify.stdout and "1 处已说明" in verify.stdout

    # the explanation is part of the stamped fingerprint: editing it in the submission is a change
    edited = tmp_path / "改过说明.xlsx"
    edited.write_bytes(_replace_text(final.read_bytes(), because, because + "（补充）"))
    assert json_validate(edited)["warnings_explained"] == 1  # still read as an explanation
    changed = run_cli("verify", edited)
    assert changed.returncode != 0 and "定稿后被修改" in changed.stdout and "说明在定稿后被改动" in changed.stdout
    # a figure edited instead: still named, though the stamp covers the explanations too
    (sheet, row, col) = load_layout().cells[IN_FORCE]
    part = f"xl/worksheets/sheet{openpyxl.load_workbook(final).sheetnames.index(sheet) + 1}.xml"
    cell = openpyxl.utils.get_column_letter(col) + str(row)
    refigured = tmp_path / "改过数字.xlsx"
    refigured.write_bytes(_edit_part(final.read_bytes(), part, rf'(<c r="{cell}"[^>]*><v>)15(</v>)', r"\g<1>16\g<2>"))
    named = run_cli("verify", refigured)
    assert named.returncode != 0 and "定稿时 15，现在 16" in named.stdout and "说明在定稿后被改动" not in named.stdout


def _edit_part(data: bytes, name: str, pattern: str, replacement: str) -> bytes:
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == name:
                part, n = re.subn(pattern.encode(), replacement.encode(), part)
                assert n == 1
            target.writestr(info, part)
    return out.getvalue()


def _replace_text(data: bytes, old: str, new: str) -> bytes:
    """A text edited inside the zip, as stored (UTF-8 or character references), nothing else touched."""
    def refs(text: str) -> bytes:
        return "".join(c if ord(c) < 128 else f"&#{ord(c)};" for c in text).encode()

    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    hits = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            for a, b in ((old.encode(), new.encode()), (refs(old), refs(new))):
                hits += part.count(a)
                part = part.replace(a, b)
            target.writestr(info, part)
    assert hits == 1
    return out.getvalue()


def test_explanation_lapses_when_the_figures_change(distributed, typist, tmp_path):
    work = tmp_path / "清风2022.xlsx"
    shutil.copy(distributed["filled"], work)
    fingerprint = of_rule(json_validate(work), RULE)["fingerprint"]
    typist(work, review_cells(fingerprint, "集中清理") + review_cells("not-a-print", "随手写的", FIRST_ROW + 1))
    assert json_validate(work)["warnings_explained"] == 1
    (sheet, row, col) = load_layout().cells[IN_FORCE]
    typist(work, [(sheet, openpyxl.utils.get_column_letter(col) + str(row), 14)])  # the clean-up went further
    data = json_validate(work)
    assert data["warnings_explained"] == 0 and data["warnings_open"] >= 1
    assert of_rule(data, RULE)["fingerprint"] != fingerprint and of_rule(data, RULE)["review"] == "open"
    lapsed = {e["fingerprint"]: e for e in data["lapsed_explanations"]}
    assert lapsed[fingerprint]["row"] == FIRST_ROW and "数字已改变" in lapsed[fingerprint]["reason"]
    assert "不是指纹" in lapsed["not-a-print"]["reason"]
    text = run_cli("validate", work).stdout
    assert f"“复核说明”第 {FIRST_ROW} 行（指纹 {fingerprint}" in text


def test_validate_strict_flag_without_a_strict_template(tmp_path):
    path = tmp_path / "鹿山.xlsx"
    path.write_bytes(fill(from_document(example("lushan-2021"))))
    assert run_cli("validate", path).returncode == 0
    assert run_cli("validate", "--strict", path).returncode == 1
    out = tmp_path / "out"
    assert run_cli("finalize", path, "-o", out).returncode == 0  # not strict: warnings do not block
    assert run_cli("finalize", "--strict", path, "-o", tmp_path / "strict").returncode == 1


# -- the district total ------------------------------------------------------------------------------


def test_total_lists_explained_and_open_warnings_per_unit(distributed, typist, tmp_path):
    inputs = tmp_path / "报送"
    inputs.mkdir()
    explained = inputs / "清风2022.xlsx"
    shutil.copy(distributed["filled"], explained)
    fingerprint = of_rule(json_validate(explained), RULE)["fingerprint"]
    typist(explained, review_cells(fingerprint, "集中清理废止5件"))
    other = cleaned_up(example("made-up-qingfeng-2022"), 15)
    other["agency"] = "明月镇（虚构示例）"
    (inputs / "明月2022.json").write_text(json.dumps(other, ensure_ascii=False), encoding="utf-8")
    lushan = {**example("lushan-2021"), "year": 2022}
    (inputs / "鹿山2022.json").write_text(json.dumps(lushan, ensure_ascii=False), encoding="utf-8")
    total, page = tmp_path / "合计.xlsx", tmp_path / "合计.html"
    proc = run_cli("consolidate", inputs, "-o", total, "--html", page, "-q")
    assert proc.returncode == 0, proc.stdout

    rows = CalamineWorkbook.from_path(str(total)).get_sheet_by_name("明细").to_python()
    keys = rows[0]
    by_agency = {row[keys.index("agency")]: dict(zip(keys, row)) for row in rows[2:] if row[keys.index("level")] == 1}
    assert len(by_agency) == 3
    qf = by_agency[QF]
    assert (qf["warnings_explained"], qf["warnings_open"]) == (1, 0)
    assert "集中清理废止5件" in qf["explanations"] and RULE in qf["explanations"] and qf["open_warnings"] == ""
    ls = by_agency[lushan["agency"]]
    assert ls["warnings_explained"] == 0 and ls["warnings_open"] >= 1 and "text.enumerated_parts" in ls["open_warnings"]
    total_row = rows[-1]
    assert total_row[keys.index("warnings_explained")] == 1
    assert total_row[keys.index("warnings_open")] == sum(r["warnings_open"] for r in by_agency.values())

    html = page.read_text(encoding="utf-8")
    section = re.search(r'<section id="sec-review".*?</section>', html, re.S).group(0)
    assert "集中清理废止5件" in section and "[已说明]" in section and "[未说明]" in section
    table = re.search(r'<table id="review">.*?</table>', section, re.S).group(0)
    assert re.search(re.escape(QF) + r'.*?class="num explained">1<.*?class="num open">0<', table, re.S)
    _well_formed(html)
    from test_htmlreport import run_chromium

    dom = run_chromium(tmp_path, page, "--dump-dom").stdout.decode("utf-8")  # as a browser builds the page
    shown = re.search(r'<section id="sec-review".*?</section>', dom, re.S).group(0)
    assert "集中清理废止5件" in shown and shown.count("<details") == 2


def _well_formed(html: str) -> None:
    """Every element opened in the page is closed, in order (void elements aside)."""
    void = {"meta", "br", "hr", "img", "input", "link"}
    stack: list[str] = []

    class Checker(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag not in void:
                stack.append(tag)

        def handle_endtag(self, tag):
            assert stack and stack[-1] == tag, f"</{tag}> closes <{stack[-1] if stack else None}>"
            stack.pop()

    Checker().feed(html)
    assert not stack


# -- the add-in --------------------------------------------------------------------------------------


class ExcelLikeBook(MemoryBook):
    """The in-memory book where, as in Excel, rows written by the add-in are readable cell by cell and
    a typed cell shows in the sheet's rows."""

    def write_rows(self, sheet, rows, links):
        super().write_rows(sheet, rows, links)
        if sheet == SHEET:
            for r, row in enumerate(rows, 1):
                for c, value in enumerate(row, 1):
                    key = (sheet, f"{openpyxl.utils.get_column_letter(c)}{r}")
                    if value in (None, ""):
                        self.values.pop(key, None)
                    else:
                        self.values[key] = value

    def type(self, sheet: str, cell: str, value) -> None:
        self.values[(sheet, cell)] = value
        if self.rows.get(sheet):
            row, col = openpyxl.utils.cell.coordinate_to_tuple(cell)
            grid = self.rows[sheet]
            while len(grid) < row:
                grid.append([])
            grid[row - 1] += [None] * (col - len(grid[row - 1]))
            grid[row - 1][col - 1] = value


def test_addin_writes_the_warnings_and_keeps_what_the_clerk_typed(tmp_path):
    path = tmp_path / "鹿山.xlsx"
    path.write_bytes(fill(from_document(example("lushan-2021"))))
    book = ExcelLikeBook.from_xlsx(path)
    book.type(SHEET, f"A{FIRST_ROW + 5}", "b" * 16)  # an old explanation that no warning has
    book.type(SHEET, f"E{FIRST_ROW + 5}", "旧的说明")
    result = validate_book(book)
    (warning,) = result.warnings
    assert book.get_value(SHEET, f"A{FIRST_ROW}") == warning.fingerprint
    assert book.get_value(SHEET, f"B{FIRST_ROW}") == warning.rule
    assert book.get_value(SHEET, f"E{FIRST_ROW}") is None
    assert book.get_value(SHEET, f"E{FIRST_ROW + 1}") == "旧的说明"  # kept, moved under the current warnings
    assert SHEET in book.protected  # protection put back
    book.type(SHEET, f"E{FIRST_ROW}", "306 条含未列举的栏目")  # the clerk types the reason
    again = validate_book(book)
    assert again.explained == {warning.fingerprint: "306 条含未列举的栏目"} and not again.open_warnings
    assert book.get_value(SHEET, f"E{FIRST_ROW}") == "306 条含未列举的栏目"
    assert "1 处已说明" in book.messages[-1]


# -- audit: a reviewer's decisions ------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from xxgk.publish import html_bytes

    root = tmp_path_factory.mktemp("published")
    folder = root / "reports"
    folder.mkdir()
    for name, document in (("鹿山2021.html", example("lushan-2021")),
                           ("清风2022.html", cleaned_up(example("made-up-qingfeng-2022"), 15)),
                           ("清风2021.html", example("made-up-qingfeng-2021"))):
        (folder / name).write_bytes(html_bytes(from_document(document)))
    data = json.loads(run_cli("audit", folder, "--format", "json", "-q").stdout)
    return {"root": root, "folder": folder, "reports": {Path(r["path"]).name: r for r in data["reports"]}}


def test_audit_decisions_show_confirmed_dismissed_and_open_apart(published, tmp_path):
    reports = published["reports"]
    qf = of_rule(reports["清风2022.html"], RULE)
    ls = [f for f in reports["鹿山2021.html"]["findings"] if f["rule"] == "text.enumerated_parts"][0]
    decisions = tmp_path / "复核决定.json"
    decisions.write_text(json.dumps({"decisions": {
        qf["fingerprint"]: {"decision": "排除", "reason": "当年集中清理，已核实"},
        ls["fingerprint"]: {"decision": "确认", "reason": "概述与分项不符"},
        "a" * 16: {"decision": "确认"}}}, ensure_ascii=False), encoding="utf-8")
    page = tmp_path / "抽查.html"
    proc = run_cli("audit", published["folder"], "--decisions", decisions, "--format", "json", "-q", "--html", page)
    data = json.loads(proc.stdout)
    found = {Path(r["path"]).name: r for r in data["reports"]}
    assert of_rule(found["清风2022.html"], RULE)["review"] == "dismissed"
    assert of_rule(found["清风2022.html"], RULE)["reason"] == "当年集中清理，已核实"
    assert [f for f in found["鹿山2021.html"]["findings"] if f["rule"] == "text.enumerated_parts"][0]["review"] == "confirmed"
    total = sum(len(r["findings"]) for r in data["reports"])
    assert (data["decisions"]["confirmed"], data["decisions"]["dismissed"]) == (1, 1)
    assert data["decisions"]["open"] == total - 2
    assert [d["fingerprint"] for d in data["decisions"]["unmatched"]] == ["a" * 16]

    html = page.read_text(encoding="utf-8")
    assert 'data-decision="dismissed"' in html and 'data-decision="confirmed"' in html and "当年集中清理，已核实" in html
    _well_formed(html)
    text = run_cli("audit", published["folder"], "--decisions", decisions, "-q").stdout
    assert "复核：确认 0 处、排除 1 处" in text and "复核决定 3 条：确认 1 处、排除 1 处" in text
    assert f"不再适用的复核决定：指纹 {'a' * 16}" in text


def test_audit_decision_limited_to_one_body_and_year(published, tmp_path):
    reports = published["reports"]
    qf = of_rule(reports["清风2022.html"], RULE)
    decisions = tmp_path / "d.json"
    decisions.write_text(json.dumps({qf["fingerprint"]: {"decision": "排除", "reason": "清理", "agency": QF,
                                                         "year": 2021}}, ensure_ascii=False), encoding="utf-8")
    data = json.loads(run_cli("audit", published["folder"], "--decisions", decisions, "--format", "json", "-q").stdout)
    assert data["decisions"]["dismissed"] == 0 and len(data["decisions"]["unmatched"]) == 1


@pytest.mark.parametrize("content, words", [
    ("not json", "不是有效的 JSON"),
    ('["x"]', "应为 JSON 对象"),
    ('{"decisions": {"123": {"decision": "确认"}}}', "不是指纹"),
    ('{"decisions": {"' + "c" * 16 + '": {"decision": "同意"}}}', "应为「确认」或「排除」"),
    ('{"decisions": {"' + "c" * 16 + '": {"decision": "排除"}}}', "排除须说明理由"),
])
def test_bad_decisions_file_is_refused_in_chinese(published, tmp_path, content, words):
    decisions = tmp_path / "d.json"
    decisions.write_text(content, encoding="utf-8")
    proc = run_cli("audit", published["folder"], "--decisions", decisions, "-q")
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr


def test_json_report_without_a_sheet_has_no_explanations(tmp_path):
    result = validate(load(Path(__file__).parent.parent / "examples" / "lushan-2021.json"))
    assert result.warnings and not result.explained and not result.lapsed and not result.strict


def test_total_cells_stay_within_a_spreadsheet_cell():
    from xxgk.consolidate import VALID, Unit, review_cells

    (warning,) = validate(from_document(example("lushan-2021"))).warnings
    many = Unit(path="x.xlsx", status=VALID, findings=[warning] * 200)  # 200 long warnings: over 32,767 characters
    explained, open_ = review_cells(many)[2:]
    assert explained is None and len("；".join([warning.message] * 200)) > 32_767
    assert len(open_) <= 32_767 and open_.endswith("其余见 xxgk validate）")
