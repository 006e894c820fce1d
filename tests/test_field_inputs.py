"""Every single input file and every text value gets a clean answer (issue 10).

Files as they turn up in a shared folder: a FIFO or a device named `.xlsx`, a huge sparse file, a JSON
document nested absurdly deep or holding a number of thousands of digits, a year written `2021.0`,
texts pasted from Word with control characters, GBK file names from a Windows zip, and `xxgk demo`
pointed at a folder that cannot be written. Each input is built here with the project's own code;
the answer is always an exit code the CLI promises (2: not a report, 1: errors), never 3, never a hang.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import xxgk
from conftest import EXAMPLES, example, set_fact
from xxgk.layout import load_layout
from xxgk.report import MAX_INPUT_BYTES, load, read_input
from xxgk.schema import load_schema
from xxgk.template import fill
from xxgk.text import CONTROL

unix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs, devices and rlimits are POSIX")

TEXT_FACTS = [f.id for f in load_schema() if f.kind in ("string", "text")]
GBK_STEM = os.fsdecode("单位".encode("gbk"))  # how Python sees a name a Windows zip stored in GBK


def cli(*args, cwd: Path | None = None, timeout: float = 120, memory: int | None = None) -> subprocess.CompletedProcess:
    """`python -m xxgk.cli ARGS`: raw bytes out, so a test can insist they are UTF-8. `memory` caps the
    address space, so a command that reads a huge file into memory fails here instead of on a PC."""

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable, "-m", "xxgk.cli", *map(os.fsencode, args)], capture_output=True,
                          cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL, env=env,
                          preexec_fn=limit if memory else None)
    assert proc.returncode != 3, f"xxgk {args}: internal error\n{proc.stderr.decode('utf-8', 'replace')[-2000:]}"
    assert proc.returncode >= 0, f"xxgk {args}: killed by signal {-proc.returncode}"
    return proc


def text_of(proc: subprocess.CompletedProcess) -> str:
    """Everything the command printed; fails unless it is valid UTF-8."""
    return proc.stdout.decode("utf-8") + proc.stderr.decode("utf-8")


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


# -- files that are not regular files, or far too big ---------------------------------------------


@unix_only
@pytest.mark.parametrize("command", ["validate", "verify", "export"])
def test_a_fifo_named_xlsx_is_refused_not_waited_on(tmp_path, command):
    fifo = tmp_path / "report.xlsx"
    os.mkfifo(fifo)
    proc = cli(command, fifo, timeout=60)  # today: opened for reading, waits for a writer forever
    assert proc.returncode == 2
    assert "管道" in text_of(proc)


@unix_only
def test_a_fifo_swapped_in_after_the_look_does_not_block(tmp_path):
    """The file is examined, then opened: if a FIFO takes its place in between, opening must not block."""
    fifo, regular = tmp_path / "report.xlsx", tmp_path / "real.xlsx"
    os.mkfifo(fifo)
    regular.write_bytes(fill(xxgk.from_document(example("made-up-qingfeng-2021"))))
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from xxgk.errors import NotAReport\n"
        "from xxgk.report import read_input\n"
        "real_stat, looks_regular = os.stat, os.stat(sys.argv[2])\n"
        "os.stat = lambda p, *a, **k: looks_regular if os.fspath(p) == sys.argv[1] else real_stat(p, *a, **k)\n"
        "try:\n"
        "    read_input(Path(sys.argv[1]))\n"
        "except NotAReport as exc:\n"
        "    print(exc.message)\n"
        "    sys.exit(2)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(fifo), str(regular)], capture_output=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr.decode("utf-8", "replace")[-2000:]
    assert "管道" in proc.stdout.decode("utf-8")


@unix_only
def test_a_device_named_xlsx_is_refused_before_reading(tmp_path):
    device = tmp_path / "report.xlsx"
    device.symlink_to("/dev/zero")  # endless: today read until memory runs out
    proc = cli("validate", device, timeout=60, memory=1536 * 2**20)
    assert proc.returncode == 2
    assert "设备文件" in text_of(proc)


@unix_only
def test_a_huge_sparse_file_is_refused_by_its_size(tmp_path):
    huge = tmp_path / "report.xlsx"
    with open(huge, "wb") as fh:
        fh.truncate(1536 * 2**20)  # 1.5 GB of nothing on disk; today read whole into memory
    proc = cli("validate", huge, timeout=60, memory=512 * 2**20)  # a normal run needs under 384 MB
    assert proc.returncode == 2
    assert "过大" in text_of(proc) and f"{MAX_INPUT_BYTES // 2**20} MB" in text_of(proc)


@unix_only
def test_a_huge_file_is_refused_before_it_is_even_opened(tmp_path):
    """Its size decides: not a read capped at the limit (that would still hold 256 MB in memory)."""
    huge = tmp_path / "report.xlsx"
    with open(huge, "wb") as fh:
        fh.truncate(1536 * 2**20)
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from xxgk.errors import NotAReport\n"
        "from xxgk.report import read_input\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError('the file was opened')\n"
        "os.open = refuse\n"
        "try:\n"
        "    read_input(Path(sys.argv[1]))\n"
        "except NotAReport as exc:\n"
        "    print(exc.message)\n"
        "    sys.exit(2)\n"
    )

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1024 * 2**20, 1024 * 2**20))

    proc = subprocess.run([sys.executable, "-c", script, str(huge)], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, preexec_fn=limit)
    assert proc.returncode == 2, proc.stderr.decode("utf-8", "replace")[-2000:]
    assert "1,536 MB" in proc.stdout.decode("utf-8")


def test_a_regular_file_is_read_whole_and_load_takes_bytes_already_read(tmp_path):
    path = tmp_path / "report.xlsx"
    data = fill(xxgk.from_document(example("made-up-qingfeng-2021")))
    path.write_bytes(data)
    assert read_input(path) == data
    assert load(path, read_input(path)).agency == load(path).agency


# -- JSON documents that are not reports however their fields read --------------------------------


def _writers(tmp_path: Path, source: Path) -> list[tuple]:
    """Every command that reads a JSON document, each with its own output."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return [("validate", source), ("export", source), ("fill", source, "-o", out / "filled.xlsx"),
            ("finalize", source, "-o", out), ("publish", source, "-o", out / "page.html"),
            ("publish", source, "-o", out / "report.docx")]


