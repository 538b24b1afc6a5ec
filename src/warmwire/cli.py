"""The ``warmwire`` command: ``serve`` apps, run the ``demo``.

Each subcommand is one ``_add_<name>(subparsers)`` function that declares its
arguments and sets ``handler`` to a function taking the parsed namespace and
returning the exit code; adding a command (``token``, ``keys``, ``bench``) is
adding one such function to :data:`COMMANDS`.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error
(argparse's own convention), 130 interrupted before the command was ready.
Expected errors print one line to stderr saying what to do — no traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from warmwire.core.errors import ConfigurationError, WarmwireError

if TYPE_CHECKING:
    from warmwire.runner import App

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A command-line argument names something that does not exist or cannot be used."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``warmwire`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (UsageError, ConfigurationError) as exc:
        _error(args.command, str(exc))
        return EXIT_USAGE
    except WarmwireError as exc:
        _error(args.command, str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _error(args.command, "interrupted")
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warmwire",
        description="Realtime inference over a persistent WebSocket to a warm model runner.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
    return parser


# --- serve -------------------------------------------------------------------------------------


def _add_serve(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run realtime apps on a runner",
        description="Run one or more realtime apps (runner.App subclasses) until SIGINT/SIGTERM.",
    )
    serve.add_argument(
        "apps",
        nargs="+",
        metavar="MODULE:CLASS",
        help="an App subclass to serve, e.g. warmwire.examples.echo:Echo",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8080, help="TCP port; 0 picks a free one (default %(default)s)"
    )
    serve.add_argument("--uds", metavar="PATH", help="serve on a Unix socket instead of TCP")
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept connections without credentials (loopback only; local experiments)",
    )
    _add_backend(serve)
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error", "critical"],
        help="runner log level, on stderr (default %(default)s)",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    apps = [load_app(target) for target in args.apps]
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        anyio.run(_serve_until_signal, args, apps, backend=args.backend)
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = "; another process uses that port: pick another with --port, or --port 0"
        where = args.uds or f"{args.host}:{args.port}"
        _error("serve", f"cannot listen on {where}: {exc}{hint}")
        return EXIT_FAILURE
    return EXIT_OK


async def _serve_until_signal(args: argparse.Namespace, apps: list[type[App]]) -> None:
    from warmwire import runner

    async with runner.serve(
        *apps,
        host=args.host,
        port=args.port,
        uds=args.uds,
        insecure_no_auth=args.insecure_no_auth,
    ) as server:
        cold_start = server.cold_start or 0.0
        # Scripts and tests read this line to find the runner: keep its shape.
        print(f"warmwire runner listening on {server.url}", flush=True)
        print(f"cold start {cold_start * 1000:.1f} ms; endpoints:", flush=True)
        for path in server.runner.router.paths:
            print(f"  {server.url}{path}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        await _wait_for_stop_signal()
        print("stopping: closing sessions and running teardown()", flush=True)


async def _wait_for_stop_signal() -> None:
    """Return at SIGINT or SIGTERM, so leaving ``serve()`` drains and tears down in order."""
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logging.getLogger("warmwire.cli").info("received %s", signal.Signals(signum).name)
                return
    except NotImplementedError:  # Windows: Ctrl+C arrives as KeyboardInterrupt instead
        await anyio.sleep_forever()


def load_app(target: str) -> type[App]:
    """The App subclass named by ``MODULE:CLASS``; :class:`UsageError` saying what is wrong.

    The current directory is importable, as with ``python -m``, so
    ``warmwire serve myapp:MyApp`` finds ``./myapp.py``.
    """
    from warmwire.runner import App

    module_name, sep, class_name = target.partition(":")
    if not sep or not module_name or not class_name:
        raise UsageError(f"{target!r} is not MODULE:CLASS; write e.g. warmwire.examples.echo:Echo")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (
            module_name == exc.name or module_name.startswith(exc.name + ".")
        ):
            raise UsageError(
                f"cannot import {module_name!r} (from {target!r}): no module named {exc.name!r}; "
                "check the spelling, run from the directory that contains it, or install it"
            ) from None
        raise UsageError(
            f"importing {module_name!r} failed: {exc}; install what it needs"
        ) from None
    obj = module
    for part in class_name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(
                f"module {module_name!r} has no {class_name!r} (from {target!r}); "
                "check the class name and its capitalisation"
            ) from None
    if not (isinstance(obj, type) and issubclass(obj, App)):
        what = "a class" if isinstance(obj, type) else f"a {type(obj).__name__}"
        raise UsageError(
            f"{target!r} is {what}, not a subclass of warmwire.runner.App; "
            "name the App subclass that declares the @runner.realtime endpoints"
        )
    return obj


# --- demo --------------------------------------------------------------------------------------


def _add_demo(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="stream synthetic camera frames through an embedded runner and report latency",
        description=(
            "Start a runner with the warmwire/stylize example app on loopback, stream "
            "synthetic camera frames through it one at a time, and report round-trip "
            "latency, frames per second, payload size and cold start. Needs warmwire[demo]."
        ),
    )
    demo.add_argument(
        "--frames", type=_positive_int, default=300, help="frames to send (default %(default)s)"
    )
    demo.add_argument(
        "--size",
        type=_frame_size,
        default=(640, 480),
        metavar="WxH",
        help="frame size (default 640x480)",
    )
    demo.add_argument(
        "--codec",
        default="msgpack",
        help="msgpack, cbor, json, or a plugin's (default %(default)s)",
    )
    demo.add_argument(
        "--effect", default="posterize", help="stylize effect to apply (default %(default)s)"
    )
    _add_backend(demo)
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    try:
        from rich.console import Console

        from warmwire.demo import run_demo
    except ImportError as exc:
        _error("demo", f"{exc}; the demo needs the extra: pip install 'warmwire[demo]'")
        return EXIT_USAGE
    run_demo(
        args.frames, args.size, args.codec, Console(), effect=args.effect, backend=args.backend
    )
    return EXIT_OK


# --- shared ------------------------------------------------------------------------------------


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default="asyncio",
        choices=["asyncio", "trio"],
        help="event loop (default %(default)s; trio needs the trio package)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


MAX_SIDE = 4096


def _frame_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        size = (0, 0)
    if not sep or not all(16 <= side <= MAX_SIDE for side in size):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not WIDTHxHEIGHT with sides from 16 to {MAX_SIDE}, e.g. 640x480"
        )
    return size


def _error(command: str, message: str) -> None:
    print(f"warmwire {command}: error: {message}", file=sys.stderr)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("warmwire")
    except PackageNotFoundError:
        return "unknown"


COMMANDS: list[Callable[[Any], None]] = [_add_serve, _add_demo]
"""Each adds one subcommand to the ``warmwire`` parser; later commands append here."""


if __name__ == "__main__":
    raise SystemExit(main())
