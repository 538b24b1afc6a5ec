"""The documentation's code blocks, run: an example that stops working fails here.

Every fenced Python block in the pages under ``docs/`` (but the three reports,
which have their own generators) and in the README runs, in page order, in one scratch directory
per page, which holds a copy of the example modules of ``docs/`` (such as
``docs/tutorial/greeter.py``).  A block may show such a file through a snippet
include (``--8<-- "docs/..."``): it runs as that file's text.  The line before a
block may say how to run it, in an HTML comment that the site does not show:

- nothing: run the block as a script (``python -c``);
- ``<!-- test: file NAME.py -->``: write the block to ``NAME.py`` (later blocks
  and runners of the page import it), then import it once, so a decorator
  keyword that no longer exists fails;
- ``<!-- test: client of MODULE:CLASS [MODULE:CLASS ...] [insecure] -->``: run
  the block as a script while ``warmwire serve MODULE:CLASS`` runs from the page's
  directory, with ``$WARMWIRE_URL`` (and, unless ``insecure``, ``$WARMWIRE_KEY``
  for a key the runner accepts) set, as the page tells its reader to do;
- ``<!-- test: skip REASON -->``: do not run it (it needs a GPU, a cluster...);
  such blocks must say why and stay short.

Every ``warmwire ...`` command of a shell block is parsed by the command's own
parser, so an option renamed or removed fails too.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import attrs
import pytest

from helpers.processes import ENV, RunnerProcess, start_runner
from warmwire.auth.tokens import generate_signing_key
from warmwire.cli import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"
REPORTS = {"benchmarks.md", "reliability.md", "scaling.md"}
"""Pages written by generators of their own (make bench, ...), not by hand: not collected."""
PYTHON = {"python", "py", "python3"}
SHELL = {"sh", "bash", "shell", "console"}
MAX_SKIPPED_LINES = 12
"""A block that is not run must be short: the rest of the example belongs in one that is."""
BLOCK_TIMEOUT = 60

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)[^\n]*$")
_DIRECTIVE = re.compile(r"^\s*<!-- test: (?P<text>.+?) -->\s*$")
_SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"$', re.MULTILINE)
"""A pymdownx.snippets include: the block shows that file (a path from the repository root)."""


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    page: str
    """Its path from ``docs/`` (a page elsewhere: its full path)."""
    line: int
    """The line of its opening fence (1-based)."""
    lang: str
    code: str
    directive: str | None
    """The ``<!-- test: ... -->`` text on the line before, if any."""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """The hand-written pages whose blocks are run: the site's, and the README."""
    site = sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).as_posix() not in REPORTS)
    return [*site, DOCS.parent / "README.md"]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, dedented, with the directive before each."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [
            line[len(indent) :] if line.startswith(indent) else line
            for line in lines[index + 1 : end]
        ]
        code = _SNIPPET.sub(lambda m: (DOCS.parent / m["path"]).read_text(), "\n".join(body))
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        directive = _DIRECTIVE.match(before)
        found.append(
            Block(
                page.relative_to(DOCS).as_posix() if page.is_relative_to(DOCS) else str(page),
                index + 1,
                opening["lang"].lower(),
                code.rstrip("\n") + "\n",
                directive["text"] if directive else None,
            )
        )
        index = end + 1
    return found


# --- running a page ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A signing key, a key file and the API key it holds, for the runners the pages start."""
    directory = tmp_path_factory.mktemp("keys")
    signing = directory / "signing.pem"
    signing.write_bytes(generate_signing_key())
    key = "docs:docs-example-secret"
    key_file = directory / "keys.txt"
    key_file.write_text(key + "\n")
    return signing, key_file, key


class _Runners:
    """The runner a page's client blocks talk to: started for a set of apps, kept for the
    blocks after it that name the same set, stopped when another set is named."""

    def __init__(self, workdir: Path, credentials: tuple[Path, Path, str]) -> None:
        self._workdir = workdir
        self._credentials = credentials
        self._stack = ExitStack()
        self._apps: tuple[str, ...] | None = None
        self._env: dict[str, str] = {}

    def env_for(self, apps: tuple[str, ...], insecure: bool) -> dict[str, str]:
        if (*apps, str(insecure)) != self._apps:
            self.close()
            signing, key_file, key = self._credentials
            auth = (
                ["--insecure-no-auth"]
                if insecure
                else ["--signing-key", str(signing), "--key-file", str(key_file)]
            )
            runner: RunnerProcess = self._stack.enter_context(
                start_runner("serve", *apps, "--port", "0", *auth, cwd=self._workdir)
            )
            self._apps = (*apps, str(insecure))
            self._env = {"WARMWIRE_URL": runner.url}
            if not insecure:
                self._env["WARMWIRE_KEY"] = key
        return self._env

    def close(self) -> None:
        self._stack.close()
        self._stack = ExitStack()
        self._apps = None


