"""Fixtures for the interop tests (see ``harness.py`` for what they drive and how)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own warmwire or fal credentials and hosts must not reach the peers."""
    for name in (
        "WARMWIRE_KEY",
        "WARMWIRE_KEYS",
        "WARMWIRE_URL",
        "FAL_KEY",
        "FAL_KEY_ID",
        "FAL_KEY_SECRET",
        "FAL_RUN_HOST",
        "FAL_QUEUE_RUN_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
