"""Frame drift between participants' embeddings of the shared probe.

Each participant ``c`` embeds the same ``k`` probe points: ``E_c`` is ``(k, d)`` (row-vector
latents). For an ordered pair (source ``a``, target ``b``) we solve Procrustes ``E_a Q ≈ E_b``
(:mod:`.procrustes`; O(d) by default) and report

* ``angle_deg`` — :func:`~.angles.drift_angle_deg` of ``Q`` (``sqrt(½ Σ arg(λ)²)`` in degrees);
* ``residual`` — ``‖E_a Q − E_b‖_F / ‖E_b‖_F``;
* ``condition`` — ``σ_max/σ_min`` of ``E_aᵀ E_b``;
* ``degenerate`` — True when ``σ_min <= PROCRUSTES_RCOND·σ_max``. A degenerate entry has
  ``angle_deg`` and ``residual`` NaN (``None`` in JSON): a collapsed frame is never reported as
  0° or as aligned (upstream defect: degenerate SVDs read as 0° drift);
* ``reflection`` — ``det Q = −1`` (only possible with ``proper=False``).

Three families: **pairwise** (all unordered pairs ``a < b`` of sorted ids, source ``a``),
**to_reference** (each participant vs the pinned round-0 probe embeddings) and **to_global**
(each participant vs the committed global model's embeddings).

Speed. All cross-covariances come from the upper triangle of the Gram product of the
participants stacked side by side (``X = [E_1 … E_C]`` of shape ``(k, C·d)``; C − 1 large matmuls)
plus one batched matmul per reference, are stacked to ``(P, d, d)`` and solved with ONE batched
``np.linalg.svd``; the angles come from one batched symmetric eigensolve. The arithmetic is the
same as a per-pair loop (P products and P SVDs of d × d, which dominate at d = 128); what batching
removes is the per-pair Python and LAPACK-call overhead (see ``benchmarks/metrics.py``). The residual uses the identity
``‖SQ − T‖² = ‖S‖² + ‖T‖² − 2 tr(QᵀSᵀT)`` with ``tr(QᵀSᵀT) = Σσ`` (minus ``2σ_min`` when a
Kabsch flip was applied) instead of forming ``SQ``; it loses precision only below a normalised
residual of about :data:`RESIDUAL_NOISE_FLOOR`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ._inputs import as_matrix, check_same_shape
from .angles import drift_angle_deg, drift_from_orthogonal
from .procrustes import PROCRUSTES_RCOND, condition_numbers, degenerate_mask, polar_from_cross, procrustes_align

#: The trace identity for the residual cancels ``‖S‖² + ‖T‖²`` against ``2Σσ``; with float64
#: round-off ~1e-16 relative, normalised residuals below ~sqrt(1e-16)·few ≈ 1e-7 are noise.
RESIDUAL_NOISE_FLOOR = 1e-7


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class DriftEntry:
    """One Procrustes comparison ``E[source] @ Q ≈ E[target]`` (angles NaN when degenerate)."""

    source: str
    target: str
    angle_deg: float
    residual: float
    condition: float
    degenerate: bool
    reflection: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; NaN/Inf become ``None``."""
        return {
            "source": self.source,
            "target": self.target,
            "angle_deg": _json_float(self.angle_deg),
            "residual": _json_float(self.residual),
            "condition": _json_float(self.condition),
            "degenerate": bool(self.degenerate),
            "reflection": bool(self.reflection),
        }


def _aggregate(entries: tuple[DriftEntry, ...] | list[DriftEntry], fn) -> float:
    if not entries or any(e.degenerate for e in entries):
        return float("nan")
    return float(fn([e.angle_deg for e in entries]))


