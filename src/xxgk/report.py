"""A report document, loaded from JSON or from a filled workbook; the one object every command works on."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotAReport
from .schema import load_schema

_REPORT_KEYS = {"format", "proactive", "applications", "reviews"}  # agency and year alone are not a report


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
        return json.dumps(self.document, ensure_ascii=False, indent=2) + "\n"


def from_document(document: Any, path: Path | None = None, sha256: str | None = None) -> Report:
    if not isinstance(document, dict) or not (_REPORT_KEYS & set(document)):
        raise NotAReport("不是政府信息公开工作年度报告文档（缺少 format、agency、year 及各表）", path=str(path) if path else None)
    return Report(document, path, sha256)


def read_json(path: Path, data: bytes) -> Report:
    try:
        # NaN and Infinity are not JSON numbers: kept as text, so the type check names them
        document = json.loads(data.decode("utf-8-sig"), parse_constant=str)
    except UnicodeDecodeError:
        raise NotAReport("不是 UTF-8 编码的 JSON 文件", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise NotAReport(f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）", path=str(path)) from None
    return from_document(document, path, hashlib.sha256(data).hexdigest())


def read_input(path: Path) -> bytes:
    """A file's bytes, or NotAReport saying in Chinese why it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotAReport("文件不存在", path=str(path)) from None
    except IsADirectoryError:
        raise NotAReport("这是一个文件夹，不是报告文件", path=str(path)) from None
    except OSError as exc:
        raise NotAReport(f"无法读取文件（{exc.strerror}）", path=str(path)) from None


def load(path: str | Path) -> Report:
    """Load a report from a .json document or a filled .xlsx workbook of the template."""
    path = Path(path)
    data = read_input(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_json(path, data)
    if suffix in (".xlsx", ".xlsm"):
        from .workbook import read

        return read(path, data)
    if suffix == ".xls":
        raise NotAReport("这是旧版 Excel 97-2003（.xls）文件，请用模板（.xlsx）填报", path=str(path))
    raise NotAReport(f"不支持的文件类型「{path.suffix or '无扩展名'}」，应为 .xlsx 或 .json", path=str(path))
