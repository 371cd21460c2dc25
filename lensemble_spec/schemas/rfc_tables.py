"""The RFC text's field tables, generated from the pydantic models (one source of truth).

Every document model (:func:`lensemble_spec.schemas.document_models`) is specified in the RFC
text by a generated block::

    <!-- BEGIN schema-table RunManifest -->
    … one Markdown table per object (the document and every object nested in it), then the
    model's cross-field rules …
    <!-- END schema-table RunManifest -->

The tables are rendered from each model's JSON Schema (validation mode, the same schema
``lensemble-spec schema --export`` writes), so the type, required/optional status, constraints
and nesting in the text are the ones the validators enforce. What JSON Schema cannot say — a
list that must be sorted, a hash that must re-compute — is listed under "Rules" from the model's
``RFC_RULES`` class attribute, which sits beside the validator that enforces it.

``lensemble-spec schema --rfc-tables`` rewrites the blocks in place; ``--check`` only reports
stale ones. ``tests/schemas/test_rfc_tables.py`` fails when the text and the models differ.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..artifacts.atomic import atomic_write_text
from ..errors import ArtifactError
from . import VersionedDocument, document_models, json_schema

BEGIN = "<!-- BEGIN schema-table {name} -->"
END = "<!-- END schema-table {name} -->"
_BLOCK_RE = re.compile(
    r"^<!-- BEGIN schema-table (?P<name>[A-Za-z0-9]+) -->\n(?P<body>.*?)^<!-- END schema-table (?P=name) -->$",
    re.DOTALL | re.MULTILINE,
)
_BEGIN_RE = re.compile(r"^<!-- BEGIN schema-table (?P<name>[^ ]*) -->$", re.MULTILINE)

_HEADER = "| field | type | presence | constraints | meaning |\n|---|---|---|---|---|"


def _cell(text: str) -> str:
    """Escape a table cell (pipes; newlines become spaces)."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"`{text}`"


def _bound(n: Any) -> str:
    if isinstance(n, int) and n >= 2**32 and (n & (n - 1)) == 0:
        return f"2^{n.bit_length() - 1}"
    return str(n)


def _describe(schema: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``(type text, constraints)`` of one JSON Schema node (``$ref`` named, not expanded)."""
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}` object", []
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        parts = [_describe(o) for o in options]
        text = " or ".join(t for t, _ in parts) + (" or null" if nullable else "")
        return text, [c for _, cs in parts for c in cs]
    constraints: list[str] = []
    kind = schema.get("type")
    if "const" in schema:
        constraints.append(f"exactly {_code(schema['const'])}")
    if "enum" in schema:
        constraints.append("one of " + ", ".join(_code(v) for v in schema["enum"]))
    if kind == "string":
        if "pattern" in schema:
            constraints.append(f"matches {_code(schema['pattern'])}")
        lo, hi = schema.get("minLength"), schema.get("maxLength")
        if lo is not None or hi is not None:
            constraints.append(f"length {lo or 0}…{hi if hi is not None else '∞'}")
        if schema.get("format") == "date-time":
            constraints.append("RFC 3339 date-time with a UTC offset")
        return "string", constraints
    if kind in ("integer", "number"):
        if "minimum" in schema:
            constraints.append(f"≥ {_bound(schema['minimum'])}")
        if "exclusiveMinimum" in schema:
            constraints.append(f"> {_bound(schema['exclusiveMinimum'])}")
        if "maximum" in schema:
            constraints.append(f"≤ {_bound(schema['maximum'])}")
        if "exclusiveMaximum" in schema:
            constraints.append(f"< {_bound(schema['exclusiveMaximum'])}")
        return kind, constraints
    if kind == "boolean":
        return "boolean", constraints
    if kind == "array":
        item_text, item_cons = _describe(schema.get("items", {}))
        lo, hi = schema.get("minItems"), schema.get("maxItems")
        if lo is not None or hi is not None:
            constraints.append(f"{lo or 0}…{hi if hi is not None else '∞'} items")
        constraints.extend(f"each item {c}" for c in item_cons)
        return f"array of {item_text}", constraints
    if kind == "object":
        patterns = schema.get("patternProperties", {})
        if len(patterns) == 1:  # dict[Name, X]: every name matches the pattern
            (pattern, value), = patterns.items()
            value_text, value_cons = _describe(value)
            constraints.append(f"each name matches {_code(pattern)}")
            constraints.extend(f"each value {c}" for c in value_cons)
            return f"object: string → {value_text}", constraints
        extra = schema.get("additionalProperties", True)
        if extra is True or extra == {}:
            return "object (any JSON members)", constraints
        value_text, value_cons = _describe(extra)
        keys = schema.get("propertyNames", {})
        key_text, key_cons = _describe({"type": "string", **keys})
        constraints.extend(f"each name {c}" for c in key_cons)
        constraints.extend(f"each value {c}" for c in value_cons)
        return f"object: {key_text} → {value_text}", constraints
    if not schema:
        return "any JSON value", constraints
    raise ArtifactError(f"cannot describe JSON Schema node {schema!r} in an RFC table")


def _refs(schema: Any) -> list[str]:
    """Names of ``$ref`` targets in ``schema``, in order of first appearance."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.rsplit("/", 1)[-1] not in found:
                found.append(ref.rsplit("/", 1)[-1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def _table(name: str, schema: Mapping[str, Any], *, versioned: bool) -> str:
    required = set(schema.get("required", ()))
    rows = [_HEADER]
    for field, node in schema.get("properties", {}).items():
        type_text, constraints = _describe(node)
        if field in required or (versioned and field == "schema_version"):
            presence = "required"
        elif "default" in node:
            presence = f"optional (default {_code(node['default'])})"
        else:
            presence = "optional"
        rows.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    f"`{field}`",
                    type_text,
                    presence,
                    "; ".join(constraints) or "—",
                    node.get("description", "—"),
                )
            )
            + " |"
        )
    closed = schema.get("additionalProperties") is False
    tail = "No other members are allowed." if closed else "Other members are allowed."
    return "\n".join(rows) + f"\n\n{tail}"


