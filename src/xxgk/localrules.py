"""Local rules (地方口径): a superior office's own requirements, on top of the national rule file.

A local rule file is written in the language of schema/rules.json and checked by the same
meta-schema; its header names the issuer (发布机关) and the report year. It may only add: it cannot
redefine, disable or re-grade a national rule (its ids start with `local.` and may not be national
ids), cannot change how a cell is typed (`kind: schema`) or computed (`computes`), and carries no
override or tolerance key at all — national rules are judged exactly as without it. A file that tries
is refused with a Chinese message (exit 2).

`xxgk distribute --rules` embeds the checked files in each template's identity sheet (`_xxgk`), so
every later step that reads the workbook (validate, the add-in, consolidate, finalize) applies them
without being told. The identity sheet is chosen because every reader already reads it (calamine
and openpyxl as a plain hidden sheet, the add-in through the open workbook) and it survives a
LibreOffice or Excel save; a custom XML part would not be kept by LibreOffice.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from .errors import SchemaError, XxgkError
from .rules import Instance, RuleSet, expand, load_rules
from .schema import load_schema

EMBED_KEY = "local_rules"  # identity-sheet rows: local_rules, local_rules.2, … (one cell holds at most 32,767 characters)
_CHUNK = 30000
# Keys a file might use to switch off or soften the national rules: none exists in the language; these get
# a plain word instead of the meta-schema's "additional properties".
_WEAKENING_KEYS = ("disable", "disabled", "override", "overrides", "replace", "remove", "tolerance", "tolerances",
                   "severity_override", "severity_overrides", "skip", "ignore", "except", "exceptions")


def _refuse(message: str, where: str | None) -> XxgkError:
    return XxgkError(f"地方规则文件不能使用：{message}", path=where)


def check_local(raw: Any, where: str | None = None) -> dict:
    """`raw` if it is a valid local rule file that only adds to the national rules; else XxgkError (Chinese, exit 2)."""
    if not isinstance(raw, dict):
        raise _refuse("应为一个 JSON 对象（含 issuer、year、rules 等字段）", where)
    try:
        stamp = fingerprint(raw)
    except (TypeError, ValueError):
        stamp = None
    if stamp is not None and stamp in _CHECKED:  # the same file in many workbooks: checked once per process
        return raw
    if not raw.get("issuer"):
        raise _refuse("文件头缺少发布机关（issuer），如 \"issuer\": \"某市人民政府办公室\"；"
                      "没有发布机关的文件是全国规则，不能作为地方规则加入", where)
    national = load_rules()
    national_ids = {r.id for r in national.rules}
    found = [k for k in raw if k in _WEAKENING_KEYS]
    if found:
        raise _refuse(f"出现字段「{found[0]}」。地方规则只能增加要求，不能停用、改写全国规则或放宽其容差；"
                      "请删除该字段，需要的要求写成新的规则", where)
    rules = raw.get("rules")
    for i, spec in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(spec, dict):
            continue
        rid = spec.get("id")
        where_rule = f"第 {i + 1} 条规则（{rid}）"
        if rid in national_ids:
            raise _refuse(f"{where_rule}与全国规则同名。地方规则不能重新定义或停用全国规则，也不能改变其级别"
                          "（如把错误改为警告）；请给地方规则另起一个以 local. 开头的编号", where)
        bad = [k for k in spec if k in _WEAKENING_KEYS]
        if bad:
            raise _refuse(f"{where_rule}含字段「{bad[0]}」。地方规则不能放宽或跳过全国规则，只能增加新的检查", where)
        if spec.get("kind") == "schema":
            raise _refuse(f"{where_rule}的 kind 为 schema。单元格的类型规则由全国规则规定，地方规则只能是 check", where)
        if spec.get("computes"):
            raise _refuse(f"{where_rule}含 computes。模板的计算公式由全国规则规定，地方规则不能改变", where)
        if isinstance(rid, str) and not rid.startswith("local."):
            raise _refuse(f"{where_rule}的编号应以 local. 开头（如 local.overview.length），以免与全国规则混淆", where)
    if raw.get("format", "2021") != "2021":
        raise _refuse(f"format 为「{raw.get('format')}」，本工具只支持 2021 格式", where)
    problem = _meta_problem(raw)
    if problem:
        raise _refuse(f"不符合规则语言（schema/rules.meta.json）：{problem}。请对照 README“地方口径：本地规则”一节改正", where)
    try:
        _expand(_canonical(raw))
    except SchemaError as exc:
        raise _refuse(f"规则表达式有误：{exc.message.removeprefix('rules: ')}。请对照 README“地方口径：本地规则”一节改正",
                      where) from None
    if stamp is not None:
        _CHECKED.add(stamp)
    return raw


_CHECKED: set[str] = set()  # fingerprints of files that passed `check_local`


_TYPES = {"string": "文字", "integer": "整数", "object": "对象", "array": "列表", "boolean": "true 或 false"}


def _meta_problem(raw: dict) -> str | None:
    """The first place where `raw` does not match schema/rules.meta.json, in Chinese; None when it matches."""
    import jsonschema

    from .resources import schema_path

    meta = json.loads(schema_path("rules.meta.json").read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(meta).iter_errors(raw), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return None
    error = max(errors[:1] + [e for e in errors if e.validator != "if"], key=lambda e: len(e.path))
    path = list(error.path)
    if path[:1] == ["rules"] and len(path) > 1:
        where = f"第 {path[1] + 1} 条规则" + (f"的 {path[2]}" if len(path) > 2 else "")
    else:
        where = f"文件头的 {path[0]}" if path else "文件头"
    value, shown = error.validator_value, json.dumps(error.instance, ensure_ascii=False)[:60]
    what = {
        "required": lambda: f"缺少字段 {'、'.join(k for k in value if isinstance(error.instance, dict) and k not in error.instance)}",
        "additionalProperties": lambda: "有规则语言中没有的字段 " + "、".join(sorted(
            set(error.instance) - set(error.schema.get("properties", {})))),
        "enum": lambda: f"应为 {'、'.join(map(str, value))} 之一，实际为 {shown}",
        "const": lambda: f"应为 {json.dumps(value, ensure_ascii=False)}，实际为 {shown}",
        "pattern": lambda: f"{shown} 的写法不对（应符合 {value}）",
        "type": lambda: f"应为{_TYPES.get(value, value)}，实际为 {shown}",
        "minimum": lambda: f"不能小于 {value}，实际为 {shown}",
        "maximum": lambda: f"不能大于 {value}，实际为 {shown}",
        "minLength": lambda: "不能为空",
        "maxLength": lambda: f"太长（最多 {value} 字）",
        "minItems": lambda: "至少要有一条规则",
    }.get(error.validator, lambda: error.message)()
    return f"{where}：{what}"


def read_local(path: str | Path) -> dict:
    """A local rule file from disk, checked (see `check_local`)."""
    from .report import read_input

    data = read_input(path)
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise XxgkError(f"地方规则文件不是有效的 JSON（{exc}），请用文本编辑器检查后保存为 UTF-8", path=str(path)) from None
    return check_local(raw, str(path))


def read_locals(paths: Iterable[str | Path] | None) -> tuple[dict, ...]:
    """Every `--rules` file, checked, and checked together: no rule id given twice."""
    raws = {}
    for path in paths or ():
        raw = read_local(path)
        raws.setdefault(fingerprint(raw), raw)
    _together(raws.values())
    return tuple(raws.values())


def _together(raws: Iterable[dict]) -> None:
    seen: dict[str, str] = {}
    for raw in {fingerprint(r): r for r in raws}.values():  # the same file twice is one file
        for spec in raw["rules"]:
            if spec["id"] in seen:
                raise XxgkError(f"地方规则编号 {spec['id']} 同时出现在「{seen[spec['id']]}」和「{raw['issuer']}」的规则文件中；"
                                "同一编号只能有一个定义，请改名其中之一")
            seen[spec["id"]] = raw["issuer"]


def _canonical(raw: dict) -> str:
    return json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=64)
def _expand(canonical: str) -> RuleSet:
    """The instances of one local file (cached by content: many workbooks carry the same file)."""
    raw = json.loads(canonical)
    return expand(raw, load_schema(), checked=True, origin="local", issuer=raw["issuer"])


def ruleset(raw: dict) -> RuleSet:
    """The expanded rules of a checked local file, each with origin "local" and the file's issuer."""
    return _expand(_canonical(raw))


