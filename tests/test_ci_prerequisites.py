"""Under CI=true a missing prerequisite fails the run with its reason; skips are for local runs only."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = """
import pytest

def test_needs_data():
    pytest.skip("the data folder X is missing")

@pytest.fixture
def image():
    pytest.skip("sandbox image Y is not built")

def test_needs_an_image(image):
    pass

@pytest.mark.requires_gpu
def test_needs_a_gpu():
    pytest.skip("needs a CUDA GPU")

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False

def test_plain():
    assert True
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A small suite that uses this project's conftest rules as they are."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_prereq=SUITE)
    return pytester


def test_local_run_skips_missing_prerequisites(suite: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)


def test_ci_run_fails_each_missing_prerequisite_with_its_reason(suite: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-rf")
    # The data and the image fail; the GPU test (hardware CI lacks) still skips; xfail stays xfail.
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*CI=true: a prerequisite of this test is missing*: sandbox image Y is not built",
            "*CI=true: a prerequisite of this test is missing*: the data folder X is missing",
        ]
    )
    assert result.ret != 0
