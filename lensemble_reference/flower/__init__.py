"""The reference trainer's federated controls over Flower (``flwr`` 1.41, Message API).

Same computation, different transport: the round driver of :mod:`lensemble_reference.federation`
(seeds, round-0 commit, checkpoints, held-out evaluation, round records, manifest) is shared; a
Flower engine only decides how a round's local updates travel. Each participant runs
:func:`lensemble_reference.federation.participant_round` inside a Flower ``ClientApp`` (its AdamW
moments and sampler state kept in the node's ``context.state``), and the coordinator's
:class:`~lensemble_reference.flower.strategy.AnchoredDiLoCo` strategy reduces the released deltas with
the reference's pure, checked outer step. Hence ``--engine flower`` commits bit-identical global
hashes to the in-process engine for the same seeds.

Modules:

* :mod:`.records` — params ``dict[str, ndarray]`` ⇄ ``ArrayRecord`` (exact bits, name order) and
  the wire format of a participant's round result;
* :mod:`.client_state` — a participant's persistent state ⇄ ``context.state``;
* :mod:`.silo_files` — silos as safetensors files (node config ``silo-file`` / ``partition-id``);
* :mod:`.sites` — a deployed node's own data (``lerobot-root`` + ``site``, ``synthetic-silo``), the
  fingerprint it reports, the public probe file and a held-out site's evaluation file;
* :mod:`.credentials` — throwaway TLS certificates and SuperNode keys (tests, demos);
* :mod:`.strategy` — the Flower ``Strategy`` (anchored DiLoCo and naive FedAvg);
* :mod:`.client_app`, :mod:`.server_app` — the ``ClientApp`` / ``ServerApp`` (and the round engine);
* :mod:`.engine` — :func:`run_flower`, the simulation engine behind ``train --engine flower``;
* :mod:`.deploy` — the deployment engine (SuperLink + one SuperNode per site, ``flwr run``) and
  its command line (``app``, ``probe``, ``heldout``, ``evaluate``, ``keys``, ``silos``).

``flwr`` is an optional dependency (extra ``flower``); importing this package does not import it.
"""

from __future__ import annotations

import os
from typing import Any

from lensemble_spec.errors import CapabilityMissing

#: Controls whose rounds communicate (the only ones Flower has anything to carry for).
FEDERATED_CONTROLS = ("anchored", "naive-fedavg")

#: Environment defaults applied before Flower or Ray start: no telemetry, no usage stats, and no
#: ``uv sync`` of app dependencies into a fresh environment (it would pull a second torch).
QUIET_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
}


def apply_quiet_env() -> None:
    """Set :data:`QUIET_ENV` where the user has not set the variable already."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def require_flwr() -> None:
    """Raise CapabilityMissing unless ``flwr`` (with the Message API of 1.41) is importable."""
    try:
        import flwr.app
        import flwr.serverapp.strategy  # noqa: F401
    except ImportError as exc:
        raise CapabilityMissing(
            f"the Flower engine needs flwr 1.41 ({exc})",
            remediation="Install the extra: pip install 'lensemble-spec[flower]' (flwr[simulation]==1.41.0).",
        ) from exc


#: What the Flower engine needs from :mod:`lensemble_reference.federation` (the round-engine seam).
SEAM_NAMES = ("LocalResult", "participant_round", "InProcessRounds", "RoundEngine")


def has_seam() -> bool:
    """True when :mod:`lensemble_reference.federation` exposes the round-engine seam (``SEAM_NAMES``)."""
    from lensemble_reference import federation

    return all(hasattr(federation, name) for name in SEAM_NAMES)


def require_seam() -> None:
    """Raise CapabilityMissing when the driver has no ``engine=`` seam to plug Flower into."""
    if not has_seam():
        raise CapabilityMissing(
            "lensemble_reference.federation has no round-engine seam (LocalResult, participant_round, "
            "InProcessRounds, run_federated(engine=...))",
            remediation="Use a lensemble_reference whose federation.py has the RoundEngine seam (see docs/flower.md), "
                        "or --engine inprocess.",
        )


def __getattr__(name: str) -> Any:
    if name == "run_flower":
        from .engine import run_flower

        return run_flower
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FEDERATED_CONTROLS", "QUIET_ENV", "apply_quiet_env", "require_flwr", "run_flower"]
