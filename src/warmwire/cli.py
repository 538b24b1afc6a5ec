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
import contextlib
import errno
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE
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
    args.argv = list(sys.argv[1:] if argv is None else argv)
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
    serve.add_argument(
        "--max-message-size",
        type=_positive_int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        metavar="BYTES",
        help="larger messages close the session with 1009 (default %(default)s: 16 MiB)",
    )
    serve.add_argument(
        "--ping-interval",
        type=_non_negative_float,
        default=20.0,
        metavar="SECONDS",
        help="keepalive ping period; 0 disables keepalive pings (default %(default)s)",
    )
    serve.add_argument(
        "--no-freeze-gc",
        dest="freeze_gc",
        action="store_false",
        help="let the garbage collector keep scanning what setup() left alive (by default "
        "it is frozen after setup(): full collections then pause the sessions far less)",
    )
    serve.add_argument(
        "--no-worker-loop",
        dest="worker_loop",
        action="store_false",
        help="hop each call of a blocking handler to a worker thread and back (by default "
        "its sessions are served whole on the worker thread's own event loop, no hop per "
        "message, but while a call runs the other sessions on that thread are not read and "
        "their clients' pings wait: for calls of many seconds, turn it off)",
    )
    serve.add_argument(
        "--max-refusal-rate",
        type=_rate,
        default=100.0,
        metavar="PER_SECOND",
        help="token refusals answered per second past a short burst; a flood of bad tokens "
        "waits its turn instead of slowing the sessions; 0 disables the pace "
        "(default %(default)s)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes share the port (SO_REUSEPORT), each with its own setup(); "
        "SIGTERM drains them all (default %(default)s)",
    )
    # Set by the supervisor of --workers on each worker: INDEX:COUNT:SOCKETS_DIR.
    serve.add_argument("--as-worker", help=argparse.SUPPRESS)
    _add_auth_options(serve)
    _add_backend(serve)
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error", "critical"],
        help="runner log level, on stderr (default %(default)s)",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from warmwire.runner import supervisor

    supervisor.check_supported(args.workers, args.uds)
    if args.workers > 1:
        _configure_logging(args)
        return supervisor.run(args.argv, workers=args.workers, host=args.host, port=args.port)
    return _serve_apps(args, [load_app(target) for target in args.apps])


