"""The stream tests' fixtures: ``door``, each front door in turn (see ``doors.py``)."""

from __future__ import annotations

import pytest

from .doors import DOORS


@pytest.fixture(params=DOORS)
def door(request: pytest.FixtureRequest) -> str:
    return str(request.param)
