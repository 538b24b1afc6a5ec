"""The warmwire runner for the benchmark: ``python -m bench.servers.warmwire_runner``.

Serves ``bench/echo`` with two endpoints: ``/async`` (handler on the loop, like
the peers' echo servers) and ``/realtime`` (sync handler in a worker thread,
like a model).  Same ``runner.serve`` as ``warmwire serve``; no session
timeout, so connections idle between interleaved rounds are not closed.
``--profile PATH`` samples the runner's main thread with pyinstrument and
writes ``PATH.txt``, ``PATH.html`` and ``PATH.json`` (self time by function) at exit.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

import anyio
import attrs

from warmwire import runner


class BenchEcho(runner.App, app_id="bench/echo"):
    @runner.realtime("/realtime", buffering=60, session_timeout=None)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp

    @runner.realtime("/async", buffering=60, session_timeout=None)
    async def run_async(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


def _auth(args: argparse.Namespace) -> Any:
    if not args.signing_key:
        return None
    from warmwire.auth.keys import load_keys
    from warmwire.auth.runner_auth import RunnerAuth

    return RunnerAuth.from_files(keys=load_keys(args.key_file), signing_key=args.signing_key)


def _as_warmwire_serve(worker_loop: bool | None) -> dict[str, Any]:
    """The settings ``warmwire serve`` adds (freeze_gc), and ``worker_loop`` when asked
    for, where this warmwire has them: older checkouts are measured with this server too
    (``python -m bench.instructions --tree``)."""
    from warmwire.runner.config import RunnerConfig

    fields = attrs.fields_dict(RunnerConfig)
    settings: dict[str, Any] = {"freeze_gc": True} if "freeze_gc" in fields else {}
    if worker_loop is not None and "worker_loop" in fields:
        settings["worker_loop"] = worker_loop
    return settings


async def _serve(args: argparse.Namespace) -> None:
    auth = _auth(args)
    async with runner.serve(
        BenchEcho,
        host="127.0.0.1",
        port=args.port,
        auth=auth,
        insecure_no_auth=auth is None,
        max_message_size=64 * 1024 * 1024,
        ping_interval=None if args.no_keepalive else 20.0,
        **_as_warmwire_serve(args.worker_loop),
    ) as server:
        print(f"ready {server.url}", flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--signing-key")
    parser.add_argument("--key-file")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--profile", metavar="PATH")
    parser.add_argument(
        "--no-keepalive",
        action="store_true",
        help="no pings: the interleaved phases leave a client unread for longer than the "
        "ping timeout while the other contenders run, and warmwire's client answers pings "
        "only while it reads",
    )
    parser.add_argument(
        "--worker-loop",
        action=argparse.BooleanOptionalAction,
        help="serve /realtime's sessions whole on the worker thread's loop, or hop each "
        "call to it (``worker_loop``; default: the checkout's own default)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.profile:
        from bench.profiling import profiled

        with profiled(args.profile):
            anyio.run(_serve, args, backend=args.backend)
    else:
        anyio.run(_serve, args, backend=args.backend)


if __name__ == "__main__":
    main()
