"""The parts of ``lensemble-spec publish``: git object ids, safetensors metadata, the hub-cache writer.

Defects caught: an offline revision that is not the commit id git itself computes for the same
tree (LFS pointers, nested trees, entry order); metadata that changes a tensor's bytes or
misaligns the data; a cache that huggingface_hub cannot read at the pinned revision
(``hf_hub_download(local_files_only=True)``, ``scan_cache_dir``); a second publish of different
files under the same revision silently accepted; a failed write leaving files behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from lensemble_spec.errors import ArtifactError, PinError
from lensemble_spec.publish.gitobj import commit_id, git_blob_id, lfs_pointer, tree_id
from lensemble_spec.publish.hubcache import commit_to_cache
from lensemble_spec.publish.stmeta import read_metadata, with_metadata

REV = "0123456789abcdef0123456789abcdef01234567"
FILES = {
    "README.md": b"---\nlicense: apache-2.0\n---\n# card\n",
    "config.json": b'{"latent_dim": 16}\n',
    "anchored/checkpoints/round-0001/header.json": b"{}\n",
    "anchored/checkpoints/round-0001/weights.safetensors": st_save({"encoder.w": np.arange(6, dtype=np.float32)}),
    "anchored-x/a.json": b"[]",  # sorts between "anchored" and "anchored/" in git's order
    "anchored.txt": b"x",
}
LFS = {p for p in FILES if p.endswith(".safetensors")}


def git(*args: str, cwd, env=None, data: bytes | None = None) -> str:
    return (
        subprocess.run(["git", *args], cwd=cwd, env=env, input=data, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_offline_revision_is_the_commit_id_git_computes(tmp_path):
    committed = {p: lfs_pointer(d) if p in LFS else d for p, d in FILES.items()}
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    for path, data in committed.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
        assert git("hash-object", path, cwd=repo) == git_blob_id(data)
    git("add", "-A", cwd=repo)
    assert git("write-tree", cwd=repo) == tree_id(committed)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "lensemble-spec publish",
        "GIT_AUTHOR_EMAIL": "publish@lensemble-spec.invalid",
        "GIT_AUTHOR_DATE": "1764000000 +0000",
        "GIT_COMMITTER_NAME": "lensemble-spec publish",
        "GIT_COMMITTER_EMAIL": "publish@lensemble-spec.invalid",
        "GIT_COMMITTER_DATE": "1764000000 +0000",
    }
    ours = commit_id(tree_id(committed), timestamp=1764000000, message="lensemble-spec publish: t")
    assert git("commit-tree", tree_id(committed), "-m", "lensemble-spec publish: t", cwd=repo, env=env) == ours


def test_lfs_pointer_names_the_sha256_and_size():
    data = b"\x00" * 1000
    assert lfs_pointer(data) == (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + hashlib.sha256(data).hexdigest().encode()
        + b"\nsize 1000\n"
    )


def test_tree_refuses_a_path_that_is_both_file_and_directory():
    with pytest.raises(ValueError):
        tree_id({"a": b"1", "a/b": b"2"})


def test_metadata_keeps_every_tensor_byte_and_alignment():
    tensors = {
        "encoder.w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "predictor.b": np.array([1, 2], dtype=np.int64),
    }
    raw = st_save(tensors)
    out = with_metadata(raw, {"format": "pt", "lensemble_spec.control": "anchored"})
    assert read_metadata(out) == {"format": "pt", "lensemble_spec.control": "anchored"}
    n = int.from_bytes(out[:8], "little")
    assert n % 8 == 0 and out[8 + n:] == raw[8 + int.from_bytes(raw[:8], "little"):]
    back = st_load(out)
    assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in tensors.items())
    assert read_metadata(with_metadata(out, {"a": "b"})) == {"a": "b"}  # replaced, not merged
    with pytest.raises(TypeError):
        with_metadata(raw, {"round": 1})


def test_commit_is_read_back_by_huggingface_hub_offline(tmp_path, monkeypatch):
    from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hub"
    snap = commit_to_cache(cache, "acme/model", REV, FILES, lfs=LFS)
    for path, data in FILES.items():
        got = hf_hub_download("acme/model", path, revision=REV, cache_dir=cache, local_files_only=True)
        assert open(got, "rb").read() == data
    blob = os.path.realpath(snap / "anchored/checkpoints/round-0001/weights.safetensors")
    assert (
        os.path.basename(blob)
        == hashlib.sha256(FILES["anchored/checkpoints/round-0001/weights.safetensors"]).hexdigest()
    )
    assert os.path.basename(os.path.realpath(snap / "config.json")) == git_blob_id(FILES["config.json"])
    assert os.stat(blob).st_mode & 0o444 == 0o444
    assert snapshot_download("acme/model", revision=REV, cache_dir=cache, local_files_only=True) == str(snap)
    [repo] = scan_cache_dir(cache).repos
    assert repo.repo_id == "acme/model" and [r.commit_hash for r in repo.revisions] == [REV]
    assert (cache / "models--acme--model" / "refs" / "main").read_text() == REV
    # the same commit again is a no-op; other files under the same revision are refused
    assert commit_to_cache(cache, "acme/model", REV, FILES, lfs=LFS) == snap
    with pytest.raises(ArtifactError, match="already cached with other files"):
        commit_to_cache(cache, "acme/model", REV, {**FILES, "config.json": b"{}"}, lfs=LFS)


def test_bad_revision_or_path_is_refused_before_writing(tmp_path):
    with pytest.raises(PinError):
        commit_to_cache(tmp_path / "hub", "acme/model", "main", FILES, lfs=LFS)
    with pytest.raises(PinError):
        commit_to_cache(tmp_path / "hub", "acme/model", REV, {"../escape": b"x"}, lfs=set())
    assert not (tmp_path / "hub").exists()


def test_a_failed_commit_leaves_nothing_behind(tmp_path, monkeypatch):
    import lensemble_spec.publish.hubcache as hubcache

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hubcache.os, "symlink", broken)
    with pytest.raises(ArtifactError, match="No space left"):
        commit_to_cache(tmp_path / "hub", "acme/model", REV, FILES, lfs=LFS)
    assert not (tmp_path / "hub").exists()


def test_card_shows_no_local_paths_of_data_roots():
    from lensemble_spec.publish.card import public_root

    assert public_root("lerobot:/home/me/data/so100_siteA?fingerprint=ab12") == "lerobot:so100_siteA?fingerprint=ab12"
    assert (
        public_root("synthetic:lensemble-spec/synthetic-arm/v1?seed=0")
        == "synthetic:lensemble-spec/synthetic-arm/v1?seed=0"
    )
    assert public_root("/srv/x/y/") == "y"
