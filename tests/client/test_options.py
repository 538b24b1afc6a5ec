"""One client options set: every entry point takes the same keywords, checked the same way.

End to end, each entry point gets the same options against a real runner that
requires credentials; before any I/O, fal's queue parameters are refused with
what to use instead, and typos with a suggestion.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import fal_client
import pytest

import warmwire
from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.strategies import CredentialOptions
from warmwire.auth.tokens import generate_signing_key, load_signing_key
from warmwire.client import options as options_module
from warmwire.client.options import QUEUE_ONLY, ClientOptions
from warmwire.examples.echo import Echo

APP = "warmwire/echo"
TIMEOUT = 10.0
OPTION_NAMES = ClientOptions.__optional_keys__ | ClientOptions.__required_keys__


def ignore(result: Any) -> None:
    pass


# Every entry point, called with ``**options`` up to the point where it must have
# checked them (before any I/O).
def via_realtime(**options: Any) -> None:
    warmwire.realtime(APP, **options)


def via_realtime_async(**options: Any) -> None:
    warmwire.realtime_async(APP, **options)


def via_connect(**options: Any) -> None:
    warmwire.connect(APP, on_result=ignore, **options).close()


def via_connect_async(**options: Any) -> None:
    async def enter() -> None:
        async with warmwire.connect_async(APP, on_result=ignore, **options):
            pass

    anyio.run(enter)


def via_builder(**options: Any) -> None:
    warmwire.ConnectionBuilder(APP, **options)


def via_with_options(**options: Any) -> None:
    warmwire.ConnectionBuilder(APP).with_options(**options)


ENTRY_POINTS: list[Callable[..., None]] = [
    via_realtime,
    via_realtime_async,
    via_connect,
    via_connect_async,
    via_builder,
    via_with_options,
]
ENTRY_IDS = [entry.__name__.removeprefix("via_") for entry in ENTRY_POINTS]


# --- fal's queue parameters ---------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=ENTRY_IDS)
@pytest.mark.parametrize("name", sorted(QUEUE_ONLY))
def test_queue_parameters_say_there_is_no_queue_and_what_to_use(
    entry: Callable[..., None], name: str
) -> None:
    with pytest.raises(warmwire.ConfigurationError) as refused:
        entry(url="ws://127.0.0.1:1", **{name: 1})
    message = str(refused.value)
    assert message.startswith(f"{name}= is an option of fal's queue API")
    assert "a realtime connection has no queue" in message
    assert QUEUE_ONLY[name] in message


@pytest.mark.parametrize(
    ("name", "instead"),
    [
        ("start_timeout", "open_timeout="),
        ("client_timeout", "recv(timeout=)"),
        ("priority", "in the order they are sent"),
        ("webhook_url", "results come back on the connection itself"),
        ("hint", "the runner at url="),
        ("with_logs", "no queue updates to follow"),
        ("on_enqueue", "no queue updates to follow"),
        ("on_queue_update", "no queue updates to follow"),
        ("interval", "no queue updates to follow"),
        ("retry", "send the input again"),
        ("retries", "send the input again"),
        ("max_retries", "send the input again"),
    ],
)
def test_each_queue_parameter_names_its_replacement(name: str, instead: str) -> None:
    with pytest.raises(warmwire.ConfigurationError, match=f"^{name}=") as refused:
        warmwire.realtime(APP, url="ws://127.0.0.1:1", **{name: 1})
    assert instead in str(refused.value)


def test_every_queue_parameter_of_fal_client_is_known() -> None:
    """fal-client's queue methods take no parameter warmwire would call a typo."""
    not_queue_only = {
        "self",
        "application",  # warmwire's ``app``
        "arguments",  # what send() carries
        "path",  # a client option here too
        "headers",  # HTTP headers of one request; a connection has its handshake
        "timeout",  # run()'s HTTP read timeout
        "method",  # run()'s HTTP method
    }
    methods = [fal_client.SyncClient.submit, fal_client.SyncClient.subscribe]
    methods += [fal_client.SyncClient.run, fal_client.AsyncClient.subscribe]
    taken = {name for method in methods for name in inspect.signature(method).parameters}
    unknown = taken - not_queue_only - OPTION_NAMES - set(QUEUE_ONLY)
    assert not unknown, f"fal-client queue parameters warmwire does not know: {unknown}"
    assert set(QUEUE_ONLY) & OPTION_NAMES == set()


# --- typos ----------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=ENTRY_IDS)
def test_a_typo_is_a_type_error_with_the_likely_option(entry: Callable[..., None]) -> None:
    with pytest.raises(
        TypeError, match=r"^unknown client option max_bufering=; did you mean max_buffering=\?$"
    ):
        entry(url="ws://127.0.0.1:1", max_bufering=2)


def test_a_name_like_no_option_lists_them_all() -> None:
    with pytest.raises(TypeError, match="unknown client option colour=; the options: ") as info:
        warmwire.realtime(APP, url="ws://127.0.0.1:1", colour="blue")
    listed = str(info.value).split("the options: ")[1].split(", ")
    assert listed == sorted(OPTION_NAMES)


