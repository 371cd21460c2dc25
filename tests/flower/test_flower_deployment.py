"""Deployment-engine smoke test on 127.0.0.1: a SuperLink, one SuperNode per silo, ``flwr run``.

Starts ``flower-superlink --insecure`` on a free port and 4 ``flower-supernode --insecure``
processes (``--node-config "partition-id=i num-partitions=4"``: each regenerates only its own
silo of the synthetic world), submits the app written by ``lensemble_reference.flower.deploy`` with
``flwr run <app> <connection> --stream`` for ONE tiny anchored round, and checks the run
directory the ServerApp wrote commits the same content hashes as the in-process engine.
Defects caught: anything that only breaks across real processes — components not importable by
``flwr-serverapp``/``flwr-clientapp``, node config not reaching the ClientApp, node discovery,
state that does not survive between messages, non-determinism across processes.

Every process started here (and everything they spawned, found through /proc before they are
stopped) is terminated by pid in the fixture teardown. Slow: 30–90 s on a loaded 2-core
machine (each ClientApp message starts a fresh Python process that imports torch).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lensemble_reference.controls import run_control, world_inputs
from lensemble_reference.flower.deploy import write_app, write_connection

from ._helpers import needs_seam, tiny_config

pytestmark = [needs_seam, pytest.mark.slow]

BIN = Path(sys.executable).parent
NODES = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, start time) of live (non-zombie) processes, from /proc (Linux)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2 :].split()  # state ppid … starttime (field 22)
        if rest[0] != "Z":
            table[int(entry)] = (int(rest[1]), rest[19])
    return table


def _descendants(roots: list[int]) -> list[tuple[int, str]]:
    table = _proc_table()
    found, frontier = [], list(roots)
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, start) in table.items():
            if ppid == parent:
                found.append((pid, start))
                frontier.append(pid)
    return found


def _signal_if_same(pid: int, start: str, sig: int) -> None:
    """Signal ``pid`` only if it is still the process we recorded (pid reuse guard)."""
    if _proc_table().get(pid, (None, None))[1] == start:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Federation:
    """The processes of one local deployment; ``stop()`` ends all of them by pid."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str]) -> None:
        with open(self.workdir / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            self.procs.append(
                subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            )

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(self.workdir.glob("*.log"))
        )

    def stop(self) -> None:
        spawned = _descendants([p.pid for p in self.procs])  # superexec, serverapp, clientapps
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for pid, start in spawned:
            _signal_if_same(pid, start, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            _proc_table().get(pid, (0, ""))[1] == start for pid, start in spawned
        ):
            time.sleep(0.2)
        for pid, start in spawned:
            _signal_if_same(pid, start, signal.SIGKILL)


@pytest.fixture
def federation(tmp_path, flower_sandbox):
    if not (BIN / "flower-superlink").exists() or shutil.which("flwr", path=str(BIN)) is None:
        pytest.skip("flower-superlink / flwr executables are not installed next to this Python")
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the SuperLink spawns flower-superexec by name
    fed = Federation(tmp_path, env)
    yield fed
    fed.stop()


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def _checkpoints(run_dir: Path) -> list[tuple[int, str, str]]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return [(c["round_index"], c["path"], c["content_hash"]) for c in manifest["checkpoints"]]


def test_superlink_supernodes_flwr_run_commit_the_in_process_bits(tmp_path, federation, flower_sandbox):
    cfg = tiny_config("anchored", rounds=1)
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    port = _free_port()
    write_connection(flower_sandbox, name="local", address=f"127.0.0.1:{port}")
    app = write_app(
        tmp_path / "app", out_dir=tmp_path / "run", config=cfg_file, control="anchored", timeout=240, node_wait=90
    )

    started = time.monotonic()
    federation.start(
        "superlink",
        [
            str(BIN / "flower-superlink"),
            "--insecure",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--disable-runtime-dependency-installation",
        ],
    )
    for i in range(NODES):
        federation.start(
            f"supernode{i}",
            [
                str(BIN / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{port}",
                "--host", "127.0.0.1", "--port", str(_free_port()),
                "--node-config", f"partition-id={i} num-partitions={NODES}",
            ],
        )
    assert _wait_for_port(port, 150), federation.logs()
    run = subprocess.run(
        [str(BIN / "flwr"), "run", str(app), "local", "--stream"],
        env=federation.env, capture_output=True, text=True, timeout=300, check=False,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:] + federation.logs()
    assert (tmp_path / "run" / "manifest.json").is_file(), run.stdout[-2000:] + federation.logs()

    ref = run_control(cfg, world_inputs(cfg), tmp_path / "inprocess")
    deployed = _checkpoints(tmp_path / "run")
    assert [c[0] for c in deployed] == [0, 1]
    assert deployed == _checkpoints(ref.run_dir)
    print(f"deployment round trip: {elapsed:.1f} s")
