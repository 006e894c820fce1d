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
            if info.filename.startswith("xl/worksheets/"):  # the text as written, or as character references
                for encode in (str.encode, lambda t: t.encode("ascii", "xmlcharrefreplace")):
                    body = body.replace(encode(old), encode(new))
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


def hostile_run(n: int, fraction: float, jobs: int) -> None:
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
        wall, rss, rc, output = run_consolidate(folder, jobs)
        named = [h for h in hostile if h in output]
        print(f"{n:,} files, {len(hostile)} hostile ({', '.join(kinds)}): {wall:.1f} s, "
              f"peak RSS {rss} MB, exit {rc}; hostile files named in the output: {len(named)}/{len(hostile)}")


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


def run_consolidate(folder: Path, jobs: int) -> tuple[float, int, str, str]:
    """Wall seconds, peak RSS (MB) of `xxgk consolidate` and its workers, its exit code and its output."""
    out = folder.parent / f"{folder.name}-total.xlsx"
    code = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
            f"p = subprocess.run([sys.executable, '-m', 'xxgk.cli', 'consolidate', {str(folder)!r}, '-o', {str(out)!r}, "
            f"'-q', '--jobs', '{jobs}'], capture_output=True, text=True); "
            "w = time.perf_counter() - t; "
            "print(json.dumps([w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode, p.stdout]))")
    wall, rss_kb, rc, output = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    return wall, rss_kb // 1024, str(rc), output


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
    parser.add_argument("--hostile", type=float, default=0.0,
                        help="instead: a load test where this fraction of the files is hostile (e.g. 0.01)")
    args = parser.parse_args()
    if args.hostile:
        for n in args.sizes:
            hostile_run(n, args.hostile, args.jobs)
        return 0
    print(f"machine: {os.cpu_count()} cores; xxgk consolidate --jobs {args.jobs}")
    bases = base_workbooks()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            paths = make_files(Path(tmp) / f"n{n}", n, bases)
            wall, rss, rc, _ = run_consolidate(Path(tmp) / f"n{n}", args.jobs)
            calamine = calamine_read_all(paths)
            sample = paths[: min(n, args.openpyxl_sample)]
            op = openpyxl_load(sample) * n / len(sample)
            rows.append((n, wall, n / wall, rss, calamine, op, wall / calamine, rc))
            print(f"N={n}: done", file=sys.stderr)
        one = Path(tmp) / "n{}".format(args.sizes[0]) / "unit00000.xlsx"
        ours, base = single_file(one)
    print()
    print("| files | xxgk consolidate | files/s | peak RSS | calamine read only | openpyxl load | xxgk / calamine | exit |")
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
