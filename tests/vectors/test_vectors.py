"""The test vectors under ``rfcs/vectors/``: the library reproduces them, and so do independent
transcriptions of the RFC procedures written here from the text (struct + hashlib, plain loops,
numpy/scipy primitives the library does not use for that formula).

Defects caught: a vector file that no longer matches the library (a formula changed without its
vectors, or the reverse), an RFC procedure whose text does not give the library's numbers (the
independent transcriptions disagree), a canonical JSON that is not RFC 8785 (the RFC's own number
table), and a missing formula.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

from lensemble_spec.artifacts import canonical_json, content_hash
from lensemble_spec.vectors import (
    _RFC8785_NUMBERS,
    FORMULAS,
    VECTOR_DIR,
    build_vectors,
    compute,
    load_vectors,
    tensor_from,
)

DOCS = {f: load_vectors(f) for f in FORMULAS}
CASES = [(f, c) for f, doc in DOCS.items() for c in doc["cases"]]


def _close(got, want, *, rtol: float, atol: float, where: str) -> None:
    if isinstance(want, dict):
        assert set(got) == set(want), where
        for k in want:
            _close(got[k], want[k], rtol=rtol, atol=atol, where=f"{where}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _close(g, w, rtol=rtol, atol=atol, where=f"{where}[{i}]")
    elif isinstance(want, float):
        assert math.isclose(got, want, rel_tol=rtol, abs_tol=atol), f"{where}: {got!r} != {want!r}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


TOL = {"sigreg": (1e-9, 0.0), "drift_angle": (0.0, 1e-7), "frame_drift": (0.0, 1e-7), "collapse": (1e-9, 1e-15)}


def test_every_formula_has_a_file_of_at_least_three_cases():
    assert sorted(p.stem for p in VECTOR_DIR.glob("*.json")) == sorted(FORMULAS)
    for formula, doc in DOCS.items():
        assert doc["formula"] == formula and doc["procedure"].startswith("RFC-")
        assert len(doc["cases"]) >= 3, formula
        assert len({c["name"] for c in doc["cases"]}) == len(doc["cases"]), f"{formula}: repeated case names"


def test_files_are_what_the_generator_writes():
    """Inputs and expected outputs in the files equal a fresh build (floats within the file's tolerance)."""
    fresh = build_vectors()
    for formula, doc in DOCS.items():
        rtol, atol = TOL.get(formula, (0.0, 0.0))
        assert [c["input"] for c in doc["cases"]] == [c["input"] for c in fresh[formula]["cases"]], formula
        _close(doc["cases"], fresh[formula]["cases"], rtol=rtol, atol=atol, where=formula)


@pytest.mark.parametrize(("formula", "case"), CASES, ids=[f"{f}:{c['name']}" for f, c in CASES])
def test_library_reproduces_the_vector(formula, case):
    rtol, atol = TOL.get(formula, (0.0, 0.0))
    _close(compute(formula, case["input"]), case["expected"], rtol=rtol, atol=atol, where=f"{formula}:{case['name']}")


# --- independent transcriptions of the RFC procedures --------------------------------------------
def _cases(formula):
    return [(c["input"], c["expected"]) for c in DOCS[formula]["cases"]]


def test_canonical_numbers_are_rfc8785_appendix_b():
    table = dict(_RFC8785_NUMBERS)
    got = {i["bits"]: e["canonical"] for i, e in _cases("canonical_json") if "bits" in i}
    assert got == table
    for bits, text in table.items():
        assert canonical_json(struct.unpack(">d", bytes.fromhex(bits))[0]) == text.encode()


def test_canonical_sorting_is_by_utf16_code_units():
    (inp, exp), = [(i, e) for i, e in _cases("canonical_json") if "value" in i and "Euro Sign" in i["value"].values()]
    keys = list(json.loads(exp["canonical"]))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]  # RFC 8785 §3.2.3


def test_config_hash_is_sha256_of_the_canonical_text():
    for _inp, exp in _cases("config_hash"):
        assert hashlib.sha256(exp["canonical"].encode("utf-8")).hexdigest() == exp["sha256"]
        assert (
            "out_dir" not in exp["canonical"]
            and "log_path" not in exp["canonical"]
            and "run_dir" not in exp["canonical"]
        )


