"""Named regressions of issue #13 that are not corruptions of a run directory.

Hangs and unbounded reads of the primitive readers (a FIFO, ``/dev/zero``, a quadratic depth
scan), ``--impl`` modules that fail in every way foreign code can (syntax error, exception at
import, raising factory, ``sys.exit``), ``--heldout`` without ``--impl``, and the deleted-record
false OK with an implementation recomputing every round.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from test_corpus import verify_bounded

from lensemble_spec.artifacts.reading import read_regular_file
from lensemble_spec.artifacts.safe_json import (
    load_json_file,
    loads_bounded,
    nesting_depth,
)
from lensemble_spec.cli import main
from lensemble_spec.errors import ArtifactError, InputError, ProtocolError
from lensemble_spec.verify import verify_run


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f")
    start = time.perf_counter()
    with pytest.raises(ArtifactError, match="FIFO"):
        read_regular_file(tmp_path / "f", 1024)
    with pytest.raises(ArtifactError, match="FIFO"):
        load_json_file(tmp_path / "f")
    assert time.perf_counter() - start < 1


def test_character_device_is_refused_unread() -> None:
    with pytest.raises(ArtifactError, match="character device"):
        read_regular_file("/dev/zero", 1024)


def test_cap_holds_on_bytes_actually_read(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 2048)
    with pytest.raises(ArtifactError, match="limit"):
        read_regular_file(tmp_path / "f", 1024)
    assert read_regular_file(tmp_path / "f", 2048) == b"x" * 2048


@pytest.mark.parametrize("n", [50_000, 1_000_000])
def test_depth_scan_is_linear_on_escape_bombs(n: int) -> None:
    bomb = b'"' + b'\\"' * n
    start = time.perf_counter()
    assert nesting_depth(bomb) == 0
    with pytest.raises(ArtifactError):
        loads_bounded(bomb)
    assert time.perf_counter() - start < 2.0  # the old regex took 90 s at n = 50 000


def test_depth_scan_still_skips_strings_and_escapes() -> None:
    assert nesting_depth(b'{"a": "[[[\\"{{", "b": [[1], {"c": "\\\\"}]}') == 3
    assert nesting_depth(b"[" * 70 + b"]" * 70, stop_above=64) == 65


IMPL_MODULES = {
    "syntax-error": "def broken(:\n",
    "raises-on-import": "raise RuntimeError('boom at import')\n",
    "raising-factory": "def IMPLEMENTATION():\n    raise ValueError('factory failed')\n",
    "sys-exit": "import sys\nsys.exit(3)\n",
    "keyboard-free-base-exception": "raise GeneratorExit()\n",
}


@pytest.mark.parametrize("name", sorted(IMPL_MODULES))
def test_impl_that_fails_to_load_is_a_typed_error(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pristine_comparison: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = f"fuzz_impl_{name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(IMPL_MODULES[name])
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ProtocolError, match="could not be loaded"):
        verify_run(pristine_comparison / "anchored", impl=module)
    sys.modules.pop(module, None)
    assert main(["verify", str(pristine_comparison / "anchored"), "--impl", module]) == 1
    assert "code: protocol_violation" in capsys.readouterr().err
    sys.modules.pop(module, None)


def test_heldout_without_impl_is_an_error(pristine_comparison: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="--heldout needs --impl"):
        verify_run(pristine_comparison, heldout="/nonexistent")
    assert main(["verify", str(pristine_comparison), "--heldout", "/nonexistent"]) == 1
    assert "--heldout" in capsys.readouterr().err


def test_heldout_that_is_not_a_file_is_an_error(pristine_comparison: Path) -> None:
    with pytest.raises(InputError, match="not a regular file"):
        verify_run(pristine_comparison, impl="lensemble_reference", heldout="/dev/zero")


def test_verify_of_a_very_long_path_is_typed() -> None:
    with pytest.raises(ArtifactError):
        verify_run("/tmp/" + "a" * 5000)


@pytest.mark.slow
def test_deleted_record_fails_even_with_an_implementation(pristine_comparison: Path, tmp_path: Path) -> None:
    root = tmp_path / "anchored"
    shutil.copytree(pristine_comparison / "anchored", root)
    lines = (root / "rounds.jsonl").read_text().splitlines()
    (root / "rounds.jsonl").write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    report, _ = verify_bounded(root)
    assert "FED-009" in report.failed_requirements()
    impl_report = verify_run(root, impl="lensemble_reference")
    assert not impl_report.ok and "FED-009" in impl_report.failed_requirements()
