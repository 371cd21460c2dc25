"""The RFC text parser: one RFC file into :class:`Requirement` and :class:`Parameter` records.

The RFC files are the single source of requirement ids; tests, report rows and coverage are
derived from what this module parses. The format (described for authors in ``rfcs/README.md``):

* an RFC file is named ``RFC-NNNN-<slug>.md`` and starts with ``# RFC-NNNN: <title>``;
* its metadata table has a row ``| Requirement prefix | GAUGE |`` naming the id prefix;
* headings ``## 2. Title`` / ``### 2.3 Title`` are numbered sections; a requirement belongs to the
  nearest numbered heading above it;
* a requirement is one Markdown list item starting at column 0::

      - **GAUGE-001** (MUST): One sentence that uses the level keyword and ends with a full stop.
        Continuation lines are indented by two spaces.

  The id is ``PREFIX-NNN`` (three digits, prefix of the RFC), the level one of ``MUST``,
  ``SHOULD``, ``MAY``; the text is whitespace-normalised, must contain its own level keyword in
  capitals and no other level's keyword, and must be one sentence ending in ``.``;
* a harness parameter is a list item ``- `NAME` = `literal` — description`` whose literal is a
  Python number, string or boolean;
* lines inside fenced code blocks are ignored.

Anything that *looks* like a requirement (a list item or bold text starting with an id-like
token) but does not parse, a duplicate id, a wrong prefix or level, an empty text … raises
:class:`~lensemble_spec.errors.RequirementError` whose message starts with ``file:line:`` and
whose ``details`` carry ``file`` and ``line``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RequirementError

#: RFC 2119 levels a requirement may carry, strongest first.
LEVELS: tuple[str, ...] = ("MUST", "SHOULD", "MAY")

#: The id prefix of each RFC this project defines (a file declaring another prefix is refused).
RFC_PREFIXES: Mapping[str, str] = {
    "RFC-0002": "GAUGE",
    "RFC-0003": "FED",
    "RFC-0005": "EVAL",
    "RFC-0010": "ART",
}

#: Wrap width used by :func:`render_requirement` and :func:`render_parameter`.
RENDER_WIDTH = 100

_FILE_RE = re.compile(r"^RFC-(\d{4})-[a-z0-9]+(?:-[a-z0-9]+)*\.md$")
_TITLE_RE = re.compile(r"^# (RFC-\d{4}): (\S.*)$")
_PREFIX_ROW_RE = re.compile(r"^\|\s*Requirement prefix\s*\|\s*`?([^|`]*?)`?\s*\|\s*$")
_PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9]*$")
#: An ATX Markdown heading: ``(hashes, title)`` (also what the RFC pages of the report render).
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_NUMBERED_RE = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+(\S.*)$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")

_ID_RE = re.compile(r"^([A-Z][A-Z0-9]*)-(\d{3})$")
_REQ_RE = re.compile(r"^- \*\*(?P<id>[^*\s]+)\*\* \((?P<level>[^()]*)\): (?P<text>\S.*)$")
# Lenient shape used only to explain what is wrong with a line that looks like a requirement.
_REQ_LOOSE_RE = re.compile(
    r"^[-*+]\s*\*\*\s*(?P<id>[^*]*?)\s*\*\*\s*(?:\((?P<level>[^()]*)\))?\s*(?P<colon>:?)\s*(?P<text>.*)$"
)
# "Looks like a requirement": a list item or bold text that starts with an id-like token.
_REQ_LIKE_RE = re.compile(r"^\s*(?:[-*+]\s+\**\s*|\*\*\s*)[A-Z][A-Z0-9]*-\d+")

_PARAM_RE = re.compile(r"^- `(?P<name>[A-Z][A-Z0-9_]*)` = `(?P<value>[^`]+)` — (?P<text>\S.*)$")
_PARAM_LIKE_RE = re.compile(r"^\s*[-*+]\s+`[A-Z][A-Z0-9_]*`\s*=")

_KEYWORD_RE = {level: re.compile(rf"\b{level}\b") for level in LEVELS}
_CODE_SPAN_RE = re.compile(r"`[^`]*`")
_SENTENCE_BREAK_RE = re.compile(r"[.!?]\s+[A-Z]")


@dataclass(frozen=True)
class Requirement:
    """One normative statement: a stable ``id``, its RFC (``"RFC-0002"``), its numbered
    ``section`` (``"2.3"``), its RFC 2119 ``level`` and one sentence of ``text``; ``file`` and
    ``line`` locate the block (1-based line of its first line)."""

    id: str
    rfc: str
    section: str
    level: str
    text: str
    file: str
    line: int

    @property
    def prefix(self) -> str:
        return self.id.rsplit("-", 1)[0]

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-", 1)[1])

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def rfc_location(self) -> str:
        """``rfcs/RFC-0002-latent-gauge.md:50``: the file under its directory's name (no absolute
        path, so it reads the same on every machine), then the line."""
        path = Path(self.file)
        return f"{path.parent.name}/{path.name}:{self.line}" if path.parent.name else f"{path.name}:{self.line}"


@dataclass(frozen=True)
class Parameter:
    """A named harness parameter (tolerance, bound or default) stated in an RFC."""

    name: str
    value: Any
    rfc: str
    section: str
    text: str
    file: str
    line: int


@dataclass(frozen=True)
class RFCDocument:
    """An RFC file's identity: ``rfc`` (``"RFC-0002"``), title, id prefix, path and the
    numbered sections as ``(number, title)`` pairs in file order."""

    rfc: str
    title: str
    prefix: str | None
    file: str
    sections: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ParsedRFC:
    document: RFCDocument
    requirements: tuple[Requirement, ...]
    parameters: tuple[Parameter, ...]


# --- errors --------------------------------------------------------------------------------------
def _fail(file: str, line: int, problem: str) -> RequirementError:
    return RequirementError(f"{file}:{line}: {problem}", file=file, line=line)


# --- parsing -------------------------------------------------------------------------------------
def _normalise_text(text: str) -> str:
    return " ".join(text.split())


def _check_text(text: str, level: str, file: str, line: int) -> None:
    if not text:
        raise _fail(file, line, "requirement text is empty")
    if not text.endswith("."):
        raise _fail(file, line, "requirement text must be one sentence ending with '.'")
    prose = _CODE_SPAN_RE.sub("`…`", text[:-1])
    if _SENTENCE_BREAK_RE.search(prose):
        raise _fail(file, line, "requirement text must be exactly one sentence (split it into two blocks)")
    if not _KEYWORD_RE[level].search(prose):
        raise _fail(file, line, f"a {level} requirement must use the keyword {level} in its text")
    others = [kw for kw in LEVELS if kw != level and _KEYWORD_RE[kw].search(prose)]
    if others:
        raise _fail(
            file, line, f"a {level} requirement must not use the keyword {others[0]} (one level per block)"
        )


def _diagnose_requirement_line(raw: str, file: str, line: int) -> RequirementError:
    """Explain why ``raw`` (which looks like a requirement) is not a valid block start."""
    if raw[:1].isspace():
        return _fail(file, line, "a requirement block must start at column 0 (not nested or indented)")
    loose = _REQ_LOOSE_RE.match(raw)
    if loose:
        rid = loose.group("id")
        if not _ID_RE.match(rid):
            return _fail(file, line, f"malformed requirement id {rid!r}: expected PREFIX-NNN with three digits")
        level = loose.group("level")
        if level is None:
            return _fail(file, line, f"{rid}: missing level in parentheses, expected '- **{rid}** (MUST): text'")
        if level not in LEVELS:
            return _fail(file, line, f"{rid}: level {level!r} is not one of {', '.join(LEVELS)}")
        if not loose.group("text").strip():
            return _fail(file, line, f"{rid}: requirement text is empty")
        if not loose.group("colon"):
            return _fail(file, line, f"{rid}: missing ':' after the level")
    return _fail(file, line, "line looks like a requirement but does not match '- **ID** (LEVEL): text'")


def _parse_literal(raw: str, file: str, line: int) -> Any:
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        raise _fail(file, line, f"parameter value {raw!r} is not a Python literal") from None
    if not isinstance(value, (bool, int, float, str)):
        raise _fail(file, line, f"parameter value {raw!r} must be a number, string or boolean")
    return value


def _continuation(lines: list[str], start: int, file: str) -> tuple[list[str], int]:
    """Collect the two-space-indented continuation lines after ``lines[start]``."""
    parts: list[str] = []
    i = start + 1
    while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
        stripped = lines[i].strip()
        if _REQ_LIKE_RE.match(lines[i]) or _PARAM_LIKE_RE.match(lines[i]):
            raise _fail(file, i + 1, "a block may not contain a nested requirement or parameter")
        if _FENCE_RE.match(stripped):
            raise _fail(file, i + 1, "a code fence may not start inside a requirement or parameter block")
        parts.append(stripped)
        i += 1
    return parts, i


def parse_rfc_text(text: str, file: str | Path) -> ParsedRFC:
    """Parse one RFC's Markdown ``text``; ``file`` is its path (the name must be ``RFC-NNNN-*.md``).

    Only this file is checked (duplicates *within* it included); cross-file checks happen in
    :func:`load_catalog`.
    """
    file = str(file)
    name = Path(file).name
    fm = _FILE_RE.match(name)
    if not fm:
        raise _fail(file, 1, f"RFC file name {name!r} must look like RFC-NNNN-some-slug.md")
    rfc = f"RFC-{fm.group(1)}"
    lines = text.splitlines()

    title: str | None = None
    prefix: str | None = None
    section: str | None = None
    sections: list[tuple[str, str]] = []
    requirements: list[Requirement] = []
    parameters: list[Parameter] = []
    seen: dict[str, int] = {}
    fence: tuple[str, int, int] | None = None  # (fence char, fence length, opening line)

    i = 0
    while i < len(lines):
        raw = lines[i]
        lineno = i + 1
        if title is None:
            if not raw.strip():
                i += 1
                continue
            tm = _TITLE_RE.match(raw)
            if not tm:
                raise _fail(file, lineno, f"an RFC must start with '# {rfc}: <title>'")
            if tm.group(1) != rfc:
                raise _fail(file, lineno, f"title names {tm.group(1)} but the file name says {rfc}")
            title = tm.group(2).strip()
            i += 1
            continue
        fm_fence = _FENCE_RE.match(raw)
        if fence is not None:
            closing = raw.strip()
            if fm_fence and closing == fence[0] * len(closing) and len(closing) >= fence[1]:
                fence = None
            i += 1
            continue
        if fm_fence:
            fence = (fm_fence.group(1)[0], len(fm_fence.group(1)), lineno)
            i += 1
            continue

        pm = _PREFIX_ROW_RE.match(raw)
        if pm:
            declared = pm.group(1).strip()
            if not _PREFIX_RE.match(declared):
                raise _fail(file, lineno, f"requirement prefix {declared!r} must be upper-case letters/digits")
            expected = RFC_PREFIXES.get(rfc)
            if expected is not None and declared != expected:
                raise _fail(file, lineno, f"{rfc} must use the requirement prefix {expected}, not {declared}")
            if prefix is not None:
                raise _fail(file, lineno, "the requirement prefix is declared twice")
            prefix = declared
            i += 1
            continue

        hm = HEADING_RE.match(raw)
        if hm:
            if len(hm.group(1)) == 1:
                raise _fail(file, lineno, "only the first line may be a level-1 heading")
            nm = _NUMBERED_RE.match(hm.group(2))
            if nm:
                section = nm.group(1)
                sections.append((section, nm.group(2).strip()))
            else:
                section = None
            i += 1
            continue

        m = _REQ_RE.match(raw)
        if m or _REQ_LIKE_RE.match(raw):
            if not m:
                raise _diagnose_requirement_line(raw, file, lineno)
            rid, level = m.group("id"), m.group("level")
            idm = _ID_RE.match(rid)
            if not idm:
                raise _fail(file, lineno, f"malformed requirement id {rid!r}: expected PREFIX-NNN with three digits")
            if level not in LEVELS:
                raise _fail(file, lineno, f"{rid}: level {level!r} is not one of {', '.join(LEVELS)}")
            if prefix is None:
                raise _fail(file, lineno, f"{rid}: the RFC declares no '| Requirement prefix | … |' row above it")
            if idm.group(1) != prefix:
                raise _fail(file, lineno, f"{rid}: id prefix {idm.group(1)} does not match {rfc}'s prefix {prefix}")
            if section is None:
                raise _fail(file, lineno, f"{rid}: requirement is not under a numbered section heading")
            if rid in seen:
                raise _fail(file, lineno, f"duplicate requirement id {rid} (first defined at {file}:{seen[rid]})")
            extra, nxt = _continuation(lines, i, file)
            body = _normalise_text(" ".join([m.group("text"), *extra]))
            _check_text(body, level, file, lineno)
            seen[rid] = lineno
            requirements.append(Requirement(rid, rfc, section, level, body, file, lineno))
            i = nxt
            continue

        pm2 = _PARAM_RE.match(raw)
        if pm2 or _PARAM_LIKE_RE.match(raw):
            if not pm2:
                raise _fail(
                    file, lineno, "line looks like a parameter but does not match '- `NAME` = `value` — description'"
                )
            if section is None:
                raise _fail(file, lineno, f"parameter {pm2.group('name')} is not under a numbered section heading")
            value = _parse_literal(pm2.group("value"), file, lineno)
            extra, nxt = _continuation(lines, i, file)
            desc = _normalise_text(" ".join([pm2.group("text"), *extra]))
            if any(p.name == pm2.group("name") for p in parameters):
                raise _fail(file, lineno, f"duplicate parameter {pm2.group('name')}")
            parameters.append(Parameter(pm2.group("name"), value, rfc, section, desc, file, lineno))
            i = nxt
            continue
        i += 1

    if fence is not None:
        raise _fail(file, fence[2], "code fence opened here is never closed")
    if title is None:
        raise _fail(file, 1, f"an RFC must start with '# {rfc}: <title>'")
    document = RFCDocument(rfc, title, prefix, file, tuple(sections))
    return ParsedRFC(document, tuple(requirements), tuple(parameters))


def parse_rfc(path: str | Path) -> ParsedRFC:
    """Read and parse one RFC file (see :func:`parse_rfc_text`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(str(path), 1, f"cannot read RFC file: {exc}") from exc
    return parse_rfc_text(text, path)


# --- rendering (the inverse of parsing, used by tests and tooling) --------------------------------
def _wrap(head: str, text: str, width: int) -> str:
    """Greedy word wrap: ``head`` + words, continuation lines indented by two spaces."""
    words = text.split()
    if not words:
        return head.rstrip()
    lines: list[str] = []
    current = head + words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) > width:
            lines.append(current)
            current = "  " + word
        else:
            current += " " + word
    lines.append(current)
    return "\n".join(lines)


def render_requirement(req: Requirement, width: int = RENDER_WIDTH) -> str:
    """The Markdown block for ``req`` (wrapped with two-space continuation lines)."""
    return _wrap(f"- **{req.id}** ({req.level}): ", _normalise_text(req.text), width)


def render_parameter(param: Parameter, width: int = RENDER_WIDTH) -> str:
    """The Markdown line(s) for ``param``."""
    return _wrap(f"- `{param.name}` = `{param.value!r}` — ", _normalise_text(param.text), width)