def _frame(dtype: str, shape, data: bytes) -> bytes:
    out = struct.pack("<B", len(dtype)) + dtype.encode("ascii") + struct.pack("<I", len(shape))
    return out + b"".join(struct.pack("<Q", d) for d in shape) + struct.pack("<Q", len(data)) + data


def test_content_hash_by_struct_and_hashlib():
    for inp, exp in _cases("content_hash"):
        h = inp["header"]
        j = '{"config_hash":"%s","parent_hash":"%s","round_index":%d,"schema_version":%d}' % (  # noqa: UP031
            h["config_hash"], h["parent_hash"] or "", h["round_index"], h["schema_version"])  # fmt: skip
        assert exp["J"] == j
        sha = hashlib.sha256(b"lensemble-spec/checkpoint/v1\0")
        for t in sorted(inp["tensors"], key=lambda t: t["name"].encode("utf-8")):
            name = t["name"].encode("utf-8")
            sha.update(
                struct.pack("<I", len(name)) + name + _frame(t["dtype"], t["shape"], bytes.fromhex(t["data_hex"]))
            )
        sha.update(b"\0header\0" + struct.pack("<I", len(j)) + j.encode("ascii"))
        assert sha.hexdigest() == exp["sha256"]
        if all(t["dtype"] != "bfloat16" for t in inp["tensors"]):  # the array-level entry point agrees
            arrays = {t["name"]: tensor_from(t) for t in inp["tensors"]}
            assert content_hash(arrays, **h) == exp["sha256"]


def test_probe_hash_by_struct_and_hashlib():
    for inp, exp in _cases("probe_hash"):
        p = inp["points"]
        data = _frame(p["dtype"], p["shape"], bytes.fromhex(p["data_hex"]))
        assert hashlib.sha256(b"lensemble-spec/probe/v1\0" + data).hexdigest() == exp["sha256"]
    assert len({e["sha256"] for _, e in _cases("probe_hash")}) == len(DOCS["probe_hash"]["cases"])


def test_derive_seed_by_hashlib():
    for inp, exp in _cases("derive_seed"):
        digest = hashlib.sha256(f"{inp['root']}:{inp['label']}".encode()).digest()
        assert exp["seed"] == int.from_bytes(digest[:8], "big") & (2**63 - 1)


def _sketch_from_the_text(seed: int, d: int, m: int) -> tuple[list[int], list[float], bytes]:
    """RFC-0003 §6.2 transcribed with Python ints and floats only (no numpy): SplitMix64 words,
    Kinderman–Monahan ratio-of-uniforms normals, columns normalised by an ascending sum of squares,
    float32 round-to-nearest-even. Returns (all words drawn, the normals, the float32 bytes)."""
    mask = (1 << 64) - 1
    state = seed
    words: list[int] = []

    def next_word() -> int:
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        words.append(z ^ (z >> 31))
        return words[-1]

    c = float("0.8578")
    normals: list[float] = []
    while len(normals) < d * m:
        w1, w2 = next_word() >> 11, next_word() >> 11
        u = (w1 + 1) * 2.0**-53
        v = c * ((w2 - 2**52) * 2.0**-52)
        x = v / u
        if x * x <= -4.0 * math.log(u):
            normals.append(x)
    out = []
    for i in range(d):
        for j in range(m):
            total = 0.0
            for k in range(d):
                total = total + normals[k * m + j] * normals[k * m + j]
            value = normals[i * m + j] / math.sqrt(total) if total > 0 else float(i == 0)
            out.append(struct.pack("<f", value))
    return words, normals, b"".join(out)


def test_sketch_by_the_rfc_text_without_numpy():
    for inp, exp in _cases("sketch"):
        words, normals, data = _sketch_from_the_text(inp["seed"], inp["d"], inp["m"])
        assert exp["generator"] == "splitmix64-ratio-of-uniforms"
        assert [f"{w:016x}" for w in words[:4]] == exp["first_words_hex"]
        assert [struct.pack(">d", x).hex() for x in normals[:4]] == exp["first_normals_bits"]
        assert data.hex() == exp["sketch"]["data_hex"]
        assert hashlib.sha256(data).hexdigest() == exp["sha256_of_data"]
        assert exp["sketch"]["shape"] == [inp["d"], inp["m"]] and exp["sketch"]["dtype"] == "float32"


