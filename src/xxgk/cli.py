"""The `xxgk` command: Chinese for people on stdout/stderr, exit codes for scripts.

Exit codes: 0 fine (warnings allowed) · 1 a report has errors · 2 a file could not be read as a
report, or a bad argument · 3 an internal error (a bug: please report it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import __version__
from .errors import NotAReport, XxgkError
from .text import display_path

if TYPE_CHECKING:
    from .findings import Result


# The reader, the rules and the writer are imported when a command needs them: `xxgk --help` starts
# without them (see benchmarks/coldstart.py).
def load(*args, **kwargs):
    from .report import load as run

    return run(*args, **kwargs)


def validate(*args, **kwargs):
    from .validate import validate as run

    return run(*args, **kwargs)


def write_atomic(*args, **kwargs):
    from .output import write_atomic as run

    return run(*args, **kwargs)


# argparse's own texts in Chinese. argparse looks each up at the moment it is used, through its module
# global `_` (gettext); `_Parser` swaps in `_chinese` only while it builds, parses or formats, so other
# users of argparse in the same process (pytest, say) are left alone. A text not in the table stays
# as argparse (or a gettext catalogue) gives it. The same msgids in Python 3.11, 3.12 and 3.13.
_ARGPARSE_ZH = {
    "usage: ": "用法：",
    "positional arguments": "位置参数",
    "options": "选项",
    "optional arguments": "选项",
    "show this help message and exit": "显示本帮助并退出",
    "show program's version number and exit": "显示版本号并退出",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的选择：%(value)r（可选：%(choices)s）",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "expected one argument": "需要一个值",
    "expected at most one argument": "最多需要一个值",
    "expected at least one argument": "至少需要一个值",
    "invalid %(type)s value: %(value)r": "无效的 %(type)s 值：%(value)r",
    "ambiguous option: %(option)s could match %(matches)s": "选项 %(option)s 有歧义，可能是：%(matches)s",
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "ignored explicit argument %r": "多余的参数值 %r",
    "one of the arguments %s is required": "参数 %s 中必须给出一个",
    "unexpected option string: %s": "意外的选项：%s",
    "%(prog)s: error: %(message)s\n": "%(prog)s：参数有误：%(message)s\n",
}


def _chinese(text: str) -> str:
    return _ARGPARSE_ZH.get(text) or _ARGPARSE_GETTEXT(text)


_ARGPARSE_GETTEXT = argparse._  # type: ignore[attr-defined]


class _Chinese:
    """While active, argparse's texts come from `_ARGPARSE_ZH` (re-entrant)."""

    def __enter__(self):
        self.saved = argparse._  # type: ignore[attr-defined]
        argparse._ = _chinese  # type: ignore[attr-defined]

    def __exit__(self, *exc):
        argparse._ = self.saved  # type: ignore[attr-defined]


