"""PushT tests: the pure ones run everywhere; the stable-worldmodel ones only where the extra is.

``needs_swm`` skips (cleanly: an ImportError) where stable-worldmodel is absent, as in the project's
main venv, which never gets torchvision. It applies the torchvision shim first, because on the
CPU torch importing swm otherwise fails with a RuntimeError rather than an ImportError.
``.ci/pusht_smoke.sh`` runs this directory in the pusht venv and fails on any skip.
"""

from __future__ import annotations

import importlib.util

import pytest


def _swm_available() -> bool:
    if importlib.util.find_spec("stable_worldmodel") is None or importlib.util.find_spec("torch") is None:
        return False
    from lensemble_reference.pusht.env import import_swm

    import_swm()
    return True


needs_swm = pytest.mark.skipif(not _swm_available(), reason="stable-worldmodel (extra 'pusht') is not installed")


@pytest.fixture(autouse=True)
def pusht_sandbox(tmp_path_factory, monkeypatch):
    """swm and pygame stay headless and write nothing outside a tmp dir; no hub access."""
    home = tmp_path_factory.mktemp("stablewm-home")
    monkeypatch.setenv("STABLEWM_HOME", str(home))
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLCONFIGDIR", str(home / "mpl"))
    return home
