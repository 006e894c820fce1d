"""Consolidation speed and memory against the honest floor, measured in the same run on the same files.

    python benchmarks/consolidate.py [--sizes 1000 10000] [--html] [--check-identical [--base a5e4cd6]]

For each N it writes N distinct, valid unit workbooks (twenty reports filled by the project's own
`fill`, each copy given its own agency name), then measures:
  * the floor: one process, python-calamine reading only the cells the report needs from its five
    report sheets (not the 校验 sheet, not the identity sheet): CPU and wall time per file;
  * `xxgk consolidate --jobs 1` (a subprocess, as a user runs it): CPU ms per file of the process tree;
  * `xxgk consolidate` with the default workers: wall time;
  * the peak memory of the whole process tree (the command and its workers), sampled from /proc:
    the sum of their proportional set sizes (PSS: a page shared by forked workers counted once),
    and the largest single process (ru_maxrss).
Goals (issue 14): --jobs 1 <= 2x the floor per file; default wall <= the floor's single-process time;
tree peak <= 200 MB at 10,000 files with --html, flat in N.

`--check-identical` also runs the command of the base commit (`--base`, extracted with `git archive`
into a temporary folder) on the same files with the same output paths, and compares the workbook,
the manifest (and the page with --html) byte for byte.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import xxgk
from xxgk.resources import data_dir
from xxgk.schema import load_schema

REPO = Path(__file__).resolve().parents[1]


def base_workbooks(count: int = 20) -> list[tuple[bytes, str]]:
    """`count` valid reports (an example scaled by 1..count: every rule is linear), filled by `fill`."""
    schema = load_schema()
    example = json.loads((data_dir("examples") / "made-up-qingfeng-2021.json").read_text(encoding="utf-8"))
    out = []
    for factor in range(1, count + 1):
        flat = schema.flatten(copy.deepcopy(example))
        for fact_id, value in flat.items():
            if schema.facts[fact_id].kind in ("count", "amount"):
                flat[fact_id] = value * factor
        out.append((xxgk.fill(xxgk.from_document(schema.nest(flat))), example["agency"]))
    return out


# A count no rule and no sum uses: each copy gets its own, so that no two files have the same figures (as
# no two units do; identical figures make the roll-up warn about every pair).
OWN_FIGURE = "proactive.licensing.decisions"


def own_figure_cell(data: bytes) -> tuple[str, bytes]:
    """(sheet part, cell address) of OWN_FIGURE in a filled workbook, by the template's layout."""
    from xxgk.layout import a1, load_layout
    from xxgk.workbook import _Package

    sheet, row, col = load_layout().cells[OWN_FIGURE]
    return _Package(None, data).sheet_parts[sheet], a1(row, col).encode()


def with_agency(data: bytes, old: str, new: str, figure: int | None = None) -> bytes:
    """The same workbook under another agency name, and with its own OWN_FIGURE when given (a zip-level
    edit: fast enough for 10,000 copies)."""
    part, address = own_figure_cell(data) if figure is not None else (None, b"")
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):  # the text as written, or as character references
                for encode in (str.encode, lambda t: t.encode("ascii", "xmlcharrefreplace")):
                    body = body.replace(encode(old), encode(new))
            if info.filename == part:
                body, n = re.subn(rb'(<c r="' + address + rb'"[^>]*>\s*<v>)[^<]*(</v>)',
                                  lambda m: m.group(1) + str(figure).encode() + m.group(2), body)
                assert n == 1, f"{OWN_FIGURE} not found as a plain value in {part}"
            target.writestr(info, body)
    return out.getvalue()


def make_files(folder: Path, n: int, bases: list[tuple[bytes, str]]) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        data, agency = bases[i % len(bases)]
        path = folder / f"unit{i:05d}.xlsx"
        path.write_bytes(with_agency(data, agency, f"第{i:05d}号单位（基准测试）", 1000 + i))
        paths.append(path)
    return paths


