"""stable-worldmodel PushT for the reference trainer: collection, non-IID silos, closed-loop planning.

Needs the optional extra ``lensemble-spec[pusht]`` (its own venv: it brings torchvision). Importing
this package imports nothing from stable-worldmodel or torchvision; :mod:`.env` does, lazily, after
the torchvision shim (:mod:`._shim`). Entry point: ``lensemble-spec pusht`` (:mod:`.cli`); the
pipeline is :func:`.run.run_pusht`; docs/pusht.md has the commands and measured numbers.
"""
