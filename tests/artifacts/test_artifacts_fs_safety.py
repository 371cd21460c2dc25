"""Atomic writes, bounded JSON and path confinement.

Defects caught: temp files left after a failed write, a directory half-created, a huge or
deeply nested document parsed before being refused, NaN literals or duplicate keys accepted,
and artifact paths that escape the run directory via '..', absolute paths or symlinks.
"""

from __future__ import annotations

import json
import os

import pytest

from lensemble_spec.artifacts import atomic, safe_json
from lensemble_spec.artifacts.atomic import atomic_directory, atomic_write_bytes, atomic_write_json
from lensemble_spec.artifacts.paths import check_relative, confine, relative_to_root
from lensemble_spec.artifacts.safe_json import load_json_file, loads_bounded, nesting_depth
from lensemble_spec.errors import ArtifactError, PathEscape
from lensemble_spec.schemas import RoundMetrics, load_document


# --- atomic writes ------------------------------------------------------------------------------
def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic_write_json(path, {"b": 1, "a": [1.5]})
    assert json.loads(path.read_text()) == {"a": [1.5], "b": 1}
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(path.parent) == ["a.json"]


def test_failed_replace_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_bytes(b"old")

    def boom(src, dst):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(ArtifactError):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_write_json_refuses_nan_without_touching_disk(tmp_path):
    with pytest.raises(ArtifactError):
        atomic_write_json(tmp_path / "x.json", {"v": float("nan")})
    assert os.listdir(tmp_path) == []


def test_atomic_directory_commits_or_vanishes(tmp_path):
    with atomic_directory(tmp_path / "d") as tmp:
        (tmp / "f").write_text("x")
        assert not (tmp_path / "d").exists()
    assert (tmp_path / "d" / "f").read_text() == "x"
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "e") as tmp:
        (tmp / "f").write_text("partial")
        raise RuntimeError("interrupted")
    assert sorted(os.listdir(tmp_path)) == ["d"]
    with pytest.raises(ArtifactError, match="exists"), atomic_directory(tmp_path / "d"):
        pass


# --- bounded JSON -------------------------------------------------------------------------------
def test_nesting_depth_ignores_brackets_in_strings():
    assert nesting_depth(b'{"a": "[[[{{{", "b": [1, {"c": "\\"]"}]}') == 3
    assert nesting_depth(b"1") == 0


def test_oversized_file_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_bytes(b"[" + b"0," * 600 + b"0]")
    monkeypatch.setattr(safe_json.json, "loads", lambda *a, **k: pytest.fail("parsed an oversized file"))
    with pytest.raises(ArtifactError, match="limit"):
        load_json_file(path, max_bytes=1000)
    with pytest.raises(ArtifactError, match="limit"):
        loads_bounded(path.read_bytes(), max_bytes=1000)


def test_deep_nesting_refused_before_parsing(monkeypatch):
    deep = b"[" * 65 + b"]" * 65
    monkeypatch.setattr(safe_json.json, "loads", lambda *a, **k: pytest.fail("parsed a too-deep document"))
    with pytest.raises(ArtifactError, match="nests 65"):
        loads_bounded(deep)


def test_limits_are_inclusive():
    assert loads_bounded(b"[" * 64 + b"]" * 64) is not None
    assert loads_bounded(b"[1]", max_bytes=3) == [1]


def test_very_deep_document_is_a_typed_error_not_recursion():
    with pytest.raises(ArtifactError):
        loads_bounded(b"[" * 200_000 + b"]" * 200_000, max_bytes=10**6)


@pytest.mark.parametrize(
    "raw",
    [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1, "a": 2}', b"\xff\xfe", b'{"a": 1', b""],
    ids=["nan", "inf", "-inf", "dup", "utf8", "truncated", "empty"],
)
def test_invalid_json_is_a_typed_error(raw):
    with pytest.raises(ArtifactError):
        loads_bounded(raw)


def test_load_document_applies_the_bounds(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"val_pred": 0.5}))
    assert load_document(RoundMetrics, path).val_pred == 0.5
    with pytest.raises(ArtifactError, match="limit"):
        load_document(RoundMetrics, path, max_bytes=10)
    with pytest.raises(ArtifactError, match="nests"):
        load_document(RoundMetrics, b'{"val_pred": [[[1]]]}', max_depth=2)


# --- path confinement ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rel",
    ["../x", "a/../../x", "a/..", "/etc/passwd", "C:/x", "a\\b", "", "a//b", "./a", "a/", "a\x00b", 5],
)
def test_bad_relative_paths(tmp_path, rel):
    with pytest.raises(PathEscape):
        confine(tmp_path, rel)


def test_good_relative_paths(tmp_path):
    (tmp_path / "ckpt").mkdir()
    assert confine(tmp_path, "ckpt/round-0") == (tmp_path / "ckpt" / "round-0").resolve()
    assert check_relative("a/b.c") == "a/b.c"
    assert relative_to_root(tmp_path, tmp_path / "ckpt" / "x") == "ckpt/x"
    with pytest.raises(PathEscape):
        relative_to_root(tmp_path / "ckpt", tmp_path / "y")


def test_symlinks_out_of_root_are_refused(tmp_path):
    root, outside = tmp_path / "run", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("s")
    os.symlink(outside / "secret", root / "link")
    os.symlink(outside, root / "dirlink")
    os.symlink(root / "inner-target", root / "inner")  # dangling but inside
    with pytest.raises(PathEscape):
        confine(root, "link")
    with pytest.raises(PathEscape):
        confine(root, "dirlink/secret")
    assert confine(root, "inner") == (root / "inner-target").resolve()