def hostile_kinds(good: bytes) -> dict[str, bytes]:
    """One file of each kind a district should never choke on, made from a good workbook."""
    def rezip(edit) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info, edit(info.filename, src.read(info.filename)))
        return out.getvalue()

    bomb = io.BytesIO(good)
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as z, z.open("xl/media/bomb.bin", "w") as fh:
        for _ in range(300):
            fh.write(b"\0" * 2**20)
    laughs = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    return {
        "bomb": bomb.getvalue(),
        "huge-area": rezip(lambda n, b: b.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c>'
                                                  b"</row></sheetData>") if n == "xl/worksheets/sheet3.xml" else b),
        "entities": rezip(lambda n, b: laughs + (b.split(b"?>", 1)[1] if b.startswith(b"<?xml") else b)
                          if n == "xl/workbook.xml" else b),
        "truncated": good[: len(good) // 2],
        "encrypted": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096),
        "csv": "机关,年度\n".encode() * 50,
    }


def hostile_run(n: int, fraction: float, jobs: int | None) -> None:
    """N files, a fraction of them hostile: the run must finish, name every hostile file, stay bounded."""
    bases = base_workbooks()
    kinds = hostile_kinds(bases[0][0])
    every = max(1, round(1 / fraction))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        paths = make_files(folder, n, bases)
        hostile = []
        for i, path in enumerate(paths):
            if i % every == every - 1:
                kind = list(kinds)[len(hostile) % len(kinds)]
                path.write_bytes(kinds[kind])
                hostile.append(path.name)
        run = run_consolidate(folder, Path(tmp) / "out" / "total.xlsx", jobs)
        named = [h for h in hostile if h in run["stdout"]]
        print(f"{n:,} files, {len(hostile)} hostile ({', '.join(kinds)}): {run['wall']:.1f} s, "
              f"tree peak {run['tree_mb']:.0f} MB, exit {run['rc']}; hostile files named in the output: "
              f"{len(named)}/{len(hostile)}")


# -- the floor ---------------------------------------------------------------------------------------


def report_cells() -> dict[str, list[tuple[int, int]]]:
    """The cells the report needs, by sheet: every fact's cell of the template's layout."""
    from xxgk.layout import load_layout

    cells: dict[str, list[tuple[int, int]]] = {}
    for sheet, row, col in load_layout().cells.values():
        cells.setdefault(sheet, []).append((row - 1, col - 1))
    return cells


def floor(paths: list[Path]) -> tuple[float, float]:
    """(CPU s, wall s) of python-calamine reading the report's cells of every file, in this process."""
    from python_calamine import CalamineWorkbook

    cells = report_cells()
    cpu, wall = time.process_time(), time.perf_counter()
    for path in paths:
        book = CalamineWorkbook.from_path(str(path))
        for sheet, wanted in cells.items():
            grid = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            [grid[r][c] if r < len(grid) and c < len(grid[r]) else None for r, c in wanted]
    return time.process_time() - cpu, time.perf_counter() - wall


# -- the command, as a user runs it ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mb(root: int) -> float:
    """The proportional set size of a process and all its descendants, in MB."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _pss_kb(pid)
        todo += _children(pid)
    return total / 1024


PYCACHE: list[str] = []  # the folder of bytecode caches for every command run here (set in main)


def command(xxgk_src: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """How to run `xxgk`: this checkout's, or another source tree's (put first on the path).

    With bytecode caches (in a temporary folder, written by a first warm-up run), as an installed
    package has them: without them every run, and every worker, compiles the sources anew."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if PYCACHE:
        env["PYTHONPYCACHEPREFIX"] = PYCACHE[0]
    if xxgk_src is not None:
        env["PYTHONPATH"] = str(xxgk_src) + os.pathsep + env.get("PYTHONPATH", "")
    return [sys.executable, "-m", "xxgk.cli"], env


def warm_up(folder: Path, out: Path, xxgk_src: Path | None = None) -> None:
    """One small run, so that the measured runs find their bytecode caches written."""
    few = folder.parent / f"warm-{folder.name}"
    few.mkdir(exist_ok=True)
    for path in sorted(folder.iterdir())[:3]:
        (few / path.name).write_bytes(path.read_bytes())
    run_consolidate(few, out, 2, True, xxgk_src)