def test_splitmix64_matches_its_published_reference_output():
    """SplitMix64 seeded with 1234567 gives the sequence other ports test against (e.g. the
    splitmix64 reference values used by Java's SplittableRandom ports and Rust's rand_xoshiro)."""
    words, _normals, _data = _sketch_from_the_text(1234567, 4, 4)
    assert words[:3] == [6457827717110365317, 3203168211198807973, 9817491932198370423]


def test_sigreg_by_plain_loops():
    """RFC-0002 §2.4 step by step: project, centre, 17 knots on [0, 3], trapezoid × Gaussian weights
    normalised to sum 1, squared ECF error per direction, mean over directions."""
    for inp, exp in _cases("sigreg"):
        z, a = inp["embeddings"], inp["sketch"]
        n, d, m = len(z), len(a), len(a[0])
        knots = [3.0 * k / 16 for k in range(17)]
        raw = [(0.5 if k in (0, 16) else 1.0) * (3.0 / 16) * math.exp(-0.5 * t * t) for k, t in enumerate(knots)]
        weights = [w / sum(raw) for w in raw]
        _close(knots, exp["knots"], rtol=1e-15, atol=1e-15, where="knots")
        _close(weights, exp["weights"], rtol=1e-12, atol=0.0, where="weights")
        total = 0.0
        for j in range(m):
            u = [sum(z[i][c] * a[c][j] for c in range(d)) for i in range(n)]
            mu = sum(u) / n
            u = [x - mu for x in u]
            dj = 0.0
            for t, w in zip(knots, weights):
                re = sum(math.cos(t * x) for x in u) / n - math.exp(-0.5 * t * t)
                im = sum(math.sin(t * x) for x in u) / n
                dj += w * (re * re + im * im)
            total += dj
        assert math.isclose(total / m, exp["statistic"], rel_tol=1e-9), (total / m, exp["statistic"])


def _angle_by_eigvals(q: np.ndarray) -> float:
    lam = np.linalg.eigvals(q)
    return math.degrees(math.sqrt(0.5 * float(np.sum(np.angle(lam) ** 2))))


def test_drift_angle_by_general_eigenvalues():
    for inp, exp in _cases("drift_angle"):
        assert abs(_angle_by_eigvals(np.array(inp["q"])) - exp["angle_deg"]) <= 1e-6
    named = {c["name"]: c["expected"]["angle_deg"] for c in DOCS["drift_angle"]["cases"]}
    assert abs(named["one-plane-30deg"] - 30.0) < 1e-9 and abs(named["reflection"] - 180 / math.sqrt(2)) < 1e-9
    assert abs(named["two-planes-150-and-120"] - math.sqrt(150**2 + 120**2)) < 1e-9  # > 180°: no saturation


def test_frame_drift_by_scipy_procrustes():
    for inp, exp in _cases("frame_drift"):
        r, _ = orthogonal_procrustes(np.array(inp["source"]), np.array(inp["target"]))
        assert abs(_angle_by_eigvals(r) - exp["angle_deg"]) <= 1e-6


def test_collapse_metrics_by_their_definitions():
    for inp, exp in _cases("collapse"):
        x = np.array(inp["z"])
        xc = x - x.mean(axis=0)
        if np.linalg.norm(xc) <= 1e-12 * np.linalg.norm(x):
            assert exp["effective_rank"] == 0.0 and exp["effective_dim"] == 0.0
        else:
            s = np.linalg.svd(xc, compute_uv=False)
            p = s / s.sum()
            p = p[p > 0]
            assert math.isclose(math.exp(-float(np.sum(p * np.log(p)))), exp["effective_rank"], rel_tol=1e-9)
            lam = s * s
            assert math.isclose(float(lam.sum() ** 2 / np.sum(lam * lam)), exp["effective_dim"], rel_tol=1e-9)
        assert math.isclose(float(np.mean(x.std(axis=0))), exp["latent_std_mean"], rel_tol=1e-9, abs_tol=1e-15)
        assert math.isclose(math.sqrt(float(np.mean(x * x))), exp["latent_rms"], rel_tol=1e-9)
