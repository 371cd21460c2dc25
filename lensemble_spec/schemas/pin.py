"""``ArtifactPin``: an immutable reference to a Hugging Face Hub artifact.

URI grammar (one grammar for the whole project, implemented by
:func:`lensemble_spec.artifacts.pin_uri.split_pin_uri`)::

    hf://{models|datasets}/<org>/<name>@<revision>[/<path/in/repo>]

``revision`` must be a full 40-character lowercase hex commit id: a branch or tag (``main``),
a short prefix or uppercase hex is refused, because it can move or be ambiguous. ``org`` and
``name`` follow the Hub's naming rule; ``path`` is a relative POSIX path (no ``.``/``..``/empty
segments, no backslash).

JSON form (canonical, what is written): ``{"uri": "...", "sha256": "<64 hex>" | null}``;
``sha256`` is the SHA-256 of the file at ``path`` (or the snapshot digest of
:func:`lensemble_spec.artifacts.pins.snapshot_digest` for a whole-repository pin; null = not
recorded). The reader also accepts

* a bare URI string, and
* the exploded form ``{"repo_type", "repo_id", "revision", "path"?, "sha256"?}`` with
  ``repo_type`` spelled ``model``/``dataset`` or ``models``/``datasets``; if ``uri`` is given
  as well, every exploded field must agree with it.

Both are normalised to the canonical form. The parsed parts are properties: ``repo_type``
(``model``/``dataset``, huggingface_hub spelling, as in ``artifacts.pin_uri.PinParts``),
``repo_id``, ``revision``, ``path``. Every malformed pin raises
:class:`~lensemble_spec.errors.PinError`, also through ``model_validate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from ..artifacts.pin_uri import PinParts, format_pin_uri, split_pin_uri
from ..constants import PIN_URI_PATTERN
from ..errors import PinError
from ._base import StrictModel
from ._types import Hash64

_EXPLODED = ("repo_type", "repo_id", "revision", "path")


def _from_exploded(data: Mapping[str, Any]) -> dict[str, Any]:
    doc = dict(data)
    fields = {k: doc.pop(k) for k in _EXPLODED if k in doc}
    missing = [k for k in ("repo_type", "repo_id", "revision") if k not in fields]
    if "uri" not in doc:
        if missing:
            raise PinError(f"exploded pin lacks {', '.join(missing)}")
        if not all(isinstance(fields[k], str) for k in ("repo_type", "repo_id", "revision")):
            raise PinError("exploded pin fields must be strings")
        doc["uri"] = format_pin_uri(fields["repo_type"], fields["repo_id"], fields["revision"], fields.get("path"))
        split_pin_uri(doc["uri"])
        return doc
    parts = split_pin_uri(doc["uri"])
    expected = {"repo_type": parts.repo_type, "repo_id": parts.repo_id, "revision": parts.revision, "path": parts.path}
    for key, value in fields.items():
        if key == "repo_type" and isinstance(value, str) and value.endswith("s"):
            value = value[:-1]
        if value != expected[key]:
            raise PinError(f"pin {doc['uri']!r}: {key}={value!r} disagrees with the URI ({expected[key]!r})")
    return doc


class ArtifactPin(StrictModel):
    """An immutable Hub artifact reference (see the module docstring for forms and rules)."""

    RFC_RULES: ClassVar[tuple[str, ...]] = (
        "`uri` follows `hf://{models|datasets}/<org>/<name>@<revision>[/<path>]` with a full 40-hex lowercase "
        "revision and a relative POSIX path (RFC-0010 §6); anything else is refused with `PinError`.",
        "A reader also accepts a bare URI string, or the exploded form `{repo_type, repo_id, revision, path?, "
        "sha256?}` (`repo_type` `model`/`dataset` or `models`/`datasets`), and normalises both to this form.",
    )

    uri: str = Field(json_schema_extra={"pattern": PIN_URI_PATTERN}, description="The pinned artifact.")
    sha256: Hash64 | None = Field(
        default=None,
        description="SHA-256 of the file at the pin's path (required by ART-024 for a file pin); null = not recorded.",
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"uri": data}
        if isinstance(data, Mapping) and any(k in data for k in _EXPLODED):
            return _from_exploded(data)
        return data

    @field_validator("uri", mode="before")
    @classmethod
    def _valid_uri(cls, value: Any) -> Any:
        split_pin_uri(value)
        return value

    @property
    def parts(self) -> PinParts:
        return split_pin_uri(self.uri)

    @property
    def repo_type(self) -> str:
        """``model`` or ``dataset`` (huggingface_hub spelling)."""
        return self.parts.repo_type

    @property
    def repo_id(self) -> str:
        return self.parts.repo_id

    @property
    def revision(self) -> str:
        return self.parts.revision

    @property
    def path(self) -> str | None:
        return self.parts.path
