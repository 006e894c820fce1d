"""The built add-in file, checked up to the boundary only a Windows Excel can cross."""

from __future__ import annotations

import inspect
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
from xxgk.addin import CONF_SHEET, RIBBON_NS, RIBBON_PART, RIBBON_REL, UDF_MODULE, addin_path, build, vba_sources

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
        assert re.search(rf"^Sub {proc}\(control As IRibbonControl\)$", macros[module], re.M), action
    # and the Python each one runs exists
    from xxgk import excel

    for module_code in (macros["XxgkRibbon"],):
        for target in re.findall(r"xxgk\.excel\.(\w+)\(\)", module_code):
            assert callable(getattr(excel, target)), target


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
        params = [p for p in inspect.signature(func).parameters if p != "caller"]
        assert re.search(rf"^Function {func.__name__}\({', '.join(params)}\)$", code, re.M), func.__name__
        passed = ", ".join("Nothing" if p == "caller" else p for p in inspect.signature(func).parameters)
        assert f'XLPy.CallUDF("{UDF_MODULE}", "{func.__name__}", Array({passed}), ActiveWorkbook, Application.Caller)' in code
        assert ("Application.Volatile" in code.split(f"Function {func.__name__}(")[1].split("End Function")[0]) == (
            func.__name__ in udfs.VOLATILE)


def test_config_sheet_names_our_udf_module():
    book = CalamineWorkbook.from_path(str(addin_path()))
    assert book.sheet_names == [CONF_SHEET]
    config = {row[0]: row[1] for row in book.get_sheet_by_name(CONF_SHEET).to_python() if row and row[0]}
    assert config["UDF Modules"] == UDF_MODULE
