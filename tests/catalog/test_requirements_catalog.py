"""The shipped catalog: it loads, has the agreed shape, and the RFC text is internally consistent.

Defects caught: an RFC edit that breaks parsing or the id scheme, a requirement whose recorded
file/line does not point at its block, a requirement that cites an undefined tolerance, prose
that cites a non-existent id, normative keywords hiding in non-normative prose, and a Catalog
API that drifts from the interface others code against.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

import lensemble_spec
from lensemble_spec.errors import RequirementError
from lensemble_spec.requirements import (
    LEVELS,
    RFC_PREFIXES,
    Catalog,
    Requirement,
    default_rfc_dir,
    load_catalog,
    normalize_rfc,
)

CATALOG = load_catalog()
RFC_FILES = sorted(default_rfc_dir().glob("RFC-*.md"))


def test_default_directory_is_the_packaged_rfcs():
    assert default_rfc_dir() == Path(lensemble_spec.__file__).parent / "rfcs"
    assert (default_rfc_dir() / "README.md").is_file()
    assert [p.name[:8] for p in RFC_FILES] == ["RFC-0002", "RFC-0003", "RFC-0005", "RFC-0010"]


def test_default_catalog_is_cached_and_an_explicit_dir_is_not():
    assert load_catalog() is load_catalog()
    fresh = load_catalog(default_rfc_dir())
    assert fresh is not CATALOG
    assert fresh.all() == CATALOG.all()


def test_the_catalog_is_every_requirement_block_of_the_rfcs_in_order():
    """Read without the parser: each line of the packaged RFCs opening a requirement block
    (``- **ID** (``) is one catalog entry, in file order; none dropped, none invented."""
    opened = [
        m[1]
        for path in RFC_FILES
        for line in path.read_text().splitlines()
        if (m := re.match(r"- \*\*([A-Z]+-\d{3})\*\* \(", line))
    ]
    assert opened == list(CATALOG.ids)


def test_every_rfc_has_requirements_and_musts():
    counts = Counter((r.rfc, r.level) for r in CATALOG)
    assert CATALOG.rfcs == tuple(sorted(RFC_PREFIXES))
    for rfc in RFC_PREFIXES:
        assert counts[(rfc, "MUST")] >= 10, (rfc, counts)
        assert len(CATALOG.by_rfc(rfc)) == sum(counts[(rfc, lv)] for lv in LEVELS)


def test_ids_are_unique_prefixed_and_sequential():
    assert len(set(CATALOG.ids)) == len(CATALOG)
    numbers: dict[str, list[int]] = {}
    for req in CATALOG:
        assert re.fullmatch(r"[A-Z]+-\d{3}", req.id)
        assert req.prefix == RFC_PREFIXES[req.rfc], req
        numbers.setdefault(req.prefix, []).append(req.number)
    for prefix, nums in numbers.items():
        assert sorted(nums) == list(range(1, len(nums) + 1)), prefix
        assert nums == sorted(nums), f"{prefix} ids are not in file order"


def test_every_requirement_points_at_its_own_block():
    for req in CATALOG:
        lines = Path(req.file).read_text(encoding="utf-8").splitlines()
        assert lines[req.line - 1].startswith(f"- **{req.id}** ({req.level}): "), req.location
        assert req.level in LEVELS
        assert req.text.endswith(".") and req.level in req.text
        assert CATALOG.section_title(req.rfc, req.section), req


def test_requirement_is_a_frozen_record_with_the_agreed_fields():
    req = CATALOG.get("GAUGE-001")
    assert isinstance(req, Requirement)
    assert list(req.__dataclass_fields__) == ["id", "rfc", "section", "level", "text", "file", "line"]
    assert (req.rfc, req.section, req.level) == ("RFC-0002", "2.1", "MUST")
    with pytest.raises(AttributeError):
        req.text = "changed"  # type: ignore[misc]


def test_catalog_api():
    assert "GAUGE-001" in CATALOG and "GAUGE-999" not in CATALOG and 7 not in CATALOG
    assert CATALOG.get("ART-001").rfc == "RFC-0010"
    assert CATALOG.get("NOPE-001", None) is None
    with pytest.raises(RequirementError, match="unknown requirement id 'NOPE-001'"):
        CATALOG.get("NOPE-001")
    assert list(CATALOG) == list(CATALOG.all())
    assert CATALOG.ids == tuple(r.id for r in CATALOG.all())
    for spelling in ("0003", "3", 3, "RFC-0003", "rfc-0003", "RFC0003"):
        assert CATALOG.by_rfc(spelling) == tuple(r for r in CATALOG if r.id.startswith("FED-"))
    with pytest.raises(RequirementError, match="no RFC RFC-0004"):
        CATALOG.by_rfc("0004")
    with pytest.raises(RequirementError, match="not an RFC number"):
        CATALOG.by_rfc("gauge")
    musts = CATALOG.by_level("must")
    assert musts and all(r.level == "MUST" for r in musts)
    with pytest.raises(RequirementError, match="unknown level"):
        CATALOG.by_level("SHALL")
    both = CATALOG.filter(rfc="0010", level="SHOULD")
    assert both and all(r.rfc == "RFC-0010" and r.level == "SHOULD" for r in both)
    assert CATALOG.filter() == CATALOG.all()
    assert normalize_rfc(10) == "RFC-0010"
    assert isinstance(CATALOG, Catalog)
    assert repr(CATALOG) == f"Catalog({len(CATALOG)} requirements from RFC-0002, RFC-0003, RFC-0005, RFC-0010)"


def test_harness_parameters_are_defined_once_and_cited_ones_exist():
    params = CATALOG.parameters
    assert CATALOG.param("MAX_DRIFT_TO_REFERENCE_DEG") == 30.0
    assert CATALOG.param("MIN_LATENT_STD") == 1e-3
    assert CATALOG.param("BACKSTOP_THRESHOLD_DEG") == 15.0
    assert (CATALOG.param("OUTER_LR_DEFAULT"), CATALOG.param("OUTER_MOMENTUM_DEFAULT")) == (1.0, 0.0)
    with pytest.raises(RequirementError, match="unknown harness parameter"):
        CATALOG.param("NOT_A_PARAMETER")
    cited = {token for req in CATALOG for token in re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", req.text)}
    assert cited, "requirements should cite their tolerances by name"
    assert cited <= set(params), sorted(cited - set(params))


def test_protocol_defaults_match_the_rfc_parameters():
    from lensemble_spec.protocol import FederationConfig, OuterConfig

    assert OuterConfig().lr == CATALOG.param("OUTER_LR_DEFAULT")
    assert OuterConfig().momentum == CATALOG.param("OUTER_MOMENTUM_DEFAULT")
    assert FederationConfig().backstop_threshold_deg == CATALOG.param("BACKSTOP_THRESHOLD_DEG")


def test_cross_references_in_the_rfcs_name_existing_ids():
    prefixes = "|".join(RFC_PREFIXES.values())
    pattern = re.compile(rf"\b(?:{prefixes})-\d+\b")
    for path in RFC_FILES:  # README.md shows malformed ids on purpose
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for ref in pattern.findall(line):
                assert ref in CATALOG, f"{path.name}:{lineno} cites unknown {ref}"


def _normative_lines(path: Path):
    """Yield (lineno, line) for prose lines: outside requirement blocks, code fences and the
    conventions paragraph (the one that quotes RFC 2119)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    prose: list[tuple[int, str]] = []
    in_fence = in_block = False
    for lineno, line in enumerate(lines, 1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if re.match(r"^- \*\*[A-Z]+-\d{3}\*\* ", line):
            in_block = True
            continue
        if in_block and line.startswith("  ") and line.strip():
            continue
        in_block = False
        prose.append((lineno, line))
    paragraph: list[tuple[int, str]] = []
    for item in [*prose, (0, "")]:
        if item[1].strip():
            paragraph.append(item)
            continue
        if not any("RFC 2119" in text for _, text in paragraph):
            yield from paragraph
        paragraph = []


def test_rfc2119_keywords_appear_only_inside_requirement_blocks():
    keyword = re.compile(r"\b(MUST|SHOULD|MAY|SHALL|REQUIRED|RECOMMENDED|OPTIONAL)\b")
    stray = [
        f"{path.name}:{lineno}: {line.strip()}"
        for path in RFC_FILES
        for lineno, line in _normative_lines(path)
        if keyword.search(re.sub(r"`[^`]*`", "", line))
    ]
    assert not stray, "\n".join(stray)


def test_every_rfc_states_the_rfc2119_convention_and_numbered_sections():
    for path in RFC_FILES:
        text = path.read_text(encoding="utf-8")
        assert "RFC 2119" in text, path.name
        doc = CATALOG.document(path.name[:8])
        assert doc.title and doc.prefix == RFC_PREFIXES[doc.rfc]
        assert [s for s, _ in doc.sections][:1] == ["1"]
