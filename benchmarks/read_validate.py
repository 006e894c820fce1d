"""Cost of reading and validating one filled workbook, next to a bare python-calamine read of the same file.

    python benchmarks/read_validate.py [--repeat 200]

Both are measured in this process on the same file (made by the project's own `fill`), warm, as
the median of many runs. Two files: one as `fill` writes it (totals are formulas without saved
values, so the reader recomputes them) and one as a spreadsheet saves it, simulated by filling
every fact as a plain value.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from python_calamine import CalamineWorkbook

import xxgk
from xxgk.resources import data_dir
from xxgk.schema import load_schema
from xxgk.template import build


def bare_calamine(path: Path) -> None:
    book = CalamineWorkbook.from_filelike(io.BytesIO(path.read_bytes()))
    for name in book.sheet_names:
        book.get_sheet_by_name(name).to_python(skip_empty_area=False)


def load_and_validate(path: Path) -> None:
    xxgk.validate(xxgk.load(path))


def median_ms(fn, path: Path, repeat: int) -> float:
    fn(path)  # warm caches (schema, rules, layout are loaded once per process)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    document = xxgk.load(data_dir("examples") / "made-up-qingfeng-2021.json")
    with tempfile.TemporaryDirectory() as tmp:
        formulas = Path(tmp) / "formulas.xlsx"
        formulas.write_bytes(xxgk.fill(document))
        values = Path(tmp) / "values.xlsx"
        values.write_bytes(_values_only(document))
        print(f"{'file':<34}{'calamine read':>15}{'xxgk load+validate':>21}{'extra':>9}")
        for label, path in (("filled by fill (formulas, no cache)", formulas), ("all values saved", values)):
            base = median_ms(bare_calamine, path, args.repeat)
            ours = median_ms(load_and_validate, path, args.repeat)
            print(f"{label:<34}{base:>12.2f} ms{ours:>18.2f} ms{ours - base:>6.2f} ms")
    return 0


def _values_only(report) -> bytes:
    """A workbook whose totals are stored values, as Excel saves one (build() with formulas swapped out)."""
    import openpyxl

    from xxgk.layout import load_layout

    wb = openpyxl.load_workbook(io.BytesIO(build(load_schema().flatten(report.document))))
    for fact_id, (sheet, row, col) in load_layout().cells.items():
        if fact_id in report.facts:
            wb[sheet].cell(row, col).value = report.facts[fact_id]
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(main())
