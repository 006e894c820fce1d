"""Tables as bodies print them: text whose cells are separated by spaces (pdftotext -layout, a copy from a
PDF viewer), an eighth 法人或其他组织 subtotal column, blanks and "/" named, （六）其他处理 as one row,
misprinted row labels and headers split into fragments."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import example, run_cli, soffice

import xxgk
from xxgk.importer import BREAK, CELL, LINE, import_report, text_tokens
from xxgk.schema import load_schema

SCHEMA = load_schema()
ORGS = ("commercial", "research", "nonprofit", "legal_services", "other_orgs")


def numbers(facts: dict) -> dict:
    """The figures of tables 二, 三 and 四 (fee figures read from the text of 六 are another matter)."""
    return {k: v for k, v in facts.items() if SCHEMA.facts[k].numeric and k.startswith(TABLES)}


TABLES = ("proactive.", "applications.", "reviews.")


def expected(name: str) -> dict:
    return numbers(SCHEMA.flatten(example(name)))


# -- (a) pdftotext -layout of PDFs that LibreOffice makes from the project's own Word output ---------
def pdftotext() -> str:
    found = shutil.which("pdftotext")
    if not found:
        if os.environ.get("XXGK_REQUIRE_SOFFICE"):  # CI installs poppler-utils with LibreOffice
            pytest.fail("pdftotext (poppler-utils) is required here but not installed")
        pytest.skip("pdftotext (poppler-utils) not installed")
    return found


EXAMPLES = ("lushan-2021", "made-up-qingfeng-2022")


@pytest.fixture(scope="module")
def layout_texts(tmp_path_factory) -> dict[str, Path]:
    """publish -> .docx -> LibreOffice PDF -> `pdftotext -layout`, for each example (one soffice run)."""
    binary, converter = soffice(), pdftotext()
    folder = tmp_path_factory.mktemp("layout")
    docs = []
    for name in EXAMPLES:
        proc = run_cli("publish", Path(__file__).parents[1] / "examples" / f"{name}.json", "-o", folder / f"{name}.docx")
        assert proc.returncode == 0, proc.stderr
        docs.append(folder / f"{name}.docx")
    profile = (folder / "profile").resolve()
    subprocess.run([binary, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                    "--convert-to", "pdf", "--outdir", str(folder), *map(str, docs)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=True)
    texts = {}
    for name in EXAMPLES:
        subprocess.run([converter, "-layout", str(folder / f"{name}.pdf"), str(folder / f"{name}.txt")],
                       check=True, timeout=60)
        texts[name] = folder / f"{name}.txt"
    return texts


@pytest.mark.parametrize("name", EXAMPLES)
def test_pdftotext_layout_of_published_report_imports_exactly(layout_texts, name, tmp_path):
    source = layout_texts[name]
    text = source.read_text(encoding="utf-8")
    assert "\t" not in text and "申请人情况" in text  # really the space layout, header and all
    out = tmp_path / "back.json"
    proc = run_cli("import", source, "-o", out)
    assert "读取问题" not in proc.stderr, proc.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert numbers(SCHEMA.flatten(document)) == expected(name)
    report, problems = import_report(source)
    assert problems == []
    assert report.agency == example(name)["agency"] and report.year == example(name)["year"]


# -- (b) hand-built text in the shapes pdftotext and PDF viewers give ----------------------------------
def rows3(document: dict) -> list[tuple[str, list]]:
    flat = SCHEMA.flatten(document)
    return [(SCHEMA.titles(f"applications.{r}")[-1],
             [flat[f"applications.{r}.{c}"] for c in SCHEMA.columns(f"applications.{r}")])
            for r in SCHEMA.rows("applications")]


HEADER3 = [  # a header split over lines and inside words, as pdftotext prints a merged Word header
    "                                        申请人情况",
    "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项      法人或其他组织",
    "        之和）                  自然人   商业企   科研机  社会公  法律服        总计",
    "                                                          其他",
    "                                     业     构   益组织  务机构",
]


def cell(value) -> str:
    return "" if value is None else str(value)


def layout_report(document: dict, *, header3=HEADER3, row3=None, extra3: list[str] | None = None) -> str:
    """The report as space-separated text: paragraphs with pdftotext's single spaces around digits, the
    three tables with cells in columns, a long label wrapped onto the next line, a page break with the
    header repeated inside table 三, and table 四's header in fragments."""
    flat = SCHEMA.flatten(document)
    p = flat.get
    lines = [
        f"{document['agency']}{document['year']} 年政府信息公开工作年度报告",
        "  一、总体情况",
        f"  {document['year']} 年，本机关公开信息 306 条，收到申请 3 件，同比增长 33%。",
        "  - 1 -",
        "  二、主动公开政府信息情况",
        "                第二十条第（一）项",
        "       信息内容   本年制发件数    本年废止件数     现行有效件数",
        f"规章               {p('proactive.rules.issued')}         {p('proactive.rules.repealed')}"
        f"          {p('proactive.rules.in_force')}",
        f"行政规范性文件     {p('proactive.normative_documents.issued')}   {p('proactive.normative_documents.repealed')}"
        f"   {p('proactive.normative_documents.in_force')}",
        "                第二十条第（五）项",
        "       信息内容            本年处理决定数量",
        f"行政许可                       {p('proactive.licensing.decisions')}",
        "                第二十条第（六）项",
        f"行政处罚                       {p('proactive.penalties.decisions')}",
        f"行政强制                       {p('proactive.coercive_measures.decisions')}",
        "                第二十条第（八）项",
        "    信息内容             本年收费金额（单位：万元）",
        f"行政事业性收费                    {p('proactive.fees.amount')}",
        "  三、收到和处理政府信息公开申请情况",
        *header3,
    ]
    for n, (label, values) in enumerate(rows3(document)):
        figures = "   ".join(cell(v) for v in (row3(label, values) if row3 else values))
        if label.startswith("（二）部分公开"):
            lines += ["度办理结 （二）部分公开（区分处理的，只计这一情形，不计其他情", f"              {figures}", "  果   形）"]
        elif label.startswith("2.申请人逾期"):
            lines += ["\f", *header3, "    2.申请人逾期未按收费通知要求缴纳费用、", f"                {figures}",
                      "    行政机关不再处理其政府信息公开申请"]
        elif label == "（一）予以公开":
            lines.append(f"三、本年 （一）予以公开       {figures}")
        else:
            lines.append(f"      {label}     {figures}")
    lines += extra3 or []
    reviews = "   ".join(cell(flat[f"reviews.{r}.{c}"]) for r in SCHEMA.rows("reviews")
                         for c in SCHEMA.columns(f"reviews.{r}"))
    lines += [
        "",
        "  四、政府信息公开行政复议、行政诉讼情况",
        "                                         行政诉讼",
        "            行政复议",
        "                         未经复议直接起诉                  复议后起诉",
        "结果维   结果纠   其他结    尚未审        结果维   结果纠 其他结 尚未审       结果维   结果纠    其他结 尚未审",
        "                 总计                           总计                          总计",
        " 持     正     果      结          持     正    果    结          持     正      果   结",
        f" {reviews}",
        "  五、存在的主要问题及改进情况",
        "  一是公开内容不够全面，2 个栏目更新不及时。",
        "  六、其他需要报告的事项",
        "  本年度未收取信息处理费。",
    ]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "report.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_hand_built_layout_reads_every_number(tmp_path):
    document = example("made-up-qingfeng-2022")
    report, problems = import_report(write(tmp_path, layout_report(document)))
    assert problems == []
    assert numbers(report.facts) == expected("made-up-qingfeng-2022")
    assert report.facts["texts.overview"].endswith("同比增长 33%。")  # a paragraph, not cells
    assert report.facts["texts.problems"] == "一是公开内容不够全面，2 个栏目更新不及时。"


