"""The tool's own output reads back: `xxgk publish` then `xxgk import` gives every number, the agency, the
year and the three texts back exactly, for the Word file, the web page and the PDF LibreOffice makes from
the Word file; the examples and the shared real reports alike. Publishing an imported report again gives
the same document (the fee sentence is neither doubled nor turned into text of 六)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLES, example, run_cli, set_fact, soffice

import xxgk
from xxgk import NotAReport
from xxgk.importer import fees_stated, import_report
from xxgk.report import load
from xxgk.schema import load_schema

docx = pytest.importorskip("docx")
from xxgk.publish import docx_bytes, html_bytes  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-reports"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
PAGES = sorted(p.name for p in REAL.iterdir() if p.suffix in (".html", ".pdf")) if REAL.exists() else []
WRITERS = {"docx": docx_bytes, "html": html_bytes}


def expected_back(report) -> dict:
    """What an import of the published report must give: every fact as it was, except a value that is no
    number for its cell (2.5 as a count, "3件", "/": the importer leaves those blank and names them), and
    the fee figures the text of 六 states where the report left them blank (lushan-2021: 未收取 -> 0)."""
    schema = load_schema()
    facts = {}
    for fact_id, value in report.facts.items():
        fact = schema.facts[fact_id]
        if fact.numeric and not readable(fact, value):
            value = None
        facts[fact_id] = value
    for fact_id, value in fees_stated(report.facts.get("texts.other_matters") or "")[0].items():
        if facts.get(fact_id) is None:
            facts[fact_id] = value
    return facts


def readable(fact, value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return fact.kind == "amount" or float(value).is_integer()


def unreadable(report) -> int:
    """How many values the importer must name as not a number ("/" and blanks are not named)."""
    schema = load_schema()
    return sum(1 for k, v in report.facts.items() if schema.facts[k].numeric and v is not None
               and not readable(schema.facts[k], v) and str(v).strip() not in ("", "/", "—", "-"))


def same(back: dict, expected: dict) -> dict:
    """The facts that differ (absent and None are the same: a blank)."""
    return {k: (expected.get(k), back.get(k)) for k in set(back) | set(expected) if back.get(k) != expected.get(k)}


def sources():
    found = [(name, lambda name=name: xxgk.from_document(example(name))) for name in NAMES]
    found += [(page, lambda page=page: import_report(REAL / page)[0]) for page in PAGES]
    return found


SOURCES = dict(sources())


# -- publish -> import through the commands, every example ---------------------------------
@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("name", NAMES)
def test_cli_publish_then_import_gives_the_example_back(tmp_path, name, fmt):
    source = EXAMPLES / f"{name}.json"
    published = tmp_path / f"report.{fmt}"
    proc = run_cli("publish", source, "-o", published)
    assert proc.returncode == 0, proc.stderr
    back_json = tmp_path / "back.json"
    proc = run_cli("import", published, "-o", back_json)
    original = load(source)
    assert proc.returncode == (0 if xxgk.validate(original).valid else 1), proc.stderr
    assert f"已读入 {original.agency} {original.year} 年的报告" in proc.stdout
    assert proc.stderr.count("读取问题") == unreadable(original)
    assert same(load(back_json).facts, expected_back(original)) == {}


# -- publish -> import, every example and every shared real report -------------------------
@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_publish_import_is_exact_and_publishing_again_changes_nothing(tmp_path, name, fmt):
    original = SOURCES[name]()
    first = WRITERS[fmt](original)
    path = tmp_path / f"report.{fmt}"
    path.write_bytes(first)
    back, problems = import_report(path)
    assert len(problems) == unreadable(original), problems
    assert back.agency == original.agency and back.year == original.year
    assert same(back.facts, expected_back(original)) == {}
    for text in ("texts.overview", "texts.problems", "texts.other_matters"):
        assert back.facts[text] == original.facts[text]
    second = WRITERS[fmt](back)
    if unreadable(original) == 0 and same(back.facts, original.facts) == {}:
        assert second == first
    if second != first:  # else publish(import(second)) is `second` already
        path.write_bytes(second)
        again, _ = import_report(path)
        assert same(again.facts, back.facts) == {}
        assert WRITERS[fmt](again) == second


def test_official_title_in_word_and_html():
    """"<机关名称><年度>年政府信息公开工作年度报告", as the seed and the format have it."""
    report = xxgk.from_document(example("made-up-qingfeng-2022"))
    official = "清风街道（虚构示例）2022年政府信息公开工作年度报告"
    page = html_bytes(report).decode("utf-8")
    assert f"<title>{official}</title>" in page and f"<h1>{official}</h1>" in page
    doc = docx.Document(io.BytesIO(docx_bytes(report)))
    assert doc.paragraphs[0].text.replace("\n", "") == official and doc.core_properties.title == official


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    """Every source published as .docx and converted to PDF by LibreOffice, in one run."""
    binary = soffice()
    folder = tmp_path_factory.mktemp("pdf")
    probe = folder / "probe.pdf"
    probe.write_bytes(b"%PDF-1.4\n")
    try:
        import_report(probe)
    except NotAReport as exc:
        if "不支持" in exc.message:
            pytest.skip(".pdf import is not available")
    except Exception:  # pragma: no cover - any other answer means a PDF reader is there
        pass
    words = []
    for name, make in SOURCES.items():
        word = folder / f"{Path(name).stem}.docx"
        word.write_bytes(docx_bytes(make()))
        words.append(word)
    profile = (folder / "profile").resolve()
    subprocess.run([binary, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                    "--convert-to", "pdf", "--outdir", str(folder), *map(str, words)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False)
    return folder


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_pdf_made_by_libreoffice_from_the_word_file_reads_back(pdfs, name):
    original = SOURCES[name]()
    path = pdfs / f"{Path(name).stem}.pdf"
    assert path.exists(), "LibreOffice wrote no PDF"
    back, problems = import_report(path)
    assert len(problems) == unreadable(original), problems
    assert back.agency == original.agency and back.year == original.year
    assert same(back.facts, expected_back(original)) == {}


def test_cli_pdf_import(pdfs, tmp_path):
    proc = run_cli("import", pdfs / "made-up-qingfeng-2022.pdf", "-o", tmp_path / "back.json")
    assert proc.returncode == 0, proc.stderr
    assert same(load(tmp_path / "back.json").facts, expected_back(SOURCES["made-up-qingfeng-2022"]())) == {}


# -- the fee sentence -------------------------------------------------------------------------
OTHER = "texts.other_matters"


def published(document: dict) -> tuple[str, list[str]]:
    report = xxgk.from_document(document)
    page = html_bytes(report).decode("utf-8")
    doc = docx.Document(io.BytesIO(docx_bytes(report)))
    return page, [p.text for p in doc.paragraphs]


def test_no_fee_sentence_when_the_text_states_the_fees():
    document = example("made-up-qingfeng-2022")  # 六 states 2 件, 应收 200 元, 实收 100 元; fees.* the same
    page, paragraphs = published(document)
    assert 'class="fees"' not in page and "收费通知总金额" not in page
    assert sum("收费通知" in p for p in paragraphs) == 1


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_fee_sentence_reads_back_as_fees_not_text(tmp_path, fmt):
    document = set_fact(example("made-up-qingfeng-2022"), OTHER, "（本报告为虚构示例。）本年度无其他需要报告的事项。")
    report = xxgk.from_document(document)
    first = WRITERS[fmt](report)
    if fmt == "html":
        assert first.decode("utf-8").count('class="fees"') == 1
    path = tmp_path / f"r.{fmt}"
    path.write_bytes(first)
    back, problems = import_report(path)
    assert problems == []
    assert back.facts[OTHER] == document["texts"]["other_matters"]
    assert {k: back.facts[k] for k in ("fees.notices", "fees.amount_billed", "fees.amount_collected")} == {
        "fees.notices": 2, "fees.amount_billed": 200, "fees.amount_collected": 100}
    assert WRITERS[fmt](back) == first  # not doubled


def test_fee_sentence_gives_only_what_the_text_does_not_state(tmp_path):
    document = set_fact(example("made-up-qingfeng-2021"), OTHER, "本年度未收取信息处理费。")
    page, paragraphs = published(document)
    assert "本年度发出信息处理费收费通知0件，收费通知总金额0元。" in paragraphs
    assert not any("实际收取信息处理费" in p for p in paragraphs)
    path = tmp_path / "r.html"
    path.write_text(page, encoding="utf-8")
    back, problems = import_report(path)
    assert problems == [] and back.facts[OTHER] == "本年度未收取信息处理费。"
    assert [back.facts[f"fees.{k}"] for k in ("notices", "amount_billed", "amount_collected")] == [0, 0, 0]


def test_a_fee_sentence_already_in_the_text_is_not_added_again():
    """A report whose text of 六 already carries the sentence (e.g. pasted from an earlier publish)."""
    document = example("made-up-qingfeng-2022")
    set_fact(document, OTHER, "本年度发出信息处理费收费通知2件，收费通知总金额200元，实际收取信息处理费100元。")
    page, paragraphs = published(document)
    assert 'class="fees"' not in page
    assert sum("收费通知" in p for p in paragraphs) == 1
