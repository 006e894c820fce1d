"""Writing a district total's 明细 sheet: 10,000 units, every figure a column, streamed as XML.

    python benchmarks/detail_sheet.py [--units 10000]

Measures, in one process on the same rows (ids, Chinese names, one row per unit, the total):
  * the 明细 writer (`totalsheets.detail_sheet`: styles, widths, hidden id row, page setup), XML only;
  * the same XML deflated as the workbook's zip stores it (level 6, as `reproducible_bytes`);
  * baseline: a plain per-cell writer (one f-string per cell, no styles), as the sheet was written before;
  * baseline: openpyxl's write_only mode on a sample of rows, extrapolated to all units.
Target: the 明细 writer < 0.5 s for 10,000 units.
"""

from __future__ import annotations

import argparse
import random
import time
import zlib
from xml.sax.saxutils import escape

from openpyxl import Workbook

from xxgk.consolidate import DETAIL_KEYS, numeric_facts
from xxgk.layout import a1
from xxgk.schema import load_schema
from xxgk.totalsheets import DETAIL_HEADERS, detail_sheet


def rows(units: int) -> list[list]:
    schema, facts = load_schema(), list(numeric_facts())
    rng = random.Random(13)
    out = [[*DETAIL_KEYS, *facts], [DETAIL_HEADERS[k] for k in DETAIL_KEYS] + [schema.describe(f) for f in facts]]
    for i in range(units):
        out.append([1, f"某区第{i + 1}单位（虚构）", f"11330100MB{i:08d}", f"单位{i + 1}.xlsx", f"{i:064x}", "通过"]
                   + [rng.choice((0, 0, 0, 0, 1, 2, 3, 12, 150)) for _ in facts])
    out.append(["", "合计（只计第 1 层中通过的单位）", "", "", "", ""] + [sum(r[6 + k] for r in out[2:]) for k in range(len(facts))])
    return out


def plain(data: list[list]):
    """The earlier writer's way: one f-string per cell, no styles."""
    letters = [a1(1, c + 1)[:-1] for c in range(len(data[0]))]
    for r, row in enumerate(data, 1):
        cells = []
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            ref = f"{letters[c]}{r}"
            if isinstance(value, (int, float)):
                cells.append(f'<c r="{ref}"><v>{value!r}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>')
        yield f'<row r="{r}">{"".join(cells)}</row>'.encode()


def timed(make) -> tuple[float, int]:
    start = time.perf_counter()
    size = sum(len(chunk) for chunk in make())
    return time.perf_counter() - start, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--openpyxl-sample", type=int, default=500)
    args = parser.parse_args()
    data = rows(args.units)
    cells = sum(len(r) for r in data)
    print(f"明细：{args.units:,} 个单位 × {len(data[0]):,} 列 = {cells:,} 个单元格")

    wb = Workbook()
    wb.create_sheet("明细")
    writer, size = timed(lambda: detail_sheet(wb, "明细", iter(data)))
    print(f"  明细 writer (XML, styled)      {writer:6.2f} s   {size / 1e6:6.1f} MB   target < 0.5 s")

    def deflated():
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        for chunk in detail_sheet(wb, "明细", iter(data)):
            yield packer.compress(chunk)
        yield packer.flush()

    packed, zsize = timed(deflated)
    print(f"  writer + deflate (as saved)    {packed:6.2f} s   {zsize / 1e6:6.1f} MB")
    base, bsize = timed(lambda: plain(data))
    print(f"  baseline: plain per-cell XML   {base:6.2f} s   {bsize / 1e6:6.1f} MB   writer/baseline = {writer / base:.2f}")

    sample = data[:args.openpyxl_sample]
    start = time.perf_counter()
    book = Workbook(write_only=True)
    ws = book.create_sheet("明细")
    for row in sample:
        ws.append(row)
    import io
    book.save(io.BytesIO())
    per_row = (time.perf_counter() - start) / len(sample)
    print(f"  baseline: openpyxl write_only  {per_row * len(data):6.2f} s   (sample of {len(sample)} rows, extrapolated)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
