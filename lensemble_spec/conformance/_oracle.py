"""Independent numpy statements of the RFC formulas the suite checks implementations against.

Each function is a direct transcription of one RFC definition, written without reference to any
implementation and kept deliberately plain (float64, no batching tricks), so that a reader can
check it against the RFC text line by line. Where ``lensemble_spec.metrics`` provides the same
definition the suite uses the library (it is the normative implementation of its own docstrings);
these transcriptions cover what the RFCs define more precisely than a library call would show
(eigen-angle formula, entropy rank with no floor, the outer step of RFC-0003 §5.1, the byte
layouts of RFC-0010 §3/§4, the verdict rule of RFC-0005 §5).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import bounds

# --- arrays crossing the protocol boundary -----------------------------------------------------------


def as_array(x: Any) -> np.ndarray:
    """``numpy.asarray`` of anything an implementation returns (torch tensors detached first)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            x = x.float()
    return np.asarray(x)


def as_params(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A parameter mapping as ``{name: ndarray}`` copies (for comparison and snapshotting)."""
    return {str(k): np.array(as_array(v), copy=True) for k, v in params.items()}


def bitwise_equal(a: Any, b: Any) -> bool:
    """Same dtype, shape and bytes."""
    a, b = as_array(a), as_array(b)
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def params_bitwise_equal(p: Mapping[str, Any], q: Mapping[str, Any]) -> bool:
    return set(p) == set(q) and all(bitwise_equal(p[k], q[k]) for k in p)


def max_rel_error(actual: Any, expected: Any, *, floor: float = bounds.SCALE_FLOOR) -> float:
    """``max |a − e| / max(|e|, floor)`` elementwise (AGG_RTOL's scale convention)."""
    a = np.asarray(as_array(actual), dtype=np.float64)
    e = np.asarray(as_array(expected), dtype=np.float64)
    if a.shape != e.shape:
        return math.inf
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - e) / np.maximum(np.abs(e), floor)))


def allclose(actual: Any, expected: Any, *, rtol: float, atol: float) -> bool:
    a = np.asarray(as_array(actual), dtype=np.float64)
    e = np.asarray(as_array(expected), dtype=np.float64)
    return a.shape == e.shape and bool(np.all(np.isfinite(a))) and bool(np.allclose(a, e, rtol=rtol, atol=atol))


def close_scalar(actual: float, expected: float, *, rtol: float, atol: float) -> bool:
    return math.isfinite(actual) and abs(actual - expected) <= atol + rtol * abs(expected)


# --- RFC-0002 §3: Procrustes and angles --------------------------------------------------------------


def frame_rank(source: Any, target: Any) -> tuple[int, np.ndarray]:
    """Numerical rank of ``SᵀT`` (singular values above ``DEGENERATE_RTOL·σ_max``) and its spectrum."""
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    sv = np.linalg.svd(s.T @ t, compute_uv=False)
    if not np.all(np.isfinite(sv)) or sv[0] == 0.0:
        return 0, sv
    return int(np.sum(sv > bounds.DEGENERATE_RTOL * sv[0])), sv


def rank_floor(d: int) -> int:
    """``min(d, max(2, ⌈MIN_RANK_FRACTION·d⌉))``: the smallest numerical rank of ``SᵀT`` that
    determines a frame (RFC-0002 §3.2)."""
    return min(d, max(2, math.ceil(bounds.MIN_RANK_FRACTION * d - 1e-9)))


def procrustes(source: Any, target: Any) -> np.ndarray | None:
    """RFC-0002 §3.1–3.2: ``None`` when degenerate (GAUGE-014), else the span map + minimal completion.

    ``SᵀT = U Σ Vᵀ``; the numerical rank ``r`` counts ``σ_i > DEGENERATE_RTOL·σ_1``. Full rank:
    ``Q = U Vᵀ``. ``rank_floor(d) <= r < d`` (GAUGE-014): ``Q = U_r V_rᵀ + U_⊥ W V_⊥ᵀ`` with ``W``
    the orthogonal matrix maximising ``tr Q``, i.e. ``tr(W V_⊥ᵀ U_⊥)``.
    """
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    s = s / max(float(np.max(np.abs(s))), 1e-300)  # Q does not depend on positive scalings
    t = t / max(float(np.max(np.abs(t))), 1e-300)
    u, sv, vt = np.linalg.svd(s.T @ t)
    d = sv.size
    if not np.isfinite(sv[0]) or sv[0] == 0.0:
        return None
    r = int(np.sum(sv > bounds.DEGENERATE_RTOL * sv[0]))
    if r < rank_floor(d):
        return None
    q = u[:, :r] @ vt[:r]
    if r < d:
        b = vt[r:] @ u[:, r:]  # V_⊥ᵀ U_⊥
        p, _, wt = np.linalg.svd(b)
        q = q + u[:, r:] @ (wt.T @ p.T) @ vt[r:]
    return q


