"""What local rules cost `validate`, next to a baseline measured in the same run.

    python benchmarks/local_rules.py [--repeat 200]

It writes two copies of the bundled 2022 example as workbooks with the project's own code: a plain
one, and one built as `distribute --rules` builds it (the example local rule file embedded). Then it
measures, per call, `load` + `validate` of each (the baseline is the plain workbook), and `validate`
of the example JSON with the local file given as `--rules` gives it. No figure is asserted: this prints.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from xxgk.localrules import read_local
from xxgk.report import load
from xxgk.resources import data_dir
from xxgk.schema import load_schema
from xxgk.template import build_workbook, cached_sums, reproducible_bytes
from xxgk.validate import validate


def per_call(function, repeat: int) -> float:
    function()  # warm: caches, imports
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    examples = data_dir("examples")
    source = examples / "made-up-qingfeng-2022.json"
    local = read_local(examples / "local-rules" / "local-rules-example.json")
    values = load_schema().flatten(load(source).document)
    with tempfile.TemporaryDirectory() as folder:
        plain, carrying = Path(folder) / "plain.xlsx", Path(folder) / "carrying.xlsx"
        plain.write_bytes(reproducible_bytes(build_workbook(values), cached_sums(values)))
        carrying.write_bytes(reproducible_bytes(build_workbook(values, local=(local,)), cached_sums(values)))
        base = per_call(lambda: validate(load(plain)), args.repeat)
        embedded = per_call(lambda: validate(load(carrying)), args.repeat)
    report = load(source)
    json_base = per_call(lambda: validate(report), args.repeat)
    json_local = per_call(lambda: validate(report, local=(local,)), args.repeat)
    print(f"load + validate, plain workbook (baseline):          {base:7.2f} ms")
    print(f"load + validate, workbook carrying the example rules: {embedded:7.2f} ms ({embedded / base:.2f}x)")
    print(f"validate of the JSON example (baseline):             {json_base:7.2f} ms")
    print(f"validate of the JSON example with --rules:           {json_local:7.2f} ms ({json_local / json_base:.2f}x)")


if __name__ == "__main__":
    main()