# -- carried in a workbook ------------------------------------------------------------------------


def embed_rows(raws: Iterable[dict]) -> list[list[str]]:
    """Identity-sheet rows carrying the files: [local_rules, chunk], [local_rules.2, chunk], … (a JSON list)."""
    raws = list(raws)
    if not raws:
        return []
    text = json.dumps(raws, ensure_ascii=False, separators=(",", ":"))
    chunks = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)]
    return [[EMBED_KEY if n == 1 else f"{EMBED_KEY}.{n}", chunk] for n, chunk in enumerate(chunks, 1)]


def embedded(identity: dict[str, Any], where: str | None = None) -> tuple[dict, ...]:
    """The local rule files a workbook's identity sheet carries, checked; () when it carries none."""
    first = identity.get(EMBED_KEY)
    if first is None or first == "":
        return ()
    parts, n = [str(first)], 2
    while identity.get(f"{EMBED_KEY}.{n}") not in (None, ""):
        parts.append(str(identity[f"{EMBED_KEY}.{n}"]))
        n += 1
    try:
        raws = json.loads("".join(parts))
    except json.JSONDecodeError:
        raise XxgkError("工作簿中嵌入的地方规则已损坏，无法读取；请向分发模板的单位索取新模板", path=where) from None
    if not isinstance(raws, list):
        raise XxgkError("工作簿中嵌入的地方规则已损坏（应为规则文件列表）；请向分发模板的单位索取新模板", path=where)
    return tuple(check_local(raw, where) for raw in raws)


