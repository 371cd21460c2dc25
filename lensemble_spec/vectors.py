"""Test vectors for every normative formula, shipped as JSON under ``rfcs/vectors/``.

Each file ``rfcs/vectors/<formula>.json`` is ``{"formula", "procedure", "tolerance", "encoding",
"cases": [{"name", "input", "expected"}]}``: the inputs of a handful of cases and the outputs the
RFC procedure gives for them, so an implementer can check each formula before running the suite.
Encodings (stated again in each file's ``encoding``):

* raw tensor bytes as lowercase hex of the little-endian, C-order element bytes (``data_hex``)
  with ``dtype`` and ``shape``;
* float64 matrices as nested JSON arrays of numbers written with 17 significant digits (they read
  back to the same double in any conforming JSON parser);
* a float64 given bit-exactly as 16 hex digits of its IEEE-754 big-endian pattern (``bits``).

:func:`compute` evaluates one formula with the library; :func:`build_vectors` builds every file's
document from the fixed inputs below; ``python -m lensemble_spec.vectors --write`` rewrites the
files and ``--check`` compares (``tests/vectors`` does the same, and checks the cases against
independent transcriptions of the RFC procedures).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts.canonical import canonical_json, config_hash, strip_sink_paths
from .artifacts.hashing import hash_records, header_json, probe_hash
from .metrics import drift_angle_deg, effective_dim, effective_rank, latent_rms, latent_std_mean
from .metrics.drift import drift_to_reference_deg
from .metrics.sigreg import derive_seed, round_sketch_seed, sigreg_knots, sigreg_statistic
from .metrics.sketch import SKETCH_GENERATOR, build_sketch, splitmix64, standard_normals

VECTOR_DIR = Path(__file__).resolve().parent / "rfcs" / "vectors"

ENC_TENSOR = "tensors: dtype, shape, data_hex = little-endian C-order element bytes in lowercase hex"
ENC_MATRIX = "float64 matrices as nested JSON arrays (row-major), numbers with 17 significant digits"


def _matrix(a: np.ndarray) -> list[Any]:
    return json.loads(json.dumps(np.asarray(a, dtype=np.float64).tolist()))


def _tensor(a: np.ndarray) -> dict[str, Any]:
    arr = np.ascontiguousarray(a)
    return {
        "dtype": arr.dtype.name,
        "shape": list(arr.shape),
        "data_hex": arr.astype(arr.dtype.newbyteorder("<")).tobytes().hex(),
    }


def tensor_from(doc: dict[str, Any]) -> np.ndarray:
    """The array a ``{"dtype", "shape", "data_hex"}`` entry describes."""
    dt = np.dtype(doc["dtype"]).newbyteorder("<")
    return np.frombuffer(bytes.fromhex(doc["data_hex"]), dtype=dt).reshape(doc["shape"]).astype(dt.newbyteorder("="))


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _rotation(d: int, planes: list[tuple[int, int, float]]) -> np.ndarray:
    q = np.eye(d)
    for i, j, deg in planes:
        r = np.eye(d)
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
        q = q @ r
    return q


# --- the formulas (library calls) -------------------------------------------------------------------
def _canonical_json(inp: dict[str, Any]) -> dict[str, Any]:
    value = struct.unpack(">d", bytes.fromhex(inp["bits"]))[0] if "bits" in inp else inp["value"]
    return {"canonical": canonical_json(value).decode("utf-8")}


def _config_hash(inp: dict[str, Any]) -> dict[str, Any]:
    cfg = inp["config"]
    return {"canonical": canonical_json(strip_sink_paths(cfg)).decode("utf-8"), "sha256": config_hash(cfg)}


def _content_hash(inp: dict[str, Any]) -> dict[str, Any]:
    records = {t["name"]: (t["dtype"], tuple(t["shape"]), bytes.fromhex(t["data_hex"])) for t in inp["tensors"]}
    j = header_json(**inp["header"])
    return {"J": j.decode("utf-8"), "sha256": hash_records(records, j)}


def _probe_hash(inp: dict[str, Any]) -> dict[str, Any]:
    return {"sha256": probe_hash(tensor_from(inp["points"]))}


def _derive_seed(inp: dict[str, Any]) -> dict[str, Any]:
    out = {"seed": derive_seed(inp["root"], inp["label"])}
    if inp["label"].startswith("sketch:"):
        out["round_sketch_seed"] = round_sketch_seed(inp["root"], int(inp["label"].split(":", 1)[1]))
    return out


def _sketch(inp: dict[str, Any]) -> dict[str, Any]:
    a = build_sketch(inp["seed"], inp["d"], inp["m"])
    data = a.astype("<f4").tobytes()
    words = splitmix64(inp["seed"], 0, 4)
    normals = standard_normals(inp["seed"], 4)
    return {
        "generator": SKETCH_GENERATOR,
        "first_words_hex": [f"{int(w):016x}" for w in words],  # SplitMix64 words 1-4, for debugging step 1
        "first_normals_bits": [
            struct.pack(">d", float(x)).hex() for x in normals
        ],  # the first 4 accepted normals (step 2)
        "sketch": _tensor(a),
        "sha256_of_data": hashlib.sha256(data).hexdigest(),
    }


def _sigreg(inp: dict[str, Any]) -> dict[str, Any]:
    t, w = sigreg_knots()
    z = np.asarray(inp["embeddings"], dtype=np.float64)
    a = np.asarray(inp["sketch"], dtype=np.float64)
    return {"statistic": float(sigreg_statistic(z, a)), "knots": _matrix(t), "weights": _matrix(w)}


def _drift_angle(inp: dict[str, Any]) -> dict[str, Any]:
    return {"angle_deg": float(drift_angle_deg(np.asarray(inp["q"], dtype=np.float64)))}


def _frame_drift(inp: dict[str, Any]) -> dict[str, Any]:
    s = np.asarray(inp["source"], dtype=np.float64)
    t = np.asarray(inp["target"], dtype=np.float64)
    return {"angle_deg": float(drift_to_reference_deg(s, t))}


def _collapse(inp: dict[str, Any]) -> dict[str, Any]:
    z = np.asarray(inp["z"], dtype=np.float64)
    return {
        "effective_rank": effective_rank(z),
        "effective_dim": effective_dim(z),
        "latent_std_mean": latent_std_mean(z),
        "latent_rms": latent_rms(z),
    }


FORMULAS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str, str]] = {
    # name: (compute, procedure, tolerance)
    "canonical_json": (_canonical_json, "RFC-0010 §4.1 (RFC 8785)", "exact (UTF-8 string)"),
    "config_hash": (_config_hash, "RFC-0010 §4.2", "exact"),
    "content_hash": (_content_hash, "RFC-0010 §3", "exact"),
    "probe_hash": (_probe_hash, "RFC-0010 §3", "exact"),
    "derive_seed": (_derive_seed, "RFC-0003 §6.1", "exact"),
    "sketch": (_sketch, "RFC-0003 §6.2", "exact (float32 bytes)"),
    "sigreg": (_sigreg, "RFC-0002 §2.4", "relative 1e-9 (float64 arithmetic, any summation order)"),
    "drift_angle": (_drift_angle, "RFC-0002 §3.4", "absolute 1e-7 degrees"),
    "frame_drift": (_frame_drift, "RFC-0002 §3.4 (full-rank frames)", "absolute 1e-7 degrees"),
    "collapse": (_collapse, "RFC-0002 §7.1", "relative 1e-9"),
}


def compute(formula: str, inp: dict[str, Any]) -> dict[str, Any]:
    """The library's outputs for one case of ``formula``."""
    return FORMULAS[formula][0](inp)


