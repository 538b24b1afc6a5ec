"""A token refused in the same packet as the 101, through the callback client, every time.

The runner writes its 101 and, a moment later, the ``Unauthorized`` message
and the 1008 close frame.  Whether the client reads them in one read or two is
a race; in one read the connection is already closed when ``open`` returns, so
the first ``send()`` raises :class:`UnauthorizedError` instead of succeeding.
The callback client once let that error escape its task group: the
``with connect(...)`` block died with it instead of reporting it to
``on_error`` once and resending the input on a fresh token.

A proxy on real loopback sockets, in front of a real runner with real tokens,
takes the race away: on the first connection it holds the runner's bytes until
the close frame has come, then writes them to the client in one write.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest

import warmwire
from helpers.callbacks import CallbackEvents
from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import TokenIssuer, generate_signing_key, load_signing_key

_CLOSE_FRAME = 0x88  # FIN + close opcode, unmasked: how a runner's close frame starts


class Recorder(runner.App, app_id="test/recorder"):
    @runner.realtime("/realtime", buffering=60)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


class _RefusalInOnePacket:
    """A TCP proxy: connection 1's answer (101, refusal, close) reaches the client in one write.

    Later connections are passed through as they come.  ``coalesced`` counts
    the one-write answers, so the test can show the race really was taken away.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # closing a socket does not wake accept()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self.coalesced = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> _RefusalInOnePacket:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=10)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self._upstream)
            self.connections += 1
            self._spawn(self._pipe, client, upstream, False)
            self._spawn(self._pipe, upstream, client, self.connections == 1)

    def _pipe(self, source: socket.socket, sink: socket.socket, hold_until_close: bool) -> None:
        held = b""
        try:
            while chunk := source.recv(65536):
                if not hold_until_close:
                    sink.sendall(chunk)
                    continue
                held += chunk
                head_end = held.find(b"\r\n\r\n")
                if head_end >= 0 and _CLOSE_FRAME in held[head_end + 4 :]:
                    sink.sendall(held)  # 101 + Unauthorized + close frame: one write
                    self.coalesced += 1
                    hold_until_close = False
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


@pytest.fixture
def auth_and_tokens() -> tuple[RunnerAuth, list[str]]:
    signing = load_signing_key(generate_signing_key())
    auth = RunnerAuth.create(keys=KeyStore([ApiKey("dev", "s")]), signing_key=signing)
    issuer = TokenIssuer(signing)
    # The first token is for another app: refused.  The second is good.
    return auth, [
        issuer.mint("dev", ["someone-else"], 60),
        issuer.mint("dev", ["test/recorder"], 60),
    ]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_blocking_callbacks_report_the_refusal_once_and_resend(
    auth_and_tokens: tuple[RunnerAuth, list[str]],
) -> None:
    auth, tokens = auth_and_tokens
    got = CallbackEvents()

    async def scenario() -> None:
        async with runner.serve(Recorder(), auth=auth) as server:
            with _RefusalInOnePacket(("127.0.0.1", _port(server.url))) as proxy:

                def client() -> None:
                    with warmwire.connect(
                        "test/recorder",
                        url=proxy.url,
                        on_result=got.on_result,
                        on_error=got.on_error,
                        token_provider=lambda path: tokens.pop(0),
                        token_expiration=60,
                        throttle_interval=0,
                    ) as conn:
                        conn.send({"n": 1})
                        got.wait(results=1)
                        conn.send({"n": 2})
                        got.wait(results=2)
                        assert conn.connections == 2

                await anyio.to_thread.run_sync(client)
                assert proxy.coalesced == 1

    anyio.run(scenario)
    assert [e.error for e in got.errors] == ["Unauthorized"]  # one event, one callback
    assert isinstance(got.errors[0], warmwire.UnauthorizedError)
    # The input that met the refused connection was sent again on the fresh token.
    assert got.results == [{"n": 1}, {"n": 2}]
    assert tokens == []


@pytest.mark.anyio
async def test_async_callbacks_report_the_refusal_once_and_resend(
    auth_and_tokens: tuple[RunnerAuth, list[str]],
) -> None:
    auth, tokens = auth_and_tokens
    got = CallbackEvents()
    async with runner.serve(Recorder(), auth=auth) as server:
        with _RefusalInOnePacket(("127.0.0.1", _port(server.url))) as proxy:
            async with warmwire.connect_async(
                "test/recorder",
                url=proxy.url,
                on_result=got.on_result,
                on_error=got.on_error,
                token_provider=lambda path: tokens.pop(0),
                token_expiration=60,
                throttle_interval=0,
            ) as conn:
                conn.send({"n": 1})
                await got.await_(results=1)
                assert conn.connections == 2
            assert proxy.coalesced == 1
    assert [e.error for e in got.errors] == ["Unauthorized"]
    assert got.results == [{"n": 1}]
    assert tokens == []
