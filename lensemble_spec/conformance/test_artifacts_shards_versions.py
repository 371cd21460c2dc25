"""RFC-0010 ART-002 (shards) and ART-030 (reading without rewriting) through the artifacts part.

ART-002 lets a *writer* split a checkpoint over ``weights-{i:05d}-of-{n:05d}.safetensors`` shards.
The permission means something only if readers accept what it permits, and only if a writer that
uses it follows the naming and one-tensor-one-shard rules, so the harness checks both: the
implementation's own checkpoint, if sharded, follows the rules, and a checkpoint the harness
re-shards (same tensors, same header fields, so the same content hash: ``weight_files`` is not
hashed) loads to exactly what the same loader returns for the single-file original.

ART-030 asks a reader to migrate an older ``schema_version`` in memory, *without rewriting the
file*. ``CheckpointHeader`` has one version today, so no older header exists to hand over; what
is observable is the second half: loading a checkpoint leaves every byte of it (and its
modification times) as it was. When a version 2 is defined, the older-version case belongs here.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from . import _assertions as check
from . import _bytes as byteio
from .test_artifacts import read_header, read_tensors, sample_params, saved, write_header  # noqa: F401 (fixture)

SHARD_RE = re.compile(r"^weights-(\d{5})-of-(\d{5})\.safetensors$")


def _loaded_equal(loaded, expected, what: str) -> None:
    assert set(loaded) == set(expected), f"{what}: names {sorted(loaded)} != {sorted(expected)}"
    for name in expected:
        got, want = check.as_array(loaded[name]), check.as_array(expected[name])
        assert got.shape == want.shape and got.dtype == want.dtype, (
            f"{what}: {name} is {got.dtype}{got.shape}, not {want.dtype}{want.shape}"
        )
        assert check.bitwise_equal(got, want), f"{what}: {name} differs"


@pytest.mark.requirement("ART-002")
def test_own_shards_follow_the_naming_rule(saved):
    directory, _ = saved
    files = read_header(directory)["weight_files"]
    if len(files) == 1:
        assert files == ["weights.safetensors"] or SHARD_RE.match(files[0]), f"unexpected weight file name {files}"
        return
    numbers = [SHARD_RE.match(f) for f in files]
    assert all(numbers), f"shards not named weights-{{i:05d}}-of-{{n:05d}}.safetensors: {files}"
    n = len(files)
    assert sorted(int(m.group(1)) for m in numbers) == list(range(n)) and {int(m.group(2)) for m in numbers} == {n}, (
        files
    )
    seen: dict[str, str] = {}
    for f in files:
        for name in byteio.read_safetensors_raw((directory / f).read_bytes()):
            assert name not in seen, f"tensor {name} stored in both {seen[name]} and {f}"
            seen[name] = f
    assert set(seen) == set(sample_params())


@pytest.mark.requirement("ART-002")
@pytest.mark.parametrize("n_shards", [2, 3])
def test_a_resharded_checkpoint_loads_to_the_same_tensors(artifacts_part, saved, tmp_path, n_shards):
    directory, _ = saved
    tensors = read_tensors(directory)
    names = sorted(tensors)
    sharded = tmp_path / f"sharded-{n_shards}"
    shutil.copytree(directory, sharded)
    header = read_header(sharded)
    for f in header["weight_files"]:
        (sharded / f).unlink()
    files = [f"weights-{i:05d}-of-{n_shards:05d}.safetensors" for i in range(n_shards)]
    for i, f in enumerate(files):
        (sharded / f).write_bytes(byteio.write_safetensors_raw({n: tensors[n] for n in names[i::n_shards]}))
    header["weight_files"] = files
    write_header(sharded, header)
    # the same loader on the single-file original is the yardstick (ART-010 judges the values themselves)
    _loaded_equal(
        artifacts_part.load_checkpoint(sharded), artifacts_part.load_checkpoint(directory), f"{n_shards} shards"
    )


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.requirement("ART-030")
def test_loading_never_rewrites_the_checkpoint(artifacts_part, saved):
    directory, _ = saved
    before = _snapshot(directory)
    artifacts_part.load_checkpoint(directory)
    artifacts_part.load_checkpoint(directory)
    after = _snapshot(directory)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"load_checkpoint rewrote or touched {changed}"
