"""Mutants of the model part (RFC-0002 §2): rotation, objective and encoder-scale defects."""

from __future__ import annotations

import numpy as np

from lensemble_spec.metrics import build_sketch

from ._base import Wrapped, mutant
from ._registry import LOSS, MODEL_AND_RUNS, ROTATE, register


@register(
    "rotate-transpose", ROTATE, {"GAUGE-002", "GAUGE-003", "GAUGE-007", "GAUGE-009"}, "rotate applies Qᵀ", part="model"
)
class _RotateTranspose(Wrapped):
    """``rotate(p, Q)`` applies ``Qᵀ``: the encoder emits ``z Qᵀ`` instead of ``z Q``."""

    def rotate(self, params, q):
        return self._inner.rotate(params, np.asarray(q, dtype=np.float64).T)


@register(
    "fixed-sketch",
    LOSS,
    {"GAUGE-007", "GAUGE-009"},
    "loss_terms ignores the given sketch (not co-rotatable)",
    part="model",
)
class _FixedSketch(Wrapped):
    """SIGReg with the model's own fixed sketch (the caller's sketch is ignored): the statistic
    cannot be co-rotated, so it is not gauge invariant value by value."""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        own = build_sketch(7, int(self._inner.latent_dim), int(np.shape(sketch)[1]))
        return self._inner.loss_terms(params, batch, sketch=own, anchor=anchor, weights=weights)


@register(
    "sigreg-summed",
    LOSS,
    {"GAUGE-008", "FED-008"},
    "SIGReg summed over the sketch's directions, not averaged",
    part="model",
)
class _SigregSummed(Wrapped):
    """The SIGReg term summed over the m directions instead of averaged (×m, consistently in
    ``total``): still gauge invariant, but not RFC-0002's statistic; and ``local_update`` trains
    another objective than the one ``loss_terms`` states, so its delta does not descend it (FED-008).
    (A fixed sketch of the
    model's own is not a GAUGE-008 defect the suite can see: over 64 directions another sketch's
    statistic lies within the quadrature tolerance.)"""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        from lensemble_spec.protocol import ObjectiveWeights

        terms = dict(self._inner.loss_terms(params, batch, sketch=sketch, anchor=anchor, weights=weights))
        m = int(np.shape(sketch)[1])
        lam = (weights or ObjectiveWeights()).lambda_sigreg
        extra = (m - 1) * float(terms["sigreg"])
        terms["sigreg"] = m * float(terms["sigreg"])
        terms["total"] = float(terms["total"]) + lam * extra
        return terms


#: Factor by which the magnitude-collapsed encoder shrinks every latent.
COLLAPSE_SCALE = 1e-4


@register("magnitude-collapse", MODEL_AND_RUNS, {"GAUGE-042"}, "encoder output scaled by 1e-4")
def magnitude_collapse():
    """An encoder whose latents are 1e-4 of the reference's, everywhere (training, records, encode).

    The reference whitens ``θ_0`` on the probe, which would silently undo a constant output scale;
    this mutant's trainer has no such calibration (upstream had none either), so its runs carry the
    collapsed scale. Shape metrics (effective rank, drift) are scale-free and stay healthy: only the
    scale bound can see the defect.
    """
    import lensemble_reference.model as model_module
    from lensemble_reference import federation

    original_encode = model_module.WorldModel.encode
    if not getattr(original_encode, "_collapsed", False):

        def encode(self, obs):
            return original_encode(self, obs) * COLLAPSE_SCALE

        encode._collapsed = True  # type: ignore[attr-defined]
        model_module.WorldModel.encode = encode
        if not hasattr(federation, "calibrate_init"):
            raise AttributeError("mutant hook lensemble_reference.federation.calibrate_init no longer exists")
        federation.calibrate_init = lambda cfg, params, points: {k: np.array(v, copy=True) for k, v in params.items()}
    return mutant("magnitude-collapse")


@register("noisy-predict", ROTATE, {"GAUGE-001"}, "predict is not a function of its arguments", part="model")
class _NoisyPredict(Wrapped):
    """``predict`` adds float32-level noise from the global RNG (not a function of its arguments)."""

    def predict(self, params, z, action):
        out = np.asarray(self._inner.predict(params, z, action))
        return out + (1e-6 * np.random.standard_normal(out.shape)).astype(out.dtype)