def eigen_angle_deg(q: Any) -> float:
    """``(180/π) · sqrt(½ Σ arg(λ_i)²)`` over the eigenvalues of ``Q`` (RFC-0002 §3.3)."""
    lam = np.linalg.eigvals(np.asarray(q, dtype=np.float64))
    args = np.angle(lam)  # in (−π, π]
    return float(np.degrees(math.sqrt(0.5 * float(np.sum(args**2)))))


def drift_deg(source: Any, target: Any) -> float | None:
    """``frame_drift_deg`` by definition; ``None`` for a degenerate frame."""
    q = procrustes(source, target)
    return None if q is None else eigen_angle_deg(q)


def normalised_residual(source: Any, target: Any, q: Any) -> float:
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    return float(np.linalg.norm(s @ np.asarray(q, dtype=np.float64) - t) / np.linalg.norm(t))


# --- RFC-0002 §7: collapse metrics ---------------------------------------------------------------------


def _flat(z: Any) -> np.ndarray:
    x = np.asarray(as_array(z), dtype=np.float64)
    return x.reshape(-1, x.shape[-1])


def _spectrum(z: Any) -> np.ndarray:
    """Eigenvalues of ``X_cᵀ X_c`` (empty for a constant batch, RFC-0002 §7)."""
    x = _flat(z)
    xc = x - x.mean(axis=0)
    if np.linalg.norm(xc) <= bounds.CONSTANT_RTOL * np.linalg.norm(x):
        return np.zeros(0)
    return np.linalg.svd(xc, compute_uv=False) ** 2


def effective_rank(z: Any) -> float:
    """RankMe over the singular values ``σ_k = sqrt(λ_k)`` of the centred latents (GAUGE-036)."""
    lam = _spectrum(z)
    if lam.size == 0 or lam.sum() <= 0:
        return 0.0
    sigma = np.sqrt(lam)
    p = sigma / sigma.sum()
    p = p[p > 0]
    return float(math.exp(-float(np.sum(p * np.log(p)))))


def effective_dim(z: Any) -> float:
    lam = _spectrum(z)
    if lam.size == 0 or lam.sum() <= 0:
        return 0.0
    return float(lam.sum() ** 2 / np.sum(lam**2))


def latent_std_mean(z: Any) -> float:
    return float(np.mean(np.std(_flat(z), axis=0)))


def latent_rms(z: Any) -> float:
    return float(math.sqrt(float(np.mean(_flat(z) ** 2))))


COLLAPSE_METRICS = {
    "effective_rank": effective_rank,
    "effective_dim": effective_dim,
    "latent_std_mean": latent_std_mean,
    "latent_rms": latent_rms,
}


# --- RFC-0003 §5.1: the outer step -------------------------------------------------------------------


