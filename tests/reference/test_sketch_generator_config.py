"""The reference records its sketch generator in the configuration (RFC-0003 §6.3).

Defects caught: a trainer that accepts the lensemble-spec 0.1 generator's name (and would train
with other sketches than the name says), a configuration hash that does not name the generator
(0.1 and 0.2 runs of one configuration would share a hash while committing different weights),
and a resume that continues a 0.1 run with 0.2 sketches.
"""

from __future__ import annotations

import pytest

from lensemble_reference.config import TrainConfig, load_config
from lensemble_spec.artifacts import config_hash
from lensemble_spec.errors import ConfigError
from lensemble_spec.metrics import LEGACY_SKETCH_GENERATOR, SKETCH_GENERATOR


def test_the_default_configuration_names_the_generator_and_its_hash_covers_it():
    cfg = load_config(None)
    data = cfg.to_dict()
    assert data["sketch_generator"] == SKETCH_GENERATOR == "splitmix64-ratio-of-uniforms"
    without = {k: v for k, v in data.items() if k != "sketch_generator"}
    assert config_hash(data) != config_hash(without)


@pytest.mark.parametrize("name", [LEGACY_SKETCH_GENERATOR, "mersenne-twister"])
def test_another_generator_is_refused_with_a_remediation(name):
    with pytest.raises(ConfigError) as info:
        load_config(None, {"sketch_generator": name})
    err = info.value
    assert err.details.get("field") == "sketch_generator" and SKETCH_GENERATOR in err.message
    assert err.remediation and ("lensemble-spec 0.1" in err.remediation) == (name == LEGACY_SKETCH_GENERATOR)


def test_a_recorded_configuration_without_a_generator_is_a_0_1_run_and_is_not_continued():
    recorded = TrainConfig().to_dict()
    assert TrainConfig.from_recorded(recorded, "run X") == TrainConfig.from_dict(recorded).validate()
    del recorded["sketch_generator"]
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_recorded(recorded, "the partial run X")
    assert "lensemble-spec 0.1" in info.value.message and LEGACY_SKETCH_GENERATOR in info.value.message
    assert "again" in info.value.remediation
