"""Shared fixtures: the bundled example documents, and workbooks made from them by the project's own code."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from xxgk import from_document
from xxgk.resources import data_dir
from xxgk.schema import load_schema
from xxgk.template import fill

EXAMPLES = data_dir("examples")


def example(name: str) -> dict:
    """A fresh copy of a bundled example document, e.g. example("lushan-2021")."""
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def set_fact(document: dict, fact_id: str, value) -> dict:
    """Set one fact (by dotted id) in a nested document, in place; returns the document."""
    node = document
    *parents, leaf = fact_id.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return document


def scaled(document: dict, factor: int, agency: str) -> dict:
    """Every count and amount times `factor`, under another agency: every rule is linear, so a valid
    report stays valid."""
    schema = load_schema()
    flat = schema.flatten(copy.deepcopy(document))
    for fact_id, value in flat.items():
        if schema.facts[fact_id].kind in ("count", "amount"):
            flat[fact_id] = value * factor
    flat["agency"] = agency
    return schema.nest(flat)


def get_fact(document: dict, fact_id: str):
    return load_schema().flatten(document).get(fact_id)


@pytest.fixture
def clean_doc() -> dict:
    """A made-up report with non-zero numbers everywhere that passes every rule."""
    return example("made-up-qingfeng-2021")


@pytest.fixture
def write_workbook(tmp_path: Path):
    """Fill a document into the template (the project's own fill) and return the .xlsx path."""

    def make(document: dict, name: str = "report.xlsx") -> Path:
        path = tmp_path / name
        path.write_bytes(fill(from_document(copy.deepcopy(document))))
        return path

    return make


def soffice() -> str:
    """The LibreOffice binary; tests that need it skip without it, except where CI requires it."""
    import os
    import shutil

    found = shutil.which("soffice") or shutil.which("libreoffice")
    if not found:
        if os.environ.get("XXGK_REQUIRE_SOFFICE"):
            pytest.fail("LibreOffice (soffice) is required here but not installed")
        pytest.skip("LibreOffice (soffice) not installed")
    return found


_RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice_recalculate(sources: list[Path], outdir: Path, processes: int = 2) -> list[Path]:
    """Open each workbook in LibreOffice headless, recalculate every formula, save as .xlsx in `outdir`.

    The profile tells Calc to recalculate on load ("always"): a plain conversion would keep the cached
    values a file already has. Files are converted in batches, one LibreOffice process per core.
    """
    import subprocess

    binary = soffice()
    outdir.mkdir(parents=True, exist_ok=True)
    batches = [sources[i::processes] for i in range(processes) if sources[i::processes]]
    running = []
    for n, batch in enumerate(batches):
        profile = (outdir.parent / f"{outdir.name}-profile-{n}").resolve()
        (profile / "user").mkdir(parents=True, exist_ok=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_RECALC_ALWAYS, encoding="utf-8")
        running.append(subprocess.Popen(
            [binary, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
             "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(outdir), *map(str, batch)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for proc in running:
        proc.wait(timeout=1800)
    saved = [outdir / s.name for s in sources]
    missing = [p.name for p in saved if not p.exists()]
    assert not missing, f"LibreOffice wrote no {missing[:3]}"
    return saved


def soffice_roundtrip(source: Path, outdir: Path) -> Path:
    """Open `source` in LibreOffice headless, recalculate and save it again as .xlsx; return the saved file."""
    (saved,) = soffice_recalculate([source], outdir, processes=1)
    return saved
