"""``lensemble-spec publish`` on a small real comparison (two controls, one round, two inner steps).

Defects caught: pins not written back or not resolving at the revision; a card whose front matter
huggingface_hub cannot parse or whose ``model-index`` differs from the ResultsTable; weights
published without metadata or with changed tensors (content hash no longer verifies); a publish
that is not reproducible (same files → same revision); bad input (no results.json, bad repo id,
--push without a token, a compliance JSON about another directory, a damaged checkpoint) that
writes anything; ``--push`` not going through huggingface_hub's commit API with every file, or
pins not using the Hub's commit id.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from lensemble_spec import cli
from lensemble_spec.artifacts.checkpoint import load_checkpoint
from lensemble_spec.publish.stmeta import read_metadata

REPO_ID = "acme/tiny-comparison"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("made") / "cmp"
    argv = [
        "headline",
        "--out",
        str(out),
        "--rounds",
        "1",
        "--inner-steps",
        "2",
        "--controls",
        "anchored,naive-fedavg",
        "--quiet",
    ]
    assert cli.main(argv) == 0
    return out


@pytest.fixture
def comparison(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "cmp"
    shutil.copytree(made, copy, symlinks=True)
    return copy


def publish(comparison: Path, hub: Path, *extra: str) -> int:
    return cli.main(["publish", str(comparison), "--repo-id", REPO_ID, "--hub-cache", str(hub), *extra])


def snapshot(hub: Path, table: dict) -> Path:
    rev = table["controls"][0]["pins"][0]["uri"].split("@")[1].split("/")[0]
    return hub / "models--acme--tiny-comparison" / "snapshots" / rev


def test_publish_pins_every_row_and_the_files_verify(comparison, tmp_path, capsys):
    hub = tmp_path / "hub"
    before = json.loads((comparison / "results.json").read_text())
    assert all(row["pins"] == [] for row in before["controls"])
    assert publish(comparison, hub) == 0
    table = json.loads((comparison / "results.json").read_text())
    assert [r["metrics"] for r in table["controls"]] == [r["metrics"] for r in before["controls"]]
    snap = snapshot(hub, table)
    out = capsys.readouterr().out
    assert snap.name in out and "pytest conformance/" in out
    for row in table["controls"]:
        paths = [p["uri"].split(snap.name + "/", 1)[1] for p in row["pins"]]
        assert f"{row['control']}/checkpoints/round-0001/weights.safetensors" in paths
        assert f"{row['control']}/probe.safetensors" in paths
        for pin, path in zip(row["pins"], paths):
            assert hashlib.sha256((snap / path).read_bytes()).hexdigest() == pin["sha256"]
        # the published checkpoint is still an RFC-0010 checkpoint with the run's content hash
        local_header = json.loads((comparison / row["control"] / "checkpoints/round-0001/header.json").read_text())
        local = shutil.copytree(snap / row["control"] / "checkpoints/round-0001", tmp_path / "dl" / row["control"])
        _, header = load_checkpoint(local)  # as `huggingface-cli download --local-dir` leaves it
        assert header.content_hash == local_header["content_hash"]
        meta = read_metadata((snap / row["control"] / "checkpoints/round-0001/weights.safetensors").read_bytes())
        assert (
            meta["lensemble_spec.control"] == row["control"]
            and meta["lensemble_spec.content_hash"] == header.content_hash
        )
        assert meta["format"] == "pt" and meta["lensemble_spec.round_index"] == "1"
    config = json.loads((snap / "config.json").read_text())
    assert config["latent_dim"] == 16 and set(config["controls"]) == {"anchored", "naive-fedavg"}
    assert json.loads((snap / "train_config.json").read_text())["rounds"] == 1


def test_card_front_matter_parses_and_matches_the_table(comparison, tmp_path):
    from huggingface_hub import ModelCard

    assert publish(comparison, tmp_path / "hub", "--dataset", "acme/so100", "--license", "mit") == 0
    table = json.loads((comparison / "results.json").read_text())
    card = ModelCard.load(snapshot(tmp_path / "hub", table) / "README.md")
    assert card.data.license == "mit" and card.data.datasets == ["acme/so100"]
    assert card.data.model_name == REPO_ID and card.data.library_name == "lensemble-spec"
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert {r.metric_type for r in card.data.eval_results} <= set(table["controls"][0]["metrics"])
    want = {f"{k} ({row['control']})": v for row in table["controls"]
            for k, v in row["metrics"].items() if v is not None and "/" not in k}
    assert got == want
    assert "Not checked yet" in card.text and "--revision REVISION" in card.text


def test_same_comparison_same_revision(comparison, tmp_path):
    assert publish(comparison, tmp_path / "a") == 0
    first = json.loads((comparison / "results.json").read_text())
    assert publish(comparison, tmp_path / "b") == 0  # results.json now holds pins: they are not published
    second = json.loads((comparison / "results.json").read_text())
    assert first == second


@pytest.mark.parametrize(
    "case, code",
    [("no-results", "artifact_invalid"), ("bad-repo", "config_invalid"), ("push-no-token", "config_invalid"),
     ("damaged", "checkpoint_integrity"), ("other-compliance", "artifact_invalid")],
)
def test_bad_input_is_a_typed_error_and_writes_nothing(comparison, tmp_path, capsys, monkeypatch, case, code):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    hub = tmp_path / "hub"
    args = ["publish", str(comparison), "--repo-id", REPO_ID, "--hub-cache", str(hub)]
    if case == "no-results":
        (comparison / "results.json").unlink()
    elif case == "bad-repo":
        args[args.index(REPO_ID)] = "acme/bad--name"
    elif case == "push-no-token":
        args.append("--push")
    elif case == "damaged":
        w = comparison / "anchored" / "checkpoints" / "round-0001" / "weights.safetensors"
        data = bytearray(w.read_bytes())
        data[-1] ^= 0xFF
        w.write_bytes(bytes(data))
    elif case == "other-compliance":
        doc = _compliance(run_dirs=[str(tmp_path / "elsewhere")])
        (tmp_path / "c.json").write_text(json.dumps(doc))
        args += ["--compliance", str(tmp_path / "c.json")]
    before = (comparison / "results.json").read_bytes() if (comparison / "results.json").exists() else None
    assert cli.main(args) == 1
    assert f"code: {code}" in capsys.readouterr().err
    assert not hub.exists()
    if before is not None:
        assert (comparison / "results.json").read_bytes() == before


def _compliance(run_dirs: list[str], verdict: str = "conformant") -> dict:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
    from report_fixtures import make_report, req

    outcome = "passed" if verdict == "conformant" else "failed"
    report = make_report([req("A-001")], {"t::a": (["A-001"], outcome, None)})
    doc = report.model_dump(mode="json")
    doc["run_info"]["run_dirs"] = run_dirs
    return doc


def test_compliance_verdict_is_stated_on_the_card(comparison, tmp_path):
    from huggingface_hub import ModelCard

    (tmp_path / "c.json").write_text(json.dumps(_compliance(run_dirs=[str(comparison)])))
    assert publish(comparison, tmp_path / "hub", "--compliance", str(tmp_path / "c.json")) == 0
    table = json.loads((comparison / "results.json").read_text())
    card = ModelCard.load(snapshot(tmp_path / "hub", table) / "README.md")
    assert "**Verdict: conformant**" in card.text and "Not checked yet" not in card.text


def test_push_commits_every_file_through_huggingface_hub_and_pins_the_hub_revision(comparison, tmp_path, monkeypatch):
    import huggingface_hub

    hub_rev = "feedfacefeedfacefeedfacefeedfacefeedface"
    calls: dict = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, **kw):
            calls["repo"] = (repo_id, kw)

        def create_commit(self, repo_id, operations, commit_message, repo_type):
            calls["ops"] = {op.path_in_repo: op.path_or_fileobj for op in operations}
            return type("CommitInfo", (), {"oid": hub_rev})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    assert publish(comparison, tmp_path / "hub", "--push") == 0
    assert calls["token"] == "hf_test_token" and calls["repo"][0] == REPO_ID
    table = json.loads((comparison / "results.json").read_text())
    snap = snapshot(tmp_path / "hub", table)
    assert snap.name == hub_rev
    on_disk = {p.relative_to(snap).as_posix(): p.read_bytes() for p in snap.rglob("*") if p.is_file()}
    assert calls["ops"] == on_disk
