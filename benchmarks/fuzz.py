"""A longer fuzzing campaign, run by hand: damaged inputs through the library and the CLI commands.

    python benchmarks/fuzz.py [--examples 2000] [--seed S] [--jobs 2] [--out tests/corpus] [--timeout 30]
    python benchmarks/fuzz.py --replay FILE...      # run given inputs through the same harness

Inputs are made from the project's own output, then damaged (hypothesis, seeded; the seed is printed
and `--seed` repeats a campaign exactly on the same code):
  * workbooks filled by `fill`, and a finalised one (`finalize`): the damage of tests/strategies.py
    `damaged`, plus docProps/custom.xml rewritten, a DTD after a comment of any length, cell references
    with either quote and any spacing, defined names swapped, a part removed;
  * JSON report documents: a value replaced by something odd (deep nesting, a 5,000-digit number,
    2021.0, NaN, control characters, wrong types), or the text cut;
  * published reports for `xxgk import` (.docx and .html from `publish`; .txt: the shared seed report
    when ../shared/ is there, else the page as text): damaged zip or text.
Every input goes through the crash harness of tests/conftest.py (`replay`): a child process under a
memory limit runs load+validate and the commands validate, verify, consolidate (with a good unit
beside it) or import, each with a time limit. An input that crashed (an exception in the library,
exit 3, a signal or abort, a hang) is copied into the corpus folder (default tests/corpus/, named by
its content hash), where tests/test_hostile.py replays it on every test run from then on.

On a 2-core machine, 2,000 examples take about 3 to 4 minutes with --jobs 2 (mostly the CLI jobs).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import HypothesisWarning  # noqa: E402

import xxgk  # noqa: E402
from conftest import CORPUS, JOB_SECONDS, example, jobs_for, replay, rezip  # noqa: E402
from strategies import damaged  # noqa: E402

_DOCX_PARTS = ["word/document.xml", "[Content_Types].xml", "_rels/.rels", "word/_rels/document.xml.rels"]
_ODD = [[[[[]]]], "[" * 3000 + "]" * 3000, "@@5000@@", 2021.0, float("nan"), float("inf"), -1, 1e308, 2.5, True,
        None, "", "3件", "鹿山\v街道", "\x01", "\u200b富阳", "Ｆ", {}, [], "x" * 100_000]
SEED_TXT = ROOT.parent / "shared" / "seed" / "000_4a81d0f783bbd2ce.txt"  # as in tests/test_importer.py
REAL_PDF = ROOT.parent / "shared" / "real-reports" / "hongze-2024.pdf"  # a real published PDF, when present
_BIG_NUMBER = re.compile(r'"@@(\d+)@@"')


# -- the good inputs everything is made from ---------------------------------------------------------

def bases(workdir: Path) -> dict[str, bytes]:
    from xxgk.finalize import finalize
    from xxgk.publish import docx_bytes, html_bytes

    report = xxgk.from_document(example("made-up-qingfeng-2021"))
    filled = xxgk.fill(report)
    source = workdir / "base.xlsx"
    source.write_bytes(filled)
    (workdir / "final").mkdir()
    final, _ = finalize(source, workdir / "final")
    page = html_bytes(report)
    if SEED_TXT.exists():  # a real report as Word saves it as text (the shared samples, when present)
        text = SEED_TXT.read_bytes()
    else:  # the published page as text: read less far by the importer, but still its input
        text = html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<(?:/p|/tr|br|/h\d|/t[dh])[^>]*>", "\n",
                                                          page.decode("utf-8")))).encode("utf-8")
    found = {"xlsx": filled, "final": final.read_bytes(), "docx": docx_bytes(report), "html": page,
             "txt": text, "json": json.dumps(example("made-up-qingfeng-2021"), ensure_ascii=False,
                                             indent=1).encode("utf-8")}
    if REAL_PDF.exists():
        found["pdf"] = REAL_PDF.read_bytes()
    return found


# -- damage beyond tests/strategies.py `damaged` -----------------------------------------------------

def _edit_part(data: bytes, part: str, change) -> bytes:
    return rezip(data, lambda name, body: change(body) if name == part else body)


@st.composite
def workbook_damage(draw, good: bytes) -> bytes:
    how = draw(st.sampled_from(["custom", "dtd", "coordinate", "names", "drop"]))
    parts = zipfile.ZipFile(io.BytesIO(good)).namelist()
    if how == "custom":  # the stamp's part: empty, cut, garbled, an attribute dropped, an unknown entity
        name = "docProps/custom.xml"
        real = zipfile.ZipFile(io.BytesIO(good)).read(name) if name in parts else b"<Properties/>"
        body = draw(st.sampled_from([b"", real[: draw(st.integers(0, len(real)))], real.replace(b' name="', b' x="', 1),
                                     draw(st.binary(max_size=200)), real.replace(b"<vt:lpwstr>", b"<vt:lpwstr>&bad;")]))
        if name in parts:
            return _edit_part(good, name, lambda _: body)
        return _with(good, name, body)
    if how == "dtd":  # a DTD after a comment of any length, in any XML part
        part = draw(st.sampled_from(["xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/worksheets/sheet3.xml",
                                     "xl/_rels/workbook.xml.rels", "[Content_Types].xml", "xl/styles.xml"]))
        pad = b"x" * draw(st.sampled_from([0, 100, 4000, 4090, 4100, 9000, 70000]))
        dtd = b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        return _edit_part(good, part, lambda body: re.sub(rb"^(<\?xml[^>]*\?>)?", lambda m: (m.group(1) or b"")
                                                          + b"<!--" + pad + b"-->" + dtd, body, count=1))
    if how == "coordinate":  # a far cell, its reference quoted and spaced any way
        row = draw(st.sampled_from([1048576, 65536, 2**31, 10**12, 0]))
        col = draw(st.sampled_from(["XFD", "A", "ZZZ", "AAAA", ""]))
        quote = draw(st.sampled_from(['"', "'"]))
        space = draw(st.sampled_from(["", " ", "\t", "\n"]))
        cell = f"<row r={quote}{row}{quote}><c{space} r{space}={space}{quote}{col}{row}{quote}><v>1</v></c></row>"
        part = draw(st.sampled_from(["xl/worksheets/sheet1.xml", "xl/worksheets/sheet3.xml", "xl/worksheets/sheet6.xml"]))
        return _edit_part(good, part, lambda body: body.replace(b"</sheetData>", cell.encode() + b"</sheetData>", 1))
    if how == "names":  # two defined names exchange their cells
        def swap(body: bytes) -> bytes:
            found = list(re.finditer(rb"(<definedName [^>]*>)([^<]*)(</definedName>)", body))
            if len(found) < 2:
                return body
            i, j = sorted(draw(st.lists(st.integers(0, len(found) - 1), min_size=2, max_size=2, unique=True)))
            a, b = found[i], found[j]
            return (body[:a.start(2)] + b.group(2) + body[a.end(2):b.start(2)] + a.group(2) + body[b.end(2):])
        return _edit_part(good, "xl/workbook.xml", swap)
    gone = draw(st.sampled_from(parts))  # a part removed
    return rezip(good, lambda name, body: None if name == gone else body)


def _with(data: bytes, name: str, body: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as z:
        z.writestr(name, body)
    return out.getvalue()


@st.composite
def json_damage(draw, good: bytes) -> bytes:
    text = good.decode("utf-8")
    if draw(st.integers(0, 3)) == 0:  # the text itself: cut, doubled or garbled
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 200)))
        return (text[:i] + draw(st.sampled_from(["", text[i:j] * 2, "\x00", "\ufeff", "{", "]", "1e99999"]))
                + text[j:]).encode("utf-8", "surrogatepass")
    document = json.loads(text)
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + [key])

    walk(document, [])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths[1:]))
        node = document
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None  # gone if an earlier change replaced it
        if isinstance(node, dict):
            value = draw(st.sampled_from(_ODD))
            node[path[-1]] = value
    out = json.dumps(document, ensure_ascii=False, indent=1)  # "@@N@@" becomes a number of N digits
    return _BIG_NUMBER.sub(lambda m: "9" * int(m.group(1)), out).encode("utf-8", "surrogatepass")


@st.composite
def text_damage(draw, good: bytes) -> bytes:
    how = draw(st.sampled_from(["stretch", "number", "encoding", "nesting"]))
    if how == "stretch":
        i = draw(st.integers(0, len(good)))
        j = draw(st.integers(i, min(len(good), i + 400)))
        junk = draw(st.sampled_from([b"", good[i:j] * 3, b"\x00" * 10, b"<table><tr><td>", b"</td></tr></table>",
                                     draw(st.binary(max_size=40))]))
        return good[:i] + junk + good[j:]
    if how == "number":
        odd = draw(st.sampled_from([b"9" * 5000, b"-3", b"1e308", b"\xef\xbc\x93", b"3.5", b"\xe2\x80\x8b7", b"/"]))
        return re.sub(rb"(?<![\d.])\d+(?![\d.])", odd, good, count=draw(st.integers(1, 20)))
    if how == "encoding":
        text = good.decode("utf-8")
        return draw(st.sampled_from([text.encode("gb18030"), text.encode("utf-16"), b"\xef\xbb\xbf" + good,
                                     good.replace(b"\n", b"\r"), good[: len(good) // 2]]))
    depth = draw(st.sampled_from([100, 5000, 50000]))
    return good.replace(b"</body>", b"<div>" * depth + b"x" + b"</div>" * depth + b"</body>", 1) if b"</body>" in good \
        else (b"\t" * depth) + good


@st.composite
def pdf_damage(draw, good: bytes) -> bytes:
    """A published PDF with bytes changed, cut short, or a stretch repeated or removed (objects, streams, xref)."""
    how = draw(st.sampled_from(["bytes", "cut", "repeat", "remove"]))
    if how == "bytes":
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "cut":
        return good[:draw(st.integers(0, len(good)))]
    i = draw(st.integers(0, len(good)))
    j = draw(st.integers(i, min(len(good), i + 2000)))
    return good[:j] + good[i:j] * draw(st.integers(2, 20)) + good[j:] if how == "repeat" else good[:i] + good[j:]


def inputs(b: dict[str, bytes]):
    """One damaged input: (file extension, content)."""
    pdf = [st.tuples(st.just(".pdf"), pdf_damage(b["pdf"]))] if "pdf" in b else []
    return st.one_of(*pdf,
        st.tuples(st.just(".xlsx"), damaged(b["xlsx"])),
        st.tuples(st.just(".xlsx"), damaged(b["final"])),
        st.tuples(st.just(".xlsx"), workbook_damage(b["final"])),
        st.tuples(st.just(".xlsx"), workbook_damage(b["xlsx"])),
        st.tuples(st.just(".json"), json_damage(b["json"])),
        st.tuples(st.just(".docx"), damaged(b["docx"], _DOCX_PARTS)),
        st.tuples(st.just(".html"), text_damage(b["html"])),
        st.tuples(st.just(".txt"), text_damage(b["txt"])),
    )


# -- the campaign ------------------------------------------------------------------------------------

def generate(b: dict[str, bytes], count: int, chosen_seed: int, folder: Path) -> list[Path]:
    files: list[Path] = []

    @seed(chosen_seed)
    @settings(max_examples=count, database=None, derandomize=False, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(inputs(b))
    def collect(made):
        suffix, data = made
        path = folder / f"{len(files):05d}{suffix}"
        path.write_bytes(data)
        files.append(path)

    collect()
    return files


def run(files: list[Path], workdir: Path, jobs: int, seconds: float) -> list[dict]:
    """Every input through the harness, in `jobs` children at once; outcomes in any order."""
    companion = workdir / "companion.xlsx"
    companion.write_bytes(xxgk.fill(xxgk.from_document(example("lushan-2021"))))
    shards = [files[i::jobs] for i in range(jobs)]
    outcomes: list[dict] = []
    lock = threading.Lock()
    done = [0]
    start = time.perf_counter()

    def work(shard: list[Path]) -> None:
        for i in range(0, len(shard), 50):  # in batches: progress, and a lost child costs little
            batch = [job for path in shard[i:i + 50] for job in jobs_for(path, workdir / "out", companion)]
            got = replay(batch, seconds=seconds)
            with lock:
                outcomes.extend(got)
                done[0] += len(shard[i:i + 50])
                print(f"\r  {done[0]}/{len(files)} inputs, {time.perf_counter() - start:.0f} s ", end="", flush=True)

    threads = [threading.Thread(target=work, args=(shard,)) for shard in shards if shard]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print()
    return outcomes


def input_of(job: list[str]) -> Path:
    return Path(job[1] if job[0] in ("load", "validate", "verify", "import") else job[2])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=2000, help="how many damaged inputs (default 2000)")
    p.add_argument("--seed", type=int, help="the seed (default: a new one, printed)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="children at once (default 2)")
    p.add_argument("--out", type=Path, default=CORPUS, help=f"where crashing inputs go (default {CORPUS})")
    p.add_argument("--timeout", type=float, default=JOB_SECONDS, help="seconds before a job counts as a hang")
    p.add_argument("--per-failure", type=int, default=3, help="inputs kept per distinct failure (default 3)")
    p.add_argument("--keep", type=Path, help="keep every generated input in this folder")
    p.add_argument("--replay", nargs="+", type=Path, metavar="FILE", help="run these inputs instead of generating")
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=HypothesisWarning)  # the reprs of whole workbooks

    chosen_seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    workdir = Path(tempfile.mkdtemp(prefix="xxgk-fuzz-"))
    try:
        if args.replay:
            folder = workdir / "inputs"
            folder.mkdir()
            files = []
            for n, source in enumerate(args.replay):  # copied: the consolidation writes beside nothing of theirs
                files.append(folder / f"{n:05d}-{source.name}")
                shutil.copyfile(source, files[-1])
            print(f"replaying {len(files)} inputs")
        else:
            print(f"seed {chosen_seed}  (repeat this campaign with --seed {chosen_seed})", flush=True)
            folder = args.keep or workdir / "inputs"
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            files = generate(bases(workdir), args.examples, chosen_seed, folder)
            print(f"{len(files)} inputs made in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        outcomes = run(files, workdir, max(1, args.jobs), args.timeout)
        elapsed = time.perf_counter() - started
        bad = [o for o in outcomes if o["outcome"] != "ok"]
        kinds: dict[str, int] = {}
        for o in outcomes:
            kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
        print(f"{len(outcomes)} jobs in {elapsed:.0f} s; answers: "
              + ", ".join(f"{k or '-'} {n}" for k, n in sorted(kinds.items())))
        slow = sorted((o for o in outcomes if o["outcome"] == "ok" and o["seconds"] > 5), key=lambda o: -o["seconds"])
        for o in slow[:10]:
            print(f"  slow ({o['seconds']:.1f} s): {' '.join(Path(a).name for a in o['job'])}")
        failures: dict[str, list[Path]] = {}  # one entry per distinct failure: its inputs
        for o in bad:
            first = (o["detail"].strip().splitlines() or [""])[0][:200]
            what = f"{o['outcome']} in {o['job'][0]}: " + re.sub(r"\d+", "N", first)
            failures.setdefault(what, []).append(input_of(o["job"]))
        saved: dict[str, list[str]] = {}
        new = 0
        for what, inputs_ in failures.items():
            for source in sorted(set(inputs_), key=lambda f: f.stat().st_size)[:args.per_failure]:
                saved.setdefault(what, []).append(source.name)
                if not args.replay:  # the smallest few of each failure; named by content, so never twice
                    data = source.read_bytes()
                    name = args.out / f"fuzz-{hashlib.sha256(data).hexdigest()[:12]}{source.suffix}"
                    new += not name.exists()
                    args.out.mkdir(parents=True, exist_ok=True)
                    name.write_bytes(data)
                    saved[what][-1] = name.name
        if not bad:
            print("no crash, hang or abort")
            return 0
        print(f"{len(bad)} failing jobs, {len(failures)} distinct failures:")
        for what, inputs_ in sorted(failures.items()):
            print(f"  {what}\n      {len(set(inputs_))} inputs: {', '.join(saved[what])}")
        if not args.replay:
            print(f"{new} new inputs written to {args.out}: tests/test_hostile.py replays them from now on")
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
