"""The report's facts, read from schema/report.schema.json: ids, official labels, types and table shapes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Iterator

from .errors import SchemaError
from .resources import schema_path

NUMERIC_KINDS = ("count", "amount", "integer")


@dataclass(frozen=True)
class Fact:
    """One cell of the report: its dotted id, official labels (outermost first) and kind."""

    id: str
    kind: str  # count | amount | text | string | integer | const
    labels: tuple[str, ...]
    group: str | None  # a column group such as 法人或其他组织, or 行政诉讼
    required: bool
    node: dict

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


class Schema:
    """The report document's JSON Schema, with the walk over it that every other module needs."""

    def __init__(self, document: dict):
        self.document = document
        self.facts: dict[str, Fact] = {}
        self._objects: dict[str, dict] = {"": document}
        self._walk(document, "", (), True)
        self.sheets: list[dict] = document.get("x-sheets", [])

    # -- construction -------------------------------------------------
    def resolve(self, node: dict) -> dict:
        """Merge a local `$ref` with the keywords beside it (a title overrides the definition's)."""
        ref = node.get("$ref")
        if ref is None:
            return node
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or ref[len(prefix):] not in self.document.get("$defs", {}):
            raise SchemaError(f"schema: unsupported $ref {ref!r}")
        merged = dict(self.resolve(self.document["$defs"][ref[len(prefix):]]))
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        merged["x-def"] = ref[len(prefix):]
        return merged

    def _walk(self, node: dict, path: str, labels: tuple[str, ...], required: bool) -> None:
        for key, child in node.get("properties", {}).items():
            if child.get("x-not-fact"):
                continue  # held in a document beside the facts, in no cell (e.g. the 复核说明, see `review`)
            child = self.resolve(child)
            child_path = f"{path}.{key}" if path else key
            child_required = required and key in node.get("required", [])
            title = child.get("title")
            if not title:
                raise SchemaError(f"schema: {child_path} has no title (official label)")
            child_labels = labels + (title,)
            if child.get("type") == "object":
                self._objects[child_path] = child
                self._walk(child, child_path, child_labels, child_required)
            else:
                self.facts[child_path] = Fact(
                    id=child_path,
                    kind=_kind(child),
                    labels=child_labels,
                    group=child.get("x-group"),
                    required=child_required,
                    node=child,
                )

    # -- tables -------------------------------------------------------
    def object(self, path: str) -> dict:
        try:
            return self._objects[path]
        except KeyError:
            raise SchemaError(f"schema: no object {path!r}") from None

    def rows(self, path: str) -> list[str]:
        """Paths (relative to `path`) of the objects under it whose members are all facts: a table's rows."""
        self.object(path)
        found = []
        base = f"{path}."
        for obj_path, obj in self._objects.items():
            if obj_path.startswith(base) and all(
                f"{obj_path}.{k}" in self.facts for k in obj.get("properties", {})
            ):
                found.append(obj_path[len(base):])
        return found

    def columns(self, path: str) -> list[str]:
        """Member names of the row object at `path`: a table's columns."""
        return list(self.object(path).get("properties", {}))

    def titles(self, path: str) -> tuple[str, ...]:
        """Official labels of the object or fact at `path`, outermost first."""
        if path in self.facts:
            return self.facts[path].labels
        parts = path.split(".")
        return tuple(self.object(".".join(parts[: i + 1]))["title"] for i in range(len(parts)))

    def sheet_of(self, fact_id: str) -> dict:
        for sheet in self.sheets:
            root = sheet.get("root")
            if (root and fact_id.startswith(root + ".")) or fact_id in sheet.get("facts", ()):
                return sheet
        raise SchemaError(f"schema: fact {fact_id} is on no sheet")

    def describe(self, fact_id: str) -> str:
        """The fact as a person names it: 表三「一、本年新收政府信息公开申请数量」自然人."""
        fact = self.facts[fact_id]
        sheet = self.sheet_of(fact_id)
        table = sheet["name"].split(" ")[0]
        column = f"{fact.group}·{fact.labels[-1]}" if fact.group else fact.labels[-1]
        if sheet.get("root") and len(fact.labels) > 2:
            row_path = fact_id.rsplit(".", 1)[0]
            row_group = self.object(row_path).get("x-group")
            row = " ".join(fact.labels[1:-1])
            return f"{table}「{row_group + '·' if row_group else ''}{row}」{column}"
        return f"{table}「{column}」"

    # -- documents ----------------------------------------------------
    def flatten(self, document: dict) -> dict[str, Any]:
        """Fact id -> value for every fact present in a nested document (absent facts are left out)."""
        flat: dict[str, Any] = {}
        for fact_id in self.facts:
            node: Any = document
            for part in fact_id.split("."):
                if not isinstance(node, dict) or part not in node:
                    break
                node = node[part]
            else:
                flat[fact_id] = node
        return flat

    def nest(self, flat: dict[str, Any]) -> dict:
        """The nested document for fact values, keys in the schema's order."""
        document: dict = {}
        for fact_id in self.facts:
            if fact_id not in flat:
                continue
            node = document
            *parents, leaf = fact_id.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = flat[fact_id]
        return document

    def fingerprint(self) -> str:
        """SHA-256 over the fact ids and kinds: what a reader depends on, not the wording of labels."""
        canon = json.dumps([[f.id, f.kind] for f in self.facts.values()], separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    def __iter__(self) -> Iterator[Fact]:
        return iter(self.facts.values())


def _kind(node: dict) -> str:
    if "const" in node:
        return "const"
    if node.get("x-def") in ("count", "amount", "text"):
        return node["x-def"]
    kind = node.get("type")
    if kind not in ("integer", "number", "string"):
        raise SchemaError(f"schema: unsupported fact type {kind!r}")
    return {"number": "amount"}.get(kind, kind)


@cache
def load_schema() -> Schema:
    with open(schema_path("report.schema.json"), encoding="utf-8") as fh:
        return Schema(json.load(fh))
