"""The site's generated reference tables (docs/_hooks/generated.py) cover what the code has.

The strict build (``make docs``) renders them; these tests check that nothing is
left out: every command and option of the parser, every field of the configuration
classes with its default, every metric of a runner.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from warmwire.cli import build_parser
from warmwire.runner import EndpointConfig, RunnerConfig
from warmwire.runner.metrics import Metrics

HOOK = Path(__file__).resolve().parents[2] / "docs" / "_hooks" / "generated.py"


@pytest.fixture(scope="module")
def generated() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generated_hook", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_cli_reference_has_every_command_and_option(generated: ModuleType) -> None:
    text = generated.cli_reference()
    parsers = list(_parsers(build_parser()))
    assert len(parsers) > 5
    for parser in parsers:
        assert f"# `{parser.prog}`" in text
        for action in parser._actions:
            if action.help is argparse.SUPPRESS:
                continue  # internal (serve --as-worker): not for users, not in the reference
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in text, f"{parser.prog} {option}"


@pytest.mark.parametrize("cls", [RunnerConfig, EndpointConfig])
def test_options_reference_has_every_field_and_default(generated: ModuleType, cls: type) -> None:
    text = generated.options_reference(f"warmwire.runner:{cls.__name__}")
    for field in attrs.fields(cls):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{field.name}` |"))
        assert f"`{field.default!r}`" in row or f"`{field.default}`" in row, row


def test_metrics_reference_has_every_metric(generated: ModuleType) -> None:
    text = generated.metrics_reference()
    families = list(Metrics().registry.collect())
    assert len(families) >= 8
    for family in families:
        assert f"`{family.name}" in text


def test_an_undocumented_field_fails_the_build(generated: ModuleType) -> None:
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="no docstring under the field"):
        generated.options_reference(f"{__name__}:Undocumented")


def test_an_unknown_table_fails_the_build(generated: ModuleType) -> None:
    from mkdocs.exceptions import PluginError

    class Page:  # what the hook reads of mkdocs's Page: page.file.src_path
        class file:
            src_path = "page.md"

    with pytest.raises(PluginError, match="unknown generated table 'nope'"):
        generated.on_page_markdown("<!-- generated: nope -->\n", Page())


def test_cells_keep_pipes_and_code(generated: ModuleType) -> None:
    cell = generated._escape("a | b, `int | None`, <key>")
    assert cell == "a \\| b, <code>int &#124; None</code>, &lt;key&gt;"


@attrs.frozen
class Undocumented:
    documented: int = 1
    """Has one."""
    bare: int = 2
