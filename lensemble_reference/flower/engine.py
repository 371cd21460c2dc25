"""``run_flower``: the reference controls through Flower's simulation engine (``--engine flower``).

Same inputs and outputs as :func:`lensemble_reference.controls.run_control` (a TrainConfig, the run's
RunInputs, a new output directory → a RunResult and a complete run directory), and for the
same config the SAME committed global content hashes, checkpoints and round records (up to wall
times). How:

* the silos are written once to a temporary directory as safetensors silo files
  (:mod:`.silo_files`); simulated SuperNode ``partition-id = i`` holds the ``i``-th participant in
  sorted order and reads only its own file;
* the ServerApp (a thread of this process) runs the shared driver
  :func:`lensemble_reference.federation.run_federated` with :class:`.server_app.FlowerRounds` as its
  round engine; ClientApps run in Ray actors and reply with their released deltas; the
  :class:`.strategy.AnchoredDiLoCo` strategy applies the reference's checked outer step.

Controls without communication (``local-only``, ``centralized``) have nothing for Flower to
carry; they run in-process through :func:`~lensemble_reference.controls.run_control` unchanged.

Resources: Ray gets ``num_cpus`` (default: all cores) and each ClientApp reserves
``min(cfg.threads, num_cpus)`` CPUs, so concurrent participants do not oversubscribe the cores;
torch inside each ClientApp uses exactly ``cfg.threads`` threads, as in-process. Ray start-up
costs ~10 s. Flower logs at ERROR level during the run by default (``log_level``): at INFO it is
chatty, and at WARNING it announces that ``run_simulation`` is deprecated in favour of
``flwr run`` (the deployment path, :mod:`.deploy`, is what ``flwr run`` drives).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lensemble_spec.errors import ArtifactError, RoundError

from . import FEDERATED_CONTROLS, apply_quiet_env, require_flwr, require_seam


@contextmanager
def _flower_log_level(level: int) -> Iterator[None]:
    logger = logging.getLogger("flwr")
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def backend_config(cfg: Any, num_cpus: int | None = None, log_level: int = logging.ERROR) -> dict[str, Any]:
    """Ray backend config for ``run_simulation`` (see module docstring)."""
    cpus = max(1, int(num_cpus or os.cpu_count() or 1))
    return {
        "client_resources": {"num_cpus": min(int(cfg.threads), cpus), "num_gpus": 0.0},
        "init_args": {
            "num_cpus": cpus,
            "num_gpus": 0,
            "include_dashboard": False,
            "logging_level": int(log_level),
            "log_to_driver": log_level < logging.ERROR,  # a failing ClientApp still reports through its reply
        },
    }


def run_flower(
    cfg: Any,
    inputs: Any,
    out_dir: str | Path,
    *,
    show_progress: bool = False,
    num_cpus: int | None = None,
    timeout: float = 3600.0,
    log_level: int = logging.ERROR,
) -> Any:
    """Run ``cfg.control`` on ``inputs`` through Flower's simulation engine; return the RunResult.

    Raises CapabilityMissing without flwr (or without the driver's round-engine seam), the
    driver's own typed errors unchanged (ConfigError, QuorumNotMet, …), and RoundError when a
    node fails a round.
    """
    from lensemble_reference.controls import run_control

    cfg.validate()
    if cfg.control not in FEDERATED_CONTROLS:
        return run_control(cfg, inputs, Path(out_dir), show_progress=show_progress)
    require_flwr()
    require_seam()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):  # fail before Ray starts; the driver's RunWriter checks again
        raise ArtifactError(
            f"{out} exists and is not empty",
            remediation="Choose a new --out directory; runs are written once and never overwritten.",
        )
    apply_quiet_env()
    from flwr.simulation import run_simulation

    from .client_app import build_client_app
    from .server_app import build_server_app
    from .silo_files import write_silo_dir

    holder: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lensemble-flower-silos-") as silo_dir:
        pids = write_silo_dir(silo_dir, inputs.silos)
        server = build_server_app(cfg, inputs, Path(out_dir), holder, show_progress=show_progress, timeout=timeout)
        client = build_client_app(silo_dir=silo_dir)
        with _flower_log_level(log_level), warnings.catch_warnings():
            # Ray 2.55 warns about a future change of accelerator env vars; no GPU is used here.
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"ray\.")
            run_simulation(
                server_app=server,
                client_app=client,
                num_supernodes=len(pids),
                backend_config=backend_config(cfg, num_cpus, log_level),
            )
    if "error" in holder:
        raise holder["error"]
    if "result" not in holder:
        raise RoundError(
            "the Flower simulation ended without a result from the ServerApp",
            remediation="Re-run with log_level=logging.INFO to see Flower's own log.",
        )
    return holder["result"]
