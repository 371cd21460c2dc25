"""Small modules named for what they hold: no module of the library or the suite over MAX_LINES lines.

The reference trainer (``lensemble_reference/``) is held to the same bound. No package is exempt.
"""

from __future__ import annotations

from pathlib import Path

import lensemble_reference
import lensemble_spec

MAX_LINES = 500
PACKAGE_DIR = Path(lensemble_spec.__file__).parent
REFERENCE_DIR = Path(lensemble_reference.__file__).parent


def oversized(root: Path, exempt: tuple[str, ...] = ()) -> dict[str, int]:
    """``{path relative to root: line count}`` of the ``.py`` files below ``root`` over MAX_LINES."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in exempt:
            continue
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            found[rel.as_posix()] = n
    return found


def test_no_library_or_suite_module_is_over_the_bound() -> None:
    assert (PACKAGE_DIR / "conformance").is_dir()  # the suite lives inside the package and is checked with it
    assert oversized(PACKAGE_DIR) == {}


def test_no_reference_trainer_module_is_over_the_bound() -> None:
    assert oversized(REFERENCE_DIR) == {}


def test_an_oversized_module_is_found(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "huge.py").write_text("x = 1\n" * (2 * MAX_LINES))
    assert oversized(tmp_path) == {"big.py": MAX_LINES + 1, "metrics/huge.py": 2 * MAX_LINES}
    assert oversized(tmp_path, ("metrics",)) == {"big.py": MAX_LINES + 1}