def outer_step(
    theta: Mapping[str, Any],
    deltas: Mapping[str, Mapping[str, Any]],
    velocity: Mapping[str, np.ndarray] | None,
    *,
    lr: float,
    momentum: float,
    nesterov: bool,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One step of §5.1 in float64: ``g = mean Δ`` (sorted ids), ``v' = μv + g``, ``u``, ``θ + ηu``."""
    new_theta: dict[str, np.ndarray] = {}
    new_v: dict[str, np.ndarray] = {}
    ids = sorted(deltas)
    for name in sorted(theta):
        g = np.zeros(np.shape(theta[name]), dtype=np.float64)
        for pid in ids:
            g = g + np.asarray(deltas[pid][name], dtype=np.float64)
        g = g / len(ids)
        v = np.zeros_like(g) if velocity is None else np.asarray(velocity[name], dtype=np.float64)
        v_new = momentum * v + g
        u = g + momentum * v_new if nesterov else v_new
        new_theta[name] = np.asarray(theta[name], dtype=np.float64) + lr * u
        new_v[name] = v_new
    return new_theta, new_v


# --- RFC-0003 §6: seeds ------------------------------------------------------------------------------


def derive_seed(root: int, label: str) -> int:
    digest = hashlib.sha256(f"{int(root)}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


# --- RFC-0010 §3/§4: bytes ---------------------------------------------------------------------------

SINK_PATH_KEYS = frozenset({"out_dir", "output_dir", "run_dir", "log_dir", "log_path", "metrics_path"})
ALLOWED_DTYPES = ("bfloat16", "bool", "float16", "float32", "float64", "int32", "int64", "uint8")
_ST_DTYPES = {
    "BF16": "bfloat16", "BOOL": "bool", "F16": "float16", "F32": "float32", "F64": "float64",
    "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64", "U8": "uint8", "U16": "uint16",
    "U32": "uint32", "U64": "uint64",
}  # fmt: skip


def canonical_json(obj: Any) -> bytes:
    """RFC-0010 §4.1: RFC 8785 (scalars by the third-party ``rfc8785`` package, not the library's
    wrapper), members sorted by UTF-16 code units, integers beyond ±(2^53 − 1) as exact digits."""
    import rfc8785

    if isinstance(obj, Mapping):
        items = sorted(obj.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return b"{" + b",".join(rfc8785.dumps(k) + b":" + canonical_json(v) for k, v in items) + b"}"
    if isinstance(obj, (list, tuple)):
        return b"[" + b",".join(canonical_json(v) for v in obj) + b"]"
    if isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) > 2**53 - 1:
        return str(obj).encode("ascii")
    return rfc8785.dumps(obj)


def strip_sink_paths(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: strip_sink_paths(v) for k, v in obj.items() if k not in SINK_PATH_KEYS}
    if isinstance(obj, list):
        return [strip_sink_paths(v) for v in obj]
    return obj


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(strip_sink_paths(config))).hexdigest()


def _tensor_frame(dtype: str, shape: Sequence[int], data: bytes) -> bytes:
    out = struct.pack("<B", len(dtype)) + dtype.encode("ascii") + struct.pack("<I", len(shape))
    out += b"".join(struct.pack("<Q", int(d)) for d in shape)
    return out + struct.pack("<Q", len(data)) + data


def content_hash(
    tensors: Mapping[str, tuple[str, Sequence[int], bytes]],
    *,
    schema_version: int,
    round_index: int,
    parent_hash: str | None,
    config_hash: str,
) -> str:
    """RFC-0010 §3 over ``{name: (dtype name, shape, little-endian C-order bytes)}``."""
    h = hashlib.sha256(b"lensemble-spec/checkpoint/v1\0")
    for name in sorted(tensors, key=lambda n: n.encode("utf-8")):
        dtype, shape, data = tensors[name]
        encoded = name.encode("utf-8")
        h.update(struct.pack("<I", len(encoded)) + encoded + _tensor_frame(dtype, shape, data))
    j = canonical_json(
        {
            "schema_version": schema_version,
            "round_index": round_index,
            "parent_hash": parent_hash or "",
            "config_hash": config_hash,
        }
    )
    h.update(b"\0header\0" + struct.pack("<I", len(j)) + j)
    return h.hexdigest()


def probe_hash(points: Any) -> str:
    arr = np.ascontiguousarray(np.asarray(points))
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return hashlib.sha256(
        b"lensemble-spec/probe/v1\0" + _tensor_frame(arr.dtype.name, arr.shape, le.tobytes())
    ).hexdigest()


def read_safetensors_raw(data: bytes) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """Parse a safetensors file by hand: ``{name: (dtype name, shape, raw bytes)}``.

    Raises ``ValueError`` when the bytes are not a well-formed safetensors file (the suite never
    deserialises anything else).
    """
    if len(data) < 8:
        raise ValueError("shorter than the 8-byte safetensors length prefix")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("safetensors header length exceeds the file")
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out: dict[str, tuple[str, tuple[int, ...], bytes]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = (
            _ST_DTYPES.get(info["dtype"], info["dtype"].lower()),
            tuple(int(s) for s in info["shape"]),
            body[start:end],
        )
    return out


def numpy_from_raw(dtype: str, shape: Sequence[int], data: bytes) -> np.ndarray:
    """Decode raw little-endian bytes; ``bfloat16`` is widened exactly to float32."""
    if dtype == "bfloat16":
        bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return (
        np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).astype(dtype)
    )  # native, writable copy


# --- RFC-0005 §5: verdicts ---------------------------------------------------------------------------

VERDICTS = ("diverged", "collapsed", "drifted", "gauge-held")


def verdict(metrics: Mapping[str, Any], series: Mapping[str, Sequence[Any]]) -> str:
    """The first matching rule of RFC-0005 §5, from the row's own numbers."""
    if any(metrics.get(k) is None for k in ("effective_rank", "latent_std_mean", "latent_rms", "state_probe_r2")):
        return "diverged"
    d = metrics.get("latent_dim")
    if (
        (d is not None and metrics["effective_rank"] < bounds.MIN_RANK_FRACTION * d)
        or metrics["latent_std_mean"] < bounds.MIN_LATENT_STD
        or metrics.get("drift_to_reference_deg") is None
    ):
        return "collapsed"
    drift = [v for v in series.get("drift_to_reference_deg", []) if v is not None]
    if any(v > bounds.MAX_DRIFT_TO_REFERENCE_DEG for v in drift):
        return "drifted"
    return "gauge-held"


_NAME_TO_ST = {v: k for k, v in _ST_DTYPES.items()}


def write_safetensors_raw(tensors: Mapping[str, tuple[str, Sequence[int], bytes]]) -> bytes:
    """Build safetensors bytes from ``{name: (dtype name, shape, raw bytes)}`` (tamper helper)."""
    header: dict[str, Any] = {}
    offset = 0
    body = b""
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {
            "dtype": _NAME_TO_ST.get(dtype, dtype.upper()),
            "shape": [int(s) for s in shape],
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        body += data
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body
