"""Shared fixtures: the bundled example documents, and workbooks made from them by the project's own code;
the hypothesis profiles; `run_cli`/`call_cli`, through which every test runs the command; and the crash
harness (`replay`) with the corpus of inputs that once crashed (tests/corpus/)."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from xxgk import from_document
from xxgk.resources import data_dir
from xxgk.schema import load_schema
from xxgk.template import fill

EXAMPLES = data_dir("examples")


# -- hypothesis: an explicit profile for every property test ---------------------------------------
#
# "ci" (the default, and always when the CI variable is set): a fixed seed per test (derandomize), so
# a run that passes passes again and a failure is the same failure on every machine. "dev" (opt in
# with XXGK_HYPOTHESIS_PROFILE=dev or `pytest --hypothesis-profile=dev`): fresh random examples each
# run, to look further. Neither keeps an example database: a failure prints the example and a
# `@reproduce_failure` blob instead. Hypothesis's own cache goes to a temporary folder, so nothing is
# ever written into the repository (HYPOTHESIS_STORAGE_DIRECTORY chooses another place).

set_hypothesis_home_dir(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
                        or Path(tempfile.gettempdir()) / "xxgk-hypothesis")
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("dev", derandomize=False, database=None, print_blob=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("XXGK_HYPOTHESIS_PROFILE", "ci"))


# -- running the command: every call checks that the tool itself did not fail ----------------------

INTERNAL_ERROR = 3  # the CLI's exit code for a defect in xxgk (see xxgk.cli)


def assert_no_internal_error(code, args, detail: str = "") -> None:
    """Exit 3 is a bug in xxgk and a negative code a death by signal (an abort, the OOM killer): never
    the right answer to any input. Every CLI call in the tests goes through this."""
    shown = "xxgk " + " ".join(map(str, args))
    assert code != INTERNAL_ERROR, f"{shown}: internal error (exit 3)\n{detail[-3000:]}"
    assert not (isinstance(code, int) and code < 0), f"{shown}: killed by signal {-code}\n{detail[-3000:]}"


def run_cli(*args, cwd: Path | None = None, timeout: float = 120,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m xxgk.cli ARGS` as a user runs it: a real process, UTF-8 text on stdout and stderr.

    Asserts that the run was not an internal error (exit 3) nor killed by a signal; the test asserts
    the exit code it expects itself."""
    env = {**os.environ, **(env or {}), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable, "-m", "xxgk.cli", *map(str, args)], capture_output=True, encoding="utf-8",
                          errors="replace", cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL, env=env)
    assert_no_internal_error(proc.returncode, args, proc.stderr)
    return proc


def call_cli(capsys, *args) -> tuple[int, str, str]:
    """The command in this process (`xxgk.cli.main`), for tests that patch something: (exit code,
    stdout, stderr), with the same check as `run_cli`."""
    from xxgk.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own exits
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    assert_no_internal_error(code, args, err)
    return code, out, err


SHARED = Path(__file__).resolve().parents[2] / "shared"  # the shared samples, beside the checkout


def need_shared(path: Path) -> Path:
    """A file or folder of the shared samples: the test is skipped where it is absent, and fails where CI
    requires the samples (XXGK_REQUIRE_SHARED)."""
    if not path.exists():
        if os.environ.get("XXGK_REQUIRE_SHARED"):
            pytest.fail(f"shared sample {path.name} missing under {path.parent}")
        pytest.skip(f"shared sample {path.name} not present (expected under {path.parent})")
    return path