def test_paragraphs_stay_lines_and_table_lines_become_cells():
    tokens = text_tokens(
        "截至 2021 年 12 月 31 日，公开信息 403 条，同比 2020 年增长 33%。\n"
        "  - 5 -\n"
        "\n"
        "  五、 存在的主要问题及改进情况\n"
        "规章               0         0          0\n"
        "一、本年新收政府信息公开申请数量 3 0 0 0 0 0 3\n"
    )
    assert [t.kind for t in tokens[:4]] == [LINE, LINE, BREAK, LINE]
    assert [(t.kind, t.text) for t in tokens[4:9]] == [(CELL, "规章"), (CELL, "0"), (CELL, "0"), (CELL, "0"), (BREAK, "")]
    assert [t.text for t in tokens[9:17]] == ["一、本年新收政府信息公开申请数量", "3", "0", "0", "0", "0", "0", "3"]
    assert all(t.kind == CELL for t in tokens[9:17]) and tokens[17].kind == BREAK


def test_one_cell_per_line_copy_reads_every_number(tmp_path):
    """A copy out of a PDF viewer: every cell on its own line, no spaces at all."""
    document = example("made-up-qingfeng-2021")
    text = layout_report(document)
    title, _, rest = text.partition("\n")
    lines = [title]
    for line in rest.split("\n"):
        lines.extend(part for part in line.split() if part)
    report, problems = import_report(write(tmp_path, "\n".join(lines) + "\n"))
    assert problems == []
    assert numbers(report.facts) == expected("made-up-qingfeng-2021")


