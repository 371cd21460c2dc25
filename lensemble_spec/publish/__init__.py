"""Publishing a comparison the way the Hugging Face ecosystem expects (``lensemble-spec publish``).

* :mod:`~lensemble_spec.publish.comparison` — build the repository, commit it (offline into a hub
  cache, or uploaded), write full-revision pins with per-file sha256 into ``results.json``.
* :mod:`~lensemble_spec.publish.card` — the model card (``README.md`` with YAML front matter and
  ``model-index``) and ``config.json``.
* :mod:`~lensemble_spec.publish.hubcache` — huggingface_hub's cache layout, written offline.
* :mod:`~lensemble_spec.publish.gitobj` — git blob/tree/commit ids of the files (the offline revision).
* :mod:`~lensemble_spec.publish.stmeta` — safetensors ``__metadata__`` without touching tensor bytes.
"""

from .comparison import Published, publish_comparison

__all__ = ["Published", "publish_comparison"]