# --- the fixed inputs -------------------------------------------------------------------------------
_RFC8785_NUMBERS = [  # RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text
    ("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"), ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"), ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"), ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"), ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"), ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"), ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"), ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"), ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"), ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"), ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]  # fmt: skip


def _inputs() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    cases: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    cases["canonical_json"] = [(f"rfc8785-number-{bits}", {"bits": bits}) for bits, _ in _RFC8785_NUMBERS] + [
        ("rfc8785-sorting", {"value": {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet "
                                                                                                 "With Dagesh",
                                       "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
                                       "\u00f6": "Latin Small Letter O With Diaeresis"}}),
        ("escapes", {"value": {"s": "quote\" backslash\\ tab\t nl\n bell\u0007 del\u007f nbsp\u00a0 ls\u2028"}}),
        ("nesting-and-literals", {"value": {"b": [True, False, None, [], {}], "a": {"z": 1, "y": 2.5, "x": -0.0}}}),
        ("integers-beyond-ijson-written-exactly",
         {"value": {"seed": 7770846738033751453, "neg": -9007199254740993, "max": 9007199254740991}}),
    ]  # fmt: skip
    cases["config_hash"] = [
        ("integral-floats-and-sinks", {"config": {"rounds": 3, "outer": {"lr": 1.0, "momentum": 0.0, "nesterov": True},
                                                  "inner_lr": 0.001, "out_dir": "runs/a",
                                                  "log": {"log_path": "x.log", "level": "info"}}}),
        ("federation-config-defaults", {"config": {"control": "anchored", "rounds": 3, "inner_steps": 10,
                                                   "batch_size": 16, "inner_lr": 0.001,
                                                   "outer": {"lr": 0.5, "momentum": 0.0, "nesterov": True},
                                                   "lambda_sigreg": 0.1, "lambda_anchor": 1.0, "backstop": True,
                                                   "backstop_threshold_deg": 15.0, "seed": 0, "min_participants": 1}}),
        ("small-and-large-numbers", {"config": {"eps": 1e-7, "big": 1e21, "int_max": 9007199254740991, "ratio": 0.1,
                                                "list": [{"run_dir": "/tmp"}, 2]}}),
        ("unicode", {"config": {"name": "Münster ✓", "tags": ["é", "😀"]}}),
        ("63-bit-seeds", {"config": {"world": {"silos": [{"layout_seed": 7770846738033751453},
                                                         {"layout_seed": 7770846738033751454}]}, "seed": 0}}),
    ]  # fmt: skip
    cfg = config_hash({"rounds": 3})
    w = np.array([[1.0, 2.0, -0.5], [0.25, 3.0, 1e-3]], dtype=np.float32)
    cases["content_hash"] = [
        ("one-tensor-first-checkpoint", {"tensors": [{"name": "encoder.w",
                                                      **_tensor(np.array([1.0, 2.0], np.float32))}],
                                         "header": {"schema_version": 1, "round_index": 0, "parent_hash": None,
                                                    "config_hash": cfg}}),
        ("several-dtypes-with-parent", {"tensors": [
            {"name": "predictor.b", **_tensor(np.array([1.0, -3.5], np.float64))},
            {"name": "encoder.w", **_tensor(w)},
            {"name": "encoder.steps", **_tensor(np.array(7, np.int64))},
            {"name": "encoder.mask", **_tensor(np.array([True, False, True]))},
            {"name": "encoder.empty", **_tensor(np.zeros((0, 2), np.float16))},
        ], "header": {"schema_version": 1, "round_index": 4, "parent_hash": "ab" * 32, "config_hash": cfg}}),
        ("bfloat16-raw-bits-and-utf8-name", {"tensors": [
            {"name": "encoder.bf16", "dtype": "bfloat16", "shape": [2], "data_hex": "803f20c0"},
            {"name": "encoder.ünï", **_tensor(np.array([0.5], np.float32))},
        ], "header": {"schema_version": 1, "round_index": 1, "parent_hash": "cd" * 32, "config_hash": cfg}}),
    ]  # fmt: skip
    cases["probe_hash"] = [
        ("float32-probe", {"points": _tensor(np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) / 7)}),
        ("float64-same-values",
         {"points": _tensor((np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) / 7).astype(np.float64))}),
        ("uint8-pixels", {"points": _tensor(np.array([[[[0, 255], [17, 3]]]], dtype=np.uint8))}),
    ]  # fmt: skip
    cases["derive_seed"] = [(f"root-{r}-{lab}", {"root": r, "label": lab}) for r, lab in
                            [(0, "sketch:0"), (0, "sketch:1"), (0, "sketch:24"), (7, "sketch:3"), (2**63, "sketch:0"),
                             (42, "init")]]  # fmt: skip
    cases["sketch"] = [
        ("tiny", {"seed": 0, "d": 3, "m": 4}),
        ("round-1-of-root-0", {"seed": round_sketch_seed(0, 1), "d": 4, "m": 5}),
        ("harness-size", {"seed": round_sketch_seed(7, 2), "d": 16, "m": 64}),
        ("one-dimension", {"seed": 5, "d": 1, "m": 6}),
        ("largest-63-bit-seed", {"seed": 2**63 - 1, "d": 5, "m": 3}),
    ]
    rng = _rng(20261203)
    gauss = rng.standard_normal((40, 3))
    a3 = build_sketch(3, 3, 5).astype(np.float64)
    cases["sigreg"] = [
        ("gaussian-40x3", {"embeddings": _matrix(gauss), "sketch": _matrix(a3)}),
        ("shrunk-latents", {"embeddings": _matrix(1e-3 * gauss), "sketch": _matrix(a3)}),
        ("offset-only-removed", {"embeddings": _matrix(gauss + 5.0), "sketch": _matrix(a3)}),
        (
            "identity-sketch-2d",
            {"embeddings": _matrix(rng.standard_normal((12, 2)) * [1.0, 3.0]), "sketch": _matrix(np.eye(2))},
        ),
    ]
    cases["drift_angle"] = [
        ("identity", {"q": _matrix(np.eye(4))}),
        ("one-plane-30deg", {"q": _matrix(_rotation(4, [(0, 1, 30.0)]))}),
        ("one-plane-179deg", {"q": _matrix(_rotation(3, [(0, 2, 179.0)]))}),
        ("two-planes-150-and-120", {"q": _matrix(_rotation(4, [(0, 1, 150.0), (2, 3, 120.0)]))}),
        ("reflection", {"q": _matrix(np.diag([1.0, 1.0, -1.0]))}),
        ("tiny-0.01deg", {"q": _matrix(_rotation(3, [(1, 2, 0.01)]))}),
    ]
    s = rng.standard_normal((8, 3))
    r = _rotation(3, [(0, 1, 40.0), (1, 2, 25.0)])
    cases["frame_drift"] = [
        ("exact-rotation", {"source": _matrix(s), "target": _matrix(s @ r)}),
        ("rotation-plus-noise", {"source": _matrix(s), "target": _matrix(s @ r + 0.01 * rng.standard_normal((8, 3)))}),
        ("reflected-frame", {"source": _matrix(s), "target": _matrix(s @ np.diag([1.0, -1.0, 1.0]))}),
    ]
    cases["collapse"] = [
        ("gaussian-20x4", {"z": _matrix(rng.standard_normal((20, 4)))}),
        (
            "rank-2-equal-variance",
            {"z": _matrix(np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=float) * 1e-6)},
        ),
        ("constant", {"z": _matrix(np.full((5, 3), 2.5))}),
        ("anisotropic", {"z": _matrix(rng.standard_normal((30, 3)) * [3.0, 1.0, 0.1] + [1.0, -2.0, 0.0])}),
    ]
    return cases


