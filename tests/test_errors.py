"""Every public error carries a stable code and a one-sentence remediation."""

import inspect

import pytest

from lensemble_spec import errors
from lensemble_spec.errors import ErrorCode, LensembleError

ERROR_TYPES = [
    obj
    for obj in vars(errors).values()
    if inspect.isclass(obj) and issubclass(obj, LensembleError)
]


@pytest.mark.parametrize("cls", ERROR_TYPES, ids=lambda c: c.__name__)
def test_every_error_has_code_and_one_sentence_remediation(cls):
    err = cls("something went wrong")
    assert isinstance(err.code, ErrorCode)
    assert err.remediation.strip()
    # one sentence: a single terminal full stop, no line breaks
    assert "\n" not in err.remediation
    assert err.remediation.rstrip().endswith(".")
    assert err.remediation.count(". ") == 0, err.remediation
    assert err.code.value in str(err)


def test_codes_are_unique_strings():
    values = [c.value for c in ErrorCode]
    assert len(values) == len(set(values))


def test_overrides_and_details_are_kept():
    err = errors.DegenerateProcrustes("rank 1", min_singular_value=0.0)
    assert err.code is ErrorCode.PROCRUSTES_DEGENERATE
    assert err.details["min_singular_value"] == 0.0
    custom = errors.ConfigError("bad", remediation="Set rounds to a positive integer.")
    assert custom.remediation == "Set rounds to a positive integer."
    assert custom.to_dict()["code"] == "config_invalid"