def fingerprint(raw: dict) -> str:
    """SHA-256 of the file's canonical content (sorted keys, no spaces): the same rules however formatted."""
    return hashlib.sha256(_canonical(raw).encode()).hexdigest()


def summary(raw: dict) -> tuple:
    """(sha256, issuer, year, number of rules): what a consolidation's manifest records of a file."""
    year = raw.get("year")
    rules = raw.get("rules")
    return (fingerprint(raw), str(raw.get("issuer", "")), year if isinstance(year, int) else str(year),
            len(rules) if isinstance(rules, list) else 0)  # hashable, whatever the file held


def carried(identity: dict[str, Any]) -> tuple[tuple, ...]:
    """`summary` of each file a workbook carries; () when none. Read after `validate`, which has checked
    them (a broken one stopped it), so only parsed here, once per distinct content."""
    if identity.get(EMBED_KEY) in (None, ""):
        return ()
    parts, n = [str(identity[EMBED_KEY])], 2
    while identity.get(f"{EMBED_KEY}.{n}") not in (None, ""):
        parts.append(str(identity[f"{EMBED_KEY}.{n}"]))
        n += 1
    return _summaries("".join(parts))


@lru_cache(maxsize=64)
def _summaries(text: str) -> tuple[tuple, ...]:
    try:
        raws = json.loads(text)
    except json.JSONDecodeError:
        return ()
    return tuple(summary(raw) for raw in raws if isinstance(raw, dict)) if isinstance(raws, list) else ()


def active(report, given: Iterable[dict] = ()) -> tuple[dict, ...]:
    """The local files that apply to `report`: those given (--rules) and those its workbook carries, each once."""
    out: dict[str, dict] = {}
    where = str(report.path) if getattr(report, "path", None) else None
    for raw in (*given, *embedded(getattr(report, "identity", None) or {}, where)):
        out.setdefault(fingerprint(raw), raw)
    _together(out.values())
    return tuple(out.values())


def local_instances(report, given: Iterable[dict] = ()) -> list[Instance]:
    """The rule instances of every local file that applies to `report` (see `active`)."""
    if not given and not (getattr(report, "identity", None) or {}).get(EMBED_KEY):
        return []  # the common case, no local rules: nothing to parse
    return [inst for raw in active(report, given) for inst in ruleset(raw).instances]


# -- the 校验 sheet ------------------------------------------------------------------------------------

FORMULA_SOURCES = frozenset({"fact", "const", "length", "mentions"})


def in_sheet(inst: Instance) -> bool:
    """A local rule instance the 校验 sheet can compute: only this year's cells, lengths and mentions
    (a states() or text() reading needs a regex, prior() last year's file: those run in validate and the add-in)."""
    comparisons = [inst.check] + ([inst.when] if inst.when else [])
    return not inst.rule.requires and all(
        t.source in FORMULA_SOURCES for c in comparisons for t in c.actual + c.expected)


def combined(raws: Iterable[dict]) -> RuleSet | None:
    """One RuleSet of the local files' rules (for the 校验 sheet); None when there are none."""
    raws = list(raws)
    if not raws:
        return None
    sets = [ruleset(raw) for raw in raws]
    return RuleSet(",".join(s.version for s in sets), [r for s in sets for r in s.rules],
                   [i for s in sets for i in s.instances])
