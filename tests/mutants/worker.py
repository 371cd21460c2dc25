"""Run several conformance sessions in one Python process (saves the torch import per session).

``python -m mutants.worker JOBS.json`` reads ``[{"name": …, "args": [pytest args…]}, …]`` and runs
``pytest.main(args)`` for each, in order, writing each session's output to ``<json>.log`` next to
the ``--compliance-json`` path the job names. Between sessions the harness world cache is
cleared, so a mutant that writes into arrays it was given cannot leak into the next session.
Jobs whose mutant patches the reference at import time are given their own worker by the caller.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

#: Hypothesis profile of mutation sessions: the plugin's settings (derandomized, no deadline, no
#: database) with fewer examples and no shrinking. The defects fail on (nearly) every example, and
#: shrinking a failure only makes its report nicer: here it would cost most of the time.
PROFILE = "lensemble-spec-mutants"


def register_profile() -> None:
    from hypothesis import Phase, settings

    settings.register_profile(
        PROFILE, deadline=None, derandomize=True, database=None, max_examples=30,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
    )  # fmt: skip


def run_jobs(jobs: list[dict]) -> None:
    register_profile()
    for job in jobs:
        args = list(job["args"])
        out = Path(args[args.index("--compliance-json") + 1])
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = pytest.main(args)
        out.with_suffix(".log").write_text(f"exit {int(code)}\n{buffer.getvalue()}")
        from conformance._world import harness_world

        harness_world.cache_clear()


if __name__ == "__main__":
    run_jobs(json.loads(Path(sys.argv[1]).read_text()))
