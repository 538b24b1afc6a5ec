"""Drive an Autobahn fuzzing server with warmwire's client: the client half of ``make conformance``.

The fuzzing server (kosoku's ``fuzzingserver`` mode, or Autobahn's own) plays
one test case per connection; the client under test dials it, echoes every
message back unchanged until the server closes, then asks for the next case::

    GET /getCaseCount                       -> one text message: the number of cases
    GET /runCase?case=N&agent=AGENT         -> case N: echo every message until closed
    GET /updateReports?agent=AGENT          -> the run is over

Every connection goes through warmwire's :class:`~warmwire.ConnectionBuilder`
with the identity codec (payloads as sent, text as text and binary as binary)
and a ``raw_path`` (the fuzzing server's paths are not fal endpoint paths)::

    python conformance/client_driver.py ws://127.0.0.1:9001 [--agent warmwire] [--sync]

``--sync`` uses the blocking client (plain sockets) instead of the async one
(anyio on asyncio).  Exits 0 once every case has been played; what passed is
the fuzzing server's verdict, not the driver's.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from typing import Any

import anyio

from warmwire import ConnectionBuilder
from warmwire.auth.strategies import NoAuth
from warmwire.codecs import IdentityCodec
from warmwire.core.errors import ConnectionClosedError, ProtocolError

APP = "warmwire/conformance"
"""Only names the connection (token strategies see it); the raw path is what is dialled."""

MAX_MESSAGE_SIZE = 16 * 1024 * 1024
"""Section 9 sends messages of up to 16 MiB."""


def builder(url: str, raw_path: str) -> ConnectionBuilder:
    return ConnectionBuilder(
        app=APP,
        url=url,
        codec=IdentityCodec(),
        auth=NoAuth(),
        raw_path=raw_path,
        max_message_size=MAX_MESSAGE_SIZE,
    )


def case_path(case: int, agent: str) -> str:
    return "/runCase?" + urllib.parse.urlencode({"case": case, "agent": agent})


def reports_path(agent: str) -> str:
    return "/updateReports?" + urllib.parse.urlencode({"agent": agent})


def parse_count(message: Any) -> int:
    if not isinstance(message, str) or not message.strip().isdigit():
        raise SystemExit(f"client_driver: /getCaseCount answered {message!r}, not a number")
    return int(message)


# -- async client -----------------------------------------------------------------------------


async def case_count_async(url: str) -> int:
    async with builder(url, "/getCaseCount").connect_async() as conn:
        return parse_count(await conn.recv())


async def echo_async(url: str, raw_path: str) -> None:
    """Echo every message on one connection until the server (or a protocol error) ends it."""
    async with builder(url, raw_path).connect_async() as conn:
        while True:
            try:
                message = await conn.recv()
            except ConnectionClosedError:
                return  # failed by us (1002, 1007...) or by the server: the case is over
            if message is None:
                return  # closed normally
            try:
                await conn.send(message)
            except (ConnectionClosedError, ProtocolError):
                return  # the connection ended (or is closing) first: no more data frames


async def run_async(url: str, agent: str) -> int:
    count = await case_count_async(url)
    for case in range(1, count + 1):
        await echo_async(url, case_path(case, agent))
    async with builder(url, reports_path(agent)).connect_async():
        pass
    return count


# -- blocking client --------------------------------------------------------------------------


def case_count_sync(url: str) -> int:
    with builder(url, "/getCaseCount").connect() as conn:
        return parse_count(conn.recv())


def echo_sync(url: str, raw_path: str) -> None:
    with builder(url, raw_path).connect() as conn:
        while True:
            try:
                message = conn.recv()
            except ConnectionClosedError:
                return
            if message is None:
                return
            try:
                conn.send(message)
            except (ConnectionClosedError, ProtocolError):
                return


def run_sync(url: str, agent: str) -> int:
    count = case_count_sync(url)
    for case in range(1, count + 1):
        echo_sync(url, case_path(case, agent))
    with builder(url, reports_path(agent)).connect():
        pass
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the fuzzing server, e.g. ws://127.0.0.1:9001")
    parser.add_argument("--agent", default="warmwire", help="agent name in the server's report")
    parser.add_argument("--sync", action="store_true", help="use the blocking client")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.sync:
        count = run_sync(args.url, args.agent)
    else:
        count = anyio.run(run_async, args.url, args.agent)
    elapsed = time.perf_counter() - started
    print(f"client_driver: played {count} cases in {elapsed:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
