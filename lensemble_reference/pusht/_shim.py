"""Make ``import torchvision`` work on a CPU-only torch whose torchvision wheel was built for CUDA.

PyPI's torchvision 0.28.0 links its ``_C`` extension against CUDA torch libraries; on the CPU
torch 2.13.0 wheel the extension fails to load and torchvision's import then dies on its fake
kernels for ``nms``/``qnms`` (``operator torchvision::nms does not exist``). stable-worldmodel
imports torchvision (``policy.py`` uses ``tv_tensors``), so the PushT module needs it.

:func:`apply` probes the extension first and does nothing when it loads (a working torchvision
must not get a second registration: torch aborts the process on a duplicate operator). Otherwise
it defines the two operator schemas torchvision registers fake kernels for, so the import
succeeds; the C++ ops themselves (``torchvision.ops.nms``, ``roi_align`` …) stay unavailable,
which nothing on the PushT path uses. Call it before anything imports torchvision; it is called
lazily by :mod:`lensemble_reference.pusht` only, never on import of ``lensemble_spec`` or
``lensemble_reference``.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from typing import Any

_STATE: dict[str, Any] = {}


def apply() -> bool:
    """Idempotent; True when the shim was (or already had been) installed, False when not needed."""
    if "applied" in _STATE:
        return bool(_STATE["applied"])
    if "torchvision" in sys.modules:  # already imported (successfully): nothing to fix
        _STATE["applied"] = False
        return False
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        _STATE["applied"] = False
        return False
    libs = glob.glob(os.path.join(next(iter(spec.submodule_search_locations)), "_C*.so"))
    try:
        if libs:
            torch.ops.load_library(libs[0])
            _STATE["applied"] = False  # the real extension loads: its operators are present
            return False
    except (OSError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "DEF")
    for name in ("nms", "qnms"):  # the operators torchvision registers fake kernels for on import
        lib.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _STATE["lib"] = lib  # the registration lives as long as this object
    _STATE["applied"] = True
    return True
