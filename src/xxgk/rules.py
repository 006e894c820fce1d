"""The rule file (schema/rules.json): declared rules, expanded into one instance per column or row.

A check is a linear comparison `ACTUAL op EXPECTED`. Each side is a list of terms; a term is a
coefficient times a fact of this report, a fact of last year's report, a number stated in a text
part, or a constant. Expansion resolves `{var}` placeholders and `*` segments against the schema,
so the evaluator, the template's formulas and the messages all work on plain fact ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from dataclasses import dataclass, field
from functools import cache
from typing import Any


from .errors import SchemaError
from .findings import NATIONAL_ISSUER  # the issuer of the national rules (国办公开办函〔2021〕30号)
from .resources import schema_path
from .schema import Schema, load_schema

OPERATORS = ("==", "<=", ">=", "<", ">")

_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|<=|>=|<|>)|(?P<num>\d+)|(?P<str>'(?:[^'\\]|\\.)*')"
    r"|(?P<ref>[a-z_{][a-z_0-9{}]*(?:\.(?:\*|[a-z_{][a-z_0-9{}]*))*)|(?P<sym>[-+*(),]))"
)


@dataclass(frozen=True)
class Term:
    """coef × (a fact of this report | a fact of last year's report | a number in a text | 1)."""

    coef: int
    source: str  # fact | prior | text | const, or a measure of a text (see MEASURES: length | mentions | states)
    fact: str | None = None
    pattern: str | None = None  # text terms: regex whose group 1 is the number; mentions: phrases joined by |


@dataclass(frozen=True)
class Comparison:
    actual: tuple[Term, ...]
    op: str
    expected: tuple[Term, ...]

    @property
    def facts(self) -> list[str]:
        """This report's fact ids, left side first, each once."""
        seen: dict[str, None] = {}
        for term in self.actual + self.expected:
            if (term.source in ("fact", "text", "parts") or term.source in MEASURES) and term.fact:
                seen.setdefault(term.fact, None)
        return list(seen)


@dataclass(frozen=True)
class Rule:
    id: str
    format_rule: int
    kind: str
    severity: str
    source: str
    statement: str
    message: str
    requires: tuple[str, ...] = ()
    computes: bool = False
    missing: str = "skip"
    unstated: str | None = None  # message when a published report does not state a figure it needs
    origin: str = "national"  # national: schema/rules.json; local: a local rule file (see localrules)
    issuer: str = NATIONAL_ISSUER  # who set the rule (发布机关)


@dataclass(frozen=True)
class Instance:
    """One rule applied to one column/row: what the validator evaluates and the template turns into formulas."""

    rule: Rule
    bindings: tuple[tuple[str, str], ...]  # (variable, official label)
    check: Comparison
    when: Comparison | None = None

    @property
    def key(self) -> str:
        values = ",".join(label for _, label in self.bindings)
        return f"{self.rule.id}[{values}]" if values else self.rule.id

    @property
    def facts(self) -> list[str]:
        seen = dict.fromkeys(self.check.facts)
        if self.when:
            seen.update(dict.fromkeys(self.when.facts))
        return list(seen)


@dataclass
class RuleSet:
    version: str
    rules: list[Rule]
    instances: list[Instance] = field(default_factory=list)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def computed(self) -> dict[str, tuple[Term, ...]]:
        """Fact id -> the terms the template computes it from (first `computes` rule that defines it)."""
        if not hasattr(self, "_computed"):
            found: dict[str, tuple[Term, ...]] = {}
            for inst in self.instances:
                if inst.rule.computes:
                    found.setdefault(inst.check.actual[0].fact, inst.check.expected)
            self._computed = found
        return self._computed

    def leaves(self, fact_id: str) -> list[str]:
        """The input cells a computed fact adds up, through sums of sums (a plain fact is its own leaf)."""
        terms = self.computed().get(fact_id)
        if terms is None:
            return [fact_id]
        return [leaf for term in terms for leaf in self.leaves(term.fact)]


# -- parsing ---------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise SchemaError(f"rules: cannot parse {text[pos:pos + 20]!r} in {text!r}")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    """Recursive descent over the tokens of one comparison, after variables are substituted."""

    def __init__(self, text: str, schema: Schema):
        self.text = text
        self.schema = schema
        self.tokens = _tokens(text)
        self.pos = 0

    def fail(self, why: str) -> SchemaError:
        return SchemaError(f"rules: {why} in {self.text!r}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise self.fail(f"expected {value or kind}")
        self.pos += 1
        return tok[1]

    def comparison(self) -> Comparison:
        actual = self.side()
        op = self.take("op")
        expected = self.side()
        if self.peek() is not None:
            raise self.fail("unexpected trailing text")
        return Comparison(tuple(actual), op, tuple(expected))

    def side(self) -> list[Term]:
        terms, sign = [], 1
        while True:
            terms.extend(self.term(sign))
            tok = self.peek()
            if tok and tok[0] == "sym" and tok[1] in "+-":
                sign = 1 if tok[1] == "+" else -1
                self.pos += 1
                continue
            return terms

    def term(self, sign: int) -> list[Term]:
        coef = sign
        tok = self.peek()
        if tok and tok[0] == "num":
            self.pos += 1
            nxt = self.peek()
            if not (nxt and nxt == ("sym", "*")):
                return [Term(coef * int(tok[1]), "const")]
            self.pos += 1
            coef *= int(tok[1])
        name = self.take("ref")
        nxt = self.peek()
        if nxt == ("sym", "("):
            self.pos += 1
            inner = self.take("ref")
            if name == "sum":
                terms = [Term(coef, "fact", f) for f in self.expand(inner)]
            elif name == "prior":
                terms = [Term(coef, "prior", self.fact(inner))]
            elif name in ("text", "parts"):
                self.take("sym", ",")
                raw = text_pattern(self.take("str")[1:-1].replace("\\'", "'"))
                try:
                    if name == "text" and re.compile(raw).groups < 1:
                        raise self.fail("text() pattern needs one group for the number")
                except re.error as exc:
                    raise self.fail(f"bad {name}() pattern: {exc}") from None
                terms = [Term(coef, name, self.fact(inner), raw)]
            elif name in MEASURES:
                terms = [self.measure(name, coef, self.fact(inner))]
            else:
                raise self.fail(f"unknown function {name}()")
            self.take("sym", ")")
            return terms
        return [Term(coef, "fact", self.fact(name))]

    def measure(self, name: str, coef: int, fact: str) -> Term:
        """length(fact) · mentions(fact, 'a|b') · states(fact, 'topic', 'units'): see MEASURES."""
        if self.schema.facts[fact].numeric:
            raise self.fail(f"{name}() measures a text part, {fact!r} is not one")
        args = []
        for _ in range({"length": 0, "mentions": 1, "states": 2}[name]):
            self.take("sym", ",")
            args.append(self.take("str")[1:-1].replace("\\'", "'"))
        if name == "length":
            return Term(coef, name, fact)
        if name == "mentions":
            phrases = [p.strip() for p in args[0].split("|")]
            if not all(phrases) or any('"' in p for p in phrases):
                raise self.fail("mentions() takes plain phrases separated by |, none empty, no double quote")
            return Term(coef, name, fact, "|".join(phrases))
        topic, units = args
        if not units or re.search(r"[\\\]\[^-]", units):
            raise self.fail("states() units are plain characters such as '件' or '篇条'")
        raw = rf"(?:{text_pattern(topic)}){GAP}{NUMBER}\s*[{units}]"
        try:
            re.compile(raw)
        except re.error as exc:
            raise self.fail(f"bad states() topic: {exc}") from None
        return Term(coef, name, fact, raw)

    def fact(self, ref: str) -> str:
        if "*" in ref or ref not in self.schema.facts:
            raise self.fail(f"{ref!r} is not a fact id")
        return ref

    def expand(self, pattern: str) -> list[str]:
        """The fact ids matching a dotted pattern whose `*` segments stand for any one segment.

        Segment by segment rather than by a regex per pattern: compiling those was most of a cold start's
        rule expansion."""
        wanted = pattern.split(".")
        found = [f for f in self.schema.facts if _segments_match(wanted, f.split("."))]
        if not found:
            raise self.fail(f"{pattern!r} matches no fact")
        return found


_SEGMENT = re.compile(r"[a-z_0-9]+")


def _segments_match(pattern: list[str], parts: list[str]) -> bool:
    """`*` matches one whole segment of [a-z_0-9]; any other segment only itself (and no dot: segments)."""
    return len(pattern) == len(parts) and all(
        _SEGMENT.fullmatch(part) if want == "*" else want == part for want, part in zip(pattern, parts))


NUMBER = r"([0-9０-９]+|[零〇一二两三四五六七八九十百千万]+)"
# A short gap between a keyword and its number. It never crosses a number or a clause, nor 分别 / 各
# ("予以公开、部分公开分别为30件、12件", "行政复议、行政诉讼各1件"): a respective or distributive
# figure is not the keyword's own, so it is not read at all rather than read wrong.
WORD = r"[^0-9０-９零〇一二两三四五六七八九十百千万。；，,;]"  # one character of the clause, not of a number
GAP = rf"(?:(?!分别|各){WORD}){{0,8}}?"


def text_pattern(raw: str) -> str:
    """A rule's text pattern with its shorthands: {N} a number (digits or Chinese numerals), {G} a short gap,
    {W} one character of the clause that is not part of a number (for look-arounds such as `(?!{W}{0,3}部分公开)`,
    which keep a combined phrasing like 予以公开及部分公开42件 from being read as one row's figure).

    A pattern may hold several {N} in alternatives (e.g. "申请75件" | "75件申请"): the number read is
    the first group that took part in the match."""
    return raw.replace("{N}", NUMBER).replace("{G}", GAP).replace("{W}", WORD)


def stated_number(match: "re.Match") -> str | None:
    """The text of the number a text-term match states: its first group that took part."""
    return next((g for g in match.groups() if g is not None), None)


_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}


def parse_number(text: str) -> int | None:
    """306, ３０６, 三, 十二, 一百零五, 两千三百 -> int; None when it is not a number."""
    import unicodedata

    text = unicodedata.normalize("NFKC", text.strip())
    if len(text) > 40:  # no count is that long; int() of thousands of digits is refused by Python itself
        return None
    if text.isdigit():
        return int(text)
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            section += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        elif ch == "万":
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
        else:
            return None
    return total + section + (digit or 0)


# -- measures of a text: the functions local rules use (see localrules and README 地方口径：本地规则) ----------

# What "characters" leaves out: spaces (half- and full-width, no-break), tabs and line breaks. A
# spreadsheet formula removes exactly these (checks: SUBSTITUTE), so the 校验 sheet counts as the validator.
WHITESPACE = " \u3000\u00a0\t\r\n"


def text_length(text: str, _pattern: str | None = None) -> tuple[int, str]:
    """length(fact): the characters of a text, whitespace (WHITESPACE) not counted; "1,000 字" as offices count."""
    return sum(1 for ch in text if ch not in WHITESPACE), ""


def text_mentions(text: str, phrases: str) -> tuple[int, str]:
    """mentions(fact, 'a|b'): 1 when the text contains any of the phrases (synonyms), literally, else 0.

    Plain phrases rather than a regex, so the 校验 sheet can test the same with FIND."""
    for phrase in phrases.split("|"):
        at = text.find(phrase)
        if at >= 0:
            return 1, _quote(text, at, at + len(phrase))
    return 0, ""


def text_states(text: str, pattern: str) -> tuple[int, str]:
    """states(fact, 'topic', 'units'): 1 when the text states a number for the topic (topic, a short gap, a
    number, one of the units: "主动公开政府信息2645条"), else 0. The topic is a regex with the shorthands of
    text() ({W}, {G}, alternatives with |); the number itself is compared with text()."""
    for match in re.finditer(pattern, text):
        stated = stated_number(match)
        if stated and parse_number(stated) is not None:
            return 1, _quote(text, match.start(), match.end())
    return 0, ""


def _quote(text: str, start: int, end: int) -> str:
    first = max(text.rfind(p, 0, start) for p in "。；\n") + 1
    ends = [i for i in (text.find(p, end) for p in "。；\n") if i >= 0]
    return text[first:(min(ends) + 1 if ends else len(text))].strip()


# name -> (text, pattern) -> (number, quote). A measure is a number like any term, so it sits in the
# comparison language: `length(texts.overview) <= 1000`, `mentions(...) == 1`, `states(...) == 1`.
MEASURES = {"length": text_length, "mentions": text_mentions, "states": text_states}


def _domain(spec: str, schema: Schema) -> list[tuple[str, str]]:
    """(value, official label) pairs for `rows(path)` / `columns(path)`, optionally narrowed by `: a, b`."""
    match = re.fullmatch(r"(rows|columns)\(([a-z_.]+)\)(?::\s*(.+))?", spec.strip())
    if not match:
        raise SchemaError(f"rules: bad foreach domain {spec!r}")
    kind, path, subset = match.groups()
    values = schema.rows(path) if kind == "rows" else schema.columns(path)
    if subset:
        wanted = [v.strip() for v in subset.split(",")]
        missing = [w for w in wanted if w not in values]
        if missing:
            raise SchemaError(f"rules: {missing} not in {spec!r}")
        values = wanted
    out = []
    for value in values:
        full = f"{path}.{value}"
        if kind == "rows":
            node = schema.object(full)
            label = " ".join(schema.titles(full)[1:])
            if node.get("x-group"):
                label = f"{node['x-group']}·{label}"
        else:
            node = schema.resolve(schema.object(path)["properties"][value])
            label = f"{node['x-group']}·{node['title']}" if node.get("x-group") else node["title"]
        out.append((value, label))
    return out


def _bind(text: str, values: dict[str, str]) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise SchemaError(f"rules: unbound variable {{{name}}} in {text!r}")
        return values[name]

    return re.sub(r"\{([a-z_]+)\}", sub, text)


def check_against_meta(raw: dict) -> None:
    """Raise SchemaError, naming the place, when the rule file does not match its meta-schema."""
    import jsonschema

    with open(schema_path("rules.meta.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    errors = sorted(jsonschema.Draft202012Validator(meta).iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path)
        raise SchemaError(f"rules file invalid at {where or '(root)'}: {errors[0].message}")


def expand(raw: dict, schema: Schema, checked: bool = False, origin: str = "national",
           issuer: str = NATIONAL_ISSUER) -> RuleSet:
    """Expand every rule into instances, after checking the file against its meta-schema (unless `checked`).

    `origin`/`issuer`: whose rules these are (a local file: "local" and its 发布机关), carried by each finding."""
    if not checked:
        check_against_meta(raw)
    rules, instances, ids = [], [], set()
    for spec in raw["rules"]:
        if spec["id"] in ids:
            raise SchemaError(f"rules: duplicate rule id {spec['id']}")
        ids.add(spec["id"])
        rule = Rule(
            id=spec["id"],
            format_rule=spec.get("format_rule", 0),
            kind=spec["kind"],
            severity=spec["severity"],
            source=spec["source"],
            statement=spec["statement"],
            message=spec["message"],
            requires=tuple(spec.get("requires", ())),
            computes=spec.get("computes", False),
            missing=spec.get("missing", "skip"),
            unstated=spec.get("unstated"),
            origin=origin,
            issuer=issuer,
        )
        rules.append(rule)
        if rule.kind != "check":
            continue
        combos: list[list[tuple[str, str, str]]] = [[]]
        for var, domain in spec.get("foreach", {}).items():
            combos = [c + [(var, v, label)] for c in combos for v, label in _domain(domain, schema)]
        for combo in combos:
            values = {var: v for var, v, _ in combo}
            check = _Parser(_bind(spec["check"], values), schema).comparison()
            when = _Parser(_bind(spec["when"], values), schema).comparison() if "when" in spec else None
            if rule.computes and (len(check.actual) != 1 or check.actual[0].source != "fact"
                                  or check.actual[0].coef != 1 or check.op != "=="):
                raise SchemaError(f"rules: {rule.id} computes, so its left side must be one fact and its operator ==")
            instances.append(Instance(rule, tuple((var, label) for var, _, label in combo), check, when))
    return RuleSet(raw["ruleset"], rules, instances)


@cache
def load_rules() -> RuleSet:
    text = schema_path("rules.json").read_bytes()
    raw = json.loads(text)
    stamp = _checked_stamp(text + schema_path("rules.meta.json").read_bytes())
    if stamp is None or not stamp.exists():
        check_against_meta(raw)
        if stamp is not None:
            try:
                stamp.parent.mkdir(parents=True, exist_ok=True)
                stamp.touch()
            except OSError:
                pass  # no cache: the check simply runs again next time
    schema_bytes = schema_path("report.schema.json").read_bytes()
    key = hashlib.sha256(b"\0".join((_CACHE_FORMAT, version_bytes(), text, schema_bytes))).hexdigest()[:32]
    cached = _cached_rules(key)
    if cached is not None:
        return cached
    ruleset = expand(raw, load_schema(), checked=True)
    _store_rules(key, ruleset)
    return ruleset


# -- the expanded national rule set, cached per user ------------------------------------------------
# Expanding the rule file (parsing every check, matching fact patterns, trying each text pattern) is a
# good part of a cold `xxgk validate`. Its result is kept in the user's cache folder, keyed by the exact
# bytes of the rule file and the schema and by the package version: a changed file or another version
# never meets an old result. It is marshal data (strings, numbers, tuples), read as Python reads its own
# bytecode caches, from a folder only this user writes; anything unreadable, or whose key inside does not
# match, is ignored and the rules are expanded again. Written atomically (a new file renamed into place).

_CACHE_FORMAT = b"xxgk-rules-1"
_RULE_FIELDS = ("id", "format_rule", "kind", "severity", "source", "statement", "message", "requires", "computes",
                "missing", "unstated", "origin", "issuer")


def version_bytes() -> bytes:
    from . import __version__

    return __version__.encode()


def _cache_file(key: str) -> Path | None:
    folder = _cache_dir()
    return folder / f"rules-{key}.marshal" if folder is not None else None


def _comparison_data(c: Comparison | None) -> tuple | None:
    if c is None:
        return None
    side = lambda terms: tuple((t.coef, t.source, t.fact, t.pattern) for t in terms)  # noqa: E731
    return side(c.actual), c.op, side(c.expected)


def _comparison(data: tuple | None) -> Comparison | None:
    if data is None:
        return None
    actual, op, expected = data
    return Comparison(tuple(Term(*t) for t in actual), op, tuple(Term(*t) for t in expected))


def _store_rules(key: str, ruleset: RuleSet) -> None:
    import marshal

    path = _cache_file(key)
    if path is None:
        return
    index = {id(rule): i for i, rule in enumerate(ruleset.rules)}
    data = (_CACHE_FORMAT, key, ruleset.version,
            tuple(tuple(getattr(rule, f) for f in _RULE_FIELDS) for rule in ruleset.rules),
            tuple((index[id(inst.rule)], inst.bindings, _comparison_data(inst.check), _comparison_data(inst.when))
                  for inst in ruleset.instances))
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "xb") as fh:
            fh.write(marshal.dumps(data))
        os.replace(partial, path)
    except (OSError, ValueError):
        try:
            partial.unlink()
        except OSError:
            pass  # no cache: the rules are simply expanded again next time


def _cached_rules(key: str) -> RuleSet | None:
    import marshal

    path = _cache_file(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            fmt, stored_key, version, rules_data, instances_data = marshal.loads(fh.read())
        if fmt != _CACHE_FORMAT or stored_key != key:
            return None
        rules = [Rule(**dict(zip(_RULE_FIELDS, r, strict=True))) for r in rules_data]
        instances = [Instance(rules[i], bindings, _comparison(check), _comparison(when))
                     for i, bindings, check, when in instances_data]
        return RuleSet(version, rules, instances)
    except (OSError, EOFError, ValueError, TypeError, IndexError, KeyError):
        return None


def _checked_stamp(content: bytes) -> Path | None:
    """A file in the user's cache whose existence says: this exact rule file passed its meta-schema.

    Checking costs an import of jsonschema, a good part of a cold start; an edited file is checked anew.
    """
    folder = _cache_dir()
    return folder / f"rules-ok-{hashlib.sha256(content).hexdigest()[:32]}" if folder is not None else None


def _cache_dir() -> Path | None:
    """The user's cache folder of xxgk (XDG_CACHE_HOME, else ~/.cache); None without a home directory."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = Path.home() / ".cache"
        except RuntimeError:  # no home directory
            return None
    return Path(base) / "xxgk"


def whole(value: Any) -> Any:
    """A float that is a whole number (2021.0, as a spreadsheet or JSON may store it) as an int; else as given."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


def shown(value: Any) -> str:
    """A figure as a message shows it: 306, 12.5, 1e+300 (never 301 digits)."""
    value = whole(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def value_of(value: Any) -> float | int | None:
    """A fact value usable in arithmetic, or None (blank, text, boolean, not finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
