"""Sending out the templates: one locked template per roster unit, with last year's carry-over in it.

The district office (区/县政务公开办) sends each reporting unit its own copy of the template, with
the unit's name, code and the year filled in and locked, so what comes back matches the roster.
Given last year's finalised reports (`prior_dir`), each unit's copy also gets
- 表三 二、上年结转 = last year's 四、结转下年度继续办理, column by column, locked (rule 6: the most
  common cross-year slip cannot be made);
- last year's 现行有效件数 of 规章 and 行政规范性文件 in the setting cells (rule 7);
- the path of last year's file in the setting the add-in's 校验 reads for the cross-year checks.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .consolidate import discover, read_roster
from .errors import XxgkError
from .layout import SETTING_PREFIX
from .output import write_atomic
from .report import Report, load
from .rules import load_rules
from .schema import load_schema
from .template import build_workbook, reproducible_bytes
from .text import normal_name
from .validate import validate

FIRST_YEAR, LAST_YEAR = 2021, 2100
CARRIED_OVER = "applications.carried_over"
CARRIED_FORWARD = "applications.carried_forward"
PRIOR_FILE = SETTING_PREFIX + "prior_file"
STOCK_KINDS = ("rules", "normative_documents")
UNNAMED = "未命名单位"
_NAME_BYTES = 150  # the unit's part of a file name, in UTF-8 bytes: the whole name stays far below 255


@dataclass(frozen=True)
class DistributedTemplate:
    """One unit's template: who it is for, where it was written, and what came from last year."""

    name: str
    code: str
    path: Path
    prior_file: Path | None = None  # last year's report the carry-over came from; None: a plain template
    carried_over: dict[str, int] = field(default_factory=dict)  # fact id -> value, written and locked
    prior_in_force: dict[str, int] = field(default_factory=dict)  # setting id -> last year's 现行有效件数
    note: str = ""  # what happened, in Chinese (e.g. "未找到上年报告")

    @property
    def has_prior(self) -> bool:
        return self.prior_file is not None


class Distribution(list):
    """The templates written (a list of `DistributedTemplate`), and `warnings`: Chinese, one line each.

    Warnings name files in `prior_dir` that could not be read and prior reports that were not used.
    """

    def __init__(self, items=(), warnings: list[str] | None = None):
        super().__init__(items)
        self.warnings: list[str] = list(warnings or [])

    @property
    def without_prior(self) -> list[DistributedTemplate]:
        return [t for t in self if not t.has_prior]


# -- file names --------------------------------------------------------------------------------------

