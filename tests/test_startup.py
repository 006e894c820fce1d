"""What a command imports at start-up (issue 14): `xxgk --help` none of the reader, rules or writers;
`xxgk validate one.xlsx` none of the template writer, JSON Schema, consolidation or output machinery.

Checked in a fresh interpreter (what a user's command starts from), by the modules it ended up with;
no timing here (see benchmarks/coldstart.py for the figures).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import xxgk

PROBE = """
import json, sys
from xxgk.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def started(*args: str) -> tuple[int, set[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True).stdout
    last = json.loads(out.strip().splitlines()[-1])
    return last["code"], set(last["modules"])


def test_help_starts_without_the_reader_the_rules_or_the_writers():
    code, modules = started("--help")
    assert code == 0
    unneeded = {"xxgk.report", "xxgk.validate", "xxgk.rules", "xxgk.workbook", "xxgk.findings", "xxgk.output",
                "xxgk.consolidate", "python_calamine", "openpyxl", "jsonschema", "dataclasses", "tempfile",
                "traceback", "defusedxml"}
    assert not unneeded & modules, sorted(unneeded & modules)


def test_validating_one_workbook_starts_without_writers_schema_checks_or_consolidation(tmp_path):
    from conftest import example

    path = tmp_path / "one.xlsx"
    path.write_bytes(xxgk.fill(xxgk.from_document(example("made-up-qingfeng-2021"))))
    code, modules = started("validate", str(path))
    assert code == 0  # the report is valid: the command did read and check it
    assert {"xxgk.workbook", "xxgk.validate", "python_calamine"} <= modules
    unneeded = {"openpyxl", "jsonschema", "pdfplumber", "xxgk.template", "xxgk.consolidate", "xxgk.outputset",
                "xxgk.workers", "concurrent.futures", "tempfile", "xxgk.output"}
    assert not unneeded & modules, sorted(unneeded & modules)


@pytest.mark.parametrize("submodule", ["xxgk.validate", "xxgk.consolidate"])
def test_xxgk_validate_stays_the_function_whatever_is_imported_first(submodule):
    code = (f"import importlib, xxgk; importlib.import_module({submodule!r}); "
            "from xxgk.report import from_document; import json, sys; "
            "from xxgk.resources import data_dir; "
            "doc = json.loads((data_dir('examples') / 'made-up-qingfeng-2021.json').read_text(encoding='utf-8')); "
            "r = xxgk.validate(from_document(doc)); print(type(r).__name__, r.valid)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["Result", "True"]


def test_the_suffixes_paths_knows_without_consolidate_are_consolidates():
    from xxgk.consolidate import SUFFIXES
    from xxgk.paths import REPORT_SUFFIXES

    assert REPORT_SUFFIXES == SUFFIXES