def run_consolidate(folder: Path, out: Path, jobs: int | None, html: bool = False,
                    xxgk_src: Path | None = None) -> dict:
    """Wall s, CPU s of the process tree, tree peak PSS (MB), largest process (MB), exit code, stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    args, env = command(xxgk_src)
    args += ["consolidate", str(folder), "-o", str(out), "-q"]
    args += ["--jobs", str(jobs)] if jobs else []
    args += ["--html", str(out.with_suffix(".html"))] if html else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = [0.0]
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_pss_mb(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "tree_mb": peak[0], "max_mb": after.ru_maxrss / 1024, "rc": process.returncode,
            "stdout": stdout, "stderr": stderr}


def check_identical(folder: Path, out_dir: Path, base: str, html: bool, n: int) -> str:
    """Run the base commit's command and this checkout's (--jobs 1) on the same files and output paths;
    compare bytes, and show the CPU per file of both (measured here, one after the other)."""
    tree = out_dir / "base-src"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", base], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    out = out_dir / "cmp" / "total.xlsx"
    names = [out, out.with_suffix(".manifest.json")] + ([out.with_suffix(".html")] if html else [])
    produced, cpu = {}, {}
    for label, src in (("base", tree / "src"), ("this", None)):
        warm_up(folder, out_dir / f"warm-{label}" / "total.xlsx", src)
        run = run_consolidate(folder, out, 1, html, src)
        if run["rc"] != 0:
            return f"{label} run failed (exit {run['rc']}): {run['stderr'][-500:]}"
        produced[label] = [p.read_bytes() for p in names]
        cpu[label] = run["cpu"] / n * 1000
        for p in names:
            p.unlink()
    differ = [p.name for p, a, b in zip(names, produced["base"], produced["this"]) if a != b]
    speed = f" (--jobs 1 CPU per file: {base} {cpu['base']:.2f} ms, this {cpu['this']:.2f} ms)"
    return ("identical: " + ", ".join(p.name for p in names) if not differ else "DIFFERENT: " + ", ".join(differ)) + speed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--html", action="store_true", help="also write the --html page (memory goal)")
    parser.add_argument("--check-identical", action="store_true",
                        help="compare the outputs with those of the base commit's code, byte for byte")
    parser.add_argument("--base", default="a5e4cd6", help="the commit to compare outputs with")
    parser.add_argument("--hostile", type=float, default=0.0,
                        help="instead: a load test where this fraction of the files is hostile (e.g. 0.01)")
    args = parser.parse_args()
    if args.hostile:
        for n in args.sizes:
            hostile_run(n, args.hostile, None)
        return 0
    print(f"machine: {os.cpu_count()} cores; default workers: xxgk's default_jobs()")
    bases = base_workbooks()
    rows, checks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        PYCACHE[:] = [str(Path(tmp) / "pycache")]
        for n in args.sizes:
            folder = Path(tmp) / f"n{n}"
            paths = make_files(folder, n, bases)
            warm_up(folder, Path(tmp) / f"warm{n}" / "total.xlsx")
            floor(paths[: min(n, 50)])  # warm the page cache and the library
            floor_cpu, floor_wall = floor(paths)
            one = run_consolidate(folder, Path(tmp) / f"out{n}-jobs1" / "total.xlsx", 1, args.html)
            default = run_consolidate(folder, Path(tmp) / f"out{n}-default" / "total.xlsx", None, args.html)
            for run in (one, default):
                if run["rc"] != 0:
                    print(f"N={n}: xxgk exited {run['rc']}: {run['stderr'][-500:]}", file=sys.stderr)
            rows.append((n, floor_cpu, floor_wall, one, default))
            if args.check_identical:
                checks.append((n, check_identical(folder, Path(tmp) / f"cmp{n}", args.base, args.html, n)))
            print(f"N={n}: done", file=sys.stderr)
    print()
    print("| files | floor CPU/file | --jobs 1 CPU/file | ratio | floor wall | default wall | ratio "
          f"| tree peak{' (--html)' if args.html else ''} | largest process |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, floor_cpu, floor_wall, one, default in rows:
        print(f"| {n:,} | {floor_cpu / n * 1000:.2f} ms | {one['cpu'] / n * 1000:.2f} ms | "
              f"{one['cpu'] / floor_cpu:.1f}x | {floor_wall:.2f} s | {default['wall']:.2f} s | "
              f"{default['wall'] / floor_wall:.2f}x | {max(one['tree_mb'], default['tree_mb']):.0f} MB | "
              f"{max(one['max_mb'], default['max_mb']):.0f} MB |")
    print("\nfloor: python-calamine in one process reading the report's cells of its five sheets. --jobs 1 CPU: user+system "
          "time of the command's process tree, start-up included. tree peak: largest sum of PSS over the command and its "
          "workers (sampled every 20 ms).")
    for n, verdict in checks:
        print(f"N={n}: outputs against {args.base}: {verdict}")
    return 0 if all(v.startswith("identical") for _, v in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
