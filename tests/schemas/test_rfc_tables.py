"""The RFC text's field tables are the schemas: generated from the models, checked for identity.

Defects caught: an RFC table that no longer says what the validator enforces (a field added,
renamed, made optional, constrained differently, or a hand edit between the markers), a document
model with no table in any RFC, a table naming a model that does not exist, a table repeated in
two places, a run document whose fields carry no meaning, and a ``--check`` that reports success
on stale text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from lensemble_spec.errors import ArtifactError
from lensemble_spec.schemas import document_models, json_schema
from lensemble_spec.schemas.rfc_tables import render_block, rfc_files, sync_rfc_tables

RUN_DOCUMENTS = ("CheckpointHeader", "RunManifest", "RoundRecord", "ResultsTable", "ArtifactPin")


def test_rfc_text_and_schemas_are_identical():
    result = sync_rfc_tables(write=False)
    assert result == {"stale": [], "missing": [], "unknown": []}, (
        f"{result}: run `lensemble-spec schema --rfc-tables` and commit the RFC text"
    )


def test_every_field_of_every_document_is_in_its_table():
    text = "".join(p.read_text(encoding="utf-8") for p in rfc_files())
    for name, model in document_models().items():
        block = re.search(rf"<!-- BEGIN schema-table {name} -->\n(.*?)<!-- END schema-table {name} -->", text, re.S)
        assert block, name
        schema = json_schema(model)
        objects = {name: schema, **schema.get("$defs", {})}
        for obj, sub in objects.items():
            if obj != name and obj in document_models():
                continue
            if f"**`{obj}`**" not in block.group(1):
                continue  # reachable only through another document, which has its own table
            for field in sub.get("properties", {}):
                assert re.search(rf"^\| `{field}` \|", block.group(1), re.M), f"{name}: {obj}.{field} missing"


@pytest.mark.parametrize("name", RUN_DOCUMENTS)
def test_run_documents_say_what_every_field_means(name):
    body = render_block(name)
    rows = [r for r in body.splitlines() if r.startswith("| `")]
    assert rows
    blank = [r.split("|")[1].strip() for r in rows if r.rstrip().endswith("| — |")]
    assert not blank, f"{name}: fields without a description: {blank}"


def test_nested_metrics_are_a_separate_table_not_top_level_fields():
    body = render_block("RoundRecord")
    top, nested = body.split("**`RoundMetrics`**")
    assert "| `metrics` | `RoundMetrics` object | required |" in top
    assert "`drift_to_reference_deg`" not in top.split("Rules:")[0]
    assert "| `drift_to_reference_deg` |" in nested


@pytest.fixture()
def rfc_copy(tmp_path):
    for path in rfc_files():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _rfc0010(root):
    return next(root.glob("RFC-0010-*.md"))


def test_a_hand_edit_is_stale_and_regeneration_restores_it(rfc_copy):
    path = _rfc0010(rfc_copy)
    original = path.read_text(encoding="utf-8")
    path.write_text(
        original.replace(
            "| `round_index` | integer | required | ≥ 0 |", "| `round_index` | integer | optional | ≥ 1 |", 1
        )
    )
    assert sync_rfc_tables(rfc_copy, write=False)["stale"] == [path.name]
    assert path.read_text(encoding="utf-8") != original  # a check writes nothing
    assert sync_rfc_tables(rfc_copy)["stale"] == [path.name]
    assert path.read_text(encoding="utf-8") == original
    assert sync_rfc_tables(rfc_copy, write=False)["stale"] == []


def test_missing_unknown_and_repeated_blocks_are_reported(rfc_copy):
    path = _rfc0010(rfc_copy)
    text = path.read_text(encoding="utf-8")
    start = text.index("<!-- BEGIN schema-table ArtifactPin -->")
    end = text.index("<!-- END schema-table ArtifactPin -->") + len("<!-- END schema-table ArtifactPin -->")
    path.write_text(
        text[:start] + "<!-- BEGIN schema-table NoSuchDoc -->\n<!-- END schema-table NoSuchDoc -->" + text[end:]
    )
    result = sync_rfc_tables(rfc_copy, write=False)
    assert result["missing"] == ["ArtifactPin"] and result["unknown"] == [f"{path.name}:NoSuchDoc"]
    path.write_text(text + "\n<!-- BEGIN schema-table RunManifest -->\n<!-- END schema-table RunManifest -->\n")
    with pytest.raises(ArtifactError, match="appears twice"):
        sync_rfc_tables(rfc_copy, write=False)
    path.write_text(text.replace("<!-- END schema-table ArtifactPin -->", ""))
    with pytest.raises(ArtifactError, match="no matching END"):
        sync_rfc_tables(rfc_copy, write=False)


def test_cli_check_fails_on_stale_text_and_rewrite_fixes_it(rfc_copy):
    path = _rfc0010(rfc_copy)
    path.write_text(path.read_text(encoding="utf-8").replace("Document layout version.", "Version.", 1))
    cli = [sys.executable, "-m", "lensemble_spec.cli", "schema", "--rfc-tables", "--rfc-dir", str(rfc_copy)]
    checked = subprocess.run([*cli, "--check"], capture_output=True, text=True)
    assert checked.returncode == 1 and f"stale: {path.name}" in checked.stdout
    assert subprocess.run(cli, capture_output=True, text=True).returncode == 0
    again = subprocess.run([*cli, "--check"], capture_output=True, text=True)
    assert again.returncode == 0 and "match the schemas" in again.stdout
