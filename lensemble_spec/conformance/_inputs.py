"""The settings the harness passes with its calls (stated in lensemble_spec.protocol and RFC-0003 §8).

One place, so the objective a test evaluates is the objective ``local_update`` was asked to train.
"""

from __future__ import annotations

import numpy as np

from lensemble_spec.protocol import LocalConfig, ObjectiveWeights
from lensemble_spec.strategies import haar_orthogonal

from . import bounds

#: Objective weights given to ``loss_terms`` and, inside LOCAL_CONFIG, to ``local_update``.
WEIGHTS = ObjectiveWeights(lambda_pred=1.0, lambda_sigreg=0.1)

#: The inner-loop settings of the harness's ``local_update`` calls.
LOCAL_CONFIG = LocalConfig(inner_lr=1e-3, batch_size=8, window=bounds.WINDOW, weights=WEIGHTS, root_seed=0)


def orthogonal(seed: int, d: int, *, reflect: bool | None = None) -> np.ndarray:
    """A Haar-random ``d × d`` orthogonal matrix from ``seed``; a reflection (det −1) when
    ``reflect`` is True, a rotation when False, either when None."""
    q = haar_orthogonal(np.random.default_rng(seed), d)
    if reflect is not None and (np.linalg.det(q) < 0) != reflect:
        q[:, 0] = -q[:, 0]
    return q
