"""Prediction metrics: one-step error, multistep rollout error, skill vs identity, linear state probe.

Conventions: latents are row vectors ``(..., d)``; every leading dimension is a sample. All
arithmetic is float64 on numpy copies (torch tensors are detached). Bad input raises
:class:`~lensemble_spec.errors.InputError`; a metric that is undefined on valid input (a static
latent, a constant target) raises :class:`~lensemble_spec.errors.EvaluationError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EvaluationError, InputError
from ._inputs import as_samples, check_finite, check_min_samples, check_ndim, check_same_shape, to_float64

#: An error this small relative to the targets' mean square is float64 round-off, not a
#: measurement: ratios against it (skill_vs_identity) are undefined.
ZERO_ERROR_RTOL = 1e-12

#: A state target whose std is below this fraction of its largest magnitude is constant to
#: float64 resolution (float32 states cannot vary by less than ~6e-8 relative), so R² is undefined.
TARGET_STD_RTOL = 1e-9


def val_pred(predicted: Any, target: Any) -> float:
    """One-step prediction error ``mean((predicted − target)²)`` over all entries.

    ``predicted`` and ``target`` are ``(..., d)`` with identical shapes and at least 2 samples.
    Its scale follows the latents' (a shrunken latent has a shrunken error): read it next to
    ``latent_std_mean`` and the identity baseline.
    """
    p_raw, t_raw = to_float64(predicted, "predicted"), to_float64(target, "target")
    p = as_samples(p_raw, "predicted")
    t = as_samples(t_raw, "target")
    check_same_shape(p_raw, t_raw, "predicted", "target")
    diff = p - t
    return float(np.mean(diff * diff))


def skill_vs_identity(predicted: Any, target: Any, current: Any) -> float:
    """``val_pred(predicted, target) / val_pred(current, target)``; < 1 beats "nothing changes".

    ``current`` is the latent the prediction started from (the identity forecast).

    This ratio is **gameable** and must never be read alone:

    * a collapsed latent (every frame encodes to the same point) makes both errors 0 — the ratio
      is undefined and we raise; a *near*-static latent makes the identity error tiny, so the
      ratio explodes (or, with a predictor that copies its input plus a constant, reads ~1)
      whatever the model learned about dynamics;
    * it is invariant to shrinking the latent (both errors scale by a²), so a magnitude-collapsing
      encoder keeps a good-looking ratio while the latent carries nothing;
    * an encoder that discards the action-relevant part of the state (slow features only) makes
      identity easy to beat with a trivial predictor.

    Pair it with ``collapse_report``, ``state_probe_r2`` and ``val_pred`` itself.
    Raises EvaluationError when the identity error is zero to float64 resolution.
    """
    raw = [to_float64(x, n) for x, n in ((predicted, "predicted"), (target, "target"), (current, "current"))]
    p = as_samples(raw[0], "predicted")
    t = as_samples(raw[1], "target")
    c = as_samples(raw[2], "current")
    check_same_shape(raw[0], raw[1], "predicted", "target")
    check_same_shape(raw[2], raw[1], "current", "target")
    model = float(np.mean((p - t) ** 2))
    ident = float(np.mean((c - t) ** 2))
    _check_identity_error(ident, t)
    return model / ident


def _check_identity_error(ident: float, t: np.ndarray) -> None:
    scale = float(np.mean(t * t))
    if ident == 0.0 or ident <= ZERO_ERROR_RTOL * scale:
        raise EvaluationError(
            f"identity error is {ident:.3g} (zero to float64 resolution): the latent does not change "
            "between steps, so skill_vs_identity is undefined",
            remediation="The latent is static or collapsed; check collapse_report and report val_pred "
            "instead of the ratio.",
            identity_error=ident,
        )


@dataclass(frozen=True)
class RolloutResult:
    """Multistep errors from :func:`rollout_error`.

    ``per_step[h]``: ``mean((ẑ_{h+1} − targets[:, h])²)``; ``identity_per_step[h]``: the same for
    the identity forecast ``z0``; ``mean`` / ``identity_mean`` average over steps.
    """

    per_step: np.ndarray
    identity_per_step: np.ndarray
    mean: float
    identity_mean: float

    @property
    def skill_vs_identity(self) -> float:
        """``mean / identity_mean`` (gameable — see :func:`skill_vs_identity`)."""
        if self.identity_mean == 0.0:
            raise EvaluationError(
                "identity rollout error is zero: the latent is static, the ratio is undefined",
                remediation="Check collapse_report; report the rollout error itself instead.",
            )
        return self.mean / self.identity_mean


def rollout_error(
    predict_fn: Callable[[np.ndarray, np.ndarray], Any],
    z0: Any,
    actions: Any,
    targets: Any,
) -> RolloutResult:
    """Open-loop multistep error: ``ẑ_0 = z0``, ``ẑ_{h+1} = predict_fn(ẑ_h, actions[:, h])``.

    Shapes: ``z0`` ``(B, d)``, ``actions`` ``(B, H, A)``, ``targets`` ``(B, H, d)`` with
    ``targets[:, h]`` the encoded frame ``h + 1``; ``B >= 2``, ``H >= 1``. ``predict_fn`` gets
    float64 numpy arrays ``(B, d)`` and ``(B, A)`` and must return ``(B, d)`` (anything
    ``numpy.asarray`` accepts; torch tensors are detached). The identity baseline predicts ``z0``
    at every step. A predictor returning NaN/Inf or the wrong shape raises EvaluationError
    (naming the step), since that is a model failure, not bad input.
    """
    z = to_float64(z0, "z0")
    check_ndim(z, "z0", exact=2, layout="(B, d)")
    check_finite(z, "z0")
    check_min_samples(z.shape[0], "z0")
    a = to_float64(actions, "actions")
    check_ndim(a, "actions", exact=3, layout="(B, H, A)")
    check_finite(a, "actions")
    y = to_float64(targets, "targets")
    check_ndim(y, "targets", exact=3, layout="(B, H, d)")
    check_finite(y, "targets")
    b, d = z.shape
    if a.shape[0] != b or y.shape[0] != b or y.shape[2] != d or a.shape[1] != y.shape[1]:
        raise InputError(
            f"shapes disagree: z0 {z.shape}, actions {a.shape}, targets {y.shape}",
            remediation="Pass z0 (B, d), actions (B, H, A) and targets (B, H, d) for the same B windows.",
        )
    horizon = y.shape[1]
    if horizon < 1:
        raise InputError("the rollout horizon is 0", remediation="Pass at least one step of actions and targets.")
    per_step = np.empty(horizon)
    ident = np.empty(horizon)
    cur = z
    for h in range(horizon):
        out = predict_fn(cur.copy(), a[:, h].copy())
        try:
            nxt = to_float64(out, f"predict_fn output at step {h}")
        except InputError as exc:
            raise EvaluationError(str(exc.message), remediation=exc.remediation) from exc
        if nxt.shape != (b, d) or not np.all(np.isfinite(nxt)):
            raise EvaluationError(
                f"predict_fn returned shape {nxt.shape} (expected {(b, d)}) or non-finite values at step {h}",
                remediation="Make predict_fn map (B, d) latents and (B, A) actions to finite (B, d) latents.",
                step=h,
            )
        per_step[h] = np.mean((nxt - y[:, h]) ** 2)
        ident[h] = np.mean((z - y[:, h]) ** 2)
        cur = nxt
    return RolloutResult(
        per_step=per_step,
        identity_per_step=ident,
        mean=float(per_step.mean()),
        identity_mean=float(ident.mean()),
    )


def _probe_arrays(z: Any, s: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    zr = to_float64(z, f"{split}_z")
    sr = to_float64(s, f"{split}_states")
    zf = as_samples(zr, f"{split}_z")
    sf = as_samples(sr, f"{split}_states")
    if zr.shape[:-1] != sr.shape[:-1]:
        raise InputError(
            f"`{split}_z` {zr.shape} and `{split}_states` {sr.shape} do not index the same samples",
            remediation=f"Pass `{split}_z` (..., d) and `{split}_states` (..., S) with identical leading dimensions.",
        )
    return zf, sf


def _check_target_variance(y: np.ndarray, split: str) -> None:
    std = y.std(axis=0)
    scale = np.max(np.abs(y), axis=0)
    const = (std == 0.0) | (std <= TARGET_STD_RTOL * scale)
    if np.any(const):
        dims = [int(i) for i in np.flatnonzero(const)]
        raise EvaluationError(
            f"state dimension(s) {dims} are constant on the {split} split; R² is undefined for a "
            "target with zero variance",
            remediation="Drop constant state dimensions or use a split in which every state varies.",
            constant_dims=dims,
        )


def state_probe_r2(train_z: Any, train_states: Any, test_z: Any, test_states: Any) -> float:
    """Held-out R² of the ordinary least-squares linear probe (with bias) from latents to states.

    Fit on the train split only: ``min_{W, b} ‖X W + 1 bᵀ − Y‖²`` (plain OLS, no penalty, no
    per-coordinate standardisation). With ``X̄``/``Ȳ`` the train means this is ``W`` = the
    least-squares solution of ``(X − X̄) W = Y − Ȳ`` and ``b = Ȳ − X̄ W``; when the centred train
    latents are rank-deficient (constant or collinear features, latents confined to a subspace) ``W``
    is the **minimum-norm** least-squares solution, singular values below ``eps·max(n, d)·σ_max``
    being treated as zero (numpy's ``lstsq`` default). Score on the test split:
    ``R²_j = 1 − Σ(y_j − ŷ_j)² / Σ(y_j − ȳ_j)²`` (ȳ the test mean), averaged over state dims.

    Because the probe has a bias and no penalty, R² is invariant under any invertible affine map of
    the latents ``z ↦ z A + c`` applied to both splits (up to round-off growing with ``cond(A)``):
    two frames of the same latents — a gauge-rotated control, a rescaled one — score the same.
    ≈ 1 when states are a linear function of the latents, ≈ 0 or negative for latents that carry
    no state information. Not capped at 1 and not clipped below 0. Scale-invariant, so it cannot
    see magnitude collapse (use ``collapse_report``).

    Shapes: ``*_z`` ``(..., d)``, ``*_states`` ``(..., S)`` with matching leading dims; ``d`` and
    ``S`` agree across splits; each split has >= 2 samples. Raises InputError for bad arrays and
    EvaluationError if a state dimension is constant on either split.
    """
    xtr, ytr = _probe_arrays(train_z, train_states, "train")
    xte, yte = _probe_arrays(test_z, test_states, "test")
    if xtr.shape[1] != xte.shape[1] or ytr.shape[1] != yte.shape[1]:
        raise InputError(
            f"train/test dimensions differ: latents {xtr.shape[1]} vs {xte.shape[1]}, "
            f"states {ytr.shape[1]} vs {yte.shape[1]}",
            remediation="Encode both splits with the same model and use the same state variables.",
        )
    _check_target_variance(ytr, "train")
    _check_target_variance(yte, "test")
    mu = xtr.mean(axis=0)
    xc = xtr - mu
    # One common positive scale (a power of two, so exact) keeps the SVD inside float64's range
    # for latents near 1e±300 without changing the solution (OLS is scale-equivariant).
    peak = float(np.max(np.abs(xc))) if xc.size else 0.0
    scale = 1.0 if peak == 0.0 else float(np.ldexp(1.0, -int(np.frexp(peak)[1])))
    ybar = ytr.mean(axis=0)
    w, *_ = np.linalg.lstsq(xc * scale, ytr - ybar, rcond=None)
    pred = ((xte - mu) * scale) @ w + ybar
    ss_res = np.sum((yte - pred) ** 2, axis=0)
    ss_tot = np.sum((yte - yte.mean(axis=0)) ** 2, axis=0)
    return float(np.mean(1.0 - ss_res / ss_tot))
