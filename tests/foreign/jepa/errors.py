"""This package's own exceptions. None of them derives from lensemble_spec.errors: the adapter
declares how they map onto the spec's error families (``IMPLEMENTATION.error_map``)."""


class JepaError(Exception):
    """Base of everything this package raises on purpose."""


class BadArray(JepaError, ValueError):
    """An array of the wrong rank, shape or with non-finite values."""


class SingularFrame(JepaError):
    """Procrustes asked to align a frame spanning too few directions."""


class ProbeTooSmall(JepaError):
    """An anchor/probe with fewer points than latent dimensions."""


class MergeError(JepaError):
    """Updates that cannot be merged into the global vector."""


class NoUpdates(MergeError):
    """An outer step with nothing to merge."""


class PrivateParameter(JepaError):
    """A parameter that must never leave its participant (not encoder.* / predictor.*)."""


class StoreError(JepaError):
    """A checkpoint that cannot be written or read."""


class Tampered(StoreError):
    """A checkpoint whose bytes do not match its recorded hash, or that holds a pickle file."""


class OutsidePath(StoreError):
    """A path that leaves the checkpoint directory."""


class UnknownVersion(StoreError):
    """A header schema version this reader does not know."""
