"""Consolidation speed and memory, next to two baselines measured in the same run on the same files.

    python benchmarks/consolidate.py [--sizes 100 1000 10000] [--jobs 2] [--openpyxl-sample 200]

For each N it writes N distinct, valid unit workbooks (twenty reports filled by the project's own
`fill`, each copy given its own agency name), then measures:
  * `xxgk consolidate` (a subprocess, as a user runs it): wall time, files/s, peak memory;
  * python-calamine reading every value of every sheet of every file (one process): the floor;
  * openpyxl loading each file (on a sample, extrapolated to N: a full run takes hours at 10,000).
And the single-file path: `xxgk validate one.xlsx` from a cold start against `python -c` reading the
same file with calamine. Targets (2-core machine): 1,000 files < 5 s and <= 3x calamine; 10,000
< 60 s; peak memory < 500 MB and flat in N; single file <= 3x the calamine one-liner.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import xxgk
from xxgk.resources import data_dir
from xxgk.schema import load_schema


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


def with_agency(data: bytes, old: str, new: str) -> bytes:
    """The same workbook under another agency name (a zip-level edit: fast enough for 10,000 copies)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/") and old.encode() in body:
                body = body.replace(old.encode(), new.encode())
            target.writestr(info, body)
    return out.getvalue()


def make_files(folder: Path, n: int, bases: list[tuple[bytes, str]]) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        data, agency = bases[i % len(bases)]
        path = folder / f"unit{i:05d}.xlsx"
        path.write_bytes(with_agency(data, agency, f"第{i:05d}号单位（基准测试）"))
        paths.append(path)
    return paths


def calamine_read_all(paths: list[Path]) -> float:
    from python_calamine import CalamineWorkbook

    start = time.perf_counter()
    for path in paths:
        book = CalamineWorkbook.from_path(str(path))
        for name in book.sheet_names:
            book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    return time.perf_counter() - start


def openpyxl_load(paths: list[Path]) -> float:
    import openpyxl

    start = time.perf_counter()
    for path in paths:
        openpyxl.load_workbook(path)
    return time.perf_counter() - start


def run_consolidate(folder: Path, jobs: int) -> tuple[float, int, str]:
    """Wall seconds and peak RSS (MB) of `xxgk consolidate` and its workers."""
    out = folder.parent / f"{folder.name}-total.xlsx"
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            f"p = subprocess.run([sys.executable, '-m', 'xxgk.cli', 'consolidate', {str(folder)!r}, '-o', {str(out)!r}, "
            f"'-q', '--jobs', '{jobs}'], capture_output=True, text=True); "
            "w = time.perf_counter() - t; "
            "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)")
    line = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    wall, rss_kb, rc = float(line[0]), int(line[1]), line[2]
    return wall, rss_kb // 1024, rc


def single_file(path: Path, repeat: int = 7) -> tuple[float, float]:
    def timed(args: list[str]) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(args, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    ours = timed([sys.executable, "-m", "xxgk.cli", "validate", str(path)])
    base = timed([sys.executable, "-c", "import sys; from python_calamine import CalamineWorkbook as W; b = W.from_path(sys.argv[1]); "
                  "[b.get_sheet_by_name(n).to_python() for n in b.sheet_names]", str(path)])
    return ours, base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--openpyxl-sample", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; xxgk consolidate --jobs {args.jobs}")
    bases = base_workbooks()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            paths = make_files(Path(tmp) / f"n{n}", n, bases)
            wall, rss, rc = run_consolidate(Path(tmp) / f"n{n}", args.jobs)
            calamine = calamine_read_all(paths)
            sample = paths[: min(n, args.openpyxl_sample)]
            op = openpyxl_load(sample) * n / len(sample)
            rows.append((n, wall, n / wall, rss, calamine, op, wall / calamine, rc))
            print(f"N={n}: done", file=sys.stderr)
        one = Path(tmp) / "n{}".format(args.sizes[0]) / "unit00000.xlsx"
        ours, base = single_file(one)
    print()
    print(f"| files | xxgk consolidate | files/s | peak RSS | calamine read only | openpyxl load | xxgk / calamine | exit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, wall, rate, rss, calamine, op, ratio, rc in rows:
        print(f"| {n:,} | {wall:.2f} s | {rate:,.0f} | {rss} MB | {calamine:.2f} s | {op:.1f} s* | {ratio:.1f}x | {rc} |")
    print(f"\n* openpyxl on {args.openpyxl_sample} files, scaled to N. Peak RSS: the largest process (main or worker).")
    print(f"single file, cold start: xxgk validate {ours * 1000:.0f} ms; python -c calamine read {base * 1000:.0f} ms; "
          f"ratio {ours / base:.1f}x")
    print(f"max RSS of this benchmark process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