# --- one definition -----------------------------------------------------------------------


def test_every_option_is_documented_where_it_is_declared() -> None:
    """Each key of ClientOptions and CredentialOptions is followed by its docstring."""
    for cls in (ClientOptions, CredentialOptions):
        module = inspect.getmodule(cls)
        assert module is not None
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text())
        [node] = [
            n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__
        ]
        body = [*node.body, None]
        undocumented = [
            ast.unparse(stmt.target)
            for stmt, after in itertools.pairwise(body)
            if isinstance(stmt, ast.AnnAssign)
            and not (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant))
        ]
        assert undocumented == [], f"{cls.__name__}: options without a docstring"


def test_credentials_are_part_of_the_client_options() -> None:
    assert CredentialOptions.__optional_keys__ < OPTION_NAMES
    assert options_module.__doc__ is not None
    assert "Unpack" in options_module.__doc__


def test_builder_repr_hides_credentials() -> None:
    builder = warmwire.ConnectionBuilder(APP, url="ws://h:1", key="dev:s3cret")
    shown = repr(builder.with_options(token="ey.secret.token"))
    assert "s3cret" not in shown
    assert "ey.secret.token" not in shown
    assert "'key': '***'" in shown
    assert "'url': 'ws://h:1'" in shown


def test_with_options_replaces_and_keeps_the_rest() -> None:
    base = warmwire.ConnectionBuilder(APP, url="ws://h:1", codec="json", max_buffering=3)
    changed = base.with_options(max_buffering=5).with_path("/v2")
    assert changed.options == {
        "url": "ws://h:1",
        "codec": "json",
        "max_buffering": 5,
        "path": "/v2",
    }
    assert base.options["max_buffering"] == 3  # the original is untouched
    spec = changed.resolve().spec
    assert (spec.max_buffering, spec.endpoint.endpoint_path) == (5, "warmwire/echo/v2")
    assert changed == warmwire.ConnectionBuilder(
        APP, url="ws://h:1", codec="json", max_buffering=5, path="/v2"
    )


def test_defaults_apply_when_an_option_is_absent() -> None:
    resolved = warmwire.ConnectionBuilder(APP, url="ws://h:1").resolve()
    spec = resolved.spec
    assert spec.endpoint.endpoint_path == "warmwire/echo/realtime"
    # open_timeout covers a cold start, as fal's client does (tests/client/test_open_timeout.py).
    assert (spec.open_timeout, spec.close_timeout) == (90.0, 10.0)
    assert spec.max_message_size == 16 * 1024 * 1024
    assert resolved.codec.name == "msgpack"
    assert resolved.options.timeout == 90.0


# --- the same options through every entry point, end to end ---------------------------------


@pytest.fixture
def auth() -> RunnerAuth:
    return RunnerAuth.create(
        keys=KeyStore([ApiKey("dev", "s3cret")]),
        signing_key=load_signing_key(generate_signing_key()),
    )


def shared_options(url: str) -> dict[str, Any]:
    """Options every entry point takes: credentials minted from a key, codec, limits."""
    return {
        "url": url,
        "key": "dev:s3cret",
        "codec": "cbor",
        "path": "/realtime",
        "max_buffering": 2,
        "open_timeout": TIMEOUT,
        "close_timeout": 5.0,
        "max_message_size": 1 << 20,
    }


INPUT = {"n": 1, "blob": b"\x00\xff"}  # bytes survive: cbor, not the JSON text fallback


@pytest.mark.anyio
async def test_the_same_options_work_through_every_entry_point(auth: RunnerAuth) -> None:
    async with runner.serve(Echo, auth=auth) as server:
        options = shared_options(server.url)
        with anyio.fail_after(TIMEOUT * 3):
            async with warmwire.realtime_async(APP, **options) as conn:
                assert conn.subprotocol == "cbor"
                await conn.send(INPUT)
                assert await conn.recv() == INPUT

            async with warmwire.ConnectionBuilder(APP, **options).connect_async() as conn:
                await conn.send(INPUT)
                assert await conn.recv() == INPUT

            got: list[Any] = []
            arrived = anyio.Event()

            async def on_result(result: Any) -> None:
                got.append(result)
                arrived.set()

            async with warmwire.connect_async(
                APP, on_result=on_result, throttle_interval=0, **options
            ) as callbacks:
                callbacks.send(INPUT)
                await arrived.wait()
            assert got == [INPUT]

            def blocking() -> list[Any]:
                results: list[Any] = []
                with warmwire.realtime(APP, **options) as conn:
                    assert conn.subprotocol == "cbor"
                    conn.send(INPUT)
                    results.append(conn.recv(timeout=TIMEOUT))
                done = threading.Event()
                with warmwire.connect(
                    APP,
                    on_result=lambda r: (results.append(r), done.set()),
                    throttle_interval=0,
                    **options,
                ) as callbacks_sync:
                    callbacks_sync.send(INPUT)
                    assert done.wait(TIMEOUT)
                return results

            assert await anyio.to_thread.run_sync(blocking) == [INPUT, INPUT]
