"""Builders for small RFC documents used by the catalog tests."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Line number of the first body line in a document built by :func:`rfc_doc`.
BODY_LINE = 9


def rfc_doc(*body: str, rfc: str = "0002", prefix: str | None = "GAUGE", title: str = "Test RFC") -> str:
    """A minimal valid RFC with ``body`` lines starting at line :data:`BODY_LINE` under ``## 1. Scope``."""
    prefix_row = f"| Requirement prefix | {prefix} |" if prefix is not None else "| Status | Draft |"
    head = [
        f"# RFC-{rfc}: {title}",  # 1
        "",  # 2
        "| Field | Value |",  # 3
        "|---|---|",  # 4
        prefix_row,  # 5
        "",  # 6
        "## 1. Scope",  # 7
        "",  # 8
    ]
    assert len(head) == BODY_LINE - 1
    return "\n".join([*head, *body]) + "\n"


@pytest.fixture
def body_line() -> int:
    return BODY_LINE


@pytest.fixture
def make_doc():
    return rfc_doc


@pytest.fixture
def write_rfc(tmp_path: Path):
    """Write ``text`` as ``tmp_path/rfcs/<name>`` and return the directory."""

    def _write(name: str, text: str) -> Path:
        directory = tmp_path / "rfcs"
        directory.mkdir(exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")
        return directory

    return _write