def _configure_logging(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # A line per request it makes (the workers' metrics gathering): not the runner's news.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _serve_apps(args: argparse.Namespace, apps: list[type[App]]) -> int:
    _configure_logging(args)
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
    from warmwire.runner.worker_group import WorkerGroup

    group = None
    if getattr(args, "as_worker", None):
        index, count, sockets = args.as_worker.split(":", 2)
        group = WorkerGroup.in_directory(sockets, int(index), int(count))
    async with runner.serve(
        *apps,
        host=args.host,
        port=args.port,
        uds=args.uds,
        insecure_no_auth=args.insecure_no_auth,
        auth=_runner_auth(args),
        max_message_size=args.max_message_size,
        ping_interval=args.ping_interval or None,
        max_refusal_rate=args.max_refusal_rate or None,
        freeze_gc=args.freeze_gc,
        worker_loop=args.worker_loop,
        reuse_port=group is not None,
        worker_group=group,
    ) as server:
        cold_start = server.cold_start or 0.0
        # Scripts and tests read this line to find the runner: keep its shape.
        print(f"warmwire runner listening on {server.url}", flush=True)
        print(f"cold start {cold_start * 1000:.1f} ms; endpoints:", flush=True)
        for path in server.runner.router.paths:
            print(f"  {server.url}{path}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        if group is None:
            await _wait_for_stop_signal()
        else:
            await _wait_for_stop_signal_or_orphaned()
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


async def _wait_for_stop_signal_or_orphaned() -> None:
    """A worker of ``--workers``: return at SIGTERM, or when its supervisor is gone (its
    standard input, a pipe from the supervisor, ends), so that no worker outlives it."""
    async with anyio.create_task_group() as tg:

        async def stop_then_cancel() -> None:
            await _wait_for_stop_signal()
            tg.cancel_scope.cancel()

        tg.start_soon(stop_then_cancel)
        await _supervisor_gone()
        logging.getLogger("warmwire.cli").warning("the supervisor is gone; stopping")
        tg.cancel_scope.cancel()


async def _supervisor_gone() -> None:
    """Return once standard input ends (the supervisor's end of the pipe has closed)."""
    from warmwire.transports.eventloop import thread_wakeup

    wake, gone = thread_wakeup()

    def watch() -> None:
        # The raw descriptor, not sys.stdin: a daemon thread blocked in a buffered
        # reader holds its lock, which the interpreter's exit then cannot take.
        while os.read(sys.stdin.fileno(), 4096):
            pass
        with contextlib.suppress(RuntimeError):  # the loop has ended: nobody waits
            wake()

    # A daemon thread of its own, not anyio's (which the interpreter joins at exit):
    # after a SIGTERM the read may still be blocked when the worker exits.
    threading.Thread(target=watch, name="warmwire-supervisor-watch", daemon=True).start()
    await gone()


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


# --- ray ---------------------------------------------------------------------------------------


def _add_ray(subparsers: Any) -> None:
    ray = subparsers.add_parser(
        "ray",
        help="serve apps on Ray Serve behind one address, scaled from zero",
        description="Serve realtime apps on Ray Serve, each at /{owner}/{alias} behind one "
        "address and scaled by its own settings (min_concurrency, keep_alive, ...), until "
        "SIGINT/SIGTERM. Starts a local Ray with Serve's HAProxy direct ingress (messages go "
        "client -> HAProxy -> replica), or joins a running cluster with --address. "
        "--print-config prints the same layout as a Serve config file (serve deploy, "
        "KubeRay RayService) instead.",
    )
    ray.add_argument("apps", nargs="+", metavar="MODULE:CLASS", help="an App subclass to serve")
    ray.add_argument("--address", help="join this Ray cluster (default: start a local one)")
    ray.add_argument(
        "--host", default="127.0.0.1", help="interface Serve listens on (default %(default)s)"
    )
    ray.add_argument(
        "--port", type=int, default=8000, help="Serve's HTTP port (default %(default)s)"
    )
    ray.add_argument(
        "--proxy",
        choices=["auto", "haproxy", "python"],
        default="auto",
        help="haproxy: Serve's HAProxy direct ingress (the shortest path); python: Serve's "
        "Python proxy on the message path (it holds a session until a replica has a free "
        "slot); auto: haproxy unless an app caps its sessions per runner (max_multiplexing), "
        "which HAProxy cannot respect. Applies to the Ray this command starts "
        "(default %(default)s)",
    )
    ray.add_argument(
        "--hard-stop-after",
        type=_positive_int,
        default=None,
        metavar="SECONDS",
        help="how long an HAProxy process replaced by a reload (any replica added or removed) "
        "keeps its open sessions (default: a day; Serve's own default cuts them at 120 s)",
    )
    ray.add_argument("--num-cpus", type=_positive_int, help="CPUs of the local Ray")
    group = ray.add_argument_group("authentication")
    group.add_argument(
        "--verify-key", metavar="PEM", help="Ed25519 public key the replicas verify tokens with"
    )
    group.add_argument("--jwks-url", metavar="URL", help="fetch verify keys from a JWKS")
    group.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept sessions without credentials (--proxy python on a loopback --host only)",
    )
    ray.add_argument(
        "--print-config",
        action="store_true",
        help="print the Serve config file (YAML) for these apps and exit",
    )
    ray.set_defaults(handler=_ray)


def _ray(args: argparse.Namespace) -> int:
    from warmwire.runner.config import RunnerConfig, check_auth_configured

    apps = [load_app(target) for target in args.apps]
    builder_args: dict[str, Any] = {}
    if args.verify_key:
        builder_args["verify_key"] = os.path.abspath(args.verify_key)
    if args.jwks_url:
        builder_args["jwks_url"] = args.jwks_url
    if args.insecure_no_auth:
        builder_args["insecure_no_auth"] = True
    try:
        from warmwire.integrations.ray.builder import serve_config
        from warmwire.integrations.ray.local import HARD_STOP_AFTER_S, choose_proxy, serving
    except ImportError as exc:
        raise UsageError(str(exc)) from None  # names the extra that installs Ray Serve
    if args.print_config:
        import yaml  # type: ignore[import-untyped]  # PyYAML comes with Ray

        config = serve_config(apps, host=args.host, port=args.port, args=builder_args)
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return EXIT_OK
    if not (args.verify_key or args.jwks_url):
        if not args.insecure_no_auth:
            raise UsageError(
                "no authentication is configured for the replicas: give them the token "
                "service's public key with --verify-key PEM (create the pair with 'warmwire "
                "keys generate') or --jwks-url URL; for local experiments only, "
                "--insecure-no-auth --proxy python"
            )
        check_auth_configured(RunnerConfig(insecure_no_auth=True), args.host)
        if args.proxy != "python" and args.address is None:
            raise UsageError(
                "--insecure-no-auth serves loopback only, and in HAProxy mode Serve binds each "
                "replica on all interfaces: pass --verify-key (or --jwks-url), or --proxy python"
            )
    haproxy, note = choose_proxy(apps, args.proxy)
    if note and args.address is None:
        print(f"note: {note}", file=sys.stderr, flush=True)
    with serving(
        apps,
        builder_args=builder_args,
        address=args.address,
        host=args.host,
        port=args.port,
        haproxy=haproxy,
        hard_stop_after_s=args.hard_stop_after or HARD_STOP_AFTER_S,
        num_cpus=args.num_cpus,
    ) as url:
        # Scripts and tests read this line to find Serve: keep its shape.
        print(f"warmwire on Ray Serve listening on {url}", flush=True)
        for app_cls in apps:
            for path in sorted(app_cls.endpoints):
                print(f"  {url}/{app_cls.app_id}{path}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        _wait_for_signal_blocking()
        print("stopping: deleting the apps (replicas drain and run teardown())", flush=True)
    return EXIT_OK


def _wait_for_signal_blocking() -> None:
    """Block until SIGINT or SIGTERM (handlers set after ``ray.init``, which sets its own)."""
    import threading

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


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
    web = demo.add_argument_group(
        "camera page",
        "--web instead serves a page on loopback that streams your camera (or a synthetic "
        "scene) through the warmwire/faces app, a real face-detection model, with the "
        "official @fal-ai/client. Needs warmwire[web] and the page's JavaScript bundle.",
    )
    web.add_argument("--web", action="store_true", help="serve the camera page and print its URL")
    web.add_argument(
        "--port",
        type=int,
        default=8765,
        help="the page's port on 127.0.0.1; 0 picks a free one (default %(default)s)",
    )
    _add_backend(demo)
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    if args.web:
        return _demo_web(args)
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


def _demo_web(args: argparse.Namespace) -> int:
    if args.backend != "asyncio":
        raise UsageError("--web runs on asyncio (its page server is uvicorn): drop --backend")
    try:
        import warmwire.web  # noqa: F401  (fails early, without a traceback, if an extra is missing)
    except ImportError as exc:
        _error(
            "demo",
            f"{exc}; the camera page needs the extra: pip install 'warmwire[web]' "
            "(from a clone: make web)",
        )
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        anyio.run(_web_until_signal, args.port, backend="asyncio")
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = "; another process uses that port: pick another with --port, or --port 0"
        _error("demo", f"cannot listen on 127.0.0.1:{args.port}: {exc}{hint}")
        return EXIT_FAILURE
    return EXIT_OK


async def _web_until_signal(port: int) -> None:
    from warmwire.web import check_ready, serve_web_demo

    check_ready()
    print("Loading the warmwire/faces model (MediaPipe face detection)…", flush=True)
    async with serve_web_demo(port) as demo:
        print(
            f"runner listening on {demo.runner.url} "
            f"(cold start {demo.cold_start * 1000:.1f} ms: setup() loaded the model)",
            flush=True,
        )
        # Scripts and tests read this line to find the page: keep its shape.
        print(f"warmwire camera page on {demo.url}", flush=True)
        print(
            "Open it in a browser: it asks for the camera, and shows a synthetic scene "
            "without one. Press Ctrl+C to stop.",
            flush=True,
        )
        await _wait_for_stop_signal()
        print("stopping: closing sessions and running teardown()", flush=True)


# --- shared ------------------------------------------------------------------------------------


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default="asyncio",
        choices=["asyncio", "trio"],
        help="event loop (default %(default)s; trio needs the trio package)",
    )


def _finite_non_negative(what: str) -> Callable[[str], float]:
    """An argparse type: a finite number >= 0, ``what`` naming it in the error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value >= 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
        return value

    return parse


_non_negative_float = _finite_non_negative("a number of seconds")
_rate = _finite_non_negative("a number per second")


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


# --- auth: keys, token-server, token ------------------------------------------------------------


def _add_auth_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("authentication")
    group.add_argument(
        "--signing-key",
        metavar="PEM",
        help="Ed25519 private key: mint tokens (POST /tokens/) and verify them",
    )
    group.add_argument(
        "--verify-key", metavar="PEM", help="Ed25519 public key: verify tokens minted elsewhere"
    )
    group.add_argument(
        "--jwks-url",
        metavar="URL",
        help="fetch verify keys from a token server's JWKS (at start, on an unknown kid, "
        "and when older than --jwks-max-age)",
    )
    group.add_argument(
        "--jwks-max-age",
        type=_positive_float,
        default=600.0,
        metavar="SECONDS",
        help="fetch the JWKS again when the copy held is this old (default 600)",
    )
    group.add_argument(
        "--jwks-min-interval",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="at most one JWKS fetch for unknown kids per this many seconds (default 30)",
    )
    _add_key_file_option(group)
    group.add_argument(
        "--leeway", type=float, default=5.0, help="clock leeway for token times, in seconds"
    )


def _add_key_file_option(group: Any) -> None:
    group.add_argument(
        "--key-file",
        metavar="PATH",
        help="API keys, one a line: 'key_id:key_secret [apps=owner/*,...] "
        "[max_expiration=SECONDS] [mint_rate=N]' (also $WARMWIRE_KEYS, ';'-separated)",
    )
    group.add_argument(
        "--mint-rate",
        type=_positive_int,
        default=600,
        metavar="N",
        help="tokens a key may mint per minute unless its line says mint_rate= (default 600)",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _runner_auth(args: argparse.Namespace) -> Any:
    """The runner's auth from the CLI options; ``None`` when none is given."""
    from warmwire.auth.keys import load_keys
    from warmwire.auth.runner_auth import RunnerAuth

    if args.insecure_no_auth:
        return None
    keys = load_keys(args.key_file)
    if not (args.signing_key or args.verify_key or args.jwks_url or len(keys)):
        return None
    return RunnerAuth.from_files(
        keys=keys,
        signing_key=args.signing_key,
        verify_key=args.verify_key,
        jwks_url=args.jwks_url,
        leeway=args.leeway,
        jwks_min_interval=args.jwks_min_interval,
        jwks_max_age=args.jwks_max_age,
        mint_rate=args.mint_rate,
    )


def _add_keys(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="create and rotate signing keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate", help="write a new Ed25519 signing key (PEM) and its public key (.pub)"
    )
    generate.add_argument("path", help="where to write the private key, e.g. signing.pem")
    generate.set_defaults(handler=_keys_generate)
    rotate = actions.add_parser(
        "rotate",
        help="one rotation step: stage the next signing key (PATH.next, published in the "
        "JWKS), or, when staged, sign with it and keep the old one as PATH.previous.pub",
    )
    rotate.add_argument("path", help="the signing key the token server uses (--signing-key)")
    rotate.set_defaults(handler=_keys_rotate)
    retire = actions.add_parser(
        "retire", help="drop the retired key (PATH.previous.pub) once its tokens have expired"
    )
    retire.add_argument("path", help="the signing key the token server uses (--signing-key)")
    retire.set_defaults(handler=_keys_retire)


def _keys_rotate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from warmwire.auth.rotation import rotate

    print(rotate(Path(args.path)))
    return EXIT_OK


def _keys_retire(args: argparse.Namespace) -> int:
    from pathlib import Path

    from warmwire.auth.rotation import retire

    print(retire(Path(args.path)))
    return EXIT_OK


def _keys_generate(args: argparse.Namespace) -> int:
    from warmwire.auth.tokens import generate_signing_key, load_signing_key, public_pem

    pem = generate_signing_key()
    path = args.path
    if os.path.exists(path):
        raise UsageError(f"{path} exists; choose another path or remove it first")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    with open(f"{path}.pub", "wb") as out:
        out.write(public_pem(load_signing_key(pem)))
    print(f"wrote {path} (keep it secret) and {path}.pub (give it to runners: --verify-key)")
    return EXIT_OK


def _add_token_server(subparsers: Any) -> None:
    server = subparsers.add_parser(
        "token-server",
        help="run only the token service (POST /tokens/, JWKS) for a fleet of runners",
    )
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=8081)
    server.add_argument(
        "--signing-key",
        metavar="PEM",
        required=True,
        help="signs tokens; PEM.next and PEM.previous.pub ('warmwire keys rotate') are "
        "published in the JWKS too",
    )
    _add_key_file_option(server)
    _add_backend(server)
    server.set_defaults(handler=_token_server, verify_key=None, jwks_url=None, leeway=5.0)
    server.set_defaults(jwks_max_age=600.0, jwks_min_interval=30.0)
    server.set_defaults(insecure_no_auth=False, uds=None, log_level="info")
    server.set_defaults(
        max_message_size=DEFAULT_MAX_MESSAGE_SIZE, ping_interval=20.0, freeze_gc=True
    )
    server.set_defaults(worker_loop=True)
    server.set_defaults(max_refusal_rate=100.0)


