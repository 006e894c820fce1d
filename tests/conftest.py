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


def soffice_roundtrip(source: Path, outdir: Path) -> Path:
    """Open `source` in LibreOffice headless and save it again as .xlsx; return the saved file."""
    import subprocess

    outdir.mkdir(parents=True, exist_ok=True)
    profile = outdir / "profile"
    subprocess.run(
        [soffice(), "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
         "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(outdir), str(source)],
        check=True, capture_output=True, timeout=180,
    )
    saved = outdir / source.name
    assert saved.exists(), f"LibreOffice wrote no {saved.name}"
    return saved
