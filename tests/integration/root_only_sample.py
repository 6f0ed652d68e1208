"""A root-only test for test_root_only_skips.py to run as another user (not
collected by itself: its name does not start with test_)."""

import pytest

pytestmark = pytest.mark.root("the sample needs root")


def test_runs_as_root():
    pass
