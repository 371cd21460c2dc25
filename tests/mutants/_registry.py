"""The mutant registry: each mutant is declared once, where it is defined, with what it must fail.

:func:`register` decorates either a :class:`~._base.Wrapped` subclass (the mutant is the reference
with that part wrapped by the class) or a function that builds the implementation. It records a
:class:`Mutant` in :data:`REGISTRY` and, for a class, puts the factory the ``--impl`` option names
into the defining module (``--impl mutants.<module>:<name with underscores>``), so the spec of a
mutant session and the mutant's own code cannot drift apart. ``expectations.py`` reads the
registry; ``test_mutants.py`` runs one conformance session per entry.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._base import mutant, reference


#: What a mutant's session runs: test files (the only ones calling the methods the mutant
#: replaces; ``test_unit_selection_is_sound`` checks that statically) or a marker expression.
def files(*names: str) -> tuple[str, ...]:
    return tuple(f"conformance/{n}" for n in names)


PRIMITIVES = files("test_gauge_primitives.py")
ROTATE = files("test_gauge_model.py", "test_gauge_backstop.py")  # rotate / predict
LOSS = files("test_gauge_model.py", "test_gauge_frame_anchor.py", "test_federation_local.py")  # loss_terms
OUTER = files("test_federation_outer.py")  # outer_init / outer_step
LOCAL = files("test_federation_local.py", "test_federation_sketch.py")  # local_update
BACKSTOP = files("test_gauge_backstop.py")  # align_release
ARTIFACTS = files("test_artifacts.py", "test_artifacts_shards_versions.py")  # save_checkpoint / load_checkpoint
RUNS = ("conformance", "-m", "harness_run")  # FederationPart.run
MODEL_AND_RUNS = ("conformance", "-m", "part_model or harness_run")  # encode, everywhere
EVERYTHING = ("conformance",)


@dataclass(frozen=True)
class Mutant:
    impl: str  # --impl spec
    args: tuple[str, ...]  # what the session runs (paths, -m, -k)
    expected: frozenset[str]  # requirement ids the suite must report as failed
    defect: str  # one line: what is wrong


#: Every registered mutant by name, in the order the mutant modules define them.
REGISTRY: dict[str, Mutant] = {}


def register(
    name: str, args: tuple[str, ...], expected: set[str], defect: str, *, part: str | None = None, keyword: str = ""
) -> Callable[[Any], Any]:
    """Declare mutant ``name``: its session runs ``args`` (``-k keyword`` added when given) and
    must fail exactly ``expected``. ``part`` (``gauge``/``model``/``federation``/``artifacts``)
    when decorating a wrapper class; none when decorating the factory function itself."""

    def decorate(obj: Any) -> Any:
        factory_name = name.replace("-", "_")
        module = sys.modules[obj.__module__]
        if isinstance(obj, type):
            if part is None:
                raise TypeError(f"mutant {name}: a wrapper class needs part=")

            def factory() -> Any:
                return mutant(name, **{part: obj(getattr(reference(), part))})

            factory.__name__ = factory.__qualname__ = factory_name
            factory.__doc__ = obj.__doc__
            setattr(module, factory_name, factory)
        elif obj.__name__ != factory_name or part is not None:
            raise TypeError(f"mutant {name}: a factory function must be named {factory_name} and take no part=")
        if name in REGISTRY:
            raise ValueError(f"mutant {name} registered twice")
        spec = f"mutants.{obj.__module__.rsplit('.', 1)[-1]}:{factory_name}"
        REGISTRY[name] = Mutant(spec, tuple(args) + (("-k", keyword) if keyword else ()), frozenset(expected), defect)
        return obj

    return decorate
