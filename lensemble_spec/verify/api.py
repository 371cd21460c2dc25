"""``verify_run``: verify a run directory or a comparison directory.

* A **run directory** holds ``manifest.json`` (RFC-0010 §5): :class:`~.run.RunVerifier`.
* A **comparison directory** holds ``results.json`` and one run directory per control, named by
  the control (RFC-0010 §5, RFC-0005 §2): every run is verified (subjects prefixed
  ``<control>/``; a run directory that is a symlink or escapes the root is not read), then the
  comparison (EVAL-001 the root holds only results.json, the runs and reports; one run per
  control agreeing on seed, probe and split; EVAL-002 identical round-0 tensors; EVAL-003 shared settings; EVAL-004 the naive control
  differs from the anchored one only where it must) and its results table
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

import numpy as np

from ..artifacts.canonical import strip_sink_paths
from ..artifacts.paths import confine
from ..artifacts.reading import is_directory, is_regular_file
from ..errors import ArtifactError, InputError, LensembleError, ProtocolError
from ..protocol import CONTROLS
from . import files
from .findings import add_knock_on, add_tier1_verdicts, downgrade_knock_on_failures
from .report import VerificationReport
from .results import ResultsVerifier
from .run import RunData, RunVerifier

#: Configuration keys every run of a comparison shares (EVAL-003).
SHARED_KEYS = ("rounds", "inner_steps", "batch_size", "inner_lr", "lambda_sigreg", "outer")
#: The only keys in which the naive control may differ from the anchored one (EVAL-004).
NAIVE_DIFFERS_IN = ("control", "lambda_anchor", "backstop")


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
        what = f"exited with status {exc.code!r}" if isinstance(exc, SystemExit) else f"raised {type(exc).__name__}: {exc}"
        raise ProtocolError(
            f"implementation {spec!r} could not be loaded: it {what}",
            remediation="Import the module in Python to see the error; fix it, then pass --impl module[:attribute] again.",
        ) from exc


def _is_run_dir(path: Path) -> bool:
    return not os.path.islink(path) and is_directory(path) and is_regular_file(path / files.MANIFEST_FILE)


def is_comparison(root: Path) -> bool:
    return not files.exists(root, files.MANIFEST_FILE) and any(
        files.exists(root, c) and _is_run_dir(root / c) for c in CONTROLS
    )


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
        hint = f" (an incomplete run is at {partial}: verify it, or resume with --resume {root})" if is_directory(partial) else ""
        raise ArtifactError(
            f"{root} is not a directory{hint}",
            remediation="Pass a run directory (with manifest.json) or a comparison directory (with results.json and one run per control).",
        )
    if heldout is not None and impl is None:
        raise InputError(
            "--heldout needs --impl: the held-out split is only used to recompute metrics with an implementation",
            remediation="Add --impl MODULE[:ATTR] (the implementation whose model re-encodes the checkpoints), or drop --heldout.",
        )
    if heldout is not None and not is_regular_file(heldout):
        raise InputError(
            f"--heldout {heldout} is not a regular file",
            remediation="Pass a safetensors file holding the held-out obs/actions/states.",
        )
    model, label = _model_of(impl)
    cache = Path(hub_cache) if hub_cache is not None else None
    report = VerificationReport(target=str(root), impl=label, hub_cache=str(cache) if cache else None)
    from .multiseed import is_multiseed, verify_multiseed

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


def _incomplete_comparison(root: Path, report: VerificationReport) -> bool:
    """A comparison the headline writer marked partial: which runs are done, how to resume."""
    state = files.resume_state(root)
    if files.exists(root, files.MANIFEST_FILE) or not state or state.get("kind") != "comparison":
        return False
    done = [c for c in CONTROLS if _is_run_dir(root / c)]
    pending = [c for c in CONTROLS if c not in done and is_directory(root / (c + files.PARTIAL_SUFFIX))]
    rounds = []
    for c in pending:
        t = (files.resume_state(root / (c + files.PARTIAL_SUFFIX)) or {}).get("round_index")
        rounds.append(f"{c} (last committed round {t})" if isinstance(t, int) and not isinstance(t, bool) else f"{c} (no round committed)")
    name = root.resolve().name
    target = root.resolve().parent / name.removesuffix(files.PARTIAL_SUFFIX)
    message = (
        f"incomplete comparison: runs complete {done or 'none'}; in progress {rounds or 'none'}; "
        f"resume with `lensemble-spec headline --resume {target}`"
    )
    report.failed("EVAL-015", "results-schema", ".", message)
    return True


def _verify_results(
    root: Path, report: VerificationReport, runs: dict[str, RunData], model: Any, cache: Path | None, heldout: Any, subject: str,
    expected_controls: tuple[str, ...] | None = None,
) -> None:
    verifier = ResultsVerifier(report, runs, model=model, heldout=heldout, hub_cache=cache, subject=subject, expected_controls=expected_controls)
    try:
        raw = files.read_json(root, files.RESULTS_FILE)
    except LensembleError as exc:
        report.failed("EVAL-015", "results-schema", subject, exc.message)
        return
    table = verifier.load(raw)
    if table is not None:
        verifier.check_table(table)


def _verify_comparison(root: Path, report: VerificationReport, model: Any, cache: Path | None, heldout: Any, prefix: str = "") -> dict[str, RunData]:
    """Verify a comparison directory; ``prefix`` (e.g. ``seed-0/``) starts every subject."""
    runs: dict[str, RunData] = {}
    for control in CONTROLS:
        if not files.exists(root, control):
            continue
        try:
            confine(root, control)
        except LensembleError as exc:
            report.failed("ART-026", "path-confinement", f"{prefix}{control}/", exc.message)
            continue
        if os.path.islink(root / control):
            report.failed("EVAL-001", "comparison-layout", f"{prefix}{control}/", "the run directory is a symlink; a comparison holds its runs")
            continue
        if _is_run_dir(root / control) or files.is_partial(root / control):
            verifier = RunVerifier(root / control, report, model, cache)
            verifier.prefix = f"{prefix}{control}/"
            runs[control] = verifier.run()
    extra = files.comparison_unexpected(root, CONTROLS, extra_dirs=("variants",) if prefix else ())
    if extra:
        shown = ", ".join(extra[:8]) + (" …" if len(extra) > 8 else "")
        report.failed("EVAL-001", "comparison-layout", f"{prefix}.", f"unexpected entries {shown} (a comparison holds results.json, one run per control and reports)")
    else:
        report.passed("EVAL-001", "comparison-layout", f"{prefix}.", "results.json, the runs named by their controls and reports only")
    runs = {c: r for c, r in runs.items() if r.manifest is not None or files.exists(r.root, files.MANIFEST_FILE)}
    _check_comparison(report, runs, subject=f"{prefix}comparison")
    if files.exists(root, files.RESULTS_FILE):
        _verify_results(root, report, runs, model, cache, heldout, f"{prefix}{files.RESULTS_FILE}", expected_controls=CONTROLS)
    else:
        report.failed("EVAL-015", "results-schema", f"{prefix}{files.RESULTS_FILE}", "the comparison has no results.json")
    return runs


def _check_comparison(report: VerificationReport, runs: dict[str, RunData], subject: str = "comparison") -> None:
    missing = [c for c in CONTROLS if c not in runs]
    manifests = {c: r.manifest for c, r in runs.items() if r.manifest is not None}
    problems = [f"no run of {missing}"] if missing else []
    for key in ("root_seed", "probe_hash", "split_policy"):
        values = {c: getattr(m, key) for c, m in manifests.items()}
        if len({repr(v) for v in values.values()}) > 1:
            problems.append(f"runs disagree on {key}")
    if problems:
        report.failed("EVAL-001", "comparison-runs", subject, "; ".join(problems))
    else:
        report.passed("EVAL-001", "comparison-runs", subject, "one run per control, same seed, probe and split")
    round0 = {}
    for c, r in runs.items():
        g = r.global_at(0)
        if g is not None and g.tensors is not None:
            round0[c] = g.tensors
    if len(round0) < 2:
        report.skipped("EVAL-002", "comparison-theta0", subject, "fewer than two verified round-0 checkpoints")
    else:
        first_c, first = next(iter(round0.items()))
        differ = [c for c, t in round0.items() if set(t) != set(first) or any(not np.array_equal(t[k], first[k]) for k in first)]
        if differ:
            report.failed("EVAL-002", "comparison-theta0", subject, f"round-0 tensors of {differ} differ from {first_c}'s")
        else:
            report.passed("EVAL-002", "comparison-theta0", subject, f"{len(round0)} runs start from bitwise identical θ_0")
    configs = {c: strip_sink_paths(m.config) for c, m in manifests.items()}  # where outputs went is not configuration
    if len(configs) >= 2:
        diff = [k for k in SHARED_KEYS if len({repr(cfg.get(k)) for cfg in configs.values()}) > 1]
        if diff:
            report.failed("EVAL-003", "comparison-config", subject, f"runs disagree on {diff}")
        else:
            report.passed("EVAL-003", "comparison-config", subject, f"runs agree on {', '.join(SHARED_KEYS)}")
    anchored, naive = configs.get("anchored"), configs.get("naive-fedavg")
    if anchored is not None and naive is not None:
        keys = sorted(set(anchored) | set(naive))
        extra = [k for k in keys if k not in NAIVE_DIFFERS_IN and anchored.get(k) != naive.get(k)]
        wrong = [k for k, want in (("lambda_anchor", 0), ("backstop", False)) if naive.get(k) != want]
        if extra or wrong:
            report.failed("EVAL-004", "naive-config", subject, f"naive differs from anchored in {extra}; settings not as required: {wrong}")
        else:
            report.passed("EVAL-004", "naive-config", subject, "naive = anchored with lambda_anchor 0 and the backstop off")


__all__ = ["is_comparison", "resolve_impl", "verify_run"]
