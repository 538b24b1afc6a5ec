"""Names the hand-written pages mention exist in the code: a renamed metric, setting or
error code fails here instead of leaving the prose behind.

(Links to the Python API are checked by the strict build itself: an autoref to a
name that no longer exists fails it.)
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from warmwire.client.options import QUEUE_ONLY, ClientOptions
from warmwire.core.close_codes import CloseCode
from warmwire.core.envelope import ErrorCode
from warmwire.runner import EndpointConfig, RunnerConfig
from warmwire.runner.metrics import Metrics

DOCS = Path(__file__).resolve().parents[2] / "docs"
REPORTS = {"benchmarks.md", "reliability.md", "scaling.md"}
WIRE_PROTOCOL = DOCS / "reference" / "wire-protocol.md"


_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _prose(page: Path) -> str:
    """The page without its code blocks (which tests/docs runs)."""
    return _FENCED.sub("", page.read_text())


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).as_posix() not in REPORTS)


def _metric_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ("_total",), "histogram": ("", "_bucket", "_sum", "_count")}
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_metrics_named_exist(page: Path) -> None:
    known = _metric_names()
    for name in re.findall(r"`(warmwire_[a-z_]+)(?:\{[a-z_]*\})?`", _prose(page)):
        assert name in known, f"{page.name} names the metric {name}, which a runner does not serve"


_SETTING = re.compile(
    r"`([a-z]+(?:_[a-z]+)*_(?:timeout|interval|size|rate|sessions|bytes|threads))`"
)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_settings_named_exist(page: Path) -> None:
    fields = {f.name for f in attrs.fields(RunnerConfig)} | {
        f.name for f in attrs.fields(EndpointConfig)
    }
    client = set(ClientOptions.__optional_keys__) | {"throttle_interval"}
    fal_queue = set(QUEUE_ONLY)  # named to say that they do not apply
    for name in _SETTING.findall(_prose(page)):
        assert name in fields | client | fal_queue, f"{page.name} names the setting {name}"


def test_wire_protocol_lists_every_error_and_close_code() -> None:
    text = WIRE_PROTOCOL.read_text()
    for code in ErrorCode:
        assert f"`{code.value}`" in text, code
    for close in (CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.POLICY_VIOLATION):
        assert f"| {close.value} |" in text, close
