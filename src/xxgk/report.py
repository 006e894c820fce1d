"""A report document, loaded from JSON or from a filled workbook; the one object every command works on."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotAReport
from .rules import whole
from .schema import load_schema
from .text import CONTROL, display_path

_REPORT_KEYS = {"format", "proactive", "applications", "reviews"}  # agency and year alone are not a report

# No report comes near this: a filled workbook is under 100 KB, a district total with its 明细 a few
# MB, and the workbook reader refuses more than 256 MB unpacked. Checked before anything is read.
MAX_INPUT_BYTES = 256 * 2**20
# The schema nests five levels deep; anything far deeper is not a report (and would exhaust the stack
# of json, jsonschema or the writers).
MAX_JSON_DEPTH = 32
# Longer number literals are not figures of a report (and Python refuses ints over 4300 digits).
MAX_NUMBER_CHARS = 100


@dataclass
class Report:
    """The nested document (`document`), its facts by id (`facts`), and where it came from.

    `derived` lists the template's sum cells of a workbook: their value stands for the cells they
    sum, and is None when those are not all numbers (see `workbook._resolve_totals`).
    `prior_hints`: last year's figures written into the template when it was sent out (e.g. the
    stock of documents in force), used for the cross-year rules when no last-year file is given.
    """

    document: dict
    path: Path | None = None
    sha256: str | None = None
    derived: frozenset[str] = field(default_factory=frozenset)
    prior_hints: dict[str, Any] = field(default_factory=dict)  # last year's figures the template carries
    canonical: bool = False  # built by this package from fact values: holds nothing but facts
    sheet_names: tuple[str, ...] = ()  # a workbook's sheets
    sheet_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # a workbook's sheets: last row, column
    identity: dict[str, Any] = field(default_factory=dict)  # a workbook's identity sheet, key -> value
    # "published": read from a published document by `importer.import_report`. Its blanks are what the body
    # printed (or did not state), not cells a clerk forgot, and the findings say so.
    source: str = "filled"
    # Published reports: what the table printed where a number belongs and none was given, by fact id
    # ("" blank, "/", "-", "——", "不适用"); filled by the importer where it knows, else the findings say "没有数字".
    marks: dict[str, str] = field(default_factory=dict)
    # a workbook's 复核说明 sheet: the clerk's explanations of warnings (review.Explanation), see `review`
    explanations: list = field(default_factory=list)

    @property
    def facts(self) -> dict[str, Any]:
        if not hasattr(self, "_facts"):
            self._facts = load_schema().flatten(self.document)
        return self._facts

    @property
    def agency(self) -> Any:
        return self.facts.get("agency")

    @property
    def year(self) -> Any:
        return self.facts.get("year")

    def to_json(self) -> str:
        """The document; a workbook's 复核说明 goes with it as "explanations" (see `review.from_document`)."""
        from .review import DOCUMENT_KEY

        document = self.document
        if self.explanations and DOCUMENT_KEY not in document:
            document = {**document, DOCUMENT_KEY: [e.to_document() for e in self.explanations]}
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _document(report: Report) -> dict:
    document = report.__dict__.get("_document")
    if document is None and "_facts" in report.__dict__:  # read from cells: nested when first asked for
        document = report.__dict__["_document"] = load_schema().nest(report.__dict__["_facts"])
    return document


def _set_document(report: Report, document: dict | None) -> None:
    report.__dict__["_document"] = document


# A workbook's reader keeps the facts flat (most commands need only those); the nested document is built
# from them on first use. Set after the dataclass is made, so that its __init__ goes through the setter.
Report.document = property(_document, _set_document, doc="The nested report document.")  # type: ignore[assignment]


def from_document(document: Any, path: Path | None = None, sha256: str | None = None) -> Report:
    if not isinstance(document, dict) or not (_REPORT_KEYS & set(document)):
        raise NotAReport("不是政府信息公开工作年度报告文档（缺少 format、agency、year 及各表）",
                         path=display_path(path) if path else None)
    year = document.get("year")
    if whole(year) is not year:
        document = {**document, "year": whole(year)}  # 2021.0 is the year 2021, as in a workbook's cell
    from . import review

    return Report(document, path, sha256, explanations=review.from_document(document.get(review.DOCUMENT_KEY)))


def without_controls(text: str) -> str:
    """Text as a workbook or Word file can hold it: what every writer puts in a file.

    A Word soft line break or page break (\\v, \\f) becomes a line break; the other characters of
    `text.CONTROL` are dropped. `validate` reports such characters as errors, so a report holding them
    is never finalised; writers of drafts (fill, publish, import) write the text without them.
    """
    return CONTROL.sub(lambda m: "\n" if m.group() in "\v\f" else "", text)


def _json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text)
    return int(text)


def _json_float(text: str) -> int | float | str:
    """A JSON number with a fraction or exponent, read as the workbook reader reads a cell: a whole
    number (2021.0) is an int, so a year written `2021.0` is the year 2021 whichever file holds it.
    Numbers beyond a float (1e400) are kept as text, like NaN and Infinity, so the type check names them."""
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text)
    value = float(text)
    return whole(value) if math.isfinite(value) else text


