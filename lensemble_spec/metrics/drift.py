"""Frame drift between participants' embeddings of the shared probe.

Each participant ``c`` embeds the same ``k`` probe points: ``E_c`` is ``(k, d)`` (row-vector
latents). For an ordered pair (source ``a``, target ``b``) we solve Procrustes ``E_a Q ≈ E_b``
(:mod:`.procrustes`; O(d) by default) and report

* ``angle_deg`` — :func:`~.angles.drift_angle_deg` of ``Q`` (``sqrt(½ Σ arg(λ)²)`` in degrees);
* ``residual`` — ``‖E_a Q − E_b‖_F / ‖E_b‖_F``;
* ``condition`` — ``σ_max/σ_min`` of ``E_aᵀ E_b``;
* ``rank`` — numerical rank of ``E_aᵀ E_b`` (singular values above ``DEGENERATE_RTOL·σ_max``):
  frames confined to a subspace by design (LayerNorm latents: rank ``d − 1``) are aligned on the
  span they share, the rest completed by the minimal rotation (:mod:`.procrustes`);
* ``degenerate`` — True when that rank is below :func:`~.procrustes.rank_floor` (a collapsed
  frame) or ``E_aᵀ E_b = 0``. A degenerate entry has ``angle_deg`` and ``residual`` NaN
  (``None`` in JSON): a collapsed frame is never reported as 0° or as aligned (upstream defect:
  degenerate SVDs read as 0° drift);
* ``reflection`` — ``det Q = −1`` (only possible with ``proper=False``).

Three families: **pairwise** (all unordered pairs ``a < b`` of sorted ids, source ``a``),
**to_reference** (each participant vs the pinned round-0 probe embeddings) and **to_global**
(each participant vs the committed global model's embeddings).

Speed (``benchmarks/metrics.py`` times it against the peer's loop of float32 SVD Procrustes,
``benchmarks/peers.py``).

* Cross-covariances: row ``i`` of the upper triangle of the Gram matrix of
  ``X = [E_1 … E_C]`` ``(k, C·d)`` is ``E_iᵀ X[:, (i+1)d:]`` — one GEMM per block of that row, half
  the flops of all ordered products; the references add one GEMM per block of participants.
  float32 embeddings use float32 GEMMs, with a float64 redo for items above
  :data:`FP32_CROSS_MAX_COND`.
* Solve: :func:`~.procrustes.polar_batch` — ``eigh(MᵀM)`` instead of an SVD (about half the
  LAPACK time at d = 128), the SVD only for the few items with ``σ_min/σ_max <= 1e-3``
  (ill-conditioned, degenerate); error bound in :mod:`.procrustes`.
* Angles: ``Σθ² = Σ a_n tr(Aⁿ)``, ``A = I − (Q + Qᵀ)/2``, from one to three matrix products per
  item with a certified tail bound (:func:`~.angles.drift_from_orthogonal_fast`); a batched
  ``eigvalsh`` of the symmetric parts only where the series is not certified (large rotations).
* Determinant signs: a first pass solves over O(d) without them; where the angle series is
  certified every ``cos θ_j > 0``, so ``det Q = +1`` (no reflection, no Kabsch flip needed) and
  the batched ``slogdet`` is only paid for the other items, which are solved again with it.
* Residual: ``‖SQ − T‖² = ‖S‖² + ‖T‖² − 2 tr(QᵀSᵀT)`` with ``tr(QᵀSᵀT) = Σσ`` (minus ``2σ_min``
  after a Kabsch flip), so ``SQ`` (a k·d² product per pair) is never formed; it loses precision
  only below a normalised residual of about :data:`RESIDUAL_NOISE_FLOOR`.
* Cores: the work is cut into blocks of at most :data:`~.drift_blocks.BLOCK_ITEMS` problems (a
  run of one participant's row of pairs, or of reference comparisons; small enough for a block's
  float64 stacks to stay in cache) and, on the torch backend, the blocks are spread over
  ``min(torch.get_num_threads(), cores)`` worker threads, each running its LAPACK calls
  single-threaded. Many small factorisations parallelise far better across the batch than inside
  each d × d call (multi-threaded LAPACK on 128 × 128 matrices mostly pays synchronisation, and on
  an oversubscribed machine collapses). The workers are created once per process and worker count
  (idle ``lensemble-drift`` threads between calls) and set torch's intra-op threads to 1 *for their
  own thread*; the calling thread's count is re-applied after every call, so the only lasting
  effect is that ``torch.set_num_threads(n)`` has been called with the value it already had.
* Backend (:data:`BACKEND`): ``"auto"`` runs tiny batches (< :data:`NUMPY_MAX_WORK`, ``Σ d³``)
  on numpy; larger ones on torch if it is already imported, or if the batch reaches
  :data:`TORCH_MIN_WORK` (then torch is imported lazily — never at module import); numpy
  otherwise, or when torch is not installed. Both compute in float64 with the same algorithm, so
  results agree to round-off (not bitwise: two LAPACKs). On torch they do not depend on the
  number of workers: every block is solved single-threaded, whichever thread runs it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from ._inputs import as_matrix, check_same_shape
from .angles import drift_angle_deg
from .drift_blocks import (  # noqa: F401 - parameters documented here
    BLOCK_ITEMS,
    FP32_CROSS_MAX_COND,
    _plan_blocks,
    _run_blocks,
    _solve_block,
    _Solved,
    _worker_count,
)
from .drift_report import DriftEntry, FrameDriftResult
from .procrustes import (
    condition_numbers,
    degenerate_mask,
    pow2_scale,
    procrustes_align,
)

#: The trace identity for the residual cancels ``‖S‖² + ‖T‖²`` against ``2Σσ``; with float64
#: round-off ~1e-16 relative, normalised residuals below ~sqrt(1e-16)·few ≈ 1e-7 are noise.
RESIDUAL_NOISE_FLOOR = 1e-7

#: Array backend of :func:`frame_drift`'s batched solve: ``"auto"``, ``"numpy"`` or ``"torch"``.
BACKEND = "auto"

#: ``"auto"`` keeps batches with less work than this (``Σ d³`` over the Procrustes problems) on
#: numpy in the calling thread: e.g. 4 problems at d = 64 or 256 at d = 16 — milliseconds, with
#: matrices too small for multi-threaded BLAS to kick in, where worker threads cost more than
#: they save.
NUMPY_MAX_WORK = 2**20

#: ``"auto"`` imports torch (about a second the first time) only for batches with at least this
#: much work: 32 problems at d = 128, ~0.1 s of LAPACK. Between :data:`NUMPY_MAX_WORK` and this,
#: torch is used only if it is already imported (free). Torch matters beyond speed: numpy's
#: LAPACK runs on multi-threaded OpenBLAS, whose threads cannot be limited per call, and on a
#: loaded machine 128 × 128 factorisations then slow down by one to two orders of magnitude
#: (``benchmarks/metrics.py`` recorded 2.7 s instead of ~0.02 s for 6 problems).
TORCH_MIN_WORK = 32 * 128**3

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


def _all_float32(arrays: Sequence[Any]) -> bool:
    return all(str(getattr(a, "dtype", "")) in ("float32", "torch.float32") for a in arrays)


def _check_rotation_dim(d: int) -> None:
    if d < 2:
        raise InputError(
            f"latent dimension d = {d}: a frame rotation needs d >= 2 (O(1) is {{±1}}, which has no "
            "rotation angle)",
            remediation="Pass embeddings with at least two latent coordinates.",
            latent_dim=int(d),
        )


def _torch_or_none() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a declared dependency
        return None
    return torch


def _select_backend(n_problems: int, d: int) -> Any:
    """The torch module when the batched solve should run on torch, else None (numpy)."""
    if BACKEND not in ("auto", "numpy", "torch"):
        raise ConfigError(
            f"lensemble_spec.metrics.drift.BACKEND is {BACKEND!r}",
            remediation='Set lensemble_spec.metrics.drift.BACKEND to "auto", "numpy" or "torch".',
        )
    work = n_problems * d**3
    if BACKEND == "numpy" or (BACKEND == "auto" and work < NUMPY_MAX_WORK):
        return None
    if BACKEND == "auto" and work < TORCH_MIN_WORK and "torch" not in sys.modules:
        return None
    torch = _torch_or_none()
    if torch is None and BACKEND == "torch":
        raise ConfigError("lensemble_spec.metrics.drift.BACKEND is 'torch' but torch is not installed",
                          remediation='Install torch or set BACKEND to "auto".')
    return torch


def batch_plan(n_participants: int, n_references: int, d: int) -> dict[str, Any]:
    """How :func:`frame_drift` would run a batch of this shape: backend, blocks and worker threads.

    ``n_references`` counts the reference families (0, 1 or 2). For benchmarks and logs; calling
    it may import torch (exactly when :func:`frame_drift` would).
    """
    n_problems = n_participants * (n_participants - 1) // 2 + n_references * n_participants
    torch = _select_backend(n_problems, d)
    blocks = len(_plan_blocks(n_participants, n_references))
    return {"backend": "torch" if torch is not None else "numpy", "problems": n_problems,
            "blocks": blocks, "workers": _worker_count(torch, blocks)}


def frame_drift(
    embeddings: Mapping[str, Any],
    *,
    reference: Any = None,
    global_embedding: Any = None,
    proper: bool = False,
) -> FrameDriftResult:
    """Pairwise, to-reference and to-global frame drift, solved as one batch (module docstring: "Speed").

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

    A pair whose cross-covariance has numerical rank below :func:`~.procrustes.rank_floor` (a
    collapsed frame) is reported with ``degenerate=True`` and NaN angle/residual; it does not
    raise, so one collapsed participant does not hide the others. A pair of rank between the floor
    and ``d`` (frames confined to a subspace, e.g. LayerNorm latents) is aligned on its span and
    reports that ``rank``. Raises ``InputError`` for NaN/Inf, wrong rank, shape mismatches,
    ``k < 2`` or ``d < 2`` (a rotation angle needs at least two dimensions).

    Accuracy against the per-pair SVD definition (:func:`~.procrustes.procrustes_align` +
    :func:`~.angles.drift_angle_deg`): problems with ``σ_min/σ_max > 1e-3`` are solved through
    ``eigh(MᵀM)`` with ``Q`` within ``~u·κ²`` (≤ ~1e-10) of the SVD answer, the others by the SVD
    itself (:mod:`.procrustes`); the angle then agrees to well within
    :data:`~.angles.ANGLE_ATOL_DEG` and the residual to :data:`RESIDUAL_NOISE_FLOOR`.
    """
    all_f32 = (
        _all_float32([*dict(embeddings).values(), *(r for r in (reference, global_embedding) if r is not None)])
        if isinstance(embeddings, Mapping)
        else False
    )
    ids, e = _stack_embeddings(embeddings)
    c, k, d = e.shape
    refs: list[tuple[str, np.ndarray]] = []
    for label, arr in (("reference", reference), ("global_embedding", global_embedding)):
        if arr is not None:
            r = as_matrix(arr, label, layout="(k, d): the same probe points as the participants")
            check_same_shape(e[0], r, f"embeddings[{ids[0]!r}]", label)
            refs.append((label, r))
    _check_rotation_dim(d)
    # Each frame is multiplied by its own power of two (exact; Q and the angle do not depend on
    # positive scalings of either side), so latents near 1e±200 neither overflow nor underflow
    # SᵀT. The residual is scale-dependent and is corrected by rho = a_target / a_source below.
    a_e = pow2_scale(np.max(np.abs(e), axis=(1, 2)))
    e = e * a_e[:, None, None]
    a_r = [float(pow2_scale(np.max(np.abs(r)))) for _, r in refs]
    refs = [(label, r * a) for (label, r), a in zip(refs, a_r)]

    ii, jj = np.triu_indices(c, 1)
    n_problems = len(ii) + c * len(refs)
    if n_problems == 0:
        return FrameDriftResult(participants=tuple(ids), n_points=k, latent_dim=d, proper=proper)
    sq = np.einsum("ckd,ckd->c", e, e)
    src_sq = np.concatenate([sq[ii]] + [sq for _ in refs])
    tgt_sq = np.concatenate([sq[jj]] + [np.full(c, float(np.sum(r * r))) for _, r in refs])
    rho = np.concatenate([a_e[jj] / a_e[ii]] + [a / a_e for a in a_r])

    torch = _select_backend(n_problems, d)
    x = np.ascontiguousarray(e.transpose(1, 0, 2)).reshape(k, c * d)  # [E_1 … E_C]
    ref_arrays = [r for _, r in refs]
    if torch is not None:  # zero-copy views of our own arrays; the caller's references are copied
        e_b, x_b = torch.from_numpy(e), torch.from_numpy(x)  # (from_numpy refuses negative strides
        ref_arrays = [torch.from_numpy(np.array(r, order="C")) for r in ref_arrays]  # and warns on read-only)
    else:
        e_b, x_b = e, x
    ops32 = None
    if all_f32:  # float32 embeddings: float32 GEMMs first (exact operands: powers of two only)
        e32, x32 = e.astype(np.float32), x.astype(np.float32)
        r32 = [np.array(r, dtype=np.float32, order="C") for _, r in refs]
        ops32 = (
            (torch.from_numpy(e32), torch.from_numpy(x32), [torch.from_numpy(r) for r in r32])
            if torch is not None
            else (e32, x32, r32)
        )
    out = _Solved.empty(n_problems)
    _run_blocks(
        lambda b: _solve_block(b, (e_b, x_b, ref_arrays), ops32, proper, out), _plan_blocks(c, len(refs)), torch
    )

    bad = degenerate_mask(out.s_max, out.rank, d)
    cond = condition_numbers(out.s_max, out.s_min)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        resid_sq = rho * rho * src_sq + tgt_sq - 2.0 * rho * out.nuclear
        resid = np.sqrt(np.clip(resid_sq, 0.0, None)) / np.sqrt(tgt_sq)
    resid = np.where(bad, np.nan, resid)
    angle = np.where(bad, np.nan, out.angle)
    reflection = out.reflection & ~bad

    def entry(n: int, src: str, tgt: str) -> DriftEntry:
        return DriftEntry(
            source=src,
            target=tgt,
            angle_deg=float(angle[n]),
            residual=float(resid[n]),
            condition=float(cond[n]),
            degenerate=bool(bad[n]),
            reflection=bool(reflection[n]),
            rank=int(out.rank[n]),
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

    ``Q = procrustes_align(embedding, reference).q`` (so ``embedding @ Q ≈ reference``; on frames
    confined to a subspace, aligned on the span and completed by the minimal rotation), then
    :func:`~.angles.drift_angle_deg`. Raises :class:`~lensemble_spec.errors.DegenerateProcrustes`
    for a collapsed frame (numerical rank below the rank floor) — it never returns 0° for one —
    and InputError for ``d < 2``.
    """
    e = as_matrix(embedding, "embedding", layout="(k, d): k probe points, latent d")
    r = as_matrix(reference, "reference", layout="(k, d): the same probe points as `embedding`")
    check_same_shape(e, r, "embedding", "reference")
    _check_rotation_dim(e.shape[1])
    result = procrustes_align(e, r, proper=proper)
    return float(drift_angle_deg(result.q))
