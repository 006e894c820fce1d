"""What the validator says: one finding per broken rule instance or bad cell, and the result per file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_LABEL = {"error": "错误", "warning": "警告"}
NATIONAL_ISSUER = "国务院办公厅政府信息与政务公开办公室"  # as rules.NATIONAL_ISSUER (no import: findings stays a leaf)


@dataclass(frozen=True)
class Finding:
    """A broken rule: which rule, how bad, a Chinese message, and where (fact ids and template cells)."""

    rule: str
    severity: str  # error | warning
    message: str
    facts: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()
    expected: Any = None
    actual: Any = None
    fingerprint: str = ""  # see `fingerprint_of`: the rule instance and the figures it compared
    origin: str = "national"  # national (schema/rules.json) or local (a local rule file)
    issuer: str = NATIONAL_ISSUER  # whose rule: the 发布机关 of its rule file

    @property
    def origin_label(self) -> str:
        """全国口径 / 地方口径·发布机关: what text output shows beside the rule id."""
        return "全国口径" if self.origin == "national" else f"地方口径·{self.issuer}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["facts"] = list(self.facts)
        data["cells"] = list(self.cells)
        return data


FINGERPRINT_CHARS = 16  # 64 bits of SHA-256, short enough to copy by hand into a cell
FINGERPRINT_PATTERN = r"[a-p][0-9a-f]{15}"  # the first hex digit as a letter a–p: never read as a number


def fingerprint_of(instance: str, facts: tuple[str, ...], values: list[Any], expected: Any, actual: Any,
                   origin: str = "") -> str:
    """A finding's stable name: the rule instance (`instance`, e.g. "3.9[...]"), the facts it looked at,
    their values and the two sides it compared. No path, no time, no message wording: the same finding in
    a renamed file or a later run has the same fingerprint, and it changes as soon as a compared figure does.
    `origin` (whose rule, e.g. a local rule file's issuer) is hashed only when given, so national rules'
    fingerprints do not depend on it. It starts with a letter: a spreadsheet turns a typed "1234…" or
    "12e45…" into a number and loses digits, whatever the cell's format says."""
    payload = [instance, list(facts), values, expected, actual] + ([origin] if origin else [])
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]
    return "abcdefghijklmnop"[int(digest[0], 16)] + digest[1:]


class BySeverity:
    """The errors and the warnings among an object's `findings` (a report's result, a roll-up's unit, an
    audited publication)."""

    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


class ByReview(BySeverity):
    """The warnings split by the 复核说明 in `explained` (fingerprint -> explanation, see `review`)."""

    explained: dict[str, str]

    @property
    def open_warnings(self) -> list[Finding]:
        """Warnings nobody has explained yet (未说明)."""
        return [f for f in self.warnings if f.fingerprint not in self.explained]

    @property
    def explained_warnings(self) -> list[Finding]:
        """Warnings with a 复核说明 that still applies (已说明)."""
        return [f for f in self.warnings if f.fingerprint in self.explained]


@dataclass
class Result(ByReview):
    """The verdict on one report: valid means no error (warnings allowed)."""

    path: str | None
    findings: list[Finding] = field(default_factory=list)
    # 复核说明 (see `review`): fingerprint -> the clerk's explanation, for the warnings it explains
    explained: dict[str, str] = field(default_factory=dict)
    # explanations that no longer apply (their warning is gone or its figures changed): review.Explanation
    lapsed: list = field(default_factory=list)
    strict: bool = False  # open warnings block finalising (`--strict`, or the distributed template says so)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def finalisable(self) -> bool:
        """No error, and, when strict, no open warning."""
        return self.valid and not (self.strict and self.open_warnings)

    def _warning_words(self) -> str:
        if not self.explained_warnings:
            return f"{len(self.warnings)} 处警告"
        return f"{len(self.warnings)} 处警告（{len(self.explained_warnings)} 处已说明、{len(self.open_warnings)} 处未说明）"

    def summary(self) -> str:
        if not self.findings:
            return "校验通过"
        if self.valid:
            return f"校验通过，有 {self._warning_words()}"
        return f"发现 {len(self.errors)} 处错误、{self._warning_words()}"

    def to_dict(self) -> dict:
        findings = []
        for f in self.findings:
            data = f.to_dict()
            if f.severity == "warning":
                data["review"] = "explained" if f.fingerprint in self.explained else "open"
                if f.fingerprint in self.explained:
                    data["explanation"] = self.explained[f.fingerprint]
            findings.append(data)
        return {"path": self.path, "valid": self.valid, "findings": findings,
                "warnings_explained": len(self.explained_warnings), "warnings_open": len(self.open_warnings),
                "lapsed_explanations": [e.to_dict() for e in self.lapsed], "strict": self.strict,
                "finalisable": self.finalisable}
