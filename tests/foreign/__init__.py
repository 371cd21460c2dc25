"""An independent federated JEPA implementation judged by the conformance suite (issue #10).

``tests.foreign.jepa`` is written in a deliberately different style from lensemble_reference
(which it never imports): its own exception hierarchy, a LayerNorm-terminated multi-token encoder
followed by a linear frame layer, float32-only checkpoints, an outer optimizer over one flattened
parameter vector with an explicit state value, and no ``run``. ``tests.foreign.adapter`` exposes
it through ``lensemble_spec.protocol``; ``tests.foreign.variants`` holds defective copies the
suite must reject with exactly their requirement ids.
"""
