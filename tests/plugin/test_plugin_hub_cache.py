"""--hub-cache DIR: the Hugging Face cache in which the pins of ``--run`` results tables resolve.

Defects caught: the option not reaching the ``hub_cache_dir`` fixture (the ART-025 conformance
test would then always skip), a relative path resolved against something other than the
invocation directory, a non-directory accepted silently (pins would "fail to resolve" instead of
the user being told the cache path is wrong), and the fixture not being ``None`` when the option
is absent (the test's skip reason depends on it).
"""

from __future__ import annotations

import pytest

USAGE_ERROR = int(pytest.ExitCode.USAGE_ERROR)

HUB_CACHE_TESTS = """
import pytest

@pytest.mark.requirement("ALT-001")
def test_cache(hub_cache_dir, request):
    expected = request.config.getoption("--hub-cache")
    if expected is None:
        assert hub_cache_dir is None
        pytest.skip("no hub cache")
    assert hub_cache_dir.is_absolute() and hub_cache_dir.is_dir()
    assert (hub_cache_dir / "models--acme--toy").is_dir()
"""


def test_hub_cache_reaches_the_fixture_as_an_absolute_path(suite):
    (suite.path / "hub" / "models--acme--toy").mkdir(parents=True)
    suite.tests(HUB_CACHE_TESTS)
    run = suite.run("--hub-cache", "hub")
    assert run.ret == 0, run.out
    assert run.test("test_cache")["outcome"] == "passed"
    run.result.stdout.fnmatch_lines([f"*hub cache: {suite.path / 'hub'}*"])


def test_without_hub_cache_the_fixture_is_none(suite):
    suite.tests(HUB_CACHE_TESTS)
    run = suite.run()
    assert run.test("test_cache")["outcome"] == "skipped"
    run.result.stdout.fnmatch_lines(["*hub cache: none*"])


def test_missing_hub_cache_is_a_usage_error(suite):
    suite.tests(HUB_CACHE_TESTS)
    (suite.path / "afile").write_text("not a directory")
    for bad in ("nope", "afile"):
        run = suite.run("--hub-cache", bad)
        assert run.ret == USAGE_ERROR
        assert f"hub-cache {bad!r} is not a directory" in run.out
