"""mkdocs hooks: the reference tables generated from the code, so that they cannot drift.

A page asks for a table with a comment on a line of its own::

    <!-- generated: cli -->                             every `warmwire` command, from argparse
    <!-- generated: options MODULE:CLASS -->            an attrs class's or TypedDict's fields
    <!-- generated: metrics -->                         the runner's Prometheus metrics
    <!-- generated: close-codes -->                     the close codes and their meaning

and this module puts the table in its place before the page is rendered.  An
unknown name is an error, which fails the strict build.  The tables are read from
the objects themselves (the parser ``warmwire.cli`` builds, ``attrs.fields``, a
fresh metrics registry) and from the attribute docstrings in the source, so a
subcommand, an option or a metric added later appears without touching the docs.

The docstrings are written for Sphinx-style roles (``:class:`X```); mkdocstrings
renders them as Markdown, so :func:`on_page_content` turns each role into a code
span linked to the object where the object is documented on the site.
"""

from __future__ import annotations

import argparse
import ast
import html
import importlib
import inspect
import os
import re
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from mkdocs.exceptions import PluginError

_DIRECTIVE = re.compile(r"^<!-- generated: (?P<name>[\w-]+)(?: (?P<arg>\S+))? -->$", re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace each ``<!-- generated: ... -->`` line with the table it names."""

    def expand(match: re.Match[str]) -> str:
        name, arg = match["name"], match["arg"]
        generator = _GENERATORS.get(name)
        if generator is None:
            raise PluginError(
                f"{page.file.src_path}: unknown generated table {name!r}; "
                f"known: {', '.join(sorted(_GENERATORS))}"
            )
        return generator(arg)

    return _DIRECTIVE.sub(expand, markdown)


# --- the command line ---------------------------------------------------------------------------


def cli_reference(_: str | None = None) -> str:
    """Every ``warmwire`` command and subcommand, with its usage and arguments."""
    from warmwire.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps the usage at the terminal's width
    try:
        return "\n".join(_parser_section(build_parser(), None, 2))
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _parser_section(
    parser: argparse.ArgumentParser, summary: str | None, level: int
) -> Iterator[str]:
    yield f"{'#' * level} `{parser.prog}`"
    yield ""
    text = parser.description or summary
    if text:
        yield _escape(text)
        yield ""
    yield "```text"
    yield parser.format_usage().strip()
    yield "```"
    yield ""
    formatter = parser._get_formatter()
    children: list[tuple[argparse.ArgumentParser, str | None]] = []
    for group in parser._action_groups:
        rows = []
        for action in group._group_actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                children.extend((sub, helps.get(name)) for name, sub in action.choices.items())
                rows.append(_row(action, formatter))
            elif action.help is not argparse.SUPPRESS and not isinstance(
                action, argparse._HelpAction
            ):
                rows.append(_row(action, formatter))
        if not rows:
            continue
        if group.title not in ("positional arguments", "options"):
            yield f"**{_escape(group.title or '')}**" + (
                f": {_escape(group.description)}" if group.description else ""
            )
            yield ""
        yield "| argument | default | description |"
        yield "| --- | --- | --- |"
        yield from rows
        yield ""
    for child, child_help in children:
        yield from _parser_section(child, child_help, min(level + 1, 6))


def _row(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    choices = action.choices and not isinstance(action, argparse._SubParsersAction)
    if action.option_strings:
        names = ", ".join(action.option_strings)
        if action.nargs != 0 and not (choices and action.metavar is None):
            names += f" {action.metavar or action.dest.upper()}"
    elif isinstance(action, argparse._SubParsersAction):
        names = " | ".join(action.choices)
    else:
        names = str(action.metavar or action.dest)
    if choices:
        names += " {" + ",".join(map(str, action.choices or ())) + "}"
    if action.required and action.option_strings:
        default = "required"
    elif action.default in (None, argparse.SUPPRESS, False) or action.nargs == 0:
        default = ""
    else:
        default = f"`{action.default}`"
    described = formatter._expand_help(action) if action.help else ""
    return f"| {_code(names)} | {default} | {_escape(described)} |"


# --- configuration ------------------------------------------------------------------------------


def options_reference(target: str | None) -> str:
    """A table of the fields of ``MODULE:CLASS`` (attrs class or TypedDict): name, type,
    default, and the attribute docstring written under the field in the source."""
    if target is None or ":" not in target:
        raise PluginError(
            "generated: options needs MODULE:CLASS, e.g. warmwire.runner:RunnerConfig"
        )
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    documented = _field_docs(cls)
    defaults: dict[str, str] = {}
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if field.default is not attrs.NOTHING:
                defaults[field.name] = _default(field.default)
    undocumented = [name for name, (_, doc) in documented.items() if not doc]
    if undocumented:
        raise PluginError(
            f"{target}: no docstring under the field(s) {', '.join(undocumented)}; the "
            "configuration reference is generated from them: write one (a string literal "
            "on the line after the field) saying what it does and what to set it to"
        )
    rows = ["| option | type | default | description |", "| --- | --- | --- | --- |"]
    for name, (annotation, doc) in documented.items():
        default = defaults.get(name, "")
        rows.append(
            f"| `{name}` | {_code(annotation)} | {default} | {_escape(_one_paragraph(doc))} |"
        )
    return "\n".join(rows)


def _field_docs(cls: type) -> dict[str, tuple[str, str]]:
    """Each annotated field of ``cls``'s class body: its annotation as written and its
    attribute docstring (empty when there is none)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    fields: dict[str, tuple[str, str]] = {}
    statements = body.body
    for index, statement in enumerate(statements):
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        annotation = ast.unparse(statement.annotation)
        if annotation.startswith("ClassVar"):
            continue
        doc = ""
        following = statements[index + 1] if index + 1 < len(statements) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = inspect.cleandoc(following.value.value)
        fields[statement.target.id] = (annotation, doc)
    return fields


def _default(value: object) -> str:
    if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
        return "(computed)"
    mebibyte = 1 << 20
    if isinstance(value, int) and value >= mebibyte and value % mebibyte == 0:
        return f"`{value}` ({value // mebibyte} MiB)"
    return f"`{value!r}`"


def _one_paragraph(doc: str) -> str:
    """The docstring's paragraphs on one line each, separated by a line break (a table cell)."""
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    return "<br><br>".join(paragraphs)


# --- metrics ------------------------------------------------------------------------------------

_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def metrics_reference(_: str | None = None) -> str:
    """The metrics a runner serves at ``GET /metrics``, read from a fresh registry."""
    from prometheus_client.metrics import MetricWrapperBase

    from warmwire.runner.metrics import Metrics

    metrics = Metrics()
    labels = {
        wrapper._name: wrapper._labelnames
        for wrapper in vars(metrics).values()
        if isinstance(wrapper, MetricWrapperBase)
    }
    rows = ["| name | type | labels | description |", "| --- | --- | --- | --- |"]
    for family in metrics.registry.collect():
        names = "<br>".join(f"`{family.name}{suffix}`" for suffix in _SUFFIXES[family.type])
        label_names = ", ".join(f"`{name}`" for name in labels.get(family.name, ()))
        rows.append(
            f"| {names} | {family.type} | {label_names} | {_escape(family.documentation)} |"
        )
    return "\n".join(rows)


# --- close codes --------------------------------------------------------------------------------


def close_codes_reference(_: str | None = None) -> str:
    """The close codes of :class:`warmwire.core.close_codes.CloseCode`, with their docstrings."""
    from warmwire.core.close_codes import REFUSED_AFTER_UPGRADE, CloseCode

    tree = ast.parse(textwrap.dedent(inspect.getsource(CloseCode)))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    for statement, following in zip(body.body, [*body.body[1:], None], strict=True):
        if (
            isinstance(statement, ast.Assign)
            and isinstance(statement.targets[0], ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[statement.targets[0].id] = str(following.value.value)
    rows = ["| code | name | meaning to a client |", "| --- | --- | --- |"]
    for code in CloseCode:
        rows.append(f"| {code.value} | `{code.name}` | {_escape(docs.get(code.name, ''))} |")
    rows.append(
        f"| {REFUSED_AFTER_UPGRADE} + HTTP status | | "
        "A refusal reported after the upgrade (4404, 4400): see below. |"
    )
    return "\n".join(rows)


_GENERATORS: dict[str, Callable[[str | None], str]] = {
    "cli": cli_reference,
    "options": options_reference,
    "metrics": metrics_reference,
    "close-codes": close_codes_reference,
}


# --- Sphinx roles in docstrings -----------------------------------------------------------------

_ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc|obj):<code>(?P<target>[^<]+)</code>")
_LITERAL_BLOCK = re.compile(r"::</p>")


def on_page_content(html_text: str, **_: Any) -> str:
    """Turn the roles mkdocstrings left as text (``:class:<code>X</code>``) into code spans
    linked to the object where the site documents it, and ``text::`` before a code
    block into ``text:``."""
    html_text = _ROLE.sub(_role_link, html_text)
    return _LITERAL_BLOCK.sub(":</p>", html_text)


def _role_link(match: re.Match[str]) -> str:
    target = html.unescape(match["target"])
    short = target.startswith("~")
    target = target.lstrip("~").removesuffix("()")
    title = target.rsplit(".", 1)[-1] if short else target
    identifier = _qualified(target)
    return (
        f'<autoref identifier="{html.escape(identifier)}" optional>'
        f"<code>{html.escape(title)}</code></autoref>"
    )


def _qualified(name: str) -> str:
    """``name`` as the site documents it: short names of the public API get their package."""
    if "." in name:
        return name
    for package in ("warmwire", "warmwire.runner", "warmwire.codecs", "warmwire.auth"):
        module = importlib.import_module(package)
        if name in getattr(module, "__all__", ()):
            return f"{package}.{name}"
    return name


# --- Markdown escaping --------------------------------------------------------------------------


_CODE_SPAN = re.compile(r"``(.+?)``|`([^`]+)`")


def _escape(text: str) -> str:
    """Text for a Markdown table cell: no HTML but ``<br>``, no cell break, and code spans
    as HTML (a Markdown one would show an escaped ``|``, or escape an entity twice)."""
    parts: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(text):
        parts.append(_plain(text[last : match.start()]))
        parts.append(_code(match[1] or match[2]))
        last = match.end()
    parts.append(_plain(text[last:]))
    return "".join(parts)


def _plain(text: str) -> str:
    text = text.replace("<br>", "\0")
    text = html.escape(text, quote=False).replace("|", "\\|").replace("\0", "<br>")
    # Brackets as text, not a Markdown reference link ("[mint_rate=N]" in a usage).
    return text.replace("[", "\\[").replace("]", "\\]")


def _code(text: str) -> str:
    """A code span for a table cell, as HTML: a Markdown one would show an escaped ``|``."""
    return "<code>" + html.escape(text, quote=False).replace("|", "&#124;") + "</code>"