def render_block(name: str, models: Mapping[str, type[BaseModel]] | None = None) -> str:
    """The Markdown body of the ``schema-table`` block for document model ``name``."""
    models = dict(models or document_models())
    model = models[name]
    schema = json_schema(model)
    defs = schema.get("$defs", {})
    classes = _model_classes(model)
    lines = [
        f"**`{name}`** — {_first_line(model)}",
        "",
        _table(name, schema, versioned=issubclass(model, VersionedDocument)),
    ]
    lines += _rules(model)
    # nested objects, breadth-first from the document; other documents are referenced, not repeated
    queue, seen = _refs(schema.get("properties", {})), set()
    while queue:
        ref = queue.pop(0)
        if ref in seen or ref == name:
            continue
        seen.add(ref)
        if ref in models:
            continue
        sub = defs[ref]
        lines += ["", f"**`{ref}`** — {_first_line(classes.get(ref), sub)}", "", _table(ref, sub, versioned=False)]
        lines += _rules(classes.get(ref))
        queue += [r for r in _refs(sub.get("properties", {})) if r not in seen]
    return "\n".join(lines) + "\n"


def _model_classes(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every pydantic model class reachable from ``model``'s fields, by class name."""
    found: dict[str, type[BaseModel]] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in found:
                return
            found[tp.__name__] = tp
            for f in tp.model_fields.values():
                visit(f.annotation)
            return
        for arg in getattr(tp, "__args__", ()) or ():
            visit(arg)

    visit(model)
    return found


def _first_line(model: type[BaseModel] | None, schema: Mapping[str, Any] | None = None) -> str:
    doc = (model.__doc__ if model is not None else None) or (schema or {}).get("description") or ""
    para = doc.strip().split("\n\n", 1)[0]
    return " ".join(para.split()).replace("``", "`") or "(no description)"


def _rules(model: type[BaseModel] | None) -> list[str]:
    rules = getattr(model, "RFC_RULES", ()) if model is not None else ()
    if not rules:
        return []
    return ["", "Rules:", ""] + [f"* {r}" for r in rules]


def _blocks(text: str) -> list[tuple[str, int, int]]:
    """``(name, body start, body end)`` of every block in ``text``; ArtifactError for a broken one."""
    found = [(m.group("name"), m.start("body"), m.end("body")) for m in _BLOCK_RE.finditer(text)]
    if len(found) != len(_BEGIN_RE.findall(text)):
        raise ArtifactError("a schema-table block has no matching END marker (or a malformed name)")
    return found


def rfc_files(rfc_dir: str | Path | None = None) -> list[Path]:
    """The RFC files of ``rfc_dir`` (default: the package's ``rfcs/``)."""
    root = Path(rfc_dir) if rfc_dir is not None else Path(__file__).resolve().parents[1] / "rfcs"
    return sorted(root.glob("RFC-[0-9][0-9][0-9][0-9]-*.md"))


def sync_rfc_tables(rfc_dir: str | Path | None = None, *, write: bool = True) -> dict[str, list[str]]:
    """Regenerate every ``schema-table`` block; return ``{"stale": files, "missing": models, "unknown": names}``.

    With ``write=False`` nothing is written (a check). A document model with no block anywhere is
    ``missing``; a block naming no document model is ``unknown``; a model with two blocks raises.
    """
    models = document_models()
    placed: dict[str, Path] = {}
    stale: list[str] = []
    unknown: list[str] = []
    for path in rfc_files(rfc_dir):
        text = path.read_text(encoding="utf-8")
        out, last = [], 0
        for name, start, end in _blocks(text):
            if name not in models:
                unknown.append(f"{path.name}:{name}")
                continue
            if name in placed:
                raise ArtifactError(f"schema-table {name} appears twice ({placed[name].name}, {path.name})")
            placed[name] = path
            out += [text[last:start], render_block(name, models)]
            last = end
        new = "".join(out) + text[last:]
        if new != text:
            stale.append(path.name)
            if write:
                atomic_write_text(path, new)
    return {"stale": stale, "missing": sorted(set(models) - set(placed)), "unknown": unknown}


__all__ = ["BEGIN", "END", "render_block", "rfc_files", "sync_rfc_tables"]
