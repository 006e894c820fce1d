"""What `xxgk import` takes from a published report besides its tables: the agency and year from the
title (in every common wording, never from breadcrumbs, site names or the preamble), the texts of 一/五/六
without a PDF's page furniture, and the 信息处理费 figures that the text of 六 states."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SHARED, example, need_shared

from xxgk.importer import fees_stated, import_report
from xxgk.schema import load_schema

SEED = SHARED / "seed" / "000_4a81d0f783bbd2ce.txt"
SEED_TITLE = "\n富阳区鹿山街道2021年政府信息公开工作\n年度报告\n"


def seed_text() -> str:
    text = need_shared(SEED).read_text(encoding="utf-8")
    assert text.startswith(SEED_TITLE)
    return text


def seed_with(tmp_path: Path, title: str, replace: dict[str, str] | None = None) -> Path:
    """The seed report with another title (and other lines replaced)."""
    text = title + seed_text()[len(SEED_TITLE):]
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "report.txt"
    path.write_text(text, encoding="utf-8")
    return path


def page(tmp_path: Path, title: str, before: list[str]) -> Path:
    """The published web page of an example, with another <title> and other lines above part 一."""
    from xxgk import from_document
    from xxgk.publish import html_bytes

    text = html_bytes(from_document(example("made-up-qingfeng-2022"))).decode("utf-8")
    text = re.sub(r"<title>.*?</title>", f"<title>{title}</title>", text)
    text = re.sub(r"<h1>.*?</h1>", "".join(f"<p>{line}</p>" for line in before), text)
    path = tmp_path / "page.html"
    path.write_text(text, encoding="utf-8")
    return path


# -- titles -------------------------------------------------------------------------------
@pytest.mark.parametrize("title, agency, year", [
    ("2022年上海市政府信息公开工作年度报告\n", "上海市", 2022),
    ("上海市2022年度政府信息公开工作报告\n", "上海市", 2022),
    ("鹿山街道2021年政府信息公开工作年度报告\n", "鹿山街道", 2021),
    ("上海市财政局2022年度政府信息公开工作年度报告\n", "上海市财政局", 2022),
    ("上海市财政局2022年政府信息公开年度报告\n", "上海市财政局", 2022),
    ("2022年度上海市财政局政府信息公开工作年度报告\n", "上海市财政局", 2022),
    ("2022年上海市人民政府信息公开工作年度报告\n", "上海市人民政府", 2022),
    ("上海市2022年年度政府信息公开工作报告\n", "上海市", 2022),
    ("上 海 市 ２０２２ 年 政府信息公开工作年度报告（全文）\n", "上海市", 2022),
    ("清风街道（虚构示例）2021年政府信息公开工作年度报告\n", "清风街道（虚构示例）", 2021),
    ("富阳区鹿山街道2021年政府信息公开工作\n年度报告\n", "富阳区鹿山街道", 2021),  # broken over two lines
    ("上海市财政局\n2022年政府信息公开工作年度报告\n", "上海市财政局", 2022),  # agency on the line above
    ("上海市财政局2022年政府信息公开工作年度报告\n根据《中华人民共和国政府信息公开条例》规定，现公布"
     "本局2022年政府信息公开工作年度报告。\n", "上海市财政局", 2022),
])
def test_title_phrasings(tmp_path, title, agency, year):
    report, problems = import_report(seed_with(tmp_path, title))
    assert (report.agency, report.year) == (agency, year)
    assert problems == []


def test_year_only_title_leaves_the_agency_blank_and_says_so(tmp_path):
    report, problems = import_report(seed_with(tmp_path, "2022年政府信息公开工作年度报告\n"))
    assert report.agency is None and report.year == 2022
    assert problems == ["报告标题中没有机关名称（只有「2022年」），机关名称未读出，请补填"]


def test_no_title_leaves_both_blank_and_says_so(tmp_path):
    path = seed_with(tmp_path, "根据《中华人民共和国政府信息公开条例》规定，现公布富阳区鹿山街道2021年政府信息公开"
                               "工作年度报告。\n首页 > 政务公开 > 富阳区鹿山街道2021年政府信息公开工作年度报告\n")
    report, problems = import_report(path)
    assert report.agency is None and report.year is None
    assert "agency" not in report.document and "year" not in report.document
    assert problems == ["未找到报告标题（如「××2021年政府信息公开工作年度报告」），机关名称和年度未读出，请补填"]


def test_page_title_with_site_name(tmp_path):
    path = page(tmp_path, "上海市2022年度政府信息公开工作报告_政府信息公开年报_上海市人民政府门户网站", [])
    report, problems = import_report(path)
    assert (report.agency, report.year) == ("上海市", 2022) and problems == []
    path = page(tmp_path, "上海市人民政府门户网站 - 2022年上海市财政局政府信息公开工作年度报告", [])
    assert (import_report(path)[0].agency, import_report(path)[0].year) == ("上海市财政局", 2022)


def test_heading_not_breadcrumbs_site_names_or_preamble(tmp_path):
    before = [
        "上海市人民政府门户网站", "政府信息公开",  # site name and menu
        "2021年浦东新区政府信息公开工作年度报告",  # a menu's link to another report, above the heading
        "首页 > 政务公开 > 政府信息公开年报 > 2021年黄浦区政府信息公开工作年度报告",
        "上海市财政局2022年政府信息公开工作年度报告",
        "根据《中华人民共和国政府信息公开条例》规定，现公布上海市某某局2022年政府信息公开工作年度报告。",
    ]
    report, problems = import_report(page(tmp_path, "上海市人民政府门户网站", before))
    assert (report.agency, report.year) == ("上海市财政局", 2022) and problems == []


def test_page_without_any_title(tmp_path):
    before = ["上海市人民政府门户网站", "首页 > 政务公开 > 2022年上海市政府信息公开工作年度报告",
              "根据《中华人民共和国政府信息公开条例》规定，现公布上海市财政局2022年政府信息公开工作年度报告。"]
    report, problems = import_report(page(tmp_path, "上海市人民政府门户网站", before))
    assert report.agency is None and report.year is None
    assert problems == ["未找到报告标题（如「××2021年政府信息公开工作年度报告」），机关名称和年度未读出，请补填"]


# -- texts ----------------------------------------------------------------------------------
def test_page_numbers_running_headers_and_hyphens_are_not_text(tmp_path):
    text = seed_text()
    overview_line = next(line for line in text.split("\n") if line.startswith("（二）依申请公开"))
    problems_line = next(line for line in text.split("\n") if line.startswith("（二）整改情况"))
    header = "富阳区鹿山街道2021年政府信息公开工作年度报告"
    furniture = ["-5-", "— 6 —", "第7页", "8/12", "第 2 页 共 12 页"]
    path = seed_with(tmp_path, SEED_TITLE, {
        overview_line: "\n".join(furniture[:5]) + "\n" + overview_line + "\n" + header + "\n富阳区鹿山街道"
        + "\n政府信息公开工作年度报告  第 3 页",
        problems_line: header + "\n第8页\n富阳区鹿山街道\n" + problems_line + " - 9 -",
        "6、 其他需要报告的事项\n": "The infor-\nmation desk.\n6、 其他需要报告的事项\n- 10 -\n政府信息公开工作年度报告 第4页\n12\n- 3 -\n",
    })
    report, problems = import_report(path)
    expected = load_schema().flatten(example("lushan-2021"))
    assert problems == []
    assert report.facts["texts.overview"] == expected["texts.overview"]
    assert report.facts["texts.problems"] == expected["texts.problems"] + "\nThe information desk."
    assert report.facts["texts.other_matters"] == expected["texts.other_matters"]


def test_sentences_that_start_like_a_heading_stay_in_the_text(tmp_path):
    """"2021年主动公开…" and "2.主动公开方面，…" inside 一 are not the heading of part 二."""
    extra = "2021年主动公开政府信息306条。\n2.主动公开方面，全年公开信息306条\n六是其他事项办理及时"
    path = seed_with(tmp_path, SEED_TITLE, {"\n二、主动公开政府信息情况\n": f"\n{extra}\n二、主动公开政府信息情况\n"})
    report, problems = import_report(path)
    assert problems == []
    assert report.facts["texts.overview"].endswith("\n" + extra)


def test_short_lines_that_repeat_in_the_text_are_kept(tmp_path):
    """"无。" in both 五 and 六, and a sub-heading used twice, are the report's words, not page furniture."""
    text = seed_text()
    problems_start = text.index("5、 存在问题及整改情况\n") + len("5、 存在问题及整改情况\n")
    problems_end = text.index("6、 其他需要报告的事项")
    path = tmp_path / "short.txt"
    path.write_text(text[:problems_start] + "无。\n（一）工作情况\n（一）工作情况\n" + text[problems_end:].replace(
        "本年度未收取信息处理费。", "无。"), encoding="utf-8")
    report, problems = import_report(path)
    assert report.facts["texts.problems"] == "无。\n（一）工作情况\n（一）工作情况"
    assert report.facts["texts.other_matters"] == "无。"
    assert not any(k.startswith("fees.") for k in report.facts)