@register(
    "rotate-in-place",
    ROTATE,
    {"GAUGE-002", "GAUGE-003", "GAUGE-004", "GAUGE-021"},
    "rotate overwrites the parameters it was given",
    part="model",
)
class _RotateInPlace(Wrapped):
    """``rotate`` writes the rotated arrays back into the mapping it was given."""

    def rotate(self, params, q):
        out = self._inner.rotate(params, q)
        for k in params:
            np.copyto(np.asarray(params[k]), np.asarray(out[k]), casting="unsafe")
        return out


@register("pred-doubled", LOSS, {"GAUGE-005"}, "pred term twice the mean squared error", part="model")
class _PredDoubled(Wrapped):
    """The ``pred`` term (and ``total``) counts every squared error twice."""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        terms = dict(self._inner.loss_terms(params, batch, sketch=sketch, anchor=anchor, weights=weights))
        lam = float(weights.lambda_pred) if weights is not None else float(getattr(self._inner, "lambda_pred", 1.0))
        terms["total"] = terms["total"] + lam * terms["pred"]
        terms["pred"] = 2.0 * terms["pred"]
        return terms


@register(
    "frame-weighted-pred",
    LOSS,
    {"GAUGE-005", "GAUGE-006", "GAUGE-009"},
    "pred weights latent coordinates unequally",
    part="model",
)
class _FrameWeightedPred(Wrapped):
    """The ``pred`` term weights latent coordinates unequally: it depends on the frame."""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        terms = dict(self._inner.loss_terms(params, batch, sketch=sketch, anchor=anchor, weights=weights))
        obs, act = np.asarray(batch.obs), np.asarray(batch.actions)
        z = np.stack(
            [np.asarray(self._inner.encode(params, obs[:, t]), dtype=np.float64) for t in range(obs.shape[1])], axis=1
        )
        d = z.shape[-1]
        w = np.linspace(0.5, 1.5, d)
        err = [
            (
                np.asarray(self._inner.predict(params, z[:, t].astype(np.float32), act[:, t]), dtype=np.float64)
                - z[:, t + 1]
            )
            ** 2
            for t in range(obs.shape[1] - 1)
        ]
        pred = float(np.mean(np.stack(err) * w))
        lam = float(weights.lambda_pred) if weights is not None else float(getattr(self._inner, "lambda_pred", 1.0))
        terms["total"] = terms["total"] + lam * (pred - terms["pred"])
        terms["pred"] = pred
        return terms


@register("anchor-epsilon", LOSS, {"GAUGE-009"}, "anchor term 1e-12 without an anchor", part="model")
class _AnchorEpsilon(Wrapped):
    """Without an anchor the anchor term is 1e-12, not exactly 0.0."""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        terms = dict(self._inner.loss_terms(params, batch, sketch=sketch, anchor=anchor, weights=weights))
        if anchor is None:
            terms["anchor"] = 1e-12
        return terms


@register("anchor-unweighted", LOSS, {"GAUGE-021", "GAUGE-043"}, "anchor term ignores the weight", part="model")
class _AnchorUnweighted(Wrapped):
    """The anchor term ignores ``anchor.weight``."""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        import dataclasses

        if anchor is not None:
            anchor = dataclasses.replace(anchor, weight=1.0)
        return self._inner.loss_terms(params, batch, sketch=sketch, anchor=anchor, weights=weights)


@register("no-probe-check", LOSS, {"GAUGE-022"}, "loss_terms drops a k < d anchor silently", part="model")
class _NoProbeCheck(Wrapped):
    """An anchor with fewer points than dimensions is silently dropped instead of refused."""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        if anchor is not None and np.shape(anchor.points)[0] < int(self._inner.latent_dim):
            anchor = None
        return self._inner.loss_terms(params, batch, sketch=sketch, anchor=anchor, weights=weights)


@register(
    "frame-as-landmark",
    LOSS,
    {"GAUGE-043", "GAUGE-044"},
    "a frame-only anchor computed as the landmark anchor (pins content)",
    part="model",
)
class _FrameAsLandmark(Wrapped):
    """Declares the frame-only anchor but computes the landmark term for it (content pinned)."""

    def loss_terms(self, params, batch, *, sketch, anchor=None, weights=None):
        import dataclasses

        if anchor is not None and getattr(anchor, "variant", "landmark") == "frame":
            anchor = dataclasses.replace(anchor, variant="landmark")
        return self._inner.loss_terms(params, batch, sketch=sketch, anchor=anchor, weights=weights)