def test_a_json_document_nested_200000_deep_is_not_a_report(tmp_path):
    source = tmp_path / "deep.json"
    document = json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=False)
    source.write_text(document[:-1] + ', "extra": ' + "[" * 200_000 + "]" * 200_000 + "}", encoding="utf-8")
    for args in _writers(tmp_path, source):
        proc = cli(*args)  # today: RecursionError, exit 3
        assert proc.returncode == 2, args
        assert "嵌套" in text_of(proc)


def test_a_json_document_nested_deep_but_within_the_parser_is_not_a_report(tmp_path):
    source = tmp_path / "deep.json"
    document = example("made-up-qingfeng-2021")
    node: list = []
    document["texts"]["overview"] = node
    for _ in range(600):  # the parser manages this; jsonschema and the writers recurse on it
        node.append([])
        node = node[0]
    write_json(source, document)
    assert cli("validate", source).returncode == 2
    with pytest.raises(xxgk.NotAReport, match="嵌套"):
        load(source)


@pytest.mark.parametrize("digits", [400, 5000])
def test_a_json_number_of_thousands_of_digits_is_not_a_report(tmp_path, digits):
    source = tmp_path / "big-number.json"
    text = json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=False)
    text, n = re.subn(r'"year": 2021', '"year": ' + "9" * digits, text)
    assert n == 1
    source.write_text(text, encoding="utf-8")
    for args in _writers(tmp_path, source):
        proc = cli(*args)  # today: ValueError (int limit) or OverflowError (`:g`), exit 3
        assert proc.returncode == 2, args
        assert "位数过多" in text_of(proc)


def test_a_json_text_with_half_a_surrogate_pair_is_not_a_report(tmp_path):
    source = tmp_path / "surrogate.json"
    text = json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=True)
    source.write_text(text.replace('"overview": "', '"overview": "\\ud800', 1), encoding="utf-8")
    for args in _writers(tmp_path, source):
        proc = cli(*args)  # today: UnicodeEncodeError in export, fill, publish
        assert proc.returncode == 2, args


