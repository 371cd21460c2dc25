"""Artifact pins: strict parsing, offline resolution through a real-layout hub cache, tamper detection."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from _hubcache import REPO, REV_A, REV_B, add_snapshot, blob_of, git_blob_id, sha256
from hypothesis import given, settings
from hypothesis import strategies as st

from lensemble_spec.artifacts.pin_uri import format_pin_uri, revision_problem, split_pin_uri
from lensemble_spec.artifacts.pins import parse_pin, resolve_pin, snapshot_digest
from lensemble_spec.errors import CheckpointIntegrityError, PathEscape, PinError, PinUnresolved


def uri(rev: str = REV_A, path: str | None = "weights.safetensors", repo: str = REPO, kind: str = "models") -> str:
    return f"hf://{kind}/{repo}@{rev}" + (f"/{path}" if path else "")


# --- the cache layout is huggingface_hub's own ---------------------------------------------------
def test_test_cache_has_the_real_layout(hub_cache: dict) -> None:
    """huggingface_hub's scanner and downloader read the cache we build without complaint."""
    from huggingface_hub import hf_hub_download, scan_cache_dir, try_to_load_from_cache

    info = scan_cache_dir(hub_cache["cache"])
    assert info.warnings == []
    repos = {(r.repo_type, r.repo_id): r for r in info.repos}
    model = repos[("model", REPO)]
    assert sorted(rev.commit_hash for rev in model.revisions) == sorted([REV_A, REV_B])
    assert model.refs["main"].commit_hash == REV_B
    files = {f.file_name: f for rev in model.revisions if rev.commit_hash == REV_A for f in rev.files}
    assert files["weights.safetensors"].blob_path.name == sha256(hub_cache["files_a"]["weights.safetensors"])
    assert files["config.json"].blob_path.name == git_blob_id(hub_cache["files_a"]["config.json"])

    hit = try_to_load_from_cache(REPO, "config.json", cache_dir=hub_cache["cache"], revision=REV_A)
    assert hit == str(hub_cache["snap_a"] / "config.json")
    got = hf_hub_download(
        REPO, "eval/results.json", revision=REV_A, cache_dir=hub_cache["cache"], local_files_only=True
    )
    assert Path(got).read_bytes() == hub_cache["files_a"]["eval/results.json"]


# --- parsing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("revision", "phrase"),
    [
        ("main", "symbolic reference"),
        ("v1.0", "symbolic reference"),
        ("3c2258ce", "abbreviated commit id (8 hex"),
        (REV_A[:39], "abbreviated commit id (39 hex"),
        (REV_A.upper(), "uppercase"),
        (REV_A + "0", "41 hex"),
        ("", "empty"),
    ],
)
def test_non_commit_revisions_are_refused_with_the_reason(revision: str, phrase: str) -> None:
    assert phrase in (revision_problem(revision) or "")
    with pytest.raises(PinError) as info:
        parse_pin(uri(revision))
    assert phrase in info.value.message
    assert info.value.code.value == "pin_invalid"


@pytest.mark.parametrize(
    "bad",
    [
        "https://huggingface.co/acme/x",
        f"hf://spaces/acme/x@{REV_A}",
        f"hf://models/acme@{REV_A}",
        f"hf://models/acme/x/y@{REV_A}",
        f"hf://models/ac--me/x@{REV_A}",
        f"hf://models/acme/x@{REV_A}/../secrets",
        f"hf://models/acme/x@{REV_A}//a",
        f"hf://models/acme/x@{REV_A}/",
        f"hf://models/acme/x@{REV_A}/a\\b",
        f"hf://models/acme/x@{REV_A}/./a",
    ],
)
def test_malformed_uris_are_pin_errors(bad: str) -> None:
    with pytest.raises(PinError):
        parse_pin(bad)


def test_json_form_and_exploded_form_normalise_to_the_same_pin() -> None:
    digest = "ab" * 32
    a = parse_pin({"uri": uri(), "sha256": digest})
    b = parse_pin(
        {"repo_type": "models", "repo_id": REPO, "revision": REV_A, "path": "weights.safetensors", "sha256": digest}
    )
    assert a == b
    assert (a.repo_type, a.repo_id, a.revision, a.path, a.sha256) == (
        "model",
        REPO,
        REV_A,
        "weights.safetensors",
        digest,
    )
    assert a.model_dump(mode="json") == {"uri": uri(), "sha256": digest}


