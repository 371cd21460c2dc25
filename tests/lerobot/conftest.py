"""Fixtures for tests/lerobot: an isolated Hugging Face cache and a dataset writer.

Hugging Face caches (HF_HOME, HF_DATASETS_CACHE, HF_LEROBOT_HOME and the imported
``datasets.config.HF_DATASETS_CACHE``) point into a temporary directory for each test module, and
HF_HUB_OFFLINE=1, so nothing touches the user's cache or the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from so100_data import write_so100


@pytest.fixture(scope="module")
def hf_sandbox(tmp_path_factory: pytest.TempPathFactory):
    """Point every Hugging Face cache at a temporary directory for the module."""
    import datasets  # imported first so the attribute patch below is the one datasets reads

    home = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(home))
        mp.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
        mp.setenv("HF_LEROBOT_HOME", str(home / "lerobot"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", Path(home / "datasets"))
        yield home


@pytest.fixture(scope="module")
def so100_writer(hf_sandbox, tmp_path_factory) -> Callable[..., Path]:
    """``so100_writer(name, lengths, **kw)`` writes a fresh dataset under a module temp dir."""
    base = tmp_path_factory.mktemp("lerobot_roots")

    def write(name: str, lengths: list[int], **kw) -> Path:
        return write_so100(base / name, lengths, **kw)

    return write