def need_network() -> None:
    """The package index (PIP_INDEX_URL, else pypi.org) answers: the test is skipped where it does not, and
    fails where CI requires the network (XXGK_REQUIRE_NETWORK)."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple")
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=15).close()
    except OSError as exc:
        if os.environ.get("XXGK_REQUIRE_NETWORK"):
            pytest.fail(f"the package index {url.hostname} is required here but cannot be reached ({exc})")
        pytest.skip(f"the package index {url.hostname} cannot be reached ({exc})")


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


# -- damaged files: the crash harness and the corpus of inputs that once crashed -------------------
#
# Inputs run in a child process under a memory limit, one job after another: the library (load and
# validate: anything but XxgkError is a crash) and the CLI commands in-process (exit 3 is a crash).
# A job that kills the child (an abort, a signal) or runs past its time is named, and the jobs after
# it go on in a fresh child. Used by tests/test_hostile.py and by the longer campaign benchmarks/fuzz.py.

CORPUS = Path(__file__).parent / "corpus"
CHILD_MEMORY = 1536 * 2**20  # address space of the child: far above a normal run, far below a runaway
JOB_SECONDS = 30  # a job running longer than this is a hang
IMPORT_SUFFIXES = (".docx", ".txt", ".html", ".htm", ".pdf")
COMMANDS = ("load", "validate", "verify", "consolidate", "import")

_CHILD = r"""
import contextlib, faulthandler, io, json, resource, sys, time
memory, seconds = int(sys.argv[1]), float(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
import xxgk
from xxgk.cli import main
from xxgk.errors import XxgkError
out = sys.stdout
print(json.dumps({"ready": True}), file=out, flush=True)
for line in sys.stdin:
    job = json.loads(line)
    print("job:", " ".join(job), file=sys.stderr, flush=True)
    faulthandler.dump_traceback_later(seconds, exit=True)
    start = time.perf_counter()
    crash, kind, text = None, "", io.StringIO()
    try:
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
            if job[0] == "load":
                try:
                    kind = "valid" if xxgk.validate(xxgk.load(job[1])).valid else "findings"
                except XxgkError:
                    kind = "refused"
            else:
                try:
                    code = main(job)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 2
                kind = f"exit {code}"
                if code == 3 or (isinstance(code, int) and code < 0):
                    crash = text.getvalue().strip().splitlines()[-1:] or [kind]
                    crash = crash[0]
    except BaseException as exc:
        crash = f"{type(exc).__name__}: {str(exc)[:300]}"
    faulthandler.cancel_dump_traceback_later()
    print(json.dumps({"job": job, "outcome": "crash" if crash else "ok", "kind": kind, "detail": crash or "",
                      "seconds": round(time.perf_counter() - start, 3)}), file=out, flush=True)
"""


def replay(jobs: list[list[str]], memory: int = CHILD_MEMORY, seconds: float = JOB_SECONDS) -> list[dict]:
    """Run each job (["load", path] or CLI arguments such as ["validate", path]) in a child process.

    One outcome per job, in order: {"job", "outcome": ok | crash | died | hang, "kind", "detail", "seconds"}.
    "died" is the child killed under that job (an abort, a signal, the memory limit hit outside Python);
    "hang" is a job still running after `seconds`."""
    outcomes: list[dict] = []
    pending = [[str(a) for a in job] for job in jobs]
    while pending:
        feed = "".join(json.dumps(job) + "\n" for job in pending)
        try:
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(memory), str(seconds)], input=feed,
                                  capture_output=True, encoding="utf-8", errors="replace",
                                  timeout=seconds * len(pending) + 60)
            out, err, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            out, err, code = (s.decode("utf-8", "replace") if isinstance(s, bytes) else s or ""
                              for s in (exc.stdout, exc.stderr, "timeout"))
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if not lines or not lines[0].get("ready"):
            raise RuntimeError(f"the crash harness did not start (exit {code}): {err[-2000:]}")
        done = lines[1:]
        outcomes += done
        pending = pending[len(done):]
        if pending:  # the child ended under pending[0]
            last = err[err.rfind("job:"):].partition("\n")[2] if "job:" in err else err  # what the job wrote
            hang = code == "timeout" or "Timeout (" in last
            outcomes.append({"job": pending[0], "outcome": "hang" if hang else "died", "kind": f"exit {code}",
                             "detail": last.strip()[:600], "seconds": None})
            pending = pending[1:]
    return outcomes


def jobs_for(path: Path, workdir: Path, companion: Path, commands=None) -> list[list[str]]:
    """The jobs that replay one input: the library and every CLI command that takes such a file.
    `companion` is a good workbook of another unit, consolidated together with the input (with
    --allow-invalid, so that the run goes on to write the total and its page)."""
    suffix = path.suffix.lower()
    wanted = set(commands or COMMANDS)
    out = workdir / f"out-{path.name}"
    out.mkdir(parents=True, exist_ok=True)
    if suffix in IMPORT_SUFFIXES:
        jobs = [["import", path, "-o", out / "imported.json"]]
    else:
        jobs = [["load", path], ["validate", path]]
        if suffix != ".json":
            jobs.append(["verify", path])
        jobs.append(["consolidate", companion, path, "-o", out / "total.xlsx", "--html", out / "total.html",
                     "--allow-invalid", "-q", "--jobs", "1"])  # to the end: the total is written without it
    return [[str(a) for a in job] for job in jobs if job[0] in wanted]


def rezip(data: bytes, edit) -> bytes:
    """A copy of the package with `edit(name, body) -> body | None` applied to every part (None drops it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = edit(info.filename, src.read(info.filename))
            if body is not None:
                dst.writestr(info, body)
    return out.getvalue()


def _text(value) -> bytes:
    """A recipe's text: a string, or a list of strings and [string, times] pairs, joined."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return b"".join(_text(piece) if not (isinstance(piece, list) and len(piece) == 2 and isinstance(piece[1], int))
                    else _text(piece[0]) * piece[1] for piece in value)


def build_recipe(recipe: dict, source: str = "recipe") -> bytes:
    """The workbook a corpus recipe describes: an example filled by the project's own `fill`, then
    each edit applied to one part of the zip. An edit that no longer matches is an error (the
    template changed: the recipe must be updated, not silently replay a good file)."""
    from xxgk.template import fill

    data = fill(from_document(example(recipe.get("base", "made-up-qingfeng-2021"))))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        parts = {info.filename: z.read(info) for info in z.infolist()}
    for edit in recipe["edits"]:
        part = edit["part"]
        if "body" in edit:
            parts[part] = _text(edit["body"])
            continue
        if part not in parts:
            raise ValueError(f"{source}: the workbook has no part {part}")
        if edit.get("drop"):
            del parts[part]
            continue
        parts[part], n = re.subn(_text(edit["find"]), _text(edit["replace"]), parts[part], count=edit.get("count", 1))
        if not n:
            raise ValueError(f"{source}: {edit['find']!r} no longer occurs in {part}; update the recipe")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            z.writestr(name, body)
    return out.getvalue()


def corpus_entries(folder: Path = CORPUS) -> list[dict]:
    """Every input in the corpus: {"source", "name", "data", "commands", "expect"}.

    A `*.recipe.json` is built by `build_recipe`; it may name the commands to replay (default: every
    command that reads such a file) and `expect` the library's answer ("refused", "findings" or
    "valid") for a hole that is not a crash. README.md and dot files are skipped; any other file is an
    input as it is, replayed by every command its extension fits."""
    entries = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == "README.md" or not path.is_file():
            continue
        if path.name.endswith(".recipe.json"):
            recipe = json.loads(path.read_text(encoding="utf-8"))
            entries.append({"source": path.name, "data": build_recipe(recipe, path.name),
                            "name": recipe.get("name") or path.name.removesuffix(".recipe.json") + ".xlsx",
                            "commands": recipe.get("commands"), "expect": recipe.get("expect")})
        else:
            entries.append({"source": path.name, "name": path.name, "data": path.read_bytes(), "commands": None,
                            "expect": None})
    return entries
