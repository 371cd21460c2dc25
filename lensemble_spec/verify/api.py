"""``verify_run``: verify a run directory or a comparison directory.

* A **run directory** holds ``manifest.json`` (RFC-0010 §5): :class:`~.run.RunVerifier`.
* A **comparison directory** holds ``results.json`` and one run directory per control, named by
  the control (RFC-0010 §5, RFC-0005 §2): every run is verified (subjects prefixed
  ``<control>/``; a run directory that is a symlink or escapes the root is not read), then the
  comparison (EVAL-001 the root holds only results.json, the runs and reports; one run per
  control agreeing on seed, probe and split; EVAL-002 identical round-0 tensors; EVAL-003 shared
  settings; EVAL-004 the naive control differs from the anchored one only where it must) and its results table
  (:class:`~.results.ResultsVerifier`).

A results table found in a run directory (which ART-015 does not allow) is still checked against
that run, so one stray file does not hide the rest. A run or comparison a writer marked partial
(``OUT.partial``, ``resume/state.json``) is reported as incomplete, with the resume command.
``--impl`` is resolved with every failure typed (:func:`resolve_impl`); ``--heldout`` needs
``--impl`` and must name a regular file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..artifacts.reading import is_directory, is_regular_file
from ..errors import ArtifactError, InputError, LensembleError, ProtocolError
from . import files
from .comparison import (
    _incomplete_comparison,
    _verify_comparison,
    _verify_results,
    is_comparison,
)
from .findings import add_knock_on, add_tier1_verdicts, downgrade_knock_on_failures
from .multiseed import is_multiseed, verify_multiseed
from .report import VerificationReport
from .run import RunVerifier


def _model_of(impl: Any) -> tuple[Any, str | None]:
    if impl is None:
        return None, None
    if isinstance(impl, str):
        label = impl
        impl = resolve_impl(impl)
    else:
        label = f"{getattr(impl, 'name', type(impl).__name__)} {getattr(impl, 'version', '')}".strip()
    return getattr(impl, "model", None), label


def resolve_impl(spec: str) -> Any:
    """``resolve_implementation`` with every failure typed: importing someone else's module may
    raise anything (a syntax error, an exception at import, a raising factory, ``sys.exit``)."""
    from ..protocol import resolve_implementation

    try:
        return resolve_implementation(spec)
    except (LensembleError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 — foreign code: SystemExit, GeneratorExit … too; Ctrl-C still propagates
        what = (
            f"exited with status {exc.code!r}" if isinstance(exc, SystemExit) else f"raised {type(exc).__name__}: {exc}"
        )
        raise ProtocolError(
            f"implementation {spec!r} could not be loaded: it {what}",
            remediation="Import the module in Python to see the error; fix it, then pass --impl module[:attribute] "
                        "again.",
        ) from exc


def verify_run(
    path: str | os.PathLike[str],
    *,
    impl: Any = None,
    hub_cache: str | os.PathLike[str] | None = None,
    heldout: str | os.PathLike[str] | None = None,
) -> VerificationReport:
    """Verify a run or comparison directory from its files alone.

    ``impl``: an :class:`~lensemble_spec.protocol.Implementation`, a ``module[:attr]`` string or
    None (then nothing is re-encoded and recomputation findings are ``skip``). ``hub_cache``: a
    Hugging Face cache directory, used offline to resolve pins (None: pins are checked for form
    only). ``heldout``: a safetensors file with the held-out ``obs``/``actions``/``states`` (None:
    regenerated from the synthetic world the manifest records, if any). Raises
    :class:`ArtifactError` when ``path`` is not a directory; every other problem is a finding.
    """
    root = Path(path)
    if not is_directory(root):
        partial = root.parent / (root.name + files.PARTIAL_SUFFIX)
        hint = (
            f" (an incomplete run is at {partial}: verify it, or resume with --resume {root})"
            if is_directory(partial)
            else ""
        )
        raise ArtifactError(
            f"{root} is not a directory{hint}",
            remediation="Pass a run directory (with manifest.json) or a comparison directory (with results.json and "
                        "one run per control).",
        )
    if heldout is not None and impl is None:
        raise InputError(
            "--heldout needs --impl: the held-out split is only used to recompute metrics with an implementation",
            remediation="Add --impl MODULE[:ATTR] (the implementation whose model re-encodes the checkpoints), or "
                        "drop --heldout.",
        )
    if heldout is not None and not is_regular_file(heldout):
        raise InputError(
            f"--heldout {heldout} is not a regular file",
            remediation="Pass a safetensors file holding the held-out obs/actions/states.",
        )
    model, label = _model_of(impl)
    cache = Path(hub_cache) if hub_cache is not None else None
    report = VerificationReport(target=str(root), impl=label, hub_cache=str(cache) if cache else None)
    if _incomplete_comparison(root, report):
        pass
    elif is_multiseed(root):
        verify_multiseed(root, report, model, cache, heldout)
    elif is_comparison(root):
        _verify_comparison(root, report, model, cache, heldout)
    else:
        data = RunVerifier(root, report, model, cache).run()
        if files.exists(root, files.RESULTS_FILE) and data.control is not None:
            _verify_results(root, report, {data.control: data}, model, cache, heldout, files.RESULTS_FILE)
    downgrade_knock_on_failures(report)
    add_tier1_verdicts(report)
    add_knock_on(report)
    return report


__all__ = ["is_comparison", "resolve_impl", "verify_run"]