class _Parser(argparse.ArgumentParser):
    """argparse in Chinese; help keeps the line breaks of the examples in its epilog."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        with _Chinese():
            super().__init__(*args, **kwargs)

    def parse_args(self, *args, **kwargs):  # "unrecognized arguments" is raised here, after parse_known_args
        with _Chinese():
            return super().parse_args(*args, **kwargs)

    def parse_known_args(self, *args, **kwargs):
        with _Chinese():
            return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        with _Chinese():
            return super().format_usage()

    def format_help(self) -> str:
        with _Chinese():
            text = super().format_help()
        for heading in ("位置参数", "选项"):  # argparse puts an ASCII colon after a section's title
            text = text.replace(f"\n{heading}:\n", f"\n{heading}：\n")
        return text

    def error(self, message: str) -> None:  # argparse's own messages, but exit 2 with our prefix
        self.print_usage(sys.stderr)
        print(f"xxgk：参数有误：{message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="xxgk", description="政府信息公开工作年度报告（2021 格式）：模板、填报校验与汇总。")
    p.add_argument("--version", action="version", version=f"xxgk {__version__}", help="显示版本号并退出")
    sub = p.add_subparsers(dest="command", metavar="命令", parser_class=_Parser)
    sub.required = True

    d = sub.add_parser("demo", help="用自带示例演示：填入模板、校验并列出问题")
    d.add_argument("-o", "--output", default="xxgk-demo", help="示例工作簿写到哪个文件夹（默认 xxgk-demo）")

    t = sub.add_parser("template", help="生成空白模板")
    t.add_argument("-o", "--output", required=True, help="输出的 .xlsx 文件")
    t.add_argument("--force", action="store_true", help="覆盖已存在的、内容不同的输出文件")

    f = sub.add_parser("fill", help="把 JSON 报告文档填入模板")
    f.add_argument("document", help="报告文档（.json）")
    f.add_argument("-o", "--output", required=True, help="输出的 .xlsx 文件")
    f.add_argument("--force", action="store_true", help="覆盖已存在的、内容不同的输出文件")

    e = sub.add_parser("export", help="把填好的工作簿导出为 JSON 报告文档")
    e.add_argument("workbook", help="填好的模板（.xlsx）")
    e.add_argument("-o", "--output", help="输出的 .json 文件（默认打印到屏幕）")
    e.add_argument("--force", action="store_true", help="覆盖已存在的、内容不同的输出文件")

    v = sub.add_parser("validate", help="校验一个或多个报告（.xlsx 或 .json）")
    v.add_argument("files", nargs="+", metavar="FILE", help="报告文件")
    v.add_argument("--prior", help="上年度报告，用于跨年度核对（上年结转、现行有效件数）")
    v.add_argument("--format", choices=("text", "json"), default="text", help="输出格式（默认 text）")
    v.add_argument("--strict", action="store_true", help="未说明的警告也算不通过（见工作簿的“复核说明”表）")
    v.add_argument("--rules", action="append", metavar="LOCAL.json", help="地方规则文件（.json，见 README“地方口径：本地规则”）；可重复，在全国规则之上增加检查")
    c = sub.add_parser("consolidate", help="把各单位的报告汇总成全区合计")
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="报告文件或文件夹（在文件夹中递归查找 .xlsx 和 .json）")
    c.add_argument("-o", "--output", required=True, help="汇总工作簿（.xlsx）；同时写出同名的 .manifest.json")
    c.add_argument("--roster", help="单位名单 CSV（名称[,代码]），用来列出缺报和名单外的单位")
    c.add_argument("--agency", help="汇总报告的机关名称")
    c.add_argument("--year", type=int, help="只汇总这一年度的报告（文件夹中有多个年度时）；其他年度的文件不是本次汇总的输入，"
                                           "只报告跳过了几个，不影响汇总是否完整")
    c.add_argument("--allow-invalid", action="store_true", help="有错误的文件不计入，仍用其余文件生成汇总（并注明不完整）")
    c.add_argument("--html", help="另写一份汇总网页（单个文件，离线可看）")
    c.add_argument("--jobs", type=int, default=None, help="同时读取的进程数（默认为 CPU 核数）")
    c.add_argument("-q", "--quiet", action="store_true", help="不显示进度")
    c.add_argument("--rules", action="append", metavar="LOCAL.json", help="地方规则文件（.json，见 README“地方口径：本地规则”）；可重复，在全国规则之上增加检查")

    t2 = sub.add_parser("distribute", help="按单位名单为每个单位生成已填单位名称的模板")
    t2.add_argument("--roster", required=True, help="单位名单 CSV（名称[,代码]）")
    t2.add_argument("--year", required=True, type=int, help="报告年度，如 2024")
    t2.add_argument("-o", "--output", required=True, help="输出文件夹")
    t2.add_argument("--prior-dir", help="上年各单位定稿报告所在文件夹：带入上年结转和现行有效件数")
    t2.add_argument("--force", action="store_true", help="覆盖输出文件夹中内容不同的同名文件（如已交回的报告）")
    t2.add_argument("--strict", action="store_true", help="模板中注明：有未说明的警告时不能定稿")
    t2.add_argument("--rules", action="append", metavar="LOCAL.json",
                    help="地方规则文件（.json）；可重复。规则写入每份模板，校验表和加载项、validate、consolidate 都会执行")

    fz = sub.add_parser("finalize", help="定稿：生成带校验印记、全部锁定的报送文件")
    fz.add_argument("report", nargs="+", help="报告（.xlsx 或 .json）")
    fz.add_argument("-o", "--output", help="输出文件夹（默认与报告同一文件夹）")
    fz.add_argument("--force", action="store_true", help="覆盖已存在的、内容不同的输出文件")
    fz.add_argument("--strict", action="store_true", help="有未说明的警告时不定稿（见工作簿的“复核说明”表）")

    vf = sub.add_parser("verify", help="核验报送文件：是否定稿、定稿后是否被修改、是否通过校验")
    vf.add_argument("files", nargs="+", metavar="FILE")

    pb = sub.add_parser("publish", help="生成对外公开的年度报告（Word 或网页）")
    pb.add_argument("report", help="报告（.xlsx 或 .json）")
    pb.add_argument("-o", "--output", required=True, help="输出文件（.docx 或 .html）")
    pb.add_argument("--force", action="store_true", help="覆盖已存在的、内容不同的输出文件")
    pb.add_argument("--format", choices=("docx", "html", "pdf"), help="输出格式（默认按输出文件扩展名）")

    im = sub.add_parser("import", help="读入已发布的报告（.docx、纯文本或网页），转为报告文档或工作簿")
    im.add_argument("source", help="已发布的报告（.docx、.txt、.html）")
    im.add_argument("-o", "--output", required=True, help="输出的 .json 或 .xlsx")
    im.add_argument("--force", action="store_true", help="覆盖已存在的、内容不同的输出文件")

    au = sub.add_parser("audit", help="抽查已发布的报告：逐份读入、校验，同一机关相邻年度跨年核对，可按名单核对上级合计")
    au.add_argument("inputs", nargs="+", metavar="FOLDER", help="已发布的报告或文件夹（递归查找 .pdf、.docx、.html、.htm、.txt）")
    au.add_argument("--html", help="另写一份抽查结果网页（单个文件，离线可看）")
    au.add_argument("--format", choices=("text", "json"), default="text", help="输出格式（默认 text）")
    au.add_argument("--roster", help="单位名单 CSV（名称,上级）：核对上级报告与下级报告之和，列出未发布的单位")
    au.add_argument("--jobs", type=int, default=None, help="同时读取的进程数（默认为 CPU 核数）")
    au.add_argument("--decisions", help="复核决定文件（JSON：指纹 → 确认/排除 及理由），分开列出已确认、已排除和待复核的问题")
    au.add_argument("-q", "--quiet", action="store_true", help="不显示进度")
    au.add_argument("--rules", action="append", metavar="LOCAL.json", help="地方规则文件（.json，见 README“地方口径：本地规则”）；可重复，在全国规则之上增加检查")

    a = sub.add_parser("addin", help="Excel 加载项：文件位置、设置所用的 Python、重新生成")
    a_sub = a.add_subparsers(dest="addin_command", metavar="操作", parser_class=_Parser)
    a_sub.required = True
    ab = a_sub.add_parser("build", help="由 addin/ 中的源文件重新生成加载项 xxgk.xlam")
    ab.add_argument("-o", "--output", help="输出文件（默认 addin/xxgk.xlam）")
    a_sub.add_parser("path", help="显示已安装的加载项文件 xxgk.xlam 在哪里（安装到 Excel 时要选它）")
    ac = a_sub.add_parser("config", help="设置加载项使用的 Python（写入 Excel 加载项读取的用户配置文件）")
    ac.add_argument("--python", required=True, help="python.exe 的完整路径（装有 xxgk 的那个 Python）")
    ac.add_argument("--conf", help="配置文件（默认 %%USERPROFILE%%\\.xxgk\\xxgk.conf，即加载项读取的位置）")
    bd = sub.add_parser("bundle", help="生成内网 Windows 电脑用的离线安装包（.zip：Python 3.11–3.13 的 wheel、加载项和安装脚本）")
    bd.add_argument("-o", "--output", required=True, help="输出的 .zip 文件")
    bd.add_argument("--force", action="store_true", help="覆盖已存在的输出文件")
    bd.add_argument("--wheels", help="从这个文件夹中的 wheel 文件取依赖，不连网（如上次安装包中的 wheels 文件夹）")
    bd.add_argument("--index-url", help="软件包索引的地址（默认用 pip 的设置，通常是 pypi.org）")
    bd.add_argument("-q", "--quiet", action="store_true", help="不显示进度")
    p.epilog = _examples(["xxgk demo", "xxgk validate 报告.xlsx", "xxgk 命令 -h     （某个命令的说明和示例）"])
    for name, lines in _EXAMPLES.items():
        if name in sub.choices:
            sub.choices[name].epilog = _examples(lines)
    return p


def _examples(lines: list[str]) -> str:
    return "示例：\n" + "\n".join(f"  {line}" for line in lines)


# the examples at the end of each command's help: real runs, with the demo's files where they fit
_EXAMPLES = {
    "demo": ["xxgk demo", "xxgk demo -o 演示文件夹"],
    "template": ["xxgk template -o 空白模板.xlsx", "xxgk template -o 2024年空白模板.xlsx"],
    "fill": ["xxgk fill 报告.json -o 报告.xlsx", "xxgk fill xxgk-demo/lushan-2021.json -o 鹿山街道2021.xlsx"],
    "export": ["xxgk export 报告.xlsx -o 报告.json", "xxgk export 报告.xlsx     （打印到屏幕）"],
    "validate": ["xxgk validate 报告.xlsx", "xxgk validate 报告.xlsx --prior 上年报告.xlsx",
                 "xxgk validate --format json 收到的文件/鹿山街道.xlsx"],
    "consolidate": ["xxgk consolidate 收到的文件/ -o 区汇总.xlsx --agency 某某区人民政府",
                    "xxgk consolidate 收到的文件/ -o 区汇总.xlsx --roster 单位名单.csv --html 汇总报告.html",
                    "xxgk consolidate xxgk-demo/ --year 2021 -o 2021汇总.xlsx"],
    "distribute": ["xxgk distribute --roster 单位名单.csv --year 2024 -o 2024年模板/",
                   "xxgk distribute --roster 单位名单.csv --year 2024 -o 2024年模板/ --prior-dir 2023年定稿/",
                   "（单位名单：CSV，如 序号,单位名称,统一社会信用代码，表头可有可无）"],
    "finalize": ["xxgk finalize 报告.xlsx", "xxgk finalize 报告.xlsx -o 报送文件夹"],
    "verify": ["xxgk verify 2024年某某街道政府信息公开工作年度报告.xlsx", "xxgk verify 区汇总.xlsx"],
    "publish": ["xxgk publish 报告.xlsx -o 年度报告.docx", "xxgk publish 报告.xlsx -o 年度报告.html"],
    "import": ["xxgk import 上年报告.docx -o 上年报告.xlsx", "xxgk import 已发布的报告.html -o 报告.json"],
    "audit": ["xxgk audit 年报/", "xxgk audit 年报/ --roster 名单.csv --html 抽查结果.html",
              "xxgk audit 年报/ --format json -q"],
    "addin": ["xxgk addin path", "xxgk addin build",
              r'xxgk addin config --python "C:\Python311\python.exe"     （加载项用这个 Python）'],
    "bundle": ["xxgk bundle -o xxgk-windows.zip", "xxgk bundle -o xxgk-windows.zip --force     （重新生成）",
               "xxgk bundle -o xxgk-windows.zip --wheels 旧安装包/wheels     （不连网）"],
}


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # bare `xxgk`: the way to ask what it can do, so the help, and no error
        _parser().print_help()
        return 0
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except XxgkError as exc:
        print(f"xxgk：{exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `xxgk validate … | head`: the reader has gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("xxgk：已中断", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in xxgk: say so in one line, details only on request
        if os.environ.get("XXGK_DEBUG"):
            import traceback

            traceback.print_exc()
        print(f"xxgk：内部错误（{type(exc).__name__}: {exc}）。这是本工具的缺陷，请连同输入文件报告；"
              "设置环境变量 XXGK_DEBUG=1 可显示详细信息", file=sys.stderr)
        return 3


# -- commands -----------------------------------------------------------------


def _template(args) -> int:
    from .template import build

    from .paths import check_suffix, prepare_output

    check_suffix(args.output, (".xlsx",), "template")
    data = build()
    prepare_output(args.output, data, force=args.force, previous=_blank_template)
    path = write_atomic(args.output, data)
    print(f"已生成空白模板：{path}")
    return 0


def _blank_template(path: Path) -> bool:
    """A blank template an earlier `template` wrote: our template, holding the same facts as a blank one (none filled)."""
    from .report import load as load_report
    from .template import build

    blank = load_report(Path("blank.xlsx"), build())
    return path.suffix.lower() == ".xlsx" and load_report(path).facts == blank.facts


def _fill(args) -> int:
    from .template import fill

    from .paths import check_suffix, one_input, prepare_output

    args.document = one_input(args.document)
    check_suffix(args.output, (".xlsx",), "fill", inputs=(args.document,))
    report = load(args.document)
    if report.path and report.path.suffix.lower() != ".json":
        raise XxgkError("fill 的输入应为 JSON 报告文档（工作簿请直接校验或导出）", path=args.document)
    data = fill(report)
    result = validate(report)
    prepare_output(args.output, data, force=args.force)
    path = write_atomic(args.output, data, inputs=(Path(args.document),))
    print(f"已填入模板：{display_path(path)}")
    if result.findings:
        print(f"注意：文档本身{result.summary()}（工作簿中的合计为公式，按明细自动计算）：")
        print_findings(result, indent="  ")
    return 0


def _export(args) -> int:
    from .paths import check_suffix, one_input, prepare_output

    args.workbook = one_input(args.workbook)
    if args.output:
        check_suffix(args.output, (".json",), "export", inputs=(args.workbook,))
    report = load(args.workbook)
    text = report.to_json()
    if args.output:
        prepare_output(args.output, text.encode("utf-8"), force=args.force)
        path = write_atomic(args.output, text.encode("utf-8"), inputs=(Path(args.workbook),))
        print(f"已导出：{display_path(path)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    result = validate(report)
    if result.findings:
        print(f"提示：{display_path(args.workbook)}：{result.summary()}，详见 xxgk validate", file=sys.stderr)
    return 0


def _validate(args) -> int:
    from .paths import input_files, one_input

    from .localrules import read_locals

    local = read_locals(args.rules)
    args.files = [str(p) for p in input_files(args.files)]
    prior = load(one_input(args.prior)) if args.prior else None
    outcomes: list[tuple[str, Result | None, str | None]] = []
    show_progress = len(args.files) > 1 and sys.stderr.isatty()
    for i, name in enumerate(args.files, 1):
        if show_progress:
            print(f"\r校验 {i}/{len(args.files)} …", end="", file=sys.stderr, flush=True)
        try:
            outcomes.append((name, validate(load(name), prior, local=local, strict=args.strict), None))
        except NotAReport as exc:
            outcomes.append((name, None, exc.message))
    if show_progress:
        print(file=sys.stderr)
    if args.format == "json":
        files = []
        for name, result, error in outcomes:
            if result is None:
                files.append({"path": display_path(name), "valid": False, "error": error, "findings": []})
            else:
                files.append({**result.to_dict(), "path": display_path(name)})
        json.dump({"files": files}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for name, result, error in outcomes:
            if result is None:
                print(f"【无法读取】{display_path(name)}：{error}")
            else:
                verdict = "有错误" if not result.valid else "有未说明的警告" if not result.finalisable else "通过"
                print(f"【{verdict}】{display_path(name)}：{result.summary()}")
                print_findings(result, indent="  ")
    if any(result is None for _, result, _ in outcomes):
        return 2
    return 0 if all(result.finalisable for _, result, _ in outcomes) else 1


def _severity_label(severity: str) -> str:
    from .findings import SEVERITY_LABEL

    return SEVERITY_LABEL[severity]


def print_findings(result: Result, indent: str = "", out=None) -> None:
    """Errors and open warnings, then the explained warnings (已说明) with their explanation, then the
    explanations that no longer apply. Each finding with its fingerprint, to copy into 复核说明."""
    from .review import describe

    out = out or sys.stdout
    explained = result.explained_warnings
    for n, f in enumerate([f for f in result.findings if f not in explained], 1):
        print(f"{indent}{n}. [{_severity_label(f.severity)}] {f.message}", file=out)
        print(f"{indent}   {describe(f)}" + (f"；指纹 {f.fingerprint}" if f.fingerprint else ""), file=out)
    if explained:
        print(f"{indent}已说明的警告（{len(explained)} 处，各附说明）：", file=out)
        for n, f in enumerate(explained, 1):
            print(f"{indent}{n}. [已说明] {f.message}", file=out)
            print(f"{indent}   {describe(f)}；指纹 {f.fingerprint}", file=out)
            print(f"{indent}   说明：{result.explained[f.fingerprint]}", file=out)
    if result.lapsed:
        print(f"{indent}不再适用的说明（{len(result.lapsed)} 条，请删除或按新的指纹重新说明）：", file=out)
        for item in result.lapsed:
            where = f"“复核说明”第 {item.row} 行" if item.row else "说明"
            print(f"{indent}- {where}（指纹 {item.fingerprint}" + (f"，规则 {item.rule}" if item.rule else "")
                  + f"）：{item.reason}", file=out)
    if result.strict and result.open_warnings:
        print(f"{indent}按要求（--strict 或模板设定），{len(result.open_warnings)} 处未说明的警告须在“复核说明”表中说明理由或改正后才能定稿",
              file=out)


def _consolidate(args) -> int:
    from .consolidate import (
        INVALID, STATUS_LABEL, check_outputs, consolidate, default_jobs, discover, manifest_bytes, progress_bar,
        workbook_bytes)

    from .localrules import read_locals

    local = read_locals(args.rules)
    output = Path(args.output)
    if output.suffix.lower() != ".xlsx":
        raise XxgkError("汇总输出应为 .xlsx 文件", path=args.output)
    paths = discover(args.inputs)
    # before the long read and before anything is written: no output may destroy an input or a stranger's file
    check_outputs(output, Path(args.html) if args.html else None,
                  [*paths, *([Path(args.roster)] if args.roster else [])])
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise XxgkError("--jobs 至少为 1")
    result = consolidate(paths, agency=args.agency, roster=Path(args.roster) if args.roster else None,
                         allow_invalid=args.allow_invalid, jobs=jobs, progress=None if args.quiet else progress_bar(),
                         year=args.year, local=local)
    if result.other_years:
        skipped = "、".join(f"{y} 年 {len(v)} 个" for y, v in sorted(result.other_years.items()))
        print(f"按 --year {args.year} 只汇总 {args.year} 年的报告：跳过其他年度的文件 "
              f"{sum(map(len, result.other_years.values()))} 个（{skipped}），它们不是本次汇总的输入")
    if result.blank:
        print(f"按 --year {args.year} 跳过未填写的空白模板 {len(result.blank)} 个：{'、'.join(display_path(p) for p in result.blank)}")
    for unit in result.excluded:
        print(f"【{STATUS_LABEL[unit.status]}】{display_path(unit.path)}：{unit.reason}")
        if unit.status == INVALID:
            for finding in unit.errors[:20]:
                print(f"    [{finding.rule}·{finding.origin_label}] {finding.message}（{'、'.join(finding.cells[:3])}）")
            if len(unit.errors) > 20:
                print(f"    …另有 {len(unit.errors) - 20} 处错误，请用 xxgk validate 查看")
    if result.missing:
        print(f"名单中没有报送文件的单位（{len(result.missing)} 个）：{'、'.join(result.missing)}")
    if result.unknown:
        print(f"不在名单中的文件（{len(result.unknown)} 个）：{'、'.join(result.unknown)}")
    for line in result.warnings:
        print(f"请核实：{line}")
    if not result.writable:
        reasons = _excluded_text(result)
        print(f"未生成汇总：{reasons}。改正后重新运行，或加 --allow-invalid 只汇总通过校验的文件。")
        return 1
    # one set: a run id in every output, a lock, all written first, then renamed with the manifest last
    from .consolidate import run_id
    from .outputset import OutputSet

    outputs = OutputSet(output, Path(args.html) if args.html else None)
    page = None
    if args.html:
        from .htmlreport import html_chunks

        page = html_chunks(result)  # written piece by piece: a page for 10,000 units is tens of megabytes
    outputs.write(run_id(result), workbook_bytes(result), manifest_bytes(result, outputs.listing()), page,
                  inputs=tuple(paths), say=lambda line: print(f"注意：{line}"))
    used = len(result.used)
    print(f"已汇总 {used} 个单位（{result.year} 年）：{output}" if result.year is not None else
          f"已汇总 {used} 个单位：{output}")
    if not result.complete:
        print(f"注意：{len(result.excluded)} 个文件未计入，汇总不完整（已在工作簿“清单”中注明）")
        return 5
    return 0


def _excluded_text(result) -> str:
    from collections import Counter

    from .consolidate import STATUS_LABEL

    counts = Counter(u.status for u in result.excluded)
    parts = [f"{n} 个文件{STATUS_LABEL[s]}" for s, n in sorted(counts.items())]
    return "、".join(parts) if parts else "没有可用的输入"


def _finalize(args) -> int:
    from .finalize import NotFinalisable, finalize
    from .paths import input_files

    reports = input_files(args.report)
    code = 0
    for report in reports:
        try:
            path, result = finalize(report, args.output, force=args.force, strict=args.strict)
        except NotFinalisable as exc:
            print(f"【不能定稿】{display_path(report)}：{exc.message}")
            print_findings(exc.result, indent="  ")
            code = max(code, 1)
            continue
        except NotAReport as exc:
            if len(reports) == 1:
                raise
            print(f"【无法读取】{display_path(report)}：{exc.message}")
            code = 2
            continue
        print(f"已定稿：{display_path(path)}")
        if result.open_warnings:
            print(f"有 {len(result.open_warnings)} 处未说明的警告（不影响定稿，请核实，或在“复核说明”表中说明理由）：")
            print_findings(result, indent="  ")
        elif result.explained_warnings:
            print(f"有 {len(result.explained_warnings)} 处警告，均已说明（说明已随报告定稿）")
    return code


def _verify(args) -> int:
    from .finalize import verify
    from .schema import load_schema

    from .paths import input_files

    code = 0
    for name in input_files(args.files):
        try:
            verdict = verify(name)
        except NotAReport as exc:
            print(f"【无法读取】{display_path(name)}：{exc.message}")
            code = 2
            continue
        if not verdict.finalized:
            state = "未定稿"
        elif verdict.unchanged:
            stamp = verdict.stamp
            parts = [_beijing_time(stamp.get("finalized")), stamp.get("tool"),
                     f"规则 {stamp['ruleset']}" if stamp.get("ruleset") else None]
            shown = "，".join(str(x) for x in parts if x)
            state = f"已定稿（{shown}），定稿后未被修改" if shown else "已定稿，定稿后未被修改"
        else:
            state = "定稿后被修改"
        print(f"【{'通过' if verdict.ok else '注意'}】{display_path(name)}：{state}；{verdict.result.summary()}")
        schema = load_schema()
        for fact_id, before, now in verdict.changes[:30]:
            print(f"    {schema.describe(fact_id)}：定稿时 {_value(before)}，现在 {_value(now)}")
        if verdict.explanations_changed:
            print("    数字和文字与定稿时相同，“复核说明”表中的说明在定稿后被改动")
        elif verdict.finalized and not verdict.unchanged and not verdict.changes:
            print("    （无法判断改了哪些内容）")
        if verdict.run_id:
            print(f"    汇总运行标识 {verdict.run_id}")
        for problem in verdict.mixed:
            print(f"    汇总输出不完整：{problem}")
        if not verdict.ok and code == 0:
            code = 1
    return code


def _value(value) -> str:
    """A fact's value as a person reads it: text quoted, an empty cell as （空）, never Python's None."""
    if value is None or value == "":
        return "（空）"
    return f"「{value}」" if isinstance(value, str) else str(value)


def _beijing_time(stamp) -> str | None:
    """The stamp's time (stored in UTC, as `2024-03-01T02:00:00Z`) shown in Beijing time, for people;
    a value that is not such a time is shown as it is, a missing one not at all."""
    import datetime as dt

    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return str(stamp)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("北京时间 %Y-%m-%d %H:%M:%S")


def _publish(args) -> int:
    from .paths import check_suffix, one_input, prepare_output
    from .publish import docx_bytes, html_bytes

    args.report = one_input(args.report)
    check_suffix(args.output, (".docx", ".html", ".htm", ".pdf"), "publish", inputs=(args.report,))
    suffix = Path(args.output).suffix.lower()
    fmt = {".htm": "html", ".html": "html", ".pdf": "pdf"}.get(suffix, "docx")
    if args.format and args.format != fmt:
        raise XxgkError(f"--format {args.format} 与输出文件的扩展名 {suffix} 不符", path=args.output)
    office = None
    if fmt == "pdf":
        from .pdfout import find_soffice

        office = find_soffice()  # before any work: without LibreOffice, say so at once
    report = load(args.report)
    result = validate(report)
    if not result.valid:
        print(f"注意：报告{result.summary()}，发布前请改正（xxgk validate 列出全部问题）", file=sys.stderr)
    if fmt == "html":
        data = html_bytes(report)
    elif fmt == "pdf":
        from .pdfout import docx_to_pdf

        data = docx_to_pdf(docx_bytes(report), office)
    else:
        data = docx_bytes(report)
    # a PDF carries its creation time: replacing an existing one always needs --force
    prepare_output(args.output, data, force=args.force)
    path = write_atomic(args.output, data, inputs=(Path(args.report),))
    print(f"已生成{ {'html': '网页', 'pdf': ' PDF 文件', 'docx': ' Word 文档'}[fmt] }：{display_path(path)}")
    return 0


def _import(args) -> int:
    from .importer import import_report
    from .paths import check_suffix, one_input, prepare_output

    args.source = one_input(args.source)
    check_suffix(args.output, (".json", ".xlsx"), "import", inputs=(args.source,))
    report, problems = import_report(Path(args.source))
    for line in problems:
        print(f"读取问题：{line}", file=sys.stderr)
    if args.output.lower().endswith(".xlsx"):
        from .template import fill

        data = fill(report)
    elif args.output.lower().endswith(".json"):
        data = report.to_json().encode("utf-8")
    else:
        raise XxgkError("输出应为 .json 或 .xlsx 文件", path=args.output)
    prepare_output(args.output, data, force=args.force)
    path = write_atomic(args.output, data, inputs=(Path(args.source),))
    result = validate(report)
    missing = "、".join(w for w, v in (("机关名称", report.agency), ("年度", report.year)) if not v)
    who = f" {report.agency} {report.year} 年的报告" if not missing else f"报告（{missing}未能读出）"
    print(f"已读入{who}：{display_path(path)}（{result.summary()}）")
    print_findings(result, indent="  ")
    return 0 if result.valid else 1


def _audit(args) -> int:
    from .audit import audit, check_output, discover, report_line, summary_lines, to_dict
    from .consolidate import default_jobs, progress_bar

    from .localrules import read_locals

    local = read_locals(args.rules)
    paths = discover(args.inputs)
    roster = Path(args.roster) if args.roster else None
    if args.html:  # before the long read: the page never lands on an input or a stranger's file
        check_output(Path(args.html), [*paths, *([roster] if roster else []),
                                       *([Path(args.decisions)] if args.decisions else [])])
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise XxgkError("--jobs 至少为 1")
    decisions = None
    if args.decisions:  # before the long read: a bad decisions file stops at once
        from .review import read_decisions

        decisions = read_decisions(args.decisions)
    result = audit(paths, roster=roster, jobs=jobs,
                   progress=None if args.quiet or len(paths) < 2 else progress_bar(), local=local)
    if decisions is not None:
        result.apply_decisions(decisions)
    if args.html:
        from .audithtml import html_bytes

        page = write_atomic(args.html, html_bytes(result), inputs=tuple(paths))
        print(f"已写出抽查网页：{display_path(page)}", file=sys.stderr)
    if args.format == "json":
        json.dump(to_dict(result), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for item in result.reports:
            print(report_line(item, reviewing=decisions is not None))
        for line in summary_lines(result):
            print(line)
    return result.exit_code()


def _distribute(args) -> int:
    from .distribute import distribute
    from .localrules import read_locals

    local = read_locals(args.rules)
    result = distribute(Path(args.roster), args.year, Path(args.output),
                        Path(args.prior_dir) if args.prior_dir else None, overwrite=args.force, local=local,
                        strict=args.strict)
    for item in result:
        print(f"{item.path}：{item.note}")
    for line in result.warnings:
        print(f"注意：{line}", file=sys.stderr)
    print(f"已生成 {len(result)} 份模板：{args.output}")
    for raw in local:
        print(f"每份模板已带入地方规则：{raw['issuer']}（{raw['year']} 年，{len(raw['rules'])} 条）")
    return 0


def _addin(args) -> int:
    from .addin import addin_path, build, write_interpreter

    if args.addin_command == "config":
        conf, python = write_interpreter(args.python, args.conf)
        print(f"已设置加载项使用的 Python：{python}（写入 {conf}）。在 Excel 中点“校验”即用它。")
        return 0
    if args.addin_command == "path":
        if not addin_path().is_file():
            raise XxgkError("没有找到加载项文件 xxgk.xlam（请用 xxgk addin build 生成）")
        print(addin_path())
        return 0
    try:
        data = build()
    except ImportError:
        raise XxgkError('生成加载项需要 pyOpenVBA：pip install -e ".[addin]"') from None
    path = write_atomic(args.output or addin_path(), data)
    print(f"已生成加载项：{path}")
    return 0


def _bundle(args) -> int:
    from .bundle import build
    from .paths import check_suffix, prepare_output

    check_suffix(args.output, (".zip",), "bundle")
    if args.wheels and args.index_url:
        raise XxgkError("--wheels 与 --index-url 只能给一个")
    output = prepare_output(args.output, None, force=args.force)
    start = time.monotonic()
    say = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    made = build(output, wheels=Path(args.wheels) if args.wheels else None, index_url=args.index_url, progress=say)
    print(f"已生成离线安装包：{output}（{len(made['wheels'])} 个 wheel，{made['bytes'] / 2**20:.1f} MB，"
          f"用时 {time.monotonic() - start:.0f} 秒）。把它复制到内网电脑，解压后双击 安装.bat")
    return 0


def _demo(args) -> int:
    from .demo import run

    return run(Path(args.output))


_COMMANDS = {"addin": _addin, "audit": _audit, "bundle": _bundle, "consolidate": _consolidate, "demo": _demo, "distribute": _distribute,
             "finalize": _finalize, "verify": _verify, "publish": _publish, "import": _import, "template": _template, "fill": _fill, "export": _export, "validate": _validate}

if __name__ == "__main__":
    sys.exit(main())
