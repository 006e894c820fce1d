"""`xxgk audit` on a folder of published reports, next to baselines measured in the same run.

    python benchmarks/audit.py [--bodies 250] [--years 2021 2022 2023 2024] [--jobs 2] [--keep DIR]

It publishes bodies x years reports (default 250 x 4 = 1,000) with the project's own publish code
(half Word, half web page; each distinct report published once, then renamed per body): the bundled examples scaled by a factor per body and renamed, year 2021 from
the 2021 example and later years from the 2022 one (so every chain has the examples' cross-year slip).
Then it measures:
  * `xxgk audit FOLDER --html … --format json -q --jobs N` (a subprocess, as a user runs it): wall time,
    reports/s, peak memory of any of its processes;
  * the floor, in this process: `import_report` on every file, one after another (one process);
  * the same plus `validate` of each report alone (what a loop over `xxgk import` would do, minus starts).
No figure is asserted: this prints, the README keeps the numbers.

    python benchmarks/audit.py --per-file [--pages 1000] [--pdfs 100]

instead measures the import of one published file against the parsing library alone, in this process,
one file after another: web pages (`import_report` against the standard library's HTMLParser fed the
same decoded page, doing nothing) and PDFs made by LibreOffice from the published Word file
(`import_report` against pdfplumber opening the file and reading every page's characters and lines,
which the reader needs at least). Per-file milliseconds and the ratio.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from xxgk.importer import import_report
from xxgk.publish import docx_bytes, html_bytes
from xxgk.report import from_document
from xxgk.resources import data_dir
from xxgk.schema import load_schema
from xxgk.validate import validate


def scaled(document: dict, factor: int, agency: str, year: int) -> dict:
    """Every count and amount times `factor` (every rule is linear), under another agency and year."""
    schema = load_schema()
    flat = schema.flatten(copy.deepcopy(document))
    for fact_id, value in flat.items():
        if schema.facts[fact_id].kind in ("count", "amount"):
            flat[fact_id] = value * factor
    flat["agency"], flat["year"] = agency, year
    return schema.nest(flat)


def renamed(data: bytes, replacements: list[tuple[str, str]], docx: bool) -> bytes:
    """The same published file with strings replaced (in every part of a Word file: a zip-level edit,
    since making a .docx takes about a second and 1,000 of them would take a quarter of an hour)."""
    def swap(body: bytes) -> bytes:
        for old, new in replacements:
            body = body.replace(old.encode(), new.encode())
        return body

    if not docx:
        return swap(data)
    source, buffer = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info, swap(source.read(info)))
    return buffer.getvalue()


PLACEHOLDER = "占位街道（基准）"


def make_folder(folder: Path, bodies: int, years: list[int]) -> list[Path]:
    """Each (factor, year, format) is published once under a placeholder name, then copied per body
    with its own name; the title is put in the official order "<机关><年度>年…" (issue 11 item 6)
    whatever order publish uses today."""
    examples = {name: json.loads((data_dir("examples") / f"{name}.json").read_text(encoding="utf-8"))
                for name in ("made-up-qingfeng-2021", "made-up-qingfeng-2022")}
    made: dict[tuple[int, int, bool], bytes] = {}
    paths = []
    for b in range(bodies):
        agency = f"第{b + 1}街道（基准）"
        for k, year in enumerate(years):
            factor, docx = 1 + b % 7, (b + k) % 2 == 0
            key = (factor, year, docx)
            if key not in made:
                source = examples["made-up-qingfeng-2021" if k == 0 else "made-up-qingfeng-2022"]
                report = from_document(scaled(source, factor, PLACEHOLDER, year))
                made[key] = docx_bytes(report) if docx else html_bytes(report)
            title = (f"{year}年{PLACEHOLDER}政府信息公开", f"{PLACEHOLDER}{year}年政府信息公开")
            data = renamed(made[key], [title, (PLACEHOLDER, agency)], docx)
            path = folder / f"{year}" / f"{agency}{year}.{'docx' if docx else 'html'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths.append(path)
    return paths


def _median_ms(seconds: list[float]) -> float:
    return sorted(seconds)[len(seconds) // 2] * 1000


def per_file(pages: int, pdfs: int) -> None:
    """Import of published web pages and PDFs, per file, against the parsing library alone."""
    from html.parser import HTMLParser

    from xxgk.importer import _decode
    from xxgk.pdfout import docx_to_pdf

    class Nothing(HTMLParser):  # the library's own tokenizer, no handler doing anything
        pass

    source = json.loads((data_dir("examples") / "made-up-qingfeng-2022.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = {f: html_bytes(from_document(scaled(source, f, PLACEHOLDER, 2022))) for f in range(1, 8)}
        html_paths = []
        for i in range(pages):
            path = folder / f"page{i:04d}.html"
            path.write_bytes(renamed(made[1 + i % 7], [(PLACEHOLDER, f"第{i + 1}街道（基准）")], False))
            html_paths.append(path)
        pdf_made = [docx_to_pdf(docx_bytes(from_document(scaled(source, f, f"第{f}街道（基准）", 2022))))
                    for f in range(1, 5)]  # LibreOffice takes seconds per file: four distinct ones, copied
        pdf_paths = []
        for i in range(pdfs):
            path = folder / f"report{i:03d}.pdf"
            path.write_bytes(pdf_made[i % len(pdf_made)])
            pdf_paths.append(path)

        def html_library(path: Path) -> None:
            parser = Nothing(convert_charrefs=True)
            parser.feed(_decode(path.read_bytes(), path))
            parser.close()

        def pdf_library(path: Path) -> None:
            import pdfplumber

            with pdfplumber.open(io.BytesIO(path.read_bytes())) as pdf:
                for page in pdf.pages:
                    page.chars, page.edges

        def ours(path: Path) -> None:
            import_report(path)

        print("| files | count | parsing library alone | import_report | ratio |")
        print("|---|---:|---:|---:|---:|")
        for label, paths, library in (("web pages (.html)", html_paths, html_library), ("PDF", pdf_paths, pdf_library)):
            if not paths:
                continue
            library(paths[0]), ours(paths[0])  # imports and caches warm
            base, mine = [], []
            for path in paths:  # alternating, so that a busy machine weighs on both alike
                t0 = time.process_time()
                library(path)
                t1 = time.process_time()
                ours(path)
                t2 = time.process_time()
                base.append(t1 - t0)
                mine.append(t2 - t1)
            print(f"| {label} | {len(paths):,} | {_median_ms(base):.1f} ms | {_median_ms(mine):.1f} ms | "
                  f"{sum(mine) / sum(base):.2f}x |")
        print("\nCPU time per file (median), one process; ratio of the totals.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-file", action="store_true", help="instead: per-file import against the parsing library")
    ap.add_argument("--pages", type=int, default=1000, help="with --per-file: web pages")
    ap.add_argument("--pdfs", type=int, default=100, help="with --per-file: PDFs")
    ap.add_argument("--bodies", type=int, default=250)
    ap.add_argument("--years", type=int, nargs="+", default=[2021, 2022, 2023, 2024])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", help="write the reports here and keep them (default: a temporary folder)")
    args = ap.parse_args()
    if args.per_file:
        per_file(args.pages, args.pdfs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "reports"
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        paths = make_folder(folder, args.bodies, args.years)
        made = time.perf_counter() - t0
        n = len(paths)
        print(f"{n} 份已发布的报告（{args.bodies} 个机关 × {len(args.years)} 年，.docx 与 .html 各半），生成用时 {made:.1f} 秒")

        page = Path(tmp) / "抽查.html"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "xxgk.cli", "audit", str(folder), "--html", str(page),
                               "--format", "json", "-q", "--jobs", str(args.jobs)], capture_output=True)
        audit_s = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        data = json.loads(proc.stdout)
        s = data["summary"]
        print(f"xxgk audit --jobs {args.jobs}：{audit_s:.2f} 秒，{n / audit_s:.0f} 份/秒，峰值内存 {peak_mb:.0f} MB，"
              f"退出码 {proc.returncode}；通过 {s['valid']}、有警告 {s['warnings']}、有错误 {s['invalid']}、"
              f"无法读取 {s['unreadable']}，跨年度核对 {s['cross_year']} 份；网页 {page.stat().st_size / 2**20:.1f} MB")

        t0 = time.perf_counter()
        reports = [import_report(p)[0] for p in paths]
        import_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for report in reports:
            validate(report)
        validate_s = time.perf_counter() - t0
        floor = import_s + validate_s
        print(f"基准（本进程，单进程）：import_report 逐个读入 {import_s:.2f} 秒；再逐个单独校验 {validate_s:.2f} 秒；"
              f"合计 {floor:.2f} 秒")
        print(f"xxgk audit ÷ 单进程读入：{audit_s / import_s:.2f} 倍；÷ 单进程读入并校验：{audit_s / floor:.2f} 倍")


if __name__ == "__main__":
    main()
