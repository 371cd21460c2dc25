"""``lensemble-spec requirements`` prints the catalog, filters it, and fails cleanly on bad RFCs.

The command is reached through ``lensemble_spec.cli.main`` exactly as the console script does,
with the entry point declared in ``pyproject.toml``. Most tests pin the entry-point lookup to that
declaration (so they do not depend on whether the editable install's metadata is current, nor on
other commands' modules); ``test_installed_metadata_registers_the_command`` checks the install.

Defects caught: a command that drops or reorders requirements, ignores a filter, prints JSON
that is not the catalog, or turns a malformed RFC into a traceback instead of a coded error.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from lensemble_spec import cli
from lensemble_spec.requirements import load_catalog

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
GROUP = "lensemble_spec.commands"
CATALOG = load_catalog()


def _declared_entry_point() -> EntryPoint:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][GROUP]
    return EntryPoint(name="requirements", value=declared["requirements"], group=GROUP)


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Call ``cli.main(argv)`` with only the declared ``requirements`` entry point; return (rc, out, err)."""
    monkeypatch.setattr(cli, "entry_points", lambda group: [_declared_entry_point()] if group == GROUP else [])

    def _run(*argv: str):
        rc = cli.main(list(argv))
        out, err = capsys.readouterr()
        return rc, out, err

    return _run


def test_pyproject_declares_the_command():
    ep = _declared_entry_point()
    assert ep.value == "lensemble_spec.commands.requirements:register"
    assert callable(ep.load())


def test_installed_metadata_registers_the_command():
    names = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    assert names.get("requirements") == "lensemble_spec.commands.requirements:register", (
        "the installed package metadata does not declare the `requirements` command; "
        "re-run `make venv` (pip install -e .) so the entry points in pyproject.toml are installed"
    )


def test_table_lists_every_requirement_in_catalog_order(run_cli):
    rc, out, err = run_cli("requirements")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "LEVEL", "RFC", "SECTION", "REQUIREMENT"]
    rows = lines[1:-1]
    assert [row.split()[0] for row in rows] == list(CATALOG.ids)
    for row, req in zip(rows, CATALOG):
        assert row.split()[:4] == [req.id, req.level, req.rfc, f"§{req.section}"]
        assert row.endswith(req.text)
    musts = len(CATALOG.by_level("MUST"))
    shoulds = len(CATALOG.by_level("SHOULD"))
    mays = len(CATALOG.by_level("MAY"))
    assert lines[-1] == f"{len(CATALOG)} requirements ({musts} MUST, {shoulds} SHOULD, {mays} MAY)"


def test_json_is_the_catalog(run_cli):
    rc, out, _ = run_cli("requirements", "--json")
    assert rc == 0
    assert json.loads(out) == [asdict(r) for r in CATALOG]


@pytest.mark.parametrize(("rfc", "level"), [("0002", "MUST"), ("RFC-0003", "should"), ("10", None), (None, "MAY")])
def test_filters(run_cli, rfc, level):
    argv = ["requirements", "--json"]
    if rfc:
        argv += ["--rfc", rfc]
    if level:
        argv += ["--level", level]
    rc, out, _ = run_cli(*argv)
    assert rc == 0
    got = [item["id"] for item in json.loads(out)]
    expected = [r.id for r in CATALOG.filter(rfc=rfc, level=level)]
    assert got == expected and got


def test_unknown_rfc_is_a_coded_error(run_cli):
    rc, out, err = run_cli("requirements", "--rfc", "0004")
    assert rc == 1 and out == ""
    assert "code: requirement_invalid" in err and "RFC-0004" in err


def test_bad_level_is_a_usage_error(run_cli):
    with pytest.raises(SystemExit) as info:
        run_cli("requirements", "--level", "SHALL")
    assert info.value.code == 2


def test_malformed_rfc_dir_reports_file_and_line(run_cli, tmp_path):
    bad = tmp_path / "RFC-0099-bad.md"
    bad.write_text(
        "# RFC-0099: Bad\n\n| Requirement prefix | TST |\n\n## 1. Scope\n\n- **TST-001** (SHALL): It SHALL fail.\n"
    )
    rc, out, err = run_cli("requirements", "--rfc-dir", str(tmp_path))
    assert rc == 1 and out == ""
    assert f"{bad}:7:" in err and "code: requirement_invalid" in err


def test_rfc_dir_option_reads_another_catalog(run_cli, tmp_path):
    (tmp_path / "RFC-0099-ok.md").write_text(
        "# RFC-0099: Ok\n\n| Requirement prefix | TST |\n\n## 1. Scope\n\n- **TST-001** (MAY): It MAY pass.\n"
    )
    rc, out, _ = run_cli("requirements", "--rfc-dir", str(tmp_path), "--json")
    assert rc == 0
    assert [(i["id"], i["level"], i["line"]) for i in json.loads(out)] == [("TST-001", "MAY", 7)]


# --- --tests: id -> RFC file:line and the conformance tests ---------------------------------------
def _defined_tests(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{m.name}" for m in node.body if isinstance(m, ast.FunctionDef)}
    return names


def test_tests_listing_points_at_the_rfc_line_and_at_existing_tests(run_cli):
    rc, out, err = run_cli("requirements", "--tests", "--json")
    assert rc == 0 and err == ""
    rows = json.loads(out)
    assert [r["id"] for r in rows] == list(CATALOG.ids)
    suite = Path(__file__).resolve().parents[2] / "lensemble_spec"
    rfc_dir = suite / "rfcs"
    with_tests = 0
    for row in rows:
        file, line = row["rfc_location"].rsplit(":", 1)
        assert file == f"rfcs/{Path(row['file']).name}"
        assert f"**{row['id']}**" in (rfc_dir / Path(file).name).read_text(encoding="utf-8").splitlines()[int(line) - 1]
        for nodeid in row["tests"]:
            path, _, test = nodeid.partition("::")
            assert (suite / path).is_file(), nodeid
            assert not test or test in _defined_tests(suite / path), nodeid
        with_tests += bool(row["tests"])
    assert with_tests >= len(CATALOG.by_level("MUST"))


def test_tests_listing_as_text(run_cli):
    rc, out, _ = run_cli("requirements", "--tests", "--rfc", "0002")
    assert rc == 0
    lines = out.splitlines()
    first = CATALOG.filter(rfc="0002")[0]
    assert lines[0] == f"{first.id}  {first.level}  {first.rfc_location}"
    assert lines[1].startswith("  conformance/") and "::test_" in lines[1]
    assert lines[-1].startswith(f"{len(CATALOG.filter(rfc='0002'))} requirements, ")


def test_tests_listing_fails_on_a_marker_it_cannot_read(run_cli, monkeypatch):
    from lensemble_spec.commands import requirements as command

    monkeypatch.setattr(
        command,
        "scan_requirement_tests",
        lambda: ({}, ["conformance/test_x.py:3: requirement id is not a string literal (ID)"]),
    )
    rc, out, err = run_cli("requirements", "--tests", "--rfc", "0002")
    assert rc == 1
    assert "test_x.py:3" in err
    assert "(no conformance test)" in out.splitlines()[1]
