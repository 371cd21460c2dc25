"""Fixtures for the reference-trainer tests."""

from __future__ import annotations

import pytest

from lensemble_reference.config import ModelConfig, TrainConfig

from ._tiny import TINY_MODEL, tiny_train_config


@pytest.fixture
def tiny_model_cfg() -> ModelConfig:
    return TINY_MODEL


@pytest.fixture
def tiny_train_cfg() -> TrainConfig:
    return tiny_train_config()