@pytest.mark.parametrize("sha", ["AB" * 32, "ab" * 31, "xyz", 5])
def test_bad_sha256_is_a_pin_error_not_a_validation_error(sha: object) -> None:
    with pytest.raises(PinError, match="sha256"):
        parse_pin({"uri": uri(), "sha256": sha})


def test_unknown_fields_and_types_are_pin_errors() -> None:
    with pytest.raises(PinError):
        parse_pin({"uri": uri(), "note": "x"})
    with pytest.raises(PinError):
        parse_pin(42)


_segment = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_]|[.-][A-Za-z0-9]){0,10}", fullmatch=True)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(["model", "dataset"]),
    org=_segment,
    name=_segment,
    rev=st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
    path=st.none() | st.lists(_segment, min_size=1, max_size=3).map("/".join),
)
def test_format_and_split_round_trip(kind: str, org: str, name: str, rev: str, path: str | None) -> None:
    text = format_pin_uri(kind, f"{org}/{name}", rev, path)
    parts = split_pin_uri(text)
    assert (parts.repo_type, parts.repo_id, parts.revision, parts.path) == (kind, f"{org}/{name}", rev, path)
    assert parts.uri == text


@settings(max_examples=50, deadline=None, derandomize=True)
@given(rev=st.text(min_size=0, max_size=48).filter(lambda r: "/" not in r))
def test_only_full_lowercase_commit_ids_are_accepted(rev: str) -> None:
    is_commit = len(rev) == 40 and all(c in "0123456789abcdef" for c in rev)
    assert (revision_problem(rev) is None) == is_commit
    if not is_commit:
        with pytest.raises(PinError):
            split_pin_uri(uri(rev, path=None))


# --- resolution --------------------------------------------------------------------------------------
def test_file_pin_resolves_and_verifies(hub_cache: dict) -> None:
    data = hub_cache["files_a"]["weights.safetensors"]
    resolved = resolve_pin({"uri": uri(), "sha256": sha256(data)}, cache_dir=hub_cache["cache"])
    assert resolved.verified and resolved.digest == sha256(data)
    (f,) = resolved.files
    assert f.local_path == hub_cache["snap_a"] / "weights.safetensors"
    assert f.local_path.read_bytes() == data and f.size == len(data)


def test_nested_path_and_dataset_pins_resolve(hub_cache: dict) -> None:
    body = hub_cache["files_a"]["eval/results.json"]
    assert resolve_pin(
        {"uri": uri(path="eval/results.json"), "sha256": sha256(body)}, cache_dir=hub_cache["cache"]
    ).verified
    d = resolve_pin(uri(repo="acme/probe-set", kind="datasets", path="probe.safetensors"), cache_dir=hub_cache["cache"])
    assert d.files[0].sha256 == sha256(b"probe" * 10) and not d.verified


def test_file_pin_without_sha256_resolves_unverified(hub_cache: dict) -> None:
    resolved = resolve_pin(uri(path="config.json"), cache_dir=hub_cache["cache"])
    assert not resolved.verified
    assert resolved.digest == sha256(hub_cache["files_a"]["config.json"])


def test_snapshot_pin_uses_snapshot_download_and_the_snapshot_digest(hub_cache: dict) -> None:
    files = hub_cache["files_a"]
    expected = snapshot_digest({p: sha256(b) for p, b in files.items()})
    # the digest is reproducible from sha256sum-style lines
    lines = "".join(f"{sha256(files[p])}  {p}\n" for p in sorted(files))
    assert expected == hashlib.sha256(lines.encode()).hexdigest()
    resolved = resolve_pin({"uri": uri(path=None), "sha256": expected}, cache_dir=hub_cache["cache"])
    assert resolved.verified
    assert [f.path_in_repo for f in resolved.files] == sorted(files)
    assert resolved.snapshot_dir == hub_cache["snap_a"]
    with pytest.raises(CheckpointIntegrityError):
        resolve_pin({"uri": uri(REV_B, path=None), "sha256": expected}, cache_dir=hub_cache["cache"])


def test_tampered_blob_fails_the_pin_sha256(hub_cache: dict) -> None:
    entry = hub_cache["snap_a"] / "config.json"
    original = entry.read_bytes()
    blob_of(entry).write_bytes(original.replace(b"16", b"17"))
    with pytest.raises(CheckpointIntegrityError) as info:
        resolve_pin({"uri": uri(path="config.json"), "sha256": sha256(original)}, cache_dir=hub_cache["cache"])
    assert info.value.code.value == "checkpoint_integrity"
    assert info.value.details["expected"] == sha256(original)