def test_a_float_beyond_range_is_named_by_the_type_check(tmp_path):
    source = tmp_path / "huge-float.json"
    text = json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=False)
    source.write_text(text.replace('"year": 2021', '"year": 1e400', 1), encoding="utf-8")
    report = load(source)
    assert report.year == "1e400"
    finding = next(f for f in xxgk.validate(report).findings if f.facts == ("year",))
    assert finding.rule == "value.type" and "1e400" in finding.message


# -- a year written 2021.0: the year 2021, in JSON as in a workbook ------------------------------


def test_a_json_year_written_2021_0_is_the_year_2021(tmp_path):
    document = example("made-up-qingfeng-2021")
    source = write_json(tmp_path / "unit.json", {**document, "year": 2021.0})
    assert '"year": 2021.0' in source.read_text(encoding="utf-8")
    report = load(source)
    assert report.year == 2021 and isinstance(report.year, int)
    assert cli("validate", source).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    assert cli("finalize", source, "-o", out).returncode == 0
    assert [p.name for p in out.iterdir()] == [f"2021年{document['agency']}政府信息公开工作年度报告.xlsx"]
    assert cli("publish", source, "-o", tmp_path / "page.html").returncode == 0
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert f"<title>{document['agency']}2021年" in page and "2021.0" not in page
    exported = cli("export", source)
    assert exported.returncode == 0 and json.loads(exported.stdout)["year"] == 2021


def test_a_json_count_written_38_0_finalises_and_verifies_unchanged(tmp_path):
    """JSON numbers read as workbook cells are read (38.0 is 38): the fingerprint finalize stamps from a
    JSON document is the one verify computes from the workbook it wrote."""
    text = json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=False)
    text, n = re.subn(r'("received": \{"natural_persons": )38,', r"\g<1>38.0,", text)
    assert n == 1
    source = tmp_path / "unit.json"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    assert cli("finalize", source, "-o", out).returncode == 0
    proc = cli("verify", next(out.iterdir()))
    assert proc.returncode == 0, text_of(proc)  # today: "定稿后被修改" right after finalising