class _NumberTooLong(ValueError):
    pass


def _shape_problem(document: Any) -> str | None:
    """Why a parsed JSON document cannot be a report however its fields read, or None.

    Containers nested deeper than MAX_JSON_DEPTH (they would exhaust the stack of jsonschema or the
    writers), and text holding half of a UTF-16 surrogate pair (`"\\ud800"` is valid JSON syntax but
    no character: no file can be written with it). Iterative, so no depth can exhaust the stack here.
    """
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return "JSON 中有无效的字符（单独的 UTF-16 代理项，如 \\ud800），文件可能已损坏"
            continue
        if isinstance(node, dict):
            children = [*node, *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return f"JSON 嵌套层次过深（超过 {MAX_JSON_DEPTH} 层），不是年度报告文档"
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, str)))
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def read_json(path: Path, data: bytes) -> Report:
    shown = display_path(path)
    try:
        # NaN and Infinity are not JSON numbers: kept as text, so the type check names them
        document = json.loads(data.decode("utf-8-sig"), parse_constant=str, parse_int=_json_int,
                              parse_float=_json_float)
    except UnicodeDecodeError:
        raise NotAReport("不是 UTF-8 编码的 JSON 文件", path=shown) from None
    except json.JSONDecodeError as exc:
        raise NotAReport(f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）", path=shown) from None
    except RecursionError:
        raise NotAReport(f"JSON 嵌套层次过深（超过 {MAX_JSON_DEPTH} 层），不是年度报告文档", path=shown) from None
    except _NumberTooLong as exc:
        raise NotAReport(f"JSON 中有位数过多的数字（{len(exc.args[0])} 位，以「{exc.args[0][:12]}」开头），"
                         "不是年度报告的数据", path=shown) from None
    problem = _shape_problem(document)
    if problem:
        raise NotAReport(problem, path=shown)
    return from_document(document, path, hashlib.sha256(data).hexdigest())


def read_input(path: str | os.PathLike) -> bytes:
    """A report file's bytes, or NotAReport saying in Chinese why it cannot be read.

    Every command reads its input files here. Only a regular file is read, and only when its size is
    plausible for a report: a FIFO or a device named `.xlsx` would block or never end, a huge (even
    sparse) file would be read whole into memory. The file is opened without blocking and checked
    again once open, so a FIFO swapped in after the first look cannot hang the command either.
    """
    path = Path(path)
    shown = display_path(path)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise NotAReport("文件不存在", path=shown) from None
    except OSError as exc:
        raise NotAReport(_os_reason(exc), path=shown) from None
    _check_kind(info, shown)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise NotAReport("文件不存在", path=shown) from None
    except IsADirectoryError:
        raise NotAReport("这是一个文件夹，不是报告文件", path=shown) from None
    except OSError as exc:
        raise NotAReport(_os_reason(exc), path=shown) from None
    try:
        _check_kind(os.fstat(fd), shown)  # the file actually opened, not the one looked at
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks, size = [], 0
        while size <= MAX_INPUT_BYTES:  # a file that grows while being read is cut off too
            chunk = os.read(fd, min(2**20, MAX_INPUT_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise NotAReport(_os_reason(exc), path=shown) from None
    finally:
        os.close(fd)
    if size > MAX_INPUT_BYTES:
        raise NotAReport(_too_large(size), path=shown)
    return b"".join(chunks)


def _check_kind(info: os.stat_result, shown: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise NotAReport("这是一个文件夹，不是报告文件", path=shown)
    if not stat.S_ISREG(info.st_mode):
        kind = ("命名管道（FIFO）" if stat.S_ISFIFO(info.st_mode) else "设备文件" if stat.S_ISCHR(info.st_mode)
                or stat.S_ISBLK(info.st_mode) else "套接字" if stat.S_ISSOCK(info.st_mode) else "特殊文件")
        raise NotAReport(f"这是{kind}，不是普通文件，不能作为报告读取", path=shown)
    if info.st_size > MAX_INPUT_BYTES:
        raise NotAReport(_too_large(info.st_size), path=shown)


def _too_large(size: int) -> str:
    return (f"文件过大（{size / 2**20:,.0f} MB），报告文件不会超过 {MAX_INPUT_BYTES // 2**20} MB，"
            "未读取：请确认选对了文件")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "没有读取这个文件的权限"
    return f"无法读取文件（{exc.strerror or exc}）"


def load(path: str | Path, data: bytes | None = None) -> Report:
    """Load a report from a .json document or a filled .xlsx workbook of the template.

    `data`: the file's bytes when the caller has already read them with `read_input`.
    """
    path = Path(path)
    if data is None:
        data = read_input(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_json(path, data)
    if suffix in (".xlsx", ".xlsm"):
        from .workbook import read

        return read(path, data)
    shown = display_path(path)
    if suffix == ".xls":
        raise NotAReport("这是旧版 Excel 97-2003（.xls）文件，请用模板（.xlsx）填报", path=shown)
    raise NotAReport(f"不支持的文件类型「{display_path(path.suffix) or '无扩展名'}」，应为 .xlsx 或 .json", path=shown)
