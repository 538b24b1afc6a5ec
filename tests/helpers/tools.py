"""What the marked tests need from outside the venv, and the make target that installs it.

A test whose tool is missing fails, naming that target; it never skips, because a
skipped interop or browser test would pass a suite that proved nothing.  To leave such
tests out on purpose, deselect them by marker (``pytest -m "not browser"``, see
``tests/README.md``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which ``make web-setup`` and ``make interop-setup`` install."""


def require(present: bool, what: str, make_target: str, otherwise: str = "") -> None:
    """Fail the test unless ``present``: ``what`` is missing, ``make_target`` installs it
    (``otherwise``: how to install it by hand, where the target cannot)."""
    if not present:
        by_hand = f" (otherwise: {otherwise})" if otherwise else ""
        pytest.fail(
            f"missing: {what}.  Run 'make {make_target}'{by_hand}; make test runs it first.",
            pytrace=False,
        )


def require_chromium(make_target: str) -> None:
    """Chromium at :data:`CHROMIUM`, for the tests that open a page in it."""
    require(
        CHROMIUM.is_file(),
        f"Chromium ({CHROMIUM})",
        make_target,
        "sudo apt-get install -y chromium; the target installs it only as root",
    )


def require_node(make_target: str) -> str:
    """The ``node`` executable (Node.js >= 20); its path."""
    node = shutil.which("node")
    require(node is not None, "Node.js (node >= 20, with npm)", make_target)
    assert node is not None
    return node


def require_nginx() -> None:
    """nginx, for the scale-out cluster (deploy/cluster.py)."""
    present = shutil.which("nginx") is not None or Path("/usr/sbin/nginx").is_file()
    require(
        present,
        "nginx",
        "scale-setup",
        "sudo apt-get install -y nginx; the target installs it only as root",
    )


def require_ray(import_error: ImportError | None) -> None:
    """Ray Serve (``warmwire[ray]``); ``import_error`` is what importing it raised, if it did."""
    require(
        import_error is None,
        f"Ray Serve ({import_error})",
        "venv",
        "in an existing venv, .venv/bin/pip install -e '.[ray]'",
    )