def build_vectors() -> dict[str, dict[str, Any]]:
    """Every vector document, computed with the library from the fixed inputs."""
    docs = {}
    for formula, cases in _inputs().items():
        _, procedure, tolerance = FORMULAS[formula]
        encoding = ENC_TENSOR if formula in ("content_hash", "probe_hash", "sketch") else ENC_MATRIX
        if formula in ("derive_seed", "sketch"):
            encoding += "; seeds are exact JSON integers up to 2^64 (parse them as 64-bit integers, not doubles)"
        if formula == "derive_seed":
            encoding = (
                "root, seed: exact JSON integers up to 2^64 (parse them as 64-bit integers, not doubles); label: text"
            )
        if formula == "canonical_json":
            encoding = (
                "bits: IEEE-754 float64 big-endian hex; value: the JSON value itself; canonical: expected UTF-8 text"
            )
        docs[formula] = {
            "formula": formula,
            "procedure": procedure,
            "tolerance": tolerance,
            "encoding": encoding,
            "cases": [{"name": n, "input": inp, "expected": compute(formula, inp)} for n, inp in cases],
        }
    return docs


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def write_vectors(directory: Path = VECTOR_DIR) -> list[Path]:
    from .artifacts.atomic import atomic_write_text

    out = []
    for formula, doc in build_vectors().items():
        out.append(atomic_write_text(directory / f"{formula}.json", _dump(doc)))
    return out


def load_vectors(formula: str, directory: Path = VECTOR_DIR) -> dict[str, Any]:
    return json.loads((directory / f"{formula}.json").read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lensemble_spec.vectors", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite rfcs/vectors/*.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs from a fresh build")
    args = parser.parse_args(argv)
    if args.write:
        for p in write_vectors():
            print(p)
        return 0
    stale = [f for f, doc in build_vectors().items() if not (VECTOR_DIR / f"{f}.json").exists()
             or (VECTOR_DIR / f"{f}.json").read_text(encoding="utf-8") != _dump(doc)]  # fmt: skip
    for f in stale:
        print(f"stale: rfcs/vectors/{f}.json")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
