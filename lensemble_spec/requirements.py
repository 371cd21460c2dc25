"""The requirement catalog: the RFCs in ``rfcs/`` parsed into :class:`Requirement` records.

The RFC files are the single source of requirement ids; tests, report rows and coverage are
derived from the :class:`Catalog` this module builds. The block format and its parser are
:mod:`lensemble_spec.rfc_parse` (its names are re-exported here). Across files the catalog
refuses a second file for one RFC, a prefix used by two RFCs and a duplicate requirement id or
parameter name, with a :class:`~lensemble_spec.errors.RequirementError` naming ``file:line``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import RequirementError
from .rfc_parse import (
    LEVELS,
    RFC_PREFIXES,
    Parameter,
    ParsedRFC,
    Requirement,
    RFCDocument,
    _fail,
    parse_rfc,
    parse_rfc_text,
    render_parameter,
    render_requirement,
)

# --- the catalog ---------------------------------------------------------------------------------
_MISSING = object()


def normalize_rfc(value: str | int) -> str:
    """``2``, ``"2"``, ``"0002"``, ``"RFC-0002"``, ``"rfc0002"`` → ``"RFC-0002"``."""
    if isinstance(value, bool):
        raise RequirementError(f"not an RFC number: {value!r}")
    if isinstance(value, int):
        number = value
    else:
        m = re.fullmatch(r"(?:rfc)?[-_ ]?(\d{1,4})(?:-[a-z0-9-]*)?(?:\.md)?", str(value).strip(), re.IGNORECASE)
        if not m:
            raise RequirementError(
                f"not an RFC number: {value!r}",
                remediation="Name an RFC by number, for example 0002 or RFC-0002.",
            )
        number = int(m.group(1))
    if not 0 <= number <= 9999:
        raise RequirementError(f"not an RFC number: {value!r}")
    return f"RFC-{number:04d}"


class Catalog:
    """All requirements (and harness parameters) of a set of RFCs, in RFC then file order."""

    def __init__(
        self,
        requirements: Iterable[Requirement],
        parameters: Iterable[Parameter] = (),
        documents: Iterable[RFCDocument] = (),
    ) -> None:
        self._requirements = tuple(requirements)
        self._by_id = {r.id: r for r in self._requirements}
        if len(self._by_id) != len(self._requirements):
            raise RequirementError("a catalog may not hold two requirements with the same id")
        self._parameters = {p.name: p for p in parameters}
        self._documents = {d.rfc: d for d in documents}

    # mapping-like access
    def __len__(self) -> int:
        return len(self._requirements)

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._requirements)

    def __contains__(self, req_id: object) -> bool:
        return req_id in self._by_id

    def __repr__(self) -> str:
        return f"Catalog({len(self)} requirements from {', '.join(self.rfcs) or 'no RFCs'})"

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self._requirements)

    @property
    def rfcs(self) -> tuple[str, ...]:
        """RFC names with a document or at least one requirement, sorted."""
        return tuple(sorted(set(self._documents) | {r.rfc for r in self._requirements}))

    def all(self) -> tuple[Requirement, ...]:
        return self._requirements

    def get(self, req_id: str, default: Any = _MISSING) -> Requirement:
        """The requirement with this id; :class:`RequirementError` (or ``default``) if unknown."""
        try:
            return self._by_id[req_id]
        except (KeyError, TypeError):
            if default is not _MISSING:
                return default
            raise RequirementError(
                f"unknown requirement id {req_id!r}",
                remediation="Use an id listed by `lensemble-spec requirements` (ids are defined in rfcs/).",
            ) from None

    def by_rfc(self, rfc: str | int) -> tuple[Requirement, ...]:
        """Requirements of one RFC (``"0002"``, ``2`` or ``"RFC-0002"``); unknown RFC → error."""
        name = normalize_rfc(rfc)
        if name not in self.rfcs:
            raise RequirementError(
                f"no RFC {name} in the catalog (known: {', '.join(self.rfcs)})",
                remediation="Pick one of the RFC numbers listed by `lensemble-spec requirements`.",
            )
        return tuple(r for r in self._requirements if r.rfc == name)

    def by_level(self, level: str) -> tuple[Requirement, ...]:
        wanted = str(level).upper()
        if wanted not in LEVELS:
            raise RequirementError(
                f"unknown level {level!r}", remediation="Use one of MUST, SHOULD or MAY."
            )
        return tuple(r for r in self._requirements if r.level == wanted)

    def filter(self, *, rfc: str | int | None = None, level: str | None = None) -> tuple[Requirement, ...]:
        selected = self.by_rfc(rfc) if rfc is not None else self._requirements
        if level is not None:
            keep = set(self.by_level(level))
            selected = tuple(r for r in selected if r in keep)
        return selected

    def document(self, rfc: str | int) -> RFCDocument:
        name = normalize_rfc(rfc)
        try:
            return self._documents[name]
        except KeyError:
            raise RequirementError(f"no RFC document {name} in the catalog") from None

    def section_title(self, rfc: str | int, section: str) -> str | None:
        """Title of a numbered section (``section_title("0002", "2.3")``), or None."""
        return dict(self.document(rfc).sections).get(section)

    @property
    def parameters(self) -> Mapping[str, Parameter]:
        return dict(self._parameters)

    def param(self, name: str) -> Any:
        """The value of a harness parameter stated in an RFC (e.g. ``MAX_DRIFT_TO_REFERENCE_DEG``)."""
        try:
            return self._parameters[name].value
        except KeyError:
            raise RequirementError(
                f"unknown harness parameter {name!r}",
                remediation="Use a parameter named in an RFC's 'Harness parameters' section.",
            ) from None


def default_rfc_dir() -> Path:
    """The RFC directory shipped with the package (``lensemble_spec/rfcs`` → repo ``rfcs/``)."""
    return Path(__file__).parent / "rfcs"


def _load(rfc_dir: Path) -> Catalog:
    if not rfc_dir.is_dir():
        raise RequirementError(
            f"{rfc_dir}:0: RFC directory does not exist",
            file=str(rfc_dir),
            line=0,
            remediation="Point at a directory of RFC-NNNN-*.md files (the package ships one as lensemble_spec/rfcs).",
        )
    paths = sorted(rfc_dir.glob("RFC-*.md"))
    if not paths:
        raise RequirementError(
            f"{rfc_dir}:0: no RFC-*.md files in the RFC directory",
            file=str(rfc_dir),
            line=0,
            remediation="Point at a directory of RFC-NNNN-*.md files (the package ships one as lensemble_spec/rfcs).",
        )
    requirements: list[Requirement] = []
    parameters: dict[str, Parameter] = {}
    documents: dict[str, RFCDocument] = {}
    first_seen: dict[str, Requirement] = {}
    for path in paths:
        parsed = parse_rfc(path)
        doc = parsed.document
        if doc.rfc in documents:
            raise _fail(doc.file, 1, f"{doc.rfc} is also defined by {documents[doc.rfc].file}")
        if doc.prefix is not None:
            for other in documents.values():
                if other.prefix == doc.prefix:
                    raise _fail(doc.file, 1, f"prefix {doc.prefix} is already used by {other.rfc}")
        documents[doc.rfc] = doc
        for req in parsed.requirements:
            if req.id in first_seen:
                raise _fail(
                    req.file,
                    req.line,
                    f"duplicate requirement id {req.id} (first defined at {first_seen[req.id].location})",
                )
            first_seen[req.id] = req
            requirements.append(req)
        for param in parsed.parameters:
            if param.name in parameters:
                prev = parameters[param.name]
                raise _fail(
                    param.file,
                    param.line,
                    f"duplicate parameter {param.name} (first defined at {prev.file}:{prev.line})",
                )
            parameters[param.name] = param
    order = {name: i for i, name in enumerate(sorted(documents))}
    requirements.sort(key=lambda r: order[r.rfc])  # stable: file order within an RFC
    return Catalog(requirements, parameters.values(), documents.values())


@functools.lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    return _load(default_rfc_dir())


def load_catalog(rfc_dir: str | Path | None = None) -> Catalog:
    """Parse every ``RFC-*.md`` in ``rfc_dir`` (default: the package's RFCs, cached) into a Catalog.

    Raises :class:`RequirementError` naming file and line for a malformed or duplicate block.
    """
    if rfc_dir is None:
        return _default_catalog()
    return _load(Path(rfc_dir))


def clear_cache() -> None:
    """Forget the cached default catalog (after editing the RFCs in a long-lived process)."""
    _default_catalog.cache_clear()


__all__ = [
    "LEVELS",
    "RFC_PREFIXES",
    "Catalog",
    "Parameter",
    "ParsedRFC",
    "RFCDocument",
    "Requirement",
    "clear_cache",
    "default_rfc_dir",
    "load_catalog",
    "normalize_rfc",
    "parse_rfc",
    "parse_rfc_text",
    "render_parameter",
    "render_requirement",
]