@dataclass(frozen=True)
class FrameDriftResult:
    """Report of :func:`frame_drift`.

    Aggregates (``pairwise_mean_deg`` …) are NaN when there is nothing to aggregate **or when any
    entry is degenerate**, so a collapsed participant cannot hide inside an average that reads
    small. ``degenerate`` is True if any entry is.
    """

    participants: tuple[str, ...]
    n_points: int
    latent_dim: int
    proper: bool
    pairs: tuple[DriftEntry, ...] = ()
    to_reference: Mapping[str, DriftEntry] = field(default_factory=dict)
    to_global: Mapping[str, DriftEntry] = field(default_factory=dict)

    def entries(self) -> list[DriftEntry]:
        return [*self.pairs, *self.to_reference.values(), *self.to_global.values()]

    @property
    def degenerate(self) -> bool:
        return any(e.degenerate for e in self.entries())

    @property
    def pairwise_mean_deg(self) -> float:
        return _aggregate(self.pairs, np.mean)

    @property
    def pairwise_max_deg(self) -> float:
        return _aggregate(self.pairs, np.max)

    @property
    def to_reference_mean_deg(self) -> float:
        return _aggregate(list(self.to_reference.values()), np.mean)

    @property
    def to_reference_max_deg(self) -> float:
        return _aggregate(list(self.to_reference.values()), np.max)

    @property
    def to_global_mean_deg(self) -> float:
        return _aggregate(list(self.to_global.values()), np.mean)

    def pair(self, a: str, b: str) -> DriftEntry:
        """The entry for participants ``a`` and ``b`` (either order; stored with sorted ids)."""
        lo, hi = sorted((a, b))
        for e in self.pairs:
            if e.source == lo and e.target == hi:
                return e
        raise KeyError((a, b))

    def summary(self) -> dict[str, Any]:
        """Round-level scalars named as in ``RoundMetrics`` (None when undefined or degenerate).

        ``drift_to_reference_deg`` is the mean over participants of the to-reference angle.
        """
        return {
            "drift_to_reference_deg": _json_float(self.to_reference_mean_deg),
            "drift_pairwise_mean_deg": _json_float(self.pairwise_mean_deg),
            "drift_pairwise_max_deg": _json_float(self.pairwise_max_deg),
            "drift_degenerate": self.degenerate,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report (``json.dumps(..., allow_nan=False)`` works): NaN/Inf → None."""
        return {
            "participants": list(self.participants),
            "n_points": int(self.n_points),
            "latent_dim": int(self.latent_dim),
            "group": "SO(d)" if self.proper else "O(d)",
            "rcond": PROCRUSTES_RCOND,
            "pairs": [e.to_dict() for e in self.pairs],
            "to_reference": {k: e.to_dict() for k, e in sorted(self.to_reference.items())},
            "to_global": {k: e.to_dict() for k, e in sorted(self.to_global.items())},
            "summary": self.summary(),
        }


def _stack_embeddings(embeddings: Mapping[str, Any]) -> tuple[list[str], np.ndarray]:
    if not isinstance(embeddings, Mapping) or len(embeddings) == 0:
        raise InputError(
            "`embeddings` must be a non-empty mapping participant id -> (k, d) array",
            remediation="Pass a dict {participant_id: probe embeddings (k, d)} with at least one entry.",
        )
    if not all(isinstance(key, str) for key in embeddings):
        raise InputError(
            "participant ids in `embeddings` must be strings",
            remediation="Key the embeddings dict by participant name (str).",
        )
    ids = sorted(embeddings)
    arrays = [as_matrix(embeddings[i], f"embeddings[{i!r}]", layout="(k, d): k probe points, latent d")
              for i in ids]
    for i, arr in zip(ids[1:], arrays[1:]):
        check_same_shape(arrays[0], arr, f"embeddings[{ids[0]!r}]", f"embeddings[{i!r}]")
    return ids, np.stack(arrays)


def _pair_cross(e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ``E_iᵀ E_j`` for ``i < j``, written straight into a ``(P, d, d)`` stack.

    With ``X = [E_1 … E_C]`` side by side ``(k, C·d)``, row block ``i`` of the upper triangle of
    ``Xᵀ X`` is ``E_iᵀ X[:, (i+1)d:]``: C − 1 large BLAS-3 products cover exactly the P pairs
    (half the flops of the full Gram, and no per-pair Python calls).
    """
    c, k, d = e.shape
    ii, jj = np.triu_indices(c, 1)
    out = np.empty((len(ii), d, d))
    if c < 2:
        return out, ii, jj
    x = np.ascontiguousarray(e.transpose(1, 0, 2)).reshape(k, c * d)
    row = 0
    for i in range(c - 1):
        n = c - i - 1
        block = e[i].T @ x[:, (i + 1) * d:]  # (d, n·d): [E_iᵀE_{i+1} … E_iᵀE_C]
        out[row:row + n] = block.reshape(d, n, d).transpose(1, 0, 2)
        row += n
    return out, ii, jj


def frame_drift(
    embeddings: Mapping[str, Any],
    *,
    reference: Any = None,
    global_embedding: Any = None,
    proper: bool = False,
) -> FrameDriftResult:
    """Pairwise, to-reference and to-global frame drift with one batched SVD.

    Parameters
    ----------
    embeddings:
        ``{participant_id: (k, d)}`` — every participant's embedding of the same ``k`` probe
        points in the same order (numpy or torch; computed in float64).
    reference:
        Optional ``(k, d)`` pinned round-0 embeddings of the probe (the frame anchor targets).
    global_embedding:
        Optional ``(k, d)`` embeddings of the probe by the committed global model.
    proper:
        Solve over SO(d) instead of O(d) (see :func:`~.procrustes.procrustes_align`).

    A pair whose cross-covariance is rank-deficient beyond ``PROCRUSTES_RCOND`` (a collapsed
    frame, or ``k < d``) is reported with ``degenerate=True`` and NaN angle/residual; it does not
    raise, so one collapsed participant does not hide the others. Raises ``InputError`` for
    NaN/Inf, wrong rank, shape mismatches or ``k < 2``.
    """
    ids, e = _stack_embeddings(embeddings)
    c, k, d = e.shape
    refs: list[tuple[str, np.ndarray]] = []
    for label, arr in (("reference", reference), ("global_embedding", global_embedding)):
        if arr is not None:
            r = as_matrix(arr, label, layout="(k, d): the same probe points as the participants")
            check_same_shape(e[0], r, f"embeddings[{ids[0]!r}]", label)
            refs.append((label, r))

    pair_m, ii, jj = _pair_cross(e)
    et = np.swapaxes(e, -1, -2)
    ms = [pair_m] + [np.matmul(et, r) for _, r in refs]
    m = np.concatenate(ms, axis=0) if len(ms) > 1 else pair_m
    sq = np.einsum("ckd,ckd->c", e, e)
    src_sq = np.concatenate([sq[ii]] + [sq for _ in refs])
    tgt_sq = np.concatenate([sq[jj]] + [np.full(c, float(np.sum(r * r))) for _, r in refs])

    if m.shape[0] == 0:
        return FrameDriftResult(participants=tuple(ids), n_points=k, latent_dim=d, proper=proper)

    q, sv, flipped = polar_from_cross(m, proper=proper)  # the one batched SVD
    bad = degenerate_mask(sv)
    cond = condition_numbers(sv)
    trace = sv.sum(axis=-1) - 2.0 * np.where(flipped, sv[:, -1], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = np.sqrt(np.clip(src_sq + tgt_sq - 2.0 * trace, 0.0, None)) / np.sqrt(tgt_sq)
    angle = np.full(m.shape[0], np.nan)
    good = ~bad
    if np.any(good):
        angle[good] = drift_from_orthogonal(q[good])
    resid = np.where(bad, np.nan, resid)
    if proper:
        reflection = np.zeros(m.shape[0], dtype=bool)
    else:
        reflection = (np.linalg.det(q) < 0) & good

    def entry(n: int, src: str, tgt: str) -> DriftEntry:
        return DriftEntry(
            source=src,
            target=tgt,
            angle_deg=float(angle[n]),
            residual=float(resid[n]),
            condition=float(cond[n]),
            degenerate=bool(bad[n]),
            reflection=bool(reflection[n]),
        )

    pairs = tuple(entry(n, ids[a], ids[b]) for n, (a, b) in enumerate(zip(ii, jj)))
    offset = len(ii)
    families: dict[str, dict[str, DriftEntry]] = {"reference": {}, "global_embedding": {}}
    for label, _ in refs:
        target_name = "reference" if label == "reference" else "global"
        families[label] = {ids[n]: entry(offset + n, ids[n], target_name) for n in range(c)}
        offset += c
    return FrameDriftResult(
        participants=tuple(ids),
        n_points=k,
        latent_dim=d,
        proper=proper,
        pairs=pairs,
        to_reference=families["reference"],
        to_global=families["global_embedding"],
    )


def drift_to_reference_deg(embedding: Any, reference: Any, *, proper: bool = False) -> float:
    """Drift angle (degrees) of one ``(k, d)`` embedding relative to the pinned reference.

    ``Q = procrustes_align(embedding, reference).q`` (so ``embedding @ Q ≈ reference``), then
    :func:`~.angles.drift_angle_deg`. Raises :class:`~lensemble_spec.errors.DegenerateProcrustes`
    for a collapsed (rank-deficient) frame — it never returns 0° for one.
    """
    e = as_matrix(embedding, "embedding", layout="(k, d): k probe points, latent d")
    r = as_matrix(reference, "reference", layout="(k, d): the same probe points as `embedding`")
    check_same_shape(e, r, "embedding", "reference")
    result = procrustes_align(e, r, proper=proper)
    return float(drift_angle_deg(result.q))