# -- item 8: the eighth column ---------------------------------------------------------------------------
HEADER8 = [
    "                                        申请人情况",
    "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项      法人或其他组织",
    "    之和）        自然人   商业企业   科研机构  社会公益组织  法律服务机构   其他   小计   总计",
]


def with_subtotal(label, values):
    return values[:6] + [sum(values[1:6])] + values[6:]


def test_eighth_subtotal_column_is_recognised_and_checked(tmp_path):
    document = example("made-up-qingfeng-2022")
    report, problems = import_report(write(tmp_path, layout_report(document, header3=HEADER8, row3=with_subtotal)))
    assert problems == []
    assert numbers(report.facts) == expected("made-up-qingfeng-2022")

    def wrong(label, values):
        row = with_subtotal(label, values)
        if label == "一、本年新收政府信息公开申请数量":
            row[6] += 1
        return row

    report, problems = import_report(write(tmp_path, layout_report(document, header3=HEADER8, row3=wrong), "b.txt"))
    assert numbers(report.facts) == expected("made-up-qingfeng-2022")  # the five columns are read as printed
    assert len(problems) == 1 and problems[0].startswith("表三「一、本年新收政府信息公开申请数量」：法人或其他组织小计为")
    assert "不符" in problems[0]


def test_eighth_column_in_a_web_page_is_mapped_by_its_header(tmp_path):
    """An HTML table whose sub-header names the subtotal 法人或其他组织 after 其他."""
    document = example("made-up-qingfeng-2022")
    head = ("<tr><td rowspan=3>（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）</td>"
            "<td colspan=8>申请人情况</td></tr><tr><td rowspan=2>自然人</td><td colspan=6>法人或其他组织</td>"
            "<td rowspan=2>总计</td></tr><tr><td>商业企业</td><td>科研机构</td><td>社会公益组织</td>"
            "<td>法律服务机构</td><td>其他</td><td>法人或其他组织</td></tr>")
    body = "".join("<tr><td>" + label + "</td>" + "".join(f"<td>{v}</td>" for v in with_subtotal(label, values))
                   + "</tr>" for label, values in rows3(document))
    page = (f"<html><head><title>{document['agency']}{document['year']}年政府信息公开工作年度报告</title></head><body>"
            "<p>一、总体情况</p><p>本年度工作。</p><p>三、收到和处理政府信息公开申请情况</p>"
            f"<table>{head}{body}</table><p>五、存在的主要问题及改进情况</p><p>无。</p>"
            "<p>六、其他需要报告的事项</p><p>无。</p></body></html>")
    report, problems = import_report(write(tmp_path, page, "page.html"))
    flat = SCHEMA.flatten(document)
    assert {k: v for k, v in report.facts.items() if k.startswith("applications.")} == {
        k: v for k, v in flat.items() if k.startswith("applications.")}
    assert not [p for p in problems if p.startswith("表三")]


