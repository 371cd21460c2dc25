"""Processes of a local Flower deployment for tests: SuperLink, SuperNodes, ``flwr`` commands.

Robustness rules (these tests run on a loaded 2-core machine):

* every port is chosen free by the OS (bind to port 0) right before use;
* readiness is polled with retries and a deadline (never a fixed sleep): the SuperLink is ready
  when ``flwr supernode register`` / ``flwr supernode list`` succeeds against it;
* every process started here, and everything it spawned (found through /proc BEFORE the parents
  are stopped: ``flower-superexec``, ``flwr-serverapp``, ``flwr-clientapp``), is ended by pid in
  :meth:`Deployment.stop`, which the fixtures call in ``finally``/teardown;
* every wait has a bound; a timeout fails the test with the processes' logs attached.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_table() -> dict[int, tuple[int, str]]:
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


def descendants(roots: list[int]) -> list[tuple[int, str]]:
    table = proc_table()
    found, frontier = [], list(roots)
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, start) in table.items():
            if ppid == parent:
                found.append((pid, start))
                frontier.append(pid)
    return found


def signal_if_same(pid: int, start: str, sig: int) -> None:
    """Signal ``pid`` only if it is still the process we recorded (pid reuse guard)."""
    if proc_table().get(pid, (None, None))[1] == start:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def _reap(proc: subprocess.Popen, timeout: float) -> None:
    """Wait for ``proc``; SIGKILL it after ``timeout`` s; never raises."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class Deployment:
    """The processes of one local deployment, by name; :meth:`stop` ends all of them by pid."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.procs: dict[str, subprocess.Popen] = {}
        self.retired: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log_path = self.workdir / f"{name}.log"
        with open(log_path, "ab") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if name in self.procs:
            self.retired.append(self.procs[name])
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(self.workdir.glob("*.log"))
        )

    def flwr(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "flwr"), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def terminate(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Stop one process and everything it spawned (a site going down); never raises."""
        proc = self.procs[name]
        spawned = descendants([proc.pid])
        if proc.poll() is None:
            proc.send_signal(sig)
        _reap(proc, timeout)
        for pid, start in spawned:
            signal_if_same(pid, start, signal.SIGKILL)

    def stop(self) -> None:
        procs = [*self.procs.values(), *self.retired]
        spawned = descendants([p.pid for p in procs])  # superexec, serverapp, clientapps
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            _reap(p, 15)
        for pid, start in spawned:
            signal_if_same(pid, start, signal.SIGTERM)
        wait_until(lambda: not any(proc_table().get(pid, (0, ""))[1] == start for pid, start in spawned), 5, 0.2)
        for pid, start in spawned:
            signal_if_same(pid, start, signal.SIGKILL)

    # -- the secured deployment ---------------------------------------------------------------------
    def start_superlink(self, port: int, creds: Path) -> None:
        self.start(
            "superlink",
            [
                str(BIN / "flower-superlink"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--ssl-ca-certfile",
                str(creds / "ca.crt"),
                "--ssl-certfile",
                str(creds / "server.pem"),
                "--ssl-keyfile",
                str(creds / "server.key"),
                "--enable-supernode-auth",
                "--disable-runtime-dependency-installation",
            ],
        )

    def register(self, public_key: Path, connection: str, timeout: float = 300) -> None:
        """``flwr supernode register`` with retries until the SuperLink answers (its readiness)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.procs["superlink"].poll() is not None:
                raise AssertionError("the SuperLink exited\n" + self.logs())
            try:
                out = self.flwr(
                    "supernode",
                    "register",
                    str(public_key),
                    connection,
                    timeout=max(10.0, min(90.0, deadline - time.monotonic())),
                )
            except subprocess.TimeoutExpired as exc:  # the CLI itself is slow under load: retry
                text = f"timed out: {exc}"
            else:
                if out.returncode == 0 and "registered" in out.stdout:
                    return
                text = out.stdout[-1500:] + out.stderr[-1500:]
            if time.monotonic() > deadline:
                raise AssertionError(f"could not register {public_key.name}: {text}\n{self.logs()}")
            time.sleep(1.0)

    def wait_refused(self, name: str, timeout: float = 300) -> str:
        """Wait (bounded) until SuperNode ``name`` logs that the SuperLink refused it, stop it, and
        return its log. (Its process may linger after the refusal while its SuperExec child
        starts, so the log, not the exit, is the signal.)"""
        if not wait_until(
            lambda: "Failed to initialize the connection to the SuperLink" in self.log(name), timeout, 0.5
        ):
            raise AssertionError(f"SuperNode {name} was not refused within {timeout:.0f} s\n{self.log(name)[-3000:]}")
        self.terminate(name)
        return self.log(name)

    def start_supernode(
        self, name: str, superlink_port: int, creds: Path, key: str | None, node_config: str, *, insecure: bool = False
    ) -> subprocess.Popen:
        """A SuperNode over TLS with key ``<creds>/<key>.key`` (``insecure``: plaintext, and no key,
        since Flower's own CLI refuses a key without TLS before it ever connects)."""
        args = [
            str(BIN / "flower-supernode"),
            "--superlink",
            f"127.0.0.1:{superlink_port}",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
        ]
        args += ["--insecure"] if insecure else ["--root-certificates", str(creds / "ca.crt")]
        if key is not None:
            args += ["--auth-supernode-private-key", str(creds / f"{key}.key")]
        args += ["--node-config", node_config]
        args += ["--max-retries", "3", "--max-wait-time", "20"]
        return self.start(name, args)
