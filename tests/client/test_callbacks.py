"""The callback-style client (``connect`` / ``connect_async``) against a real runner."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

import warmwire
from helpers.callbacks import CallbackEvents
from helpers.ports import free_port
from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import TokenIssuer, generate_signing_key, load_signing_key


class Recorder(runner.App, app_id="test/recorder"):
    """Echoes inputs and remembers every one it received (what crossed the wire)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @runner.realtime("/realtime", buffering=60)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(inp)
        if inp.get("fail"):
            raise ValueError("asked to fail")
        return inp


@pytest.mark.anyio
async def test_burst_collapses_to_leading_and_trailing_edge() -> None:
    app = Recorder()
    got = CallbackEvents()
    async with runner.serve(app, insecure_no_auth=True) as server:
        async with warmwire.connect_async(
            "test/recorder", url=server.url, on_result=got.on_result, on_error=got.on_error
        ) as conn:
            with anyio.fail_after(10):
                for n in range(100):  # a burst well inside the 128 ms throttle window
                    conn.send({"n": n})
                    await anyio.lowlevel.checkpoint()  # let the sender task run, as a UI loop would
                while not got.results or got.results[-1] != {"n": 99}:
                    await got.await_(results=len(got.results) + 1)
    # The first input leaves at once, the rest collapse into the trailing one.
    assert [inp["n"] for inp in app.seen] == [0, 99]
    assert got.results == [{"n": 0}, {"n": 99}]
    assert got.errors == []


@pytest.mark.anyio
async def test_no_throttle_sends_everything_and_errors_go_to_on_error() -> None:
    got = CallbackEvents()
    async with runner.serve(Recorder(), insecure_no_auth=True) as server:
        async with warmwire.connect_async(
            "test/recorder",
            url=server.url,
            on_result=got.on_result,
            on_error=got.on_error,
            throttle_interval=0,
        ) as conn:
            conn.send({"n": 1, "request_id": "a"})
            await got.await_(results=1)
            conn.send({"fail": True})
            await got.await_(errors=1)
            conn.send({"n": 2})
            await got.await_(results=2)
    assert got.results == [{"n": 1, "request_id": "a"}, {"n": 2}]
    assert [e.error for e in got.errors] == ["INTERNAL_ERROR"]


@pytest.mark.anyio
async def test_async_callbacks_and_no_task_left_behind() -> None:
    seen: list[Any] = []

    async def on_result(result: Any) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(result)

    async with runner.serve(Recorder(), insecure_no_auth=True) as server:
        async with warmwire.connect_async(
            "test/recorder", url=server.url, on_result=on_result, throttle_interval=0
        ) as conn:
            conn.send({"n": 1})
            with anyio.fail_after(10):
                while not seen:
                    await anyio.wait_all_tasks_blocked()
            client_tasks = [t.name for t in anyio.get_running_tasks() if "client" in t.name]
            assert client_tasks  # the sender and the reader are there while open
            conn.close()
            conn.close()  # idempotent
        assert not [t.name for t in anyio.get_running_tasks() if "warmwire.client" in t.name]
    assert seen == [{"n": 1}]


@pytest.mark.anyio
async def test_reconnects_after_runner_restart() -> None:
    got = CallbackEvents()
    port = free_port()
    async with warmwire.connect_async(
        "test/recorder",
        url=f"ws://127.0.0.1:{port}",
        on_result=got.on_result,
        on_error=got.on_error,
        throttle_interval=0,
    ) as conn:
        async with runner.serve(Recorder(), insecure_no_auth=True, port=port):
            conn.send({"n": 1})
            await got.await_(results=1)
        # The first runner drained: the session closed with 1001 ("reconnect elsewhere").
        await got.await_(errors=1)
        assert isinstance(got.errors[0], warmwire.ConnectionClosedError)
        assert got.errors[0].code == 1001
        async with runner.serve(Recorder(), insecure_no_auth=True, port=port):
            conn.send({"n": 2})
            await got.await_(results=2)
            assert conn.connections == 2
    assert got.results == [{"n": 1}, {"n": 2}]


def test_blocking_flavour_token_refresh_and_no_thread_left() -> None:
    signing = load_signing_key(generate_signing_key())
    auth = RunnerAuth.create(keys=KeyStore([ApiKey("dev", "s")]), signing_key=signing)
    issuer = TokenIssuer(signing)
    calls: list[str] = []

    def provider(path: str) -> str:
        calls.append(path)
        return issuer.mint("dev", ["test/recorder"], 60)

    got = CallbackEvents()
    threads_before = set(threading.enumerate())

    async def scenario() -> None:
        async with runner.serve(Recorder(), auth=auth) as server:

            def client() -> None:
                with warmwire.connect(
                    "test/recorder",
                    url=server.url,
                    on_result=got.on_result,
                    on_error=got.on_error,
                    token_provider=provider,
                    token_expiration=60,
                    throttle_interval=0,
                ) as conn:
                    conn.send({"n": 1})
                    got.wait(results=1)
                    conn.send({"n": 2})
                    got.wait(results=2)

            await anyio.to_thread.run_sync(client)

    anyio.run(scenario)
    assert got.results == [{"n": 1}, {"n": 2}]
    assert calls == ["test/recorder/realtime"]  # one connection, one token
    # anyio stops its idle worker thread (the one client() ran in) as its loop ends,
    # without joining it: give every new thread a bounded chance to end.  One the
    # callback client left running (its portal's loop) never ends and fails this.
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(timeout=10)
    left = set(threading.enumerate()) - threads_before
    assert not left, [thread.name for thread in left]


def test_refused_token_triggers_a_fresh_one_on_reconnect() -> None:
    signing = load_signing_key(generate_signing_key())
    auth = RunnerAuth.create(keys=KeyStore([ApiKey("dev", "s")]), signing_key=signing)
    issuer = TokenIssuer(signing)
    tokens = [issuer.mint("dev", ["someone-else"], 60), issuer.mint("dev", ["test/recorder"], 60)]
    got = CallbackEvents()

    async def scenario() -> None:
        async with runner.serve(Recorder(), auth=auth) as server:

            def client() -> None:
                with warmwire.connect(
                    "test/recorder",
                    url=server.url,
                    on_result=got.on_result,
                    on_error=got.on_error,
                    token_provider=lambda path: tokens.pop(0),
                    token_expiration=60,
                    throttle_interval=0,
                ) as conn:
                    conn.send({"n": 1})
                    got.wait(errors=1)
                    conn.send({"n": 2})
                    while {"n": 2} not in got.results:
                        got.wait(results=len(got.results) + 1)

            await anyio.to_thread.run_sync(client)

    anyio.run(scenario)
    assert [e.error for e in got.errors] == ["Unauthorized"]  # one event, one callback
    # The first input either reached the refused connection (its answer is the
    # Unauthorized error) or found it already closed and was resent with the
    # fresh token; it is never silently lost.
    assert got.results in ([{"n": 2}], [{"n": 1}, {"n": 2}])
    assert tokens == []
