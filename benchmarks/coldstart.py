"""Start-up cost of the command, next to bare Python and a bare python-calamine read, in the same run.

    python benchmarks/coldstart.py [--repeat 15]

Each command runs as a fresh process, `--repeat` times, alternating with its baseline so that the
load of a shared machine falls on both alike; the median is shown. Goals (issue 14):
  * `xxgk --help` at most 20 ms over `python -c pass`;
  * `xxgk validate one.xlsx` at most 3x a cold `python -c` reading the same five report sheets with
    python-calamine.
Also lists which heavy modules `xxgk validate` imports (they should not be there).
"""

from __future__ import annotations

import argparse
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


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, capture_output=True, check=False)
    return time.perf_counter() - start


def pair(ours: list[str], base: list[str], repeat: int) -> tuple[float, float]:
    timed(ours), timed(base)  # warm the page cache
    a, b = [], []
    for _ in range(repeat):
        a.append(timed(ours))
        b.append(timed(base))
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    sheets = sorted({sheet for sheet, _, _ in load_layout().cells.values()})
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.xlsx"
        one.write_bytes(xxgk.fill(xxgk.load(data_dir("examples") / "made-up-qingfeng-2021.json")))
        helps = pair([py, "-m", "xxgk.cli", "--help"], [py, "-c", "pass"], args.repeat)
        calamine = ("import sys; from python_calamine import CalamineWorkbook as W; b = W.from_path(sys.argv[1]); "
                    f"[b.get_sheet_by_name(n).to_python() for n in {sheets!r}]")
        validates = pair([py, "-m", "xxgk.cli", "validate", str(one)], [py, "-c", calamine, str(one)], args.repeat)
        probe = ("import sys, runpy; sys.argv = ['xxgk', 'validate', sys.argv[1]]; from xxgk import cli\n"
                 "try: cli.main(sys.argv[1:])\nexcept SystemExit: pass\n"
                 f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
        loaded = subprocess.run([py, "-c", probe, str(one)], capture_output=True, text=True).stdout.strip().splitlines()
    print(f"| command | median | baseline | baseline median | difference | ratio |")
    print("|---|---:|---|---:|---:|---:|")
    print(f"| xxgk --help | {helps[0] * 1000:.0f} ms | python -c pass | {helps[1] * 1000:.0f} ms | "
          f"{(helps[0] - helps[1]) * 1000:+.0f} ms | {helps[0] / helps[1]:.1f}x |")
    print(f"| xxgk validate one.xlsx | {validates[0] * 1000:.0f} ms | python -c (calamine, 5 sheets) | "
          f"{validates[1] * 1000:.0f} ms | {(validates[0] - validates[1]) * 1000:+.0f} ms | {validates[0] / validates[1]:.1f}x |")
    print(f"\n{args.repeat} runs each, alternating, median. Goals: --help <= +20 ms; validate <= 3x.")
    print(f"heavy modules imported by `xxgk validate`: {loaded[-1] if loaded and loaded[-1] else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