def _token_server(args: argparse.Namespace) -> int:
    return _serve_apps(args, [])


def _add_token(subparsers: Any) -> None:
    token = subparsers.add_parser("token", help="mint a token at a runner's token service")
    token.add_argument("app", help="the app the token is for, e.g. warmwire/echo")
    token.add_argument("--url", help="the runner or token server (default $WARMWIRE_URL)")
    token.add_argument("--key", help="API key id:secret (default $WARMWIRE_KEY)")
    token.add_argument("--expiration", type=int, default=120, help="seconds (10..3600)")
    token.set_defaults(handler=_token)


def _token(args: argparse.Namespace) -> int:
    from warmwire.auth.keys import KEY_ENV, parse_key
    from warmwire.auth.strategies import MintedToken
    from warmwire.core.endpoint import parse_app_id, parse_runner_url

    url = args.url or os.environ.get("WARMWIRE_URL")
    key = args.key or os.environ.get(KEY_ENV)
    if not url or not key:
        raise UsageError("give --url and --key (or $WARMWIRE_URL and $WARMWIRE_KEY)")
    strategy = MintedToken(parse_key(key), args.expiration)
    creds = strategy.credentials_sync(parse_app_id(args.app), parse_runner_url(url))
    print(creds.token)
    return EXIT_OK


COMMANDS: list[Callable[[Any], None]] = [
    _add_serve,
    _add_demo,
    _add_keys,
    _add_token_server,
    _add_token,
    _add_ray,
]
"""Each adds one subcommand to the ``warmwire`` parser; later commands append here."""


if __name__ == "__main__":
    raise SystemExit(main())
