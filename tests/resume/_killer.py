"""Run ``lensemble-spec ARGS…`` and SIGKILL the process at a named point (a test driver).

    python _killer.py POINT -- train --control anchored --out OUT …

POINT names where the process kills itself, so every kill lands exactly where intended
(an external ``kill -9`` after a sleep lands wherever the scheduler happens to be):

* ``request``            — right after the run directory is claimed and the config recorded,
                           before round 0 is committed;
* ``checkpoint:R``       — inside the write of round R's global (or first participant's)
                           checkpoint: weights written into the temporary directory, header not;
* ``record:R``           — after round R's checkpoint is committed, before its record is written;
* ``state:R``            — after round R's record, before its resume state is written;
* ``after-state:R``      — right after round R's resume state is committed;
* ``state-tensors:R``    — after round R's state tensor file, before ``state.json`` points to it.

A ``state`` point may end in ``@CONTROL`` (``state:2@local-only``) to fire only in that control's
run directory (for ``headline``, which trains the controls one after another).
"""

from __future__ import annotations

import os
import signal
import sys


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    import lensemble_reference.artifacts as ra
    import lensemble_reference.federation as fed
    import lensemble_reference.resume as rs
    from lensemble_spec.artifacts import checkpoint as ck

    point, _, only = point.partition("@")
    kind, _, arg = point.partition(":")
    target = int(arg) if arg else None

    if kind == "request":
        original_request = rs.write_request

        def write_request(*a, **k):  # type: ignore[no-untyped-def]
            original_request(*a, **k)
            _die()

        fed.write_request = write_request
    elif kind == "checkpoint":
        original_write = ck._write_file

        def write_file(path, data):  # type: ignore[no-untyped-def]
            if path.name == ck.HEADER_FILE and f"round-{target:04d}." in path.parent.name:
                _die()
            original_write(path, data)

        ck._write_file = write_file
    elif kind == "record":
        original_append = ra.RunWriter.append_record

        def append_record(self, record):  # type: ignore[no-untyped-def]
            if record["round_index"] == target:
                _die()
            return original_append(self, record)

        ra.RunWriter.append_record = append_record
    elif kind in ("state", "after-state", "state-tensors"):
        original_save = rs.save_state
        original_bytes = rs.atomic_write_bytes

        def save_state(run_dir, *, round_index, **k):  # type: ignore[no-untyped-def]
            if only and not os.path.basename(str(run_dir)).startswith(only + "."):
                return original_save(run_dir, round_index=round_index, **k)
            if round_index == target and kind == "state":
                _die()
            if round_index == target and kind == "state-tensors":
                def write_then_die(path, data):  # type: ignore[no-untyped-def]
                    original_bytes(path, data)
                    _die()

                rs.atomic_write_bytes = write_then_die
            original_save(run_dir, round_index=round_index, **k)
            if round_index == target and kind == "after-state":
                _die()

        fed.save_state = save_state
    else:
        raise SystemExit(f"unknown kill point {point!r}")


def main() -> int:
    point, sep, *args = sys.argv[1:]
    assert sep == "--", "usage: _killer.py POINT -- lensemble-spec args"
    install(point)
    from lensemble_spec.cli import main as cli

    return cli(args)


if __name__ == "__main__":
    sys.exit(main())