# -- fees -----------------------------------------------------------------------------------
N, B, C = "fees.notices", "fees.amount_billed", "fees.amount_collected"


@pytest.mark.parametrize("text, expected", [
    ("本年度发出信息处理费收费通知2件，应收金额200元，实收金额100元；1名申请人逾期未缴纳费用，不再处理其申请。",
     {N: 2, B: 200, C: 100}),
    ("本年度发出信息处理费收费通知2件，收费通知总金额200元，实际收取信息处理费100元。", {N: 2, B: 200, C: 100}),
    ("本年度共发出收费通知3件，总金额1,250.5元，实际收取信息处理费0.1万元。", {N: 3, B: 1250.5, C: 1000}),
    ("全年共发出2件信息处理费收费通知，合计金额300元，已收取300元。", {N: 2, B: 300, C: 300}),
    ("本年度未发出信息处理费收费通知，未收取信息处理费。", {N: 0, B: 0, C: 0}),
    ("本年度发出收费通知的件数、总金额、实际收取的总金额均为0。", {N: 0, B: 0, C: 0}),
    ("本年度没有发出收费通知。", {N: 0, B: 0}),
    ("本年度未收取信息处理费。", {C: 0}),
    ("2021年，无收取信息处理费情况。", {C: 0}),
    ("2023年度，县发展和改革局政府信息公开未发生收费情况。", {C: 0}),
    ("本机关未向申请人收取任何费用。", {C: 0}),
    ("本年度没有收取信息处理费。", {C: 0}),
    ("发出收费通知1件，金额50元，申请人逾期未缴纳，未收取费用。", {N: 1, B: 50, C: 0}),
    ("本年度发出收费通知书一份。", {N: 1}),
    ("无。", {}),
    ("本年度无其他需要报告的事项。", {}),
    ("投入经费5万元用于网站建设，收到申请3件。", {}),
    ("申请人应在收到收费通知后十个工作日内缴纳。", {}),
    ("收取信息处理费100元。另有一笔收取信息处理费200元。", {}),  # stated twice, differently: not read
])
def test_fee_sentences(text, expected):
    assert fees_stated(text)[0] == expected


def test_conflicting_fee_figures_are_named(tmp_path):
    path = seed_with(tmp_path, SEED_TITLE, {"本年度未收取信息处理费。": "本年度实际收取信息处理费100元。经核实实收金额为120元。"})
    report, problems = import_report(path)
    assert "fees.amount_collected" not in report.facts
    assert problems == ["六、其他需要报告的事项：信息处理费实际收取的总金额写有不同的数字（100、120），未读出，请核实"]


def test_fees_are_read_from_the_text_of_six_and_the_text_is_kept(tmp_path):
    sentence = "本年度发出收费通知3件，总金额300元，实际收取200元。"
    path = seed_with(tmp_path, SEED_TITLE, {"本年度未收取信息处理费。": sentence})
    report, problems = import_report(path)
    assert problems == []
    assert {k: v for k, v in report.facts.items() if k.startswith("fees.")} == {N: 3, B: 300, C: 200}
    assert report.facts["texts.other_matters"] == sentence  # the body's own words stay its text