def test_tampered_lfs_blob_fails_even_without_a_pinned_sha256(hub_cache: dict) -> None:
    """An LFS blob is named by its sha256: bytes that no longer match their name are corrupt."""
    blob = blob_of(hub_cache["snap_a"] / "weights.safetensors")
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(CheckpointIntegrityError, match="cache entry is corrupt"):
        resolve_pin(uri(), cache_dir=hub_cache["cache"])
    # verify=False only locates
    assert resolve_pin(uri(), cache_dir=hub_cache["cache"], verify=False).digest == ""


def test_wrong_revision_is_unresolved_and_lists_cached_ones(hub_cache: dict) -> None:
    missing = "0" * 40
    with pytest.raises(PinUnresolved) as info:
        resolve_pin(uri(missing), cache_dir=hub_cache["cache"])
    assert info.value.code.value == "pin_unresolved"
    assert info.value.details["cached_revisions"] == sorted([REV_A, REV_B])
    assert REV_A in info.value.message
    with pytest.raises(PinUnresolved):
        resolve_pin(uri(missing, path=None), cache_dir=hub_cache["cache"])


def test_short_revision_never_reaches_the_cache(hub_cache: dict) -> None:
    """A snapshot folder named by a prefix exists here, yet the prefix is refused as a pin."""
    add_snapshot(hub_cache["cache"], REPO, REV_A[:8], {"config.json": b"{}"}, ref=None)
    with pytest.raises(PinError) as info:
        resolve_pin(uri(REV_A[:8], path="config.json"), cache_dir=hub_cache["cache"])
    assert not isinstance(info.value, PinUnresolved)
    assert "abbreviated" in info.value.message


def test_main_is_refused_even_though_refs_main_exists(hub_cache: dict) -> None:
    assert (hub_cache["cache"] / f"models--{REPO.replace('/', '--')}" / "refs" / "main").read_text() == REV_B
    with pytest.raises(PinError, match="symbolic"):
        resolve_pin(uri("main"), cache_dir=hub_cache["cache"])


def test_missing_repo_file_and_cache_dir_are_unresolved(hub_cache: dict, tmp_path: Path) -> None:
    with pytest.raises(PinUnresolved, match="not in the cache"):
        resolve_pin(uri(repo="acme/absent"), cache_dir=hub_cache["cache"])
    with pytest.raises(PinUnresolved, match="not in the cached snapshot"):
        resolve_pin(uri(path="absent.bin"), cache_dir=hub_cache["cache"])
    with pytest.raises(PinUnresolved, match="does not exist"):
        resolve_pin(uri(), cache_dir=tmp_path / "nowhere")


def test_cached_non_existence_is_unresolved(hub_cache: dict) -> None:
    marker = hub_cache["cache"] / f"models--{REPO.replace('/', '--')}" / ".no_exist" / REV_A / "tokenizer.json"
    marker.parent.mkdir(parents=True)
    marker.touch()
    with pytest.raises(PinUnresolved, match="does not exist at this revision"):
        resolve_pin(uri(path="tokenizer.json"), cache_dir=hub_cache["cache"])


def test_refs_cannot_redirect_a_commit_id(hub_cache: dict) -> None:
    """try_to_load_from_cache follows refs/<name>; a ref named like a commit must not redirect a pin."""
    missing = "f" * 40
    (hub_cache["cache"] / f"models--{REPO.replace('/', '--')}" / "refs" / missing).write_text(REV_A)
    with pytest.raises(PinUnresolved):
        resolve_pin(uri(missing, path="config.json"), cache_dir=hub_cache["cache"])


def test_snapshot_symlink_out_of_the_cache_is_a_path_escape(hub_cache: dict, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes(b'{"latent_dim": 16}\n')
    entry = hub_cache["snap_a"] / "config.json"
    entry.unlink()
    os.symlink(outside, entry)
    with pytest.raises(PathEscape):
        resolve_pin(uri(path="config.json"), cache_dir=hub_cache["cache"])
    with pytest.raises(PathEscape):
        resolve_pin(uri(path=None), cache_dir=hub_cache["cache"])


def test_dangling_snapshot_entry_is_unresolved(hub_cache: dict) -> None:
    blob_of(hub_cache["snap_a"] / "config.json").unlink()
    with pytest.raises(PinUnresolved):
        resolve_pin(uri(path=None), cache_dir=hub_cache["cache"])
