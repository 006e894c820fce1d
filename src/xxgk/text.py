"""Text as people type it and file systems store it: the normalisations every command shares.

Names of units are compared after NFKC (full-width letters and digits become ASCII), with every
invisible character and all whitespace removed and case folded, so a name typed twice compares equal
however it was typed. File names are shown as a person would read them, even when a Windows archive
stored them in GBK and the file system handed them over as undecodable bytes.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

# Characters that render as nothing but make two names differ: zero-width spaces and joiners, marks
# for text direction, the word joiner and invisible operators, the byte-order mark, the soft hyphen,
# and the Hangul fillers that some input methods leave behind.
INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b"
    "\u206c\u206d\u206e\u206f\u3164\ufe00\ufe01\ufe02\ufe03\ufe04\ufe05\ufe06\ufe07\ufe08\ufe09\ufe0a"
    "\ufe0b\ufe0c\ufe0d\ufe0e\ufe0f\ufeff\uffa0"
)
_DROP = {ord(ch): None for ch in INVISIBLE}

# Characters an XML 1.0 document cannot hold, so no workbook or Word file can carry them: the C0
# controls other than tab, line feed and carriage return (a Word soft line break is \v), and the
# non-characters U+FFFE/U+FFFF.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def normal_name(name: object) -> str:
    """The key two spellings of one unit's name (or code) share: NFKC, no invisibles, no spaces, case folded."""
    text = unicodedata.normalize("NFKC", str(name or "")).translate(_DROP)
    return "".join(text.split()).casefold()


def display_path(path: str | os.PathLike) -> str:
    """A path as a person reads it. A name the file system could not decode as UTF-8 (kept by Python as
    surrogate escapes) is decoded as GB18030, as a Windows archive wrote it, else shown with �; each
    part of the path on its own, since a GBK folder can hold a UTF-8 name."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    return "/".join(_display_part(part) for part in text.split("/"))


def _display_part(part: str) -> str:
    try:
        part.encode("utf-8")
        return part
    except UnicodeEncodeError:
        raw = os.fsencode(part)
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def display_name(path: str | os.PathLike) -> str:
    return display_path(Path(path).name)
