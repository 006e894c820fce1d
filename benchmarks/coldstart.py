"""Start-up cost of the command, next to bare Python and a bare python-calamine read, in the same run.

    python benchmarks/coldstart.py [--repeat 15] [--base COMMIT]

Each command runs as a fresh process, `--repeat` times, alternating with its baseline so that the
load of a shared machine falls on both alike; the median is shown. Goals (issue 14):
  * `xxgk --help` at most 20 ms over `python -c pass`;
  * `xxgk validate one.xlsx` at most 3x a cold `python -c` reading the same five report sheets with
    python-calamine.
Also lists which heavy modules `xxgk validate` imports (they should not be there).

`xxgk` is the console script installed next to this Python (as a user runs it), else `python -m
xxgk.cli`. Bytecode caches are written to a temporary folder (PYTHONPYCACHEPREFIX) for both sides,
as an installed package has them: without them every run compiles the sources anew.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xxgk
from xxgk.layout import load_layout
from xxgk.resources import data_dir

HEAVY = ("dataclasses", "tempfile", "openpyxl", "jsonschema", "pdfplumber", "defusedxml.ElementTree",
         "xml.etree.ElementTree", "_hashlib", "ssl", "inspect")


ENV = dict(os.environ)


def timed(args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one run: CPU (user + system of the child) is what a busy shared machine disturbs least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, capture_output=True, check=False, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def pair(ours: list[str], base: list[str], repeat: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Medians ((wall, CPU) of ours, (wall, CPU) of the baseline)."""
    timed(ours), timed(base)  # warm the page cache
    a, b = [], []
    for _ in range(repeat):
        a.append(timed(ours))
        b.append(timed(base))
    return tuple(tuple(statistics.median(x[i] for x in runs) for i in (0, 1)) for runs in (a, b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--base", help="also run this commit's `xxgk validate` (extracted with git archive), "
                                       "alternating with this checkout's, under the same load")
    args = parser.parse_args()
    py = sys.executable
    script = Path(py).parent / ("xxgk.exe" if os.name == "nt" else "xxgk")
    xxgk_cmd = [str(script)] if script.exists() else [py, "-m", "xxgk.cli"]
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    sheets = sorted({sheet for sheet, _, _ in load_layout().cells.values()})
    with tempfile.TemporaryDirectory() as tmp:
        ENV["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        one = Path(tmp) / "one.xlsx"
        one.write_bytes(xxgk.fill(xxgk.load(data_dir("examples") / "made-up-qingfeng-2021.json")))
        helps = pair([*xxgk_cmd, "--help"], [py, "-c", "pass"], args.repeat)
        calamine = ("import sys; from python_calamine import CalamineWorkbook as W; b = W.from_path(sys.argv[1]); "
                    f"[b.get_sheet_by_name(n).to_python() for n in {sheets!r}]")
        validates = pair([*xxgk_cmd, "validate", str(one)], [py, "-c", calamine, str(one)], args.repeat)
        against_base = None
        if args.base:
            tree = Path(tmp) / "base"
            tree.mkdir()
            archive = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "archive", args.base],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            base_cmd = ["env", f"PYTHONPATH={tree / 'src'}", py, "-m", "xxgk.cli", "validate", str(one)]
            against_base = pair([py, "-m", "xxgk.cli", "validate", str(one)], base_cmd, args.repeat)
        probe = ("import sys, runpy; sys.argv = ['xxgk', 'validate', sys.argv[1]]; from xxgk import cli\n"
                 "try: cli.main(sys.argv[1:])\nexcept SystemExit: pass\n"
                 f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
        loaded = subprocess.run([py, "-c", probe, str(one)], capture_output=True, text=True, env=ENV).stdout.strip().splitlines()
    print("| command | wall | CPU | baseline | wall | CPU | wall difference | wall ratio | CPU ratio |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for label, base_label, ((w, c), (bw, bc)) in (("xxgk --help", "python -c pass", helps),
                                                   ("xxgk validate one.xlsx", "python -c (calamine, 5 sheets)", validates)):
        print(f"| {label} | {w * 1000:.0f} ms | {c * 1000:.0f} ms | {base_label} | {bw * 1000:.0f} ms | {bc * 1000:.0f} ms | "
              f"{(w - bw) * 1000:+.0f} ms | {w / bw:.1f}x | {c / max(bc, 1e-3):.1f}x |")
    if against_base is not None:
        (w, c), (bw, bc) = against_base
        print(f"| xxgk validate one.xlsx (python -m) | {w * 1000:.0f} ms | {c * 1000:.0f} ms | the same at {args.base} | "
              f"{bw * 1000:.0f} ms | {bc * 1000:.0f} ms | {(w - bw) * 1000:+.0f} ms | {w / bw:.2f}x | {c / max(bc, 1e-3):.2f}x |")
    print(f"\n{args.repeat} runs each, alternating, median. Goals: --help <= +20 ms; validate <= 3x.")
    print(f"heavy modules imported by `xxgk validate`: {loaded[-1] if loaded and loaded[-1] else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