# -- item 8: blanks, "/", "-", "——", 不适用 ------------------------------------------------------------
def test_blank_markers_are_named_and_left_empty(tmp_path):
    document = example("made-up-qingfeng-2022")
    marks = {"commercial": "/", "research": "-", "nonprofit": "——", "legal_services": "不适用"}

    def marked(label, values):
        if label == "二、上年结转政府信息公开申请数量":
            return [values[0], *[marks.get(c, v) for c, v in zip(ORGS, values[1:6])], values[6]]
        return values

    path = write(tmp_path, layout_report(document, row3=marked))
    report, problems = import_report(path)
    where = "表三「二、上年结转政府信息公开申请数量」法人或其他组织·"
    for column in marks:
        assert report.facts[f"applications.carried_over.{column}"] is None  # stays None for the rules
    assert problems == [f"{where}法律服务机构：原表为「不适用」（官方格式应填 0），已留空"]
    assert report.marks == {f"applications.carried_over.{c}": m for c, m in marks.items()}
    found = {f.facts[0]: f.message for f in xxgk.validate(report).findings if f.rule == "value.type"}
    for column, mark in marks.items():  # validate names each cell with what was printed there
        assert f"公布的表格中此格为“{mark}”；按规定格式，没有发生的事项应填 0" in found[f"applications.carried_over.{column}"]


# -- quirks: （六）其他处理 as one row, misprinted labels --------------------------------------------------
def single_other(document: dict, values: list) -> str:
    """The report with the three （六） rows replaced by one （六）其他处理 row."""
    text = layout_report(document)
    start = text.index("\f")  # the page break before （六）2, and （六）1 before it
    start = text.rindex("\n", 0, text.rindex("1.申请人无正当理由逾期不补正", 0, start)) + 1
    stop = text.index("      （七）总计")
    row = "      （六）其他处理     " + "   ".join(str(v) for v in values) + "\n"
    return text[:start] + row + text[stop:]


def test_single_other_row_of_zeros_gives_the_three_rows(tmp_path):
    document = example("lushan-2021")
    other = [r for r in SCHEMA.rows("applications") if r.startswith("results.other.")]
    flat = SCHEMA.flatten(document)
    assert all(flat[f"applications.{r}.{c}"] == 0 for r in other for c in SCHEMA.columns(f"applications.{r}"))
    report, problems = import_report(write(tmp_path, single_other(document, [0] * 7)))
    assert numbers(report.facts) == expected("lushan-2021")
    assert problems == ["表三：「（六）其他处理」印成一行（官方格式分为 3 行），该行全为 0，三行均按 0 读入"]


def test_single_other_row_with_figures_is_left_blank(tmp_path):
    document = example("lushan-2021")
    report, problems = import_report(write(tmp_path, single_other(document, [1, 0, 0, 0, 0, 0, 1])))
    other = [r for r in SCHEMA.rows("applications") if r.startswith("results.other.")]
    assert all(report.facts[f"applications.{r}.{c}"] is None for r in other for c in SCHEMA.columns(f"applications.{r}"))
    assert problems == ["表三：「（六）其他处理」印成一行（官方格式分为 3 行），其中有非 0 的数或空格，"
                        "无法分到三行，这三行已留空，请对照原文核实"]
    # the rows around it are still read
    assert report.facts["applications.results.total.total"] == SCHEMA.flatten(document)["applications.results.total.total"]


def test_misprinted_labels_are_matched_and_named(tmp_path):
    document = example("made-up-qingfeng-2022")
    text = layout_report(document)
    text = text.replace("1.本机关不掌握相关政府信息", "1.本机关不掌握相关政府信心")  # one character
    text = text.replace("5.要求行政机关确认或重新出具已获取信息", "5.要求行政机关确认或从新出具已获信息")  # two
    report, problems = import_report(write(tmp_path, text))
    assert numbers(report.facts) == expected("made-up-qingfeng-2022")
    assert problems == [
        "行标题「1.本机关不掌握相关政府信心」与官方的「1.本机关不掌握相关政府信息」不完全相同，已按「1.本机关不掌握相关政府信息」读入，请核实",
        "行标题「5.要求行政机关确认或从新出具已获信息」与官方的「5.要求行政机关确认或重新出具已获取信息」不完全相同，"
        "已按「5.要求行政机关确认或重新出具已获取信息」读入，请核实",
    ]
    # a short label is never matched loosely: 行政许可 misprinted is not found
    report, problems = import_report(write(tmp_path, layout_report(document).replace("行政许可", "行政许诺"), "c.txt"))
    assert report.facts.get("proactive.licensing.decisions") is None
    assert problems == ["表二：未找到行「行政许可」，该行各数值未读出"]