_WINDOWS_FORBIDDEN = set('<>:"/\\|?*')
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
             *(f"{p}{n}" for p in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³"))}


def safe_name(name: str) -> str:
    """A unit's name as one safe component of a file name, on Windows, macOS and Linux.

    Control characters and the characters Windows forbids (<>:"/\\|?*) become "_", invisible format
    characters are dropped, runs of dots ("..") become "_", leading and trailing spaces, dots and
    underscores go, a Windows device name (CON, NUL, COM1…, also before a dot) gets a leading "_", and the result is cut
    to 150 UTF-8 bytes. Nothing left: "未命名单位".
    """
    text = unicodedata.normalize("NFC", name or "")
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue  # zero-width and direction marks: invisible, and a way to disguise a name
        if ch in _WINDOWS_FORBIDDEN or category in ("Cc", "Cs", "Co", "Cn"):
            out.append("_")
        elif ch.isspace():
            out.append(" ")
        else:
            out.append(ch)
    text = re.sub(r"\.{2,}", "_", "".join(out))
    text = re.sub(r" {2,}", " ", text)
    text = re.sub(r"_{2,}", "_", text).strip(" ._")
    encoded = text.encode("utf-8")
    if len(encoded) > _NAME_BYTES:
        text = encoded[:_NAME_BYTES].decode("utf-8", "ignore").rstrip(" ._")
    if not text:
        return UNNAMED
    if text.split(".")[0].strip().upper() in _RESERVED:
        text = "_" + text
    return text


def file_names(year: int, names: list[str]) -> list[str]:
    """`<year>年<name>政府信息公开工作年度报告.xlsx` per unit, safe and distinct even where case is ignored."""
    taken: set[str] = set()
    result = []
    for name in names:
        base = safe_name(name)
        candidate, n = base, 1
        while _fold(candidate) in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(_fold(candidate))
        result.append(f"{year}年{candidate}政府信息公开工作年度报告.xlsx")
    return result


def _fold(name: str) -> str:
    """What two names share when a file system ignores case and Unicode normalisation (Windows, macOS)."""
    return unicodedata.normalize("NFC", name).casefold()


# -- the roster ---------------------------------------------------------------------------------------


def _normal_code(code: str) -> str:
    return normal_name(code).upper()


def _check_roster(units: list[tuple[str, str]], path: Path) -> None:
    schema = load_schema()
    name_limit = schema.facts["agency"].node.get("maxLength", 200)
    code_limit = schema.facts["agency_code"].node.get("maxLength", 64)
    names: dict[str, str] = {}
    codes: dict[str, str] = {}
    for name, code in units:
        for what, value in (("单位名称", name), ("机关代码", code)):
            if any(unicodedata.category(ch) == "Cc" for ch in value):
                raise XxgkError(f"单位名单中{what}「{_shown(value)}」含有换行、制表符等控制字符，请改正后再分发", path=str(path))
        if len(name) > name_limit:
            raise XxgkError(f"单位名单中单位名称「{name[:20]}…」有 {len(name)} 字，超过 {name_limit} 字的上限", path=str(path))
        if len(code) > code_limit:
            raise XxgkError(f"单位名单中「{name}」的机关代码有 {len(code)} 个字符，超过 {code_limit} 个字符的上限", path=str(path))
        key = normal_name(name)
        if key in names:
            raise XxgkError(f"单位名单中单位名称重复：「{names[key]}」与「{name}」，每个单位只能出现一次", path=str(path))
        names[key] = name
        if code:
            ckey = _normal_code(code)
            if ckey in codes:
                raise XxgkError(f"单位名单中机关代码重复：「{codes[ckey]}」与「{name}」的代码都是 {code}", path=str(path))
            codes[ckey] = name


def _shown(text: str) -> str:
    return "".join("�" if unicodedata.category(ch) == "Cc" else ch for ch in text)[:40]


# -- last year's reports ------------------------------------------------------------------------------


def carry_columns() -> list[str]:
    """The input columns of 表三 二、上年结转 (the total is a formula in the template, never given)."""
    computed = load_rules().computed()
    prefix = CARRIED_OVER + "."
    return [f.id[len(prefix):] for f in load_schema() if f.id.startswith(prefix) and f.id not in computed]


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


@dataclass
class _Prior:
    path: Path
    report: Report
    agency: str
    code: str
    carried: dict[str, int] | None  # this year's fact id -> value; None when last year's row is incomplete
    in_force: dict[str, int]  # setting id -> value (only the kinds last year gave as a count)

    @property
    def data(self) -> tuple:
        return tuple(sorted((self.carried or {}).items())), tuple(sorted(self.in_force.items()))


def _read_priors(prior_dir: Path, year: int, warnings: list[str]) -> list[_Prior]:
    if not prior_dir.exists():
        raise XxgkError("上年报告文件夹不存在", path=str(prior_dir))
    if not prior_dir.is_dir():
        raise XxgkError("上年报告应给出一个文件夹（其中存放上年各单位的定稿报告）", path=str(prior_dir))
    columns = carry_columns()
    priors = []
    for path in discover([prior_dir]):
        try:
            report = load(path)
        except XxgkError as exc:
            warnings.append(f"{path}：无法读取，已跳过（{exc.message}）")
            continue
        except Exception as exc:  # noqa: BLE001  (a file the reader does not expect: skip it, never stop)
            warnings.append(f"{path}：读取时出现内部错误（{type(exc).__name__}），已跳过")
            continue
        facts = report.facts
        prior_year = facts.get("year")
        if isinstance(prior_year, bool) or not isinstance(prior_year, int) or prior_year != year - 1:
            continue  # another year's report (or a blank template): not last year's
        carried = {f"{CARRIED_OVER}.{c}": _count(facts.get(f"{CARRIED_FORWARD}.{c}")) for c in columns}
        in_force = {f"{SETTING_PREFIX}prior.proactive.{k}.in_force": _count(facts.get(f"proactive.{k}.in_force"))
                    for k in STOCK_KINDS}
        priors.append(_Prior(
            path=path, report=report,
            agency=str(facts.get("agency") or "").strip(), code=str(facts.get("agency_code") or "").strip(),
            carried=None if any(v is None for v in carried.values()) else carried,  # type: ignore[arg-type]
            in_force={k: v for k, v in in_force.items() if v is not None},
        ))
    return priors


def _match(units: list[tuple[str, str]], priors: list[_Prior]) -> list[list[_Prior]]:
    """Per roster unit, last year's reports that are its own: by code where both have one, else by name.

    A report matched by its code is not matched to a second unit by name.
    """
    by_code: dict[str, list[_Prior]] = {}
    for prior in priors:
        if prior.code:
            by_code.setdefault(_normal_code(prior.code), []).append(prior)
    roster_codes = {_normal_code(c) for _, c in units if c}
    claimed = {id(p) for code, ps in by_code.items() if code in roster_codes for p in ps}
    found = []
    for name, code in units:
        if code:
            mine = list(by_code.get(_normal_code(code), []))
            mine += [p for p in priors if not p.code and id(p) not in claimed and normal_name(p.agency) == normal_name(name)]
        else:
            mine = [p for p in priors if id(p) not in claimed and normal_name(p.agency) == normal_name(name)]
        found.append(mine)
    return found


def _choose(name: str, candidates: list[_Prior], year: int, warnings: list[str]) -> tuple[_Prior | None, str]:
    """The one prior report to carry from, and a note; None when there is none, or no safe choice."""
    if not candidates:
        return None, f"未找到{year - 1}年报告，生成空白模板"
    complete = [p for p in candidates if p.carried is not None]
    if not complete:
        files = "、".join(p.path.name for p in candidates)
        warnings.append(f"{name}：{year - 1}年报告（{files}）表三“结转下年度继续办理”未填完整，未带入上年数据")
        return None, f"{year - 1}年报告中结转下年度数据不完整，生成空白模板"
    if len({p.data for p in complete}) > 1:
        files = "、".join(str(p.path) for p in complete)
        warnings.append(f"{name}：找到多个{year - 1}年报告且数据不一致（{files}），无法判断哪一份是定稿，未带入上年数据")
        return None, f"找到多个{year - 1}年报告且数据不一致，生成空白模板"
    chosen = min(complete, key=lambda p: (p.path.suffix.lower() != ".xlsx", str(p.path)))
    missing = [k for k in STOCK_KINDS if f"{SETTING_PREFIX}prior.proactive.{k}.in_force" not in chosen.in_force]
    if missing:
        warnings.append(f"{name}：{year - 1}年报告 {chosen.path.name} 中{'、'.join(_KIND_LABEL[k] for k in missing)}"
                        "的现行有效件数不是有效数字，该项未带入")
    errors = [f for f in validate(chosen.report).findings if f.severity == "error"]
    if errors:
        warnings.append(f"{name}：{year - 1}年报告 {chosen.path.name} 本身有 {len(errors)} 处错误，带入的上年结转数据请核实")
    return chosen, f"已带入{year - 1}年报告的结转下年度数据和现行有效件数（{chosen.path.name}）"


_KIND_LABEL = {"rules": "规章", "normative_documents": "行政规范性文件"}


# -- the distribution ---------------------------------------------------------------------------------


def distribute(roster: Path, year: int, out_dir: Path, prior_dir: Path | None = None, *,
               overwrite: bool = False, local: tuple[dict, ...] = (), strict: bool = False) -> Distribution:
    """Write one locked template per roster unit into `out_dir`; see the module doc.

    Returns the templates written, in roster order (a list with `.warnings`). Refuses (XxgkError, in
    Chinese) a bad year, a roster that cannot be read, is empty or names a unit twice, an `out_dir`
    that is a file, and, unless `overwrite`, an existing different file of the same name in `out_dir`
    (it may be a report a unit sent back). Nothing is written when anything is refused.
    `local`: checked local rule files (localrules.read_locals) carried into every template; each must be
    for `year`.
    `strict`: each template says open warnings block finalising (see `review.STRICT_KEY`).
    """
    if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise XxgkError(f"年度应为 {FIRST_YEAR} 至 {LAST_YEAR} 之间的整数（{FIRST_YEAR} 年起使用本格式），实际为「{year}」")
    roster, out_dir = Path(roster), Path(out_dir)
    if not roster.exists():
        raise XxgkError("单位名单文件不存在", path=str(roster))
    if roster.is_dir():
        raise XxgkError("单位名单应为一个 CSV 文件，这是一个文件夹", path=str(roster))
    units = read_roster(roster)
    _check_roster(units, roster)
    if out_dir.exists() and not out_dir.is_dir():
        raise XxgkError("输出位置是一个已有的文件，应为文件夹", path=str(out_dir))
    for raw in local:
        if raw["year"] != year:
            raise XxgkError(f"地方规则文件（{raw['issuer']}）适用于 {raw['year']} 年度报告，本次分发的是 {year} 年度的模板；"
                            "请使用本年度的地方规则文件，或改正其中的 year")

    warnings: list[str] = []
    priors = _read_priors(Path(prior_dir), year, warnings) if prior_dir is not None else []
    matches = _match(units, priors) if prior_dir is not None else [[] for _ in units]
    names = file_names(year, [name for name, _ in units])
    protected = {p.path.resolve() for p in priors}

    plans = []
    for (name, code), candidates, file_name in zip(units, matches, names, strict=True):
        values: dict[str, Any] = {"agency": name, "year": year}
        locked = {"agency", "year"}
        if code:
            values["agency_code"] = code
            locked.add("agency_code")
        settings: dict[str, Any] = {}
        if prior_dir is None:
            chosen, note = None, "未提供上年报告，生成空白模板"
        else:
            chosen, note = _choose(name, candidates, year, warnings)
            if not candidates and code:
                other = [p for p in priors if p.code and normal_name(p.agency) == normal_name(name)]
                if other:
                    warnings.append(f"{name}：{year - 1}年有同名报告 {other[0].path.name}，但机关代码不同"
                                    f"（{other[0].code}，名单为 {code}），未作为上年报告使用")
        item = DistributedTemplate(name, code, out_dir / file_name, note=note)
        if chosen is not None:
            assert chosen.carried is not None
            values.update(chosen.carried)
            locked.update(chosen.carried)
            settings.update(chosen.in_force)
            settings[PRIOR_FILE] = str(chosen.path.resolve())
            item = DistributedTemplate(name, code, out_dir / file_name, chosen.path, dict(chosen.carried),
                                       dict(chosen.in_force), note)
        plans.append((item, values, frozenset(locked), settings))

    # refuse before writing anything: nothing given to us and nothing a unit sent back is written over
    built: dict[Path, bytes] = {}
    clashes = []
    for item, values, locked, settings in plans:
        target = item.path
        if target.exists() or target.is_symlink():
            if target.resolve() in protected:
                raise XxgkError("输出文件与上年报告文件相同，为保护原文件，未生成任何模板；请换一个输出文件夹", path=str(target))
            if target.is_dir():
                raise XxgkError("输出文件夹中有与模板同名的文件夹，未生成任何模板", path=str(target))
            data = _bytes(values, locked, settings, local, strict)
            built[target] = data
            if not overwrite and _read_bytes(target) != data:
                clashes.append(target.name)
    if clashes:
        shown = "、".join(clashes[:3]) + (f" 等 {len(clashes)} 个文件" if len(clashes) > 3 else "")
        raise XxgkError(f"输出文件夹中已有同名但内容不同的文件（可能是单位已填写的报告）：{shown}。为避免覆盖，未生成任何模板；"
                        "请换一个空文件夹，或先移走这些文件", path=str(out_dir))

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XxgkError(f"无法创建输出文件夹（{exc.strerror}）", path=str(out_dir)) from None
    for item, values, locked, settings in plans:
        data = built.get(item.path) or _bytes(values, locked, settings, local, strict)
        try:
            write_atomic(item.path, data)
        except OSError as exc:  # e.g. no permission to create the temporary file in out_dir
            raise XxgkError(f"无法写入（{exc.strerror}）", path=str(item.path)) from None
    return Distribution((item for item, *_ in plans), warnings)


def _bytes(values: dict[str, Any], locked: frozenset[str], settings: dict[str, Any], local: tuple[dict, ...] = (),
           strict: bool = False) -> bytes:
    wb = build_workbook(values, locked=locked, settings=settings, local=tuple(local))
    if strict:  # read back by `review.is_strict`: validate and finalize hold open warnings against it
        from .layout import META_SHEET
        from .review import STRICT_KEY

        wb[META_SHEET].append([STRICT_KEY, "1"])
    return reproducible_bytes(wb)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
