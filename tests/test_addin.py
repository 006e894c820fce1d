"""The built add-in file, checked up to the boundary only a Windows Excel can cross."""

from __future__ import annotations

import inspect
import io
import re
import tomllib
import zipfile
from pathlib import Path

import pytest
import xlwings
import xmlschema
from defusedxml import ElementTree as SafeET
from oletools.olevba import VBA_Parser
from python_calamine import CalamineWorkbook

from xxgk import udfs
from xxgk.addin import (CONF_SHEET, CONFIG_SHEET_ROWS, MESSAGES, RIBBON_NS, RIBBON_PART, RIBBON_REL, TEXT_VBA_MODULE,
                        UDF_MODULE, addin_path, build, vba_sources)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built() -> bytes:
    return build()


@pytest.fixture(scope="module")
def macros() -> dict[str, str]:
    """Module name -> code, as oletools reads the committed add-in's VBA project."""
    parser = VBA_Parser(str(addin_path()))
    try:
        return {name.rsplit(".", 1)[0]: code.replace("\r\n", "\n") for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()


def _strip(code: str) -> list[str]:
    return [line.rstrip() for line in code.replace("\r\n", "\n").split("\n")
            if line.strip() and not line.startswith("Attribute VB_")]


def test_committed_addin_is_what_the_build_makes(built):
    assert addin_path().read_bytes() == built, "addin/xxgk.xlam is stale: run `xxgk addin build`"


def test_build_is_reproducible(built):
    assert build() == built


def test_xlwings_version_matches_the_pin(macros):
    pinned = next(d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                  if d.startswith("xlwings"))
    assert pinned == f"xlwings=={xlwings.__version__}"
    (version,) = re.findall(r'XLWINGS_VERSION As String = "([^"]+)"', macros["xlwings"])
    assert version == xlwings.__version__
    assert 'PROJECT_NAME As String = "xxgk"' in macros["xlwings"]


def test_package_parts_and_relationships():
    with zipfile.ZipFile(addin_path()) as z:
        names = set(z.namelist())
        types = SafeET.fromstring(z.read("[Content_Types].xml"))
        rels = SafeET.fromstring(z.read("_rels/.rels"))
    ct = "{http://schemas.openxmlformats.org/package/2006/content-types}"
    defaults = {d.get("Extension"): d.get("ContentType") for d in types.iter(f"{ct}Default")}
    overrides = {o.get("PartName"): o.get("ContentType") for o in types.iter(f"{ct}Override")}
    assert defaults["xml"] == "application/xml"  # the ribbon part's type
    assert overrides["/xl/workbook.xml"] == "application/vnd.ms-excel.addin.macroEnabled.main+xml"
    assert overrides["/xl/vbaProject.bin"] == "application/vnd.ms-office.vbaProject"
    for part in overrides:
        assert part.lstrip("/") in names, part
    ribbon = [r for r in rels if "ui/extensibility" in r.get("Type")]
    assert [(r.get("Type"), r.get("Target")) for r in ribbon] == [(RIBBON_REL, RIBBON_PART)]
    assert RIBBON_PART in names and "customUI/customUI.xml" not in names


def test_ribbon_is_valid_against_its_schema():
    with zipfile.ZipFile(addin_path()) as z:
        ribbon = z.read(RIBBON_PART)
    assert ribbon == (ROOT / "addin" / "ribbon.xml").read_bytes()
    schema = xmlschema.XMLSchema(str(ROOT / "tests" / "customui14-subset.xsd"))
    schema.validate(ribbon.decode("utf-8"))
    root = SafeET.fromstring(ribbon)
    assert root.tag == f"{{{RIBBON_NS}}}customUI"
    labels = [b.get("label") for b in root.iter(f"{{{RIBBON_NS}}}button")]
    assert labels == ["校验", "清除标记", "导出 JSON"]
    assert root.find(f".//{{{RIBBON_NS}}}tab").get("label") == "信息公开年报"


def test_a_broken_ribbon_fails_the_schema():
    schema = xmlschema.XMLSchema(str(ROOT / "tests" / "customui14-subset.xsd"))
    broken = (ROOT / "addin" / "ribbon.xml").read_text(encoding="utf-8").replace('size="large"', 'size="huge"', 1)
    assert not schema.is_valid(broken)


def test_every_ribbon_callback_has_its_sub(macros):
    ribbon = SafeET.fromstring((ROOT / "addin" / "ribbon.xml").read_bytes())
    actions = [b.get("onAction") for b in ribbon.iter(f"{{{RIBBON_NS}}}button")]
    assert len(actions) == 3
    for action in actions:
        module, proc = action.split(".")
        assert re.search(rf"^Public Sub {proc}\(control As IRibbonControl\)$", macros[module], re.M), action
    # and the Python each one runs exists
    from xxgk import excel

    code = macros["XxgkRibbon"]
    assert 'RunPython("import xxgk.excel; xxgk.excel." & action & "()")' in code
    targets = re.findall(r'RunAction "(\w+)"', code)
    assert len(targets) == 3
    for target in targets:
        assert callable(getattr(excel, target)), target


def _procedures(code: str) -> dict[str, tuple[str, list[str]]]:
    """Procedure name -> (its declaration, its body lines), for a VBA module."""
    found = {}
    for match in re.finditer(r"^((?:Public |Private )?(Sub|Function) (\w+)\(.*?\).*?)\n(.*?)^End \2$", code, re.M | re.S):
        found[match.group(3)] = (match.group(1), [line.strip() for line in match.group(4).split("\n")
                                                if line.strip() and not line.strip().startswith("'")])
    return found


def test_every_callback_traps_errors_and_says_what_to_do(macros):
    """No VBA error dialog (with its 调试 button into the add-in's code) can reach the clerk."""
    procedures = _procedures(macros["XxgkRibbon"])
    public = {name: body for name, (declaration, body) in procedures.items() if not declaration.startswith("Private")}
    assert set(public) == {"OnValidate", "OnClear", "OnExportJson"}
    for name, body in public.items():
        assert body[0] == "On Error GoTo failed", name  # before anything that can fail
        handler = body[body.index("failed:") + 1:]
        assert handler == ['Tell Replace(MsgInternal(), "{0}", Err.Description)'], name
        assert body[body.index("failed:") - 1] == "Exit Sub", name
    # the shared runner: its own trap, and the status bar put back on every way out
    run = procedures["RunAction"][1]
    assert run[1] == "On Error GoTo failed"  # after the Dim line
    busy = run.index("Application.StatusBar = busy")
    assert run.index("previous = Application.StatusBar") == busy - 1
    done = run.index("done:")
    assert busy < run.index("result = RunPython(\"import xxgk.excel; xxgk.excel.\" & action & \"()\")") < done
    assert run[done + 1:done + 3] == ["On Error Resume Next", "If Not IsEmpty(previous) Then Application.StatusBar = previous"]
    assert run[run.index("failed:") + 1:] == ['problem = Replace(MsgInternal(), "{0}", Err.Description)', "Resume done"]
    # the message box itself cannot fail
    assert procedures["Tell"][1][0] == "On Error Resume Next"


def test_prechecks_cover_each_way_a_button_cannot_work(macros):
    code = macros["XxgkRibbon"]
    precheck = "\n".join(_procedures(code)["Precheck"][1])
    for message in ("MsgProtectedView", "MsgNoWorkbook", "MsgNotAReport", "MsgNoPython", "MsgPythonMissing",
                    "MsgNoXxgk"):
        assert message + "()" in precheck, message
    assert "HasName(wb, REPORT_NAME)" in precheck
    # the interpreter is looked up as xlwings' RunPython looks it up
    assert 'GetConfig("INTERPRETER_WIN", "")' in precheck and 'GetConfig("INTERPRETER", "python")' in precheck
    assert 'interpreter = GetConfig("INTERPRETER_WIN", "")' in macros["xlwings"]
    # and the name checked is one every report made from the template has
    from openpyxl import load_workbook

    from xxgk.template import build as build_template

    (name,) = re.findall(r'REPORT_NAME As String = "(\w+)"', macros[TEXT_VBA_MODULE])
    assert name in load_workbook(io.BytesIO(build_template())).defined_names


def _decoded_texts(code: str) -> dict[str, str]:
    """What each Msg function of the text module returns, decoded from its ChrW and literal parts."""
    texts = {}
    for name, (_, body) in _procedures(code).items():
        parts = []
        for line in body:
            expression = re.fullmatch(r"s = (?:s & )?(.*)", line)
            if expression:
                tokens = re.findall(r'ChrW\((\d+)\)|"((?:[^"]|"")*)"|(&)', expression.group(1))
                assert re.sub(r'ChrW\(\d+\)|"(?:[^"]|"")*"|&|\s', "", expression.group(1)) == "", line
                parts += [chr(int(code)) if code else literal.replace('""', '"') for code, literal, amp in tokens
                          if not amp]
        assert body[-1] == f"{name} = s", name
        texts[name.removeprefix("Msg")] = "".join(parts)
    return texts


def test_texts_in_the_addin_are_exactly_the_projects_messages(macros):
    code = macros[TEXT_VBA_MODULE]
    assert code.isascii()
    assert _decoded_texts(code) == MESSAGES
    # every problem message is used by the VBA, and every text the VBA uses exists
    used = set(re.findall(r"\bMsg(\w+)\(\)", macros["XxgkRibbon"] + macros["XxgkUdfs"]))
    assert used == set(MESSAGES)


def test_every_problem_message_is_chinese_and_names_the_next_step():
    problems = {k: v for k, v in MESSAGES.items() if k != "Title" and not k.startswith("Busy")}
    assert len(problems) >= 8
    for name, text in problems.items():
        if name == "FunctionFailed":  # shown in a cell, followed by the error
            assert "请运行“安装.bat”" in text
            continue
        step = text[text.index("请"):]
        assert re.search(r"再点按钮|运行安装包中的“安装\.bat”|截图发给 IT 人员", step), name
    assert MESSAGES["BusyValidate"] == "正在校验…"


def test_message_encoding_handles_quotes_and_line_ends():
    from xxgk.addin import _vba_string

    text = '说"明"\n2021 年…'
    expressions = _vba_string(text)
    code = "Public Function MsgX() As String\n    Dim s As String\n    s = " + expressions[0] + "\n" + "".join(
        f"    s = s & {e}\n" for e in expressions[1:]) + "    MsgX = s\nEnd Function\n"
    assert code.isascii()
    assert _decoded_texts(code) == {"X": text}


def test_vba_read_back_equals_our_sources(macros):
    sources = vba_sources()
    assert set(sources) <= set(macros)
    assert "RibbonMyAddin" not in macros  # the quickstart's sample module is gone
    for name, code in sources.items():
        assert _strip(macros[name]) == _strip(code), name
    for name, code in macros.items():
        assert code.isascii(), name


def test_udf_wrappers_match_the_python_functions(macros):
    code = macros["XxgkUdfs"]
    for func in udfs.UDFS:
        params = [("Optional " if p.default is not inspect.Parameter.empty else "") + p.name
                  for p in inspect.signature(func).parameters.values() if p.name != "caller"]
        assert re.search(rf"^Function {func.__name__}\({', '.join(params)}\)$", code, re.M), func.__name__
        passed = ", ".join("Nothing" if p == "caller" else p for p in inspect.signature(func).parameters)
        assert f'XLPy.CallUDF("{UDF_MODULE}", "{func.__name__}", Array({passed}), ActiveWorkbook, Application.Caller)' in code
        body = code.split(f"Function {func.__name__}(")[1].split("End Function")[0]
        assert f"{func.__name__} = MsgFunctionFailed() & Err.Description" in body
        assert ("Application.Volatile" in code.split(f"Function {func.__name__}(")[1].split("End Function")[0]) == (
            func.__name__ in udfs.VOLATILE)


def test_config_sheet_holds_only_keys_with_real_values():
    """xlwings' GetConfigFromSheet reads column A from A1 down to the first empty cell; a key found
    there wins even when empty, so no interpreter setting may be on the sheet."""
    book = CalamineWorkbook.from_path(str(addin_path()))
    assert book.sheet_names == [CONF_SHEET]
    rows = book.get_sheet_by_name(CONF_SHEET).to_python()
    read = []
    for row in rows:
        if not row or row[0] in ("", None):
            break
        read.append((row[0], row[1] if len(row) > 1 else ""))
    assert len(read) == len([r for r in rows if any(v not in ("", None) for v in r)])  # nothing below a gap
    assert read == list(CONFIG_SHEET_ROWS)
    assert all(str(value).strip() for _, value in read)
    config = dict(read)
    assert config["UDF Modules"] == UDF_MODULE
    assert not {k.upper() for k in config} & {"INTERPRETER_WIN", "INTERPRETER_MAC", "INTERPRETER", "PYTHONPATH",
                                              "CONDA PATH", "CONDA ENV"}
