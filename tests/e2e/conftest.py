"""End-to-end: the real `bizractl` against the lab fleet (podman containers over SSH)."""

from __future__ import annotations

import os

import pytest
from lab_helpers import Bizractl, Result


@pytest.fixture(scope="session")
def bizractl(tmp_path_factory) -> Bizractl:
    return Bizractl(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def lab(bizractl):
    """The whole lab fleet, up for the session; removed at the end unless BIZRA_KEEP_LAB=1."""
    result = bizractl("lab", "up", timeout=1200)
    assert result.code == 0, result.output
    yield
    if os.environ.get("BIZRA_KEEP_LAB") != "1":
        bizractl("lab", "down")


@pytest.fixture(scope="session")
def converged(bizractl, lab) -> Result:
    result = bizractl("deploy", "site.yml")
    assert result.code == 0, result.output
    return result


@pytest.fixture(scope="session")
def second_run(bizractl, converged) -> Result:
    """site.yml again on the converged lab, directly: the result every other way of running is held to."""
    return bizractl("deploy", "site.yml")