def _run_python(block: Block, code: str, workdir: Path, extra_env: dict[str, str]) -> None:
    env = {**ENV, **extra_env}
    src = str(DOCS.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"the example at {block.where} failed (exit {done.returncode}):\n"
            f"{block.code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )


def _check_shell(block: Block) -> None:
    """Parse every ``warmwire ...`` command of a shell block with the CLI's own parser."""
    parser = build_parser()
    text = block.code.replace("\\\n", " ")
    for line in text.splitlines():
        for command in re.split(r"&&|\|\||;|\|", line.removeprefix("$ ")):
            lexer = shlex.shlex(command, posix=True, punctuation_chars="<>")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words = list(lexer)
            redirect = next((i for i, w in enumerate(words) if w[0] in "<>"), len(words))
            words = words[:redirect]
            if not words or words[0] != "warmwire":
                continue
            try:
                parser.parse_args(words[1:])
            except SystemExit as exc:
                if exc.code != 0:  # --help and --version exit 0
                    pytest.fail(f"{block.where}: the command {command.strip()!r} is not valid")


def run_page(page: Path, workdir: Path, credentials: tuple[Path, Path, str]) -> int:
    """Run every block of ``page``; the number of Python blocks run.

    The example modules of ``docs/`` (``docs/tutorial/greeter.py``...) are copied into
    ``workdir`` first, so that any page's client can talk to their apps.
    """
    for example in DOCS.rglob("*.py"):
        if "_hooks" not in example.parts:
            shutil.copy(example, workdir / example.name)
    runners = _Runners(workdir, credentials)
    ran = 0
    try:
        for block in blocks(page):
            if block.lang in SHELL:
                _check_shell(block)
                continue
            if block.lang not in PYTHON:
                continue
            directive = block.directive or ""
            kind, _, rest = directive.partition(" ")
            if kind == "skip":
                continue
            if kind == "file":
                (workdir / rest).write_text(block.code)
                _run_python(block, f"import {Path(rest).stem}", workdir, {})
            elif directive.startswith("client of "):
                words = directive.removeprefix("client of ").split()
                insecure = "insecure" in words
                apps = tuple(w for w in words if w != "insecure")
                _run_python(block, block.code, workdir, runners.env_for(apps, insecure))
            elif not directive:
                _run_python(block, block.code, workdir, {})
            else:
                pytest.fail(f"{block.where}: unknown directive <!-- test: {directive} -->")
            ran += 1
    finally:
        runners.close()
    return ran


# --- the tests -----------------------------------------------------------------------------------


def _page_ids() -> Iterator[object]:
    for page in pages():
        yield pytest.param(page, id=page.relative_to(DOCS.parent).as_posix())


@pytest.mark.parametrize("page", list(_page_ids()))
def test_page_examples_run(page: Path, tmp_path: Path, credentials: tuple[Path, Path, str]) -> None:
    run_page(page, tmp_path, credentials)


def test_every_block_is_run_or_says_why_not() -> None:
    """A Python block is run unless marked ``skip`` with a reason, and a skipped one is short."""
    known = ("file ", "client of ", "skip ")
    for page in pages():
        for block in blocks(page):
            if block.lang not in PYTHON or block.directive is None:
                continue
            assert block.directive.startswith(known), f"{block.where}: {block.directive!r}"
            if block.directive.startswith("skip "):
                reason = block.directive.removeprefix("skip ").strip()
                assert len(reason) >= 10, f"{block.where}: say why it is not run"
                lines = block.code.count("\n")
                assert lines <= MAX_SKIPPED_LINES, (
                    f"{block.where}: {lines} lines not run; keep it under {MAX_SKIPPED_LINES} "
                    "and show the rest in a block that runs"
                )


def test_a_renamed_keyword_fails(tmp_path: Path, credentials: tuple[Path, Path, str]) -> None:
    """The collector's own check: an example with a keyword the code does not take fails."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- test: file bad.py -->\n"
        "```python\n"
        "from warmwire import runner\n\n"
        "class Bad(runner.App, app_id='docs/bad'):\n"
        "    @runner.realtime('/realtime', bufering=2)\n"
        "    def run(self, inp: dict) -> dict:\n"
        "        return inp\n"
        "```\n"
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(pytest.fail.Exception, match="unexpected keyword argument 'bufering'"):
        run_page(page, workdir, credentials)


def test_a_removed_cli_option_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```sh\nwarmwire serve app:App --no-such-option\n```\n")
    with pytest.raises(pytest.fail.Exception, match="is not valid"):
        _check_shell(blocks(page)[0])