def test_units_whose_year_is_written_2021_0_consolidate_as_2021(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    document = example("made-up-qingfeng-2021")
    other = copy.deepcopy(document)
    other["agency"] = "另一个街道（虚构）"
    write_json(folder / "a.json", {**document, "year": 2021.0})
    write_json(folder / "b.json", {**other, "year": 2021.0})
    proc = cli("consolidate", folder, "-o", tmp_path / "total.xlsx", "-q")
    assert proc.returncode == 0, text_of(proc)  # today: both "年度不符", no total
    assert load(tmp_path / "total.xlsx").year == 2021


def test_the_api_takes_a_year_2021_0_as_2021_too():
    report = xxgk.from_document({**example("made-up-qingfeng-2021"), "year": 2021.0})
    assert report.year == 2021 and isinstance(report.year, int)


def test_a_workbook_year_saved_as_2021_0_is_the_year_2021(tmp_path):
    """Excel keeps every number as a float: a year cell saved as `2021.0` reads as the year 2021."""
    data = fill(xxgk.from_document(example("made-up-qingfeng-2021")))
    sheet, row, col = load_layout().cells["year"]
    part = f"xl/worksheets/sheet{[s.name for s in load_layout().sheets].index(sheet) + 1}.xml"
    cell = re.compile(rb'(<c r="B' + str(row).encode() + rb'"[^>]*><v>)2021(</v>)')
    assert col == 2
    path = tmp_path / "unit.xlsx"
    path.write_bytes(_rewrite(data, part, lambda xml: cell.subn(rb"\g<1>2021.0\g<2>", xml)))
    report = load(path)
    assert report.year == 2021 and isinstance(report.year, int)
    out = tmp_path / "out"
    out.mkdir()
    assert cli("finalize", path, "-o", out).returncode == 0
    assert next(out.iterdir()).name.startswith("2021年")


def test_a_fractional_year_is_a_type_error_and_nothing_crashes(tmp_path):
    source = write_json(tmp_path / "unit.json", {**example("made-up-qingfeng-2021"), "year": 2021.5})
    proc = cli("validate", source)
    assert proc.returncode == 1 and "value.type" in text_of(proc)
    assert cli("finalize", source, "-o", tmp_path).returncode == 1
    assert cli("fill", source, "-o", tmp_path / "filled.xlsx").returncode == 0
    assert cli("publish", source, "-o", tmp_path / "page.html").returncode == 0


# -- control characters: validate calls them errors, writers never crash on them ------------------


@pytest.mark.parametrize("char", ["\v", "\x01", "\x00", "\x1f"])
@pytest.mark.parametrize("fact_id", TEXT_FACTS)
def test_a_control_character_in_any_text_is_an_error_on_its_cell(fact_id, char):
    document = set_fact(example("made-up-qingfeng-2021"), fact_id, f"第一段{char}第二段")
    findings = [f for f in xxgk.validate(xxgk.from_document(document)).findings if f.facts == (fact_id,)]
    assert [(f.rule, f.severity, f.cells) for f in findings] == [("value.type", "error", (load_layout().ref(fact_id),))]
    assert f"U+{ord(char):04X}" in findings[0].message and "第一段" in findings[0].message


def test_a_control_character_and_another_problem_are_both_named():
    document = set_fact(example("made-up-qingfeng-2021"), "agency", "街" * 201 + "\v")
    (finding,) = [f for f in xxgk.validate(xxgk.from_document(document)).findings if f.facts == ("agency",)]
    assert "文字过长" in finding.message and "U+000B" in finding.message


def test_every_command_answers_a_document_with_control_characters(tmp_path):
    document = example("made-up-qingfeng-2021")
    set_fact(document, "texts.overview", "总体情况第一句。\v第二句在软回车之后。")
    set_fact(document, "agency", document["agency"] + "\x01")
    set_fact(document, "texts.problems", "存在的问题：\x01\x1f无。")
    set_fact(document, "fees.notices", "0\x08")  # text in a number cell: a type error, and written as text
    source = write_json(tmp_path / "unit.json", document)
    assert cli("validate", source).returncode == 1
    proc = cli("finalize", source, "-o", tmp_path)  # today: IllegalCharacterError, exit 3
    assert proc.returncode == 1 and "不能定稿" in text_of(proc)
    filled = tmp_path / "filled.xlsx"
    assert cli("fill", source, "-o", filled).returncode == 0  # a draft: written without them
    written = load(filled)
    assert written.facts["texts.overview"] == "总体情况第一句。\n第二句在软回车之后。"
    assert written.agency == example("made-up-qingfeng-2021")["agency"]
    assert written.facts["texts.problems"] == "存在的问题：无。"
    assert written.facts["fees.notices"] == "0"
    assert not [f for f in xxgk.validate(written).findings if "控制字符" in f.message]
    for name in ("page.html", "report.docx"):
        assert cli("publish", source, "-o", tmp_path / name).returncode == 0
        data = (tmp_path / name).read_bytes()
        if name.endswith(".docx"):
            with zipfile.ZipFile(io.BytesIO(data)) as package:
                data = b"".join(package.read(n) for n in package.namelist() if n.endswith(".xml"))
        assert not CONTROL.search(data.decode("utf-8"))
    assert cli("export", filled, "-o", tmp_path / "back.json").returncode == 0


def _rewrite(data: bytes, part: str, change) -> bytes:
    """The package with one part changed by `change(xml) -> (xml, count)`; asserts it changed once."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == part:
                body, n = change(body)
                assert n == 1, f"{part}: {n} changes"
            dst.writestr(info, body)
    return out.getvalue()


def test_a_workbook_text_holding_an_escaped_control_character_is_an_error(tmp_path):
    """Excel writes a control character in a cell as `_x000B_`, and readers turn it back."""
    document = set_fact(example("made-up-qingfeng-2021"), "texts.problems", "存在的问题MARK改进情况")
    data = fill(xxgk.from_document(document))
    part = next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist()
                if b"MARK" in zipfile.ZipFile(io.BytesIO(data)).read(n))
    path = tmp_path / "unit.xlsx"
    path.write_bytes(_rewrite(data, part, lambda xml: (xml.replace(b"MARK", b"_x000B_"), int(b"MARK" in xml))))  # the text's cell and its print-copy line
    assert "\v" in load(path).facts["texts.problems"]
    proc = cli("validate", path)  # today: passes, then finalize fails with exit 3
    assert proc.returncode == 1 and load_layout().ref("texts.problems") in text_of(proc)
    assert cli("finalize", path, "-o", tmp_path).returncode == 1
    assert cli("export", path, "-o", tmp_path / "unit.json").returncode == 0
    assert cli("publish", path, "-o", tmp_path / "page.html").returncode == 0


def test_importing_a_page_with_control_characters_writes_a_workbook(tmp_path):
    from xxgk.publish import html_bytes

    page = html_bytes(xxgk.from_document(example("made-up-qingfeng-2021"))).decode("utf-8")
    start = page.index('<section id="part-一">')
    first = page.index("<p>", start) + len("<p>")
    source = tmp_path / "page.html"
    source.write_text(page[:first] + "软回车\v之后\x01" + page[first:], encoding="utf-8")
    out = tmp_path / "imported.xlsx"
    proc = cli("import", source, "-o", out)  # today: IllegalCharacterError, exit 3
    assert proc.returncode in (0, 1) and out.exists()
    assert not CONTROL.search(load(out).facts.get("texts.overview") or "")


# -- xxgk demo where nothing can be written --------------------------------------------------------


def _assert_demo_refused(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 2
    assert "-o" in text_of(proc) and "无法" in text_of(proc)


def test_demo_into_a_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    _assert_demo_refused(cli("demo", "-o", tmp_path / "a-file" / "demo"))  # today: NotADirectoryError, exit 3


def test_demo_into_an_existing_file_is_refused(tmp_path):
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    _assert_demo_refused(cli("demo", "-o", tmp_path / "a-file"))  # today: FileExistsError, exit 3
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "not a folder"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, which even root cannot write")
def test_demo_into_proc_is_refused():
    _assert_demo_refused(cli("demo", "-o", "/proc/xxgk-demo"))  # today: FileNotFoundError, exit 3


@unix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_demo_into_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        _assert_demo_refused(cli("demo", "-o", folder))
    finally:
        folder.chmod(0o755)


# -- file names a Windows zip stored in GBK -------------------------------------------------------


def test_gbk_file_names_are_shown_readably(tmp_path):
    good = tmp_path / f"{GBK_STEM}.xlsx"
    good.write_bytes(fill(xxgk.from_document(example("made-up-qingfeng-2021"))))
    bad = write_json(tmp_path / f"{GBK_STEM}-错误.json", example("made-up-errors-2022"))
    broken = tmp_path / f"{GBK_STEM}.docx"
    broken.write_bytes(b"not a Word file")
    out = tmp_path / "out"
    out.mkdir()
    for args, code in [(("validate", good), 0), (("verify", good), 1), (("export", broken), 2),
                       (("finalize", bad, "-o", out), 1), (("import", broken, "-o", out / "x.json"), 2),
                       (("validate", good, "--prior", broken), 2), (("validate", broken), 2)]:
        proc = cli(*args)
        assert proc.returncode == code, args
        assert "单位" in text_of(proc), (args, text_of(proc))  # today: "??λ"


def test_validate_json_output_names_gbk_files_in_utf8(tmp_path):
    good = tmp_path / f"{GBK_STEM}.xlsx"
    good.write_bytes(fill(xxgk.from_document(example("made-up-qingfeng-2021"))))
    broken = tmp_path / f"{GBK_STEM}.json"
    broken.write_text("{", encoding="utf-8")
    proc = cli("validate", "--format", "json", good, broken)
    assert proc.returncode == 2
    files = json.loads(proc.stdout.decode("utf-8"))["files"]
    assert [Path(f["path"]).name for f in files] == ["单位.xlsx", "单位.json"]


def test_examples_are_still_plain_reports():
    """The guards refuse nothing a real report holds: every bundled example loads as before."""
    for path in sorted(EXAMPLES.glob("*.json")):
        assert load(path).document == json.loads(path.read_text(encoding="utf-8"))
