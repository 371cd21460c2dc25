"""A site dies mid-round in a secured deployment: the quorum of RFC-0003 decides, the run goes on.

TLS SuperLink with SuperNode authentication, 4 registered SuperNodes each holding one named silo
of the synthetic world (``synthetic-silo``), ``min_participants = 3``, 3 rounds. While node
``silo3`` is training round 2 (its SuperNode has logged receiving the second train message) the
whole site is stopped (the SuperNode and everything it spawned). Expected, and checked:

* round 2 commits with the three survivors (≥ quorum): its record lists exactly them and the
  committed global is the outer step over their updates only;
* the site is restarted with the same key; it rejoins in round 3 (record lists all four) with
  fresh optimiser state (it missed round 2), instead of refusing to continue;
* the run directory is complete and ``lensemble-spec verify`` passes it.

Defects caught: a coordinator that waits forever for a dead node or aborts a round that has its
quorum, a round record that lists a participant whose update was not committed, a restarted
node that cannot rejoin (stale-state refusal, a new node id never queried), a run left
half-written. Bounded: every wait has a deadline (4–7 min measured on 2 cores at load 16–28).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from ._deploy import BIN, wait_until
from ._helpers import tiny_config

pytestmark = pytest.mark.slow

SILOS = ["silo0", "silo1", "silo2", "silo3"]
VICTIM = "silo3"


def _records(run_dir):
    path = run_dir / "rounds.jsonl"
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError:  # rewritten atomically, but be tolerant of a concurrent read
        return []


def test_node_killed_mid_round_quorum_then_rejoin(tmp_path, deployment):
    from lensemble_reference.flower.deploy import write_app

    cfg = tiny_config("anchored", rounds=3, min_participants=3)
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    out = tmp_path / "run"
    app = write_app(
        tmp_path / "app",
        out_dir=out,
        config=cfg_file,
        control="anchored",
        timeout=400,
        node_wait=300,
        sites=4,
        rejoin_wait=300,
    )
    dep = deployment
    dep.start_superlink(dep.port, dep.creds)
    for i in range(len(SILOS)):
        dep.register(dep.creds / f"node{i}.pub", "local")
    for i, silo in enumerate(SILOS):
        dep.start_supernode(silo, dep.port, dep.creds, f"node{i}", f'synthetic-silo="{silo}"')
    run = dep.start("flwr-run", [str(BIN / "flwr"), "run", str(app), "local", "--stream"])  # stopped by the fixture
    partial = tmp_path / "run.partial"

    # stop the victim site while it trains round 2 (it has received its second train message)
    assert wait_until(lambda: dep.log(VICTIM).count("Receiving: train message") >= 2, 900), dep.logs()
    dep.terminate(VICTIM)
    assert wait_until(lambda: len(_records(partial)) >= 3 or out.is_dir(), 600), dep.logs()
    dep.start_supernode(VICTIM, dep.port, dep.creds, "node3", f'synthetic-silo="{VICTIM}"')

    try:
        run.wait(timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail("flwr run did not finish in time\n" + dep.logs())
    assert (out / "manifest.json").is_file(), dep.logs()

    records = _records(out)
    assert [r["round_index"] for r in records] == [0, 1, 2, 3]
    assert records[1]["participants"] == SILOS
    assert records[2]["participants"] == [s for s in SILOS if s != VICTIM]
    assert records[3]["participants"] == SILOS, dep.logs()
    for r in records[1:]:
        assert set(r["backstop_fired"]) == set(r["participants"])

    verify = subprocess.run(
        [str(BIN / "lensemble-spec"), "verify", str(out)], capture_output=True, text=True, timeout=300, check=False
    )
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
