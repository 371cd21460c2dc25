"""The RFC parser: rendering round-trips, and every malformed block is refused at its file:line.

Defects these tests catch: a parser that silently drops a malformed block (a requirement would
vanish from coverage), accepts a duplicate or mis-prefixed id, reports the wrong line, or reads
lines inside code fences as requirements.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.errors import ErrorCode, RequirementError
from lensemble_spec.requirements import (
    LEVELS,
    Parameter,
    Requirement,
    load_catalog,
    parse_rfc_text,
    render_parameter,
    render_requirement,
)

FILE = "RFC-0002-test-doc.md"

# --- round trip ----------------------------------------------------------------------------------
# no backticks: a code span could hide the keyword
_WORD_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_()<>=+/,;:'"
_words = st.text(alphabet=_WORD_CHARS, min_size=1, max_size=14).filter(
    lambda w: w[0].isalnum() and w not in LEVELS
)


@st.composite
def _requirement_texts(draw, level: str) -> str:
    before = draw(st.lists(_words, max_size=12))
    after = draw(st.lists(_words, min_size=1, max_size=30))
    keyword = level if level != "MUST" or not draw(st.booleans()) else "MUST NOT"
    return " ".join([*before, keyword, *after]) + "."


@st.composite
def _documents(draw):
    """(sections, requirements, parameters) for one RFC-0099 document with prefix TST."""
    n_sections = draw(st.integers(1, 4))
    sections = [f"{i + 1}" if draw(st.booleans()) else f"{i + 1}.{draw(st.integers(1, 9))}" for i in range(n_sections)]
    reqs: list[tuple[str, str, str]] = []
    params: list[tuple[str, object, str, str]] = []
    number = 0
    for section in sections:
        for _ in range(draw(st.integers(0, 4))):
            number += 1
            level = draw(st.sampled_from(LEVELS))
            reqs.append((section, level, draw(_requirement_texts(level))))
        if draw(st.booleans()):
            value = draw(
                st.one_of(
                    st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.booleans(),
                    st.text(alphabet="abcdef xyz_-", max_size=10),
                )
            )
            params.append(
                (section, value, f"P{len(params)}_NAME", " ".join(draw(st.lists(_words, min_size=1, max_size=20))))
            )
    return sections, reqs, params


def _render_document(sections, reqs, params, width):
    lines = ["# RFC-0099: Generated", "", "| Field | Value |", "|---|---|", "| Requirement prefix | TST |", ""]
    expected: list[Requirement] = []
    expected_params: list[Parameter] = []
    n = 0
    for section in sections:
        lines += [
            f"{'##' if '.' not in section else '###'} {section}{'.' if '.' not in section else ''} Title {section}",
            "",
        ]
        for sec, level, text in reqs:
            if sec != section:
                continue
            n += 1
            req = Requirement(f"TST-{n:03d}", "RFC-0099", section, level, text, "RFC-0099-gen.md", len(lines) + 1)
            expected.append(req)
            lines += render_requirement(req, width=width).split("\n")
            lines.append("")  # blank line between blocks, as in the RFCs
        for sec, value, name, text in params:
            if sec != section:
                continue
            param = Parameter(name, value, "RFC-0099", section, text + ".", "RFC-0099-gen.md", len(lines) + 1)
            expected_params.append(param)
            lines += render_parameter(param, width=width).split("\n")
        lines.append("Some prose, which is ignored by the parser.")
        lines.append("")
    return "\n".join(lines), expected, expected_params


@settings(max_examples=50, deadline=None, derandomize=True)
@given(doc=_documents(), width=st.integers(40, 120))
def test_render_then_parse_round_trips(doc, width):
    sections, reqs, params = doc
    text, expected, expected_params = _render_document(sections, reqs, params, width)
    parsed = parse_rfc_text(text, "RFC-0099-gen.md")
    assert parsed.requirements == tuple(expected)
    assert parsed.parameters == tuple(expected_params)
    assert parsed.document.prefix == "TST"
    assert [s for s, _ in parsed.document.sections] == sections


def test_real_requirements_round_trip_through_rendering(make_doc, body_line):
    """Every block of the shipped RFCs re-renders (at several widths) to the same requirement."""
    for req in load_catalog():
        prefix = req.prefix
        for width in (60, 100, 200):
            text = make_doc(render_requirement(req, width=width), rfc=req.rfc[4:], prefix=prefix)
            (parsed,) = parse_rfc_text(text, f"{req.rfc}-x.md").requirements
            assert (parsed.id, parsed.level, parsed.text, parsed.line) == (req.id, req.level, req.text, body_line)


def test_continuation_lines_are_joined_and_whitespace_normalised(make_doc):
    text = make_doc(
        "- **GAUGE-001** (MUST): An implementation MUST",
        "  return   a value",
        "     within tolerance.",
        "Prose after the block.",
    )
    (req,) = parse_rfc_text(text, FILE).requirements
    assert req.text == "An implementation MUST return a value within tolerance."
    assert (req.rfc, req.section, req.level, req.line) == ("RFC-0002", "1", "MUST", 9)


def test_block_ends_at_blank_line_and_next_block_starts(make_doc):
    text = make_doc(
        "- **GAUGE-001** (MUST): One MUST hold.",
        "",
        "  indented prose after a blank line is not part of the block.",
        "- **GAUGE-002** (SHOULD): Two SHOULD hold.",
    )
    reqs = parse_rfc_text(text, FILE).requirements
    assert [(r.id, r.text, r.line) for r in reqs] == [
        ("GAUGE-001", "One MUST hold.", 9),
        ("GAUGE-002", "Two SHOULD hold.", 12),
    ]


def test_fenced_code_is_ignored(make_doc):
    text = make_doc(
        "```markdown",
        "- **GAUGE-001** (MUST): An example inside a fence MUST NOT be parsed.",
        "- **broken** (SHALL)",
        "```",
        "~~~~",
        "- `NOT_A_PARAM` = oops",
        "~~~~",
        "- **GAUGE-001** (MAY): The real block MAY exist.",
    )
    (req,) = parse_rfc_text(text, FILE).requirements
    assert (req.id, req.level, req.line) == ("GAUGE-001", "MAY", 16)


def test_code_spans_do_not_count_as_sentence_breaks(make_doc):
    text = make_doc("- **GAUGE-001** (MUST): A value MUST equal `x. Y` within `TOL. Z`.")
    (req,) = parse_rfc_text(text, FILE).requirements
    assert req.text.endswith("`TOL. Z`.")


def test_sections_follow_the_nearest_numbered_heading(make_doc):
    text = make_doc(
        "- **GAUGE-001** (MUST): One MUST hold.",
        "### 1.2 Sub",
        "- **GAUGE-002** (MUST): Two MUST hold.",
        "## 7. Later",
        "- **GAUGE-003** (MUST): Three MUST hold.",
    )
    parsed = parse_rfc_text(text, FILE)
    assert [r.section for r in parsed.requirements] == ["1", "1.2", "7"]
    assert parsed.document.sections == (("1", "Scope"), ("1.2", "Sub"), ("7", "Later"))


def test_parameters_parse_literals(make_doc):
    text = make_doc(
        "- `TOL_A` = `1e-4` — a float.",
        "- `COUNT_B` = `64` — an int that",
        "  continues here.",
        "- `FLAG_C` = `True` — a bool.",
        "- `NAME_D` = `'x y'` — a string.",
    )
    params = {p.name: p for p in parse_rfc_text(text, FILE).parameters}
    assert params["TOL_A"].value == 1e-4 and isinstance(params["TOL_A"].value, float)
    assert params["COUNT_B"].value == 64 and params["COUNT_B"].text == "an int that continues here."
    assert params["FLAG_C"].value is True
    assert params["NAME_D"].value == "x y"
    assert params["COUNT_B"].line == 10


# --- malformed input: each failure names file and line ---------------------------------------------
MALFORMED = [
    # (body lines, offset of the offending line within the body, message fragment)
    (["- **GAUGE-001** MUST: Text MUST hold."], 0, "missing level"),
    (["- GAUGE-001 (MUST): Text MUST hold."], 0, "does not match"),
    (["**GAUGE-001** (MUST): Text MUST hold."], 0, "does not match"),
    (["  - **GAUGE-001** (MUST): Text MUST hold."], 0, "column 0"),
    (["- **GAUGE-1** (MUST): Text MUST hold."], 0, "malformed requirement id"),
    (["- **GAUGE-0001** (MUST): Text MUST hold."], 0, "malformed requirement id"),
    (["- **gauge-001** (MUST): Text MUST hold."], 0, "malformed requirement id"),
    (["- **FED-001** (MUST): Text MUST hold."], 0, "does not match RFC-0002's prefix GAUGE"),
    (["- **GAUGE-001** (SHALL): Text SHALL hold."], 0, "level 'SHALL' is not one of"),
    (["- **GAUGE-001** (must): Text MUST hold."], 0, "level 'must' is not one of"),
    (["- **GAUGE-001** (MUST NOT): Text MUST NOT hold."], 0, "level 'MUST NOT' is not one of"),
    (["- **GAUGE-001** (MUST):"], 0, "empty"),
    (["- **GAUGE-001** (MUST):   "], 0, "empty"),
    (["- **GAUGE-001** (MUST) Text MUST hold."], 0, "missing ':'"),
    (["- **GAUGE-001** (MUST): Text MUST hold"], 0, "ending with '.'"),
    (["- **GAUGE-001** (MUST): Text MUST hold. Another sentence starts."], 0, "exactly one sentence"),
    (["- **GAUGE-001** (MUST): Text should hold."], 0, "must use the keyword MUST"),
    (["- **GAUGE-001** (SHOULD): Text MUST hold."], 0, "must use the keyword SHOULD"),
    (["- **GAUGE-001** (MUST): Text MUST hold and MAY vary."], 0, "must not use the keyword MAY"),
    (["- **GAUGE-001** (MAY): Text MAY vary but SHOULD NOT."], 0, "must not use the keyword SHOULD"),
    (["- **GAUGE-001** (MUST): Text MUST", "  - **GAUGE-002** (MUST): hold."], 1, "nested"),
    (["- **GAUGE-001** (MUST): Text MUST", "  ```", "  hold.", "  ```"], 1, "code fence"),
    (["- **GAUGE-001** (MUST): One MUST hold.", "", "- **GAUGE-001** (MUST): Two MUST hold."], 2,
     f"duplicate requirement id GAUGE-001 (first defined at {FILE}:9)"),
    (["## Appendix", "", "- **GAUGE-001** (MUST): Text MUST hold."], 2, "not under a numbered section"),
    (["```", "- **GAUGE-001** (MUST): Never closed MUST fail."], 0, "never closed"),
    (["# RFC-0002: Second title"], 0, "level-1 heading"),
    (["| Requirement prefix | GAUGE |"], 0, "declared twice"),
    (["- `TOL` = 1e-3 — no backticks around the value."], 0, "looks like a parameter"),
    (["- `TOL` = `1e-3`"], 0, "looks like a parameter"),
    (["- `TOL` = `abc def` — not a literal."], 0, "not a Python literal"),
    (["- `TOL` = `[1, 2]` — a list."], 0, "number, string or boolean"),
    (["- `TOL` = `1` — one.", "- `TOL` = `2` — two."], 1, "duplicate parameter TOL"),
]


@pytest.mark.parametrize(
    ("body", "offset", "fragment"), MALFORMED, ids=[m[2] + f"-{i}" for i, m in enumerate(MALFORMED)]
)
def test_malformed_block_is_refused_naming_file_and_line(make_doc, body_line, body, offset, fragment):
    with pytest.raises(RequirementError) as info:
        parse_rfc_text(make_doc(*body), FILE)
    err = info.value
    line = body_line + offset
    assert err.code is ErrorCode.REQUIREMENT_INVALID
    assert err.message.startswith(f"{FILE}:{line}: "), err.message
    assert fragment in err.message
    assert err.details == {"file": FILE, "line": line}


def test_missing_prefix_row_is_refused_at_the_first_requirement(make_doc, body_line):
    with pytest.raises(RequirementError) as info:
        parse_rfc_text(make_doc("- **GAUGE-001** (MUST): Text MUST hold.", prefix=None), FILE)
    assert info.value.message.startswith(f"{FILE}:{body_line}: GAUGE-001: the RFC declares no")


def test_an_rfc_without_requirements_is_allowed(make_doc):
    parsed = parse_rfc_text(make_doc("Only prose here.", prefix=None), FILE)
    assert parsed.requirements == () and parsed.document.prefix is None


def test_known_rfc_must_use_its_assigned_prefix(make_doc):
    with pytest.raises(RequirementError) as info:
        parse_rfc_text(make_doc("- **FED-001** (MUST): Text MUST hold.", prefix="FED"), FILE)
    assert info.value.message == f"{FILE}:5: RFC-0002 must use the requirement prefix GAUGE, not FED"


def test_malformed_prefix_is_refused(make_doc):
    with pytest.raises(RequirementError) as info:
        parse_rfc_text(make_doc(rfc="0099", prefix="tst"), "RFC-0099-x.md")
    assert info.value.message.startswith("RFC-0099-x.md:5: requirement prefix 'tst'")


@pytest.mark.parametrize(
    ("text", "name", "fragment"),
    [
        ("Not a title\n", FILE, "must start with '# RFC-0002: <title>'"),
        ("\n\n# RFC-0003: Wrong number\n", FILE, "title names RFC-0003 but the file name says RFC-0002"),
        ("# RFC-0002: Fine\n", "RFC-2-short.md", "file name"),
        ("# RFC-0002: Fine\n", "rfc-0002-lower.md", "file name"),
        ("", FILE, "must start with"),
    ],
)
def test_bad_title_or_file_name(text, name, fragment):
    with pytest.raises(RequirementError) as info:
        parse_rfc_text(text, name)
    assert fragment in info.value.message
    assert info.value.message.startswith(f"{name}:")
    assert info.value.details["line"] in (1, 3)


def test_title_error_points_at_the_title_line():
    with pytest.raises(RequirementError) as info:
        parse_rfc_text("\n\n# RFC-0003: Wrong number\n", FILE)
    assert info.value.details == {"file": FILE, "line": 3}


# --- whole directories -----------------------------------------------------------------------------
def test_load_catalog_of_a_directory(write_rfc, make_doc):
    write_rfc("RFC-0099-b.md", make_doc("- **TSTB-001** (SHOULD): B SHOULD hold.", rfc="0099", prefix="TSTB"))
    directory = write_rfc("RFC-0098-a.md", make_doc("- **TSTA-001** (MUST): A MUST hold.", rfc="0098", prefix="TSTA"))
    (directory / "README.md").write_text("- **TSTA-001** (MUST): Not an RFC file, MUST be ignored.\n")
    catalog = load_catalog(directory)
    assert catalog.ids == ("TSTA-001", "TSTB-001")  # RFC order, not glob order
    assert catalog.get("TSTB-001").file == str(directory / "RFC-0099-b.md")
    assert catalog.rfcs == ("RFC-0098", "RFC-0099")


def test_error_in_one_file_names_that_file(write_rfc, make_doc, body_line):
    write_rfc("RFC-0098-a.md", make_doc("- **TSTA-001** (MUST): A MUST hold.", rfc="0098", prefix="TSTA"))
    directory = write_rfc(
        "RFC-0099-b.md", make_doc("", "- **TSTB-001** (MUST): no period MUST", rfc="0099", prefix="TSTB")
    )
    with pytest.raises(RequirementError) as info:
        load_catalog(directory)
    bad = str(directory / "RFC-0099-b.md")
    assert info.value.details == {"file": bad, "line": body_line + 1}
    assert info.value.message.startswith(f"{bad}:{body_line + 1}: ")


def test_two_rfcs_may_not_share_a_prefix(write_rfc, make_doc):
    write_rfc("RFC-0098-a.md", make_doc("- **TST-001** (MUST): A MUST hold.", rfc="0098", prefix="TST"))
    directory = write_rfc("RFC-0099-b.md", make_doc("- **TST-001** (MUST): A MUST hold.", rfc="0099", prefix="TST"))
    with pytest.raises(RequirementError, match="prefix TST is already used by RFC-0098") as info:
        load_catalog(directory)
    assert info.value.details["file"].endswith("RFC-0099-b.md")


def test_two_files_may_not_define_the_same_rfc(write_rfc, make_doc):
    write_rfc("RFC-0098-a.md", make_doc(rfc="0098", prefix="TSTA"))
    directory = write_rfc("RFC-0098-b.md", make_doc(rfc="0098", prefix="TSTB"))
    with pytest.raises(RequirementError, match="RFC-0098 is also defined by"):
        load_catalog(directory)


def test_duplicate_parameter_across_files_is_refused(write_rfc, make_doc):
    write_rfc("RFC-0098-a.md", make_doc("- `SAME` = `1` — one.", rfc="0098", prefix="TSTA"))
    directory = write_rfc("RFC-0099-b.md", make_doc("- `SAME` = `2` — two.", rfc="0099", prefix="TSTB"))
    with pytest.raises(RequirementError, match=r"duplicate parameter SAME \(first defined at .*RFC-0098-a.md:9\)"):
        load_catalog(directory)


def test_missing_or_empty_directory_is_a_requirement_error(tmp_path):
    with pytest.raises(RequirementError, match="does not exist"):
        load_catalog(tmp_path / "nope")
    with pytest.raises(RequirementError, match="no RFC-"):
        load_catalog(tmp_path)
