"""`xxgk demo`: the whole idea in one run, on the bundled examples."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

from .cli import print_findings
from .errors import XxgkError
from .output import write_atomic
from .report import Report, load
from .resources import data_dir
from .template import build, fill
from .text import display_path
from .validate import validate


def _prior_of(report: Report, reports: list[Report]) -> Report | None:
    for other in reports:
        if other.agency == report.agency and isinstance(report.year, int) and other.year == report.year - 1:
            return other
    return None


def _writable_folder(folder: Path) -> None:
    """Create the output folder and make sure a file can be written in it, before anything is printed:
    XxgkError (exit 2) naming the folder and suggesting `-o`, not an OSError, when it cannot."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = ("同名的文件已存在，不是文件夹" if isinstance(exc, FileExistsError) or folder.is_file()
                  else "路径中有一级不是文件夹" if isinstance(exc, NotADirectoryError)
                  else "没有写入权限" if isinstance(exc, PermissionError)
                  else "文件系统是只读的" if exc.errno == errno.EROFS
                  else "无法在此处创建文件或文件夹" if isinstance(exc, FileNotFoundError)
                  else exc.strerror or str(exc))
        raise XxgkError(f"无法在这个文件夹中写入示例文件（{reason}）。请用 -o 指定另一个可以写入的文件夹，"
                        "例如：xxgk demo -o ~/xxgk-demo", path=display_path(folder)) from None


def run(folder: Path) -> int:
    _writable_folder(folder)
    examples = [load(p) for p in sorted(data_dir("examples").glob("*.json"))]
    template = write_atomic(folder / "空白模板.xlsx", build())
    print(f"空白模板：{display_path(template)}\n")
    print("每个示例先作为 JSON 文档校验，再填入模板、从工作簿读回后校验（模板中的合计是公式，由明细自动计算）。\n")
    for report in examples:
        prior = _prior_of(report, examples)
        print(f"━━ {report.agency} {report.year} 年（{report.path.name}）" + (f"，对照上年报告 {prior.path.name}" if prior else ""))
        result = validate(report, prior)
        print(f"  文档校验：{result.summary()}")
        print_findings(result, indent="    ")
        target = folder / (report.path.stem + ".xlsx")
        write_atomic(target, fill(report))
        workbook = validate(load(target), prior)
        print(f"  工作簿 {display_path(target)}：{workbook.summary()}")
        if {f.message for f in workbook.findings} != {f.message for f in result.findings}:
            print_findings(workbook, indent="    ")
        fixed = {f.rule for f in result.findings} - {f.rule for f in workbook.findings}
        if fixed:
            print(f"    （{'、'.join(sorted(fixed))} 的问题在工作簿中已由合计公式消除；其余问题仍需填报人改正）")
        elif workbook.findings:
            print("    （问题与文档校验相同，需填报人改正）")
        print()
    print(f"示例工作簿在 {display_path(folder)}/ 中，可用 Excel、WPS 或 LibreOffice 打开查看。")
    print("校验自己的文件：xxgk validate 报告.xlsx [--prior 上年报告.xlsx]")
    return 0
