"""``warmwire serve`` options: message size, keepalive, the GC freeze, the worker loop."""

from __future__ import annotations

import re

import pytest

import warmwire
from helpers.processes import run_cli, start_runner
from warmwire import ConnectionBuilder
from warmwire.auth.strategies import NoAuth
from warmwire.codecs import IdentityCodec
from warmwire.core.errors import ConnectionClosedError


def test_serve_raw_echo_with_a_message_size_limit_and_no_keepalive() -> None:
    args = ["serve", "warmwire.examples.raw_echo:RawEcho", "--insecure-no-auth", "--port", "0"]
    with start_runner(*args, "--max-message-size", "10", "--ping-interval", "0") as served:
        builder = ConnectionBuilder(
            app="any/app", url=served.url, codec=IdentityCodec(), auth=NoAuth(), raw_path="/"
        )
        with builder.connect() as conn:
            conn.send("0123456789")
            assert conn.recv(timeout=10) == "0123456789"
            conn.send(b"0123456789!")
            with pytest.raises(ConnectionClosedError) as caught:
                conn.recv(timeout=10)
            assert caught.value.code == 1009
    assert "Traceback" not in served.output.text


@pytest.mark.parametrize(
    "option", [["--ping-interval", "-1"], ["--ping-interval", "x"], ["--max-message-size", "0"]]
)
def test_bad_limits_are_usage_errors(option: list[str]) -> None:
    result = run_cli("serve", "warmwire.examples.raw_echo:RawEcho", *option)
    assert result.returncode == 2
    assert option[0] in result.stderr


def test_serve_freezes_what_setup_left_alive_unless_told_not_to() -> None:
    args = ["serve", "warmwire.examples.raw_echo:RawEcho", "--insecure-no-auth", "--port", "0"]
    with start_runner(*args) as served:
        pass
    with start_runner(*args, "--no-freeze-gc") as unfrozen:
        pass
    frozen = [int(n) for n in re.findall(r"runner ready .* gc_frozen=(\d+)", served.output.text)]
    assert len(frozen) == 1
    assert frozen[0] > 1000  # the imports, at least
    assert re.findall(r"runner ready .* gc_frozen=(\d+)", unfrozen.output.text) == ["0"]


def test_serve_serves_a_blocking_handler_on_the_worker_loop_unless_told_not_to() -> None:
    args = ["serve", "warmwire.examples.echo:Echo", "--insecure-no-auth", "--port", "0"]
    with start_runner(*args) as served:
        with warmwire.realtime("warmwire/echo", url=served.url) as conn:
            conn.send({"n": 1})
            assert conn.recv(timeout=10) == {"n": 1}
        served.output.wait_for(re.compile(r"path=/warmwire/echo/realtime closed"), 10)
    opened = re.findall(r"session=\d+ path=(\S+) open .*", served.output.text)
    assert opened == ["/warmwire/echo/realtime"]
    assert "thread=warmwire-worker-0" in served.output.text
    with start_runner(*args, "--no-worker-loop") as hopping:
        with warmwire.realtime("warmwire/echo", url=hopping.url) as conn:
            conn.send({"n": 1})
            assert conn.recv(timeout=10) == {"n": 1}
        hopping.output.wait_for(re.compile(r"path=/warmwire/echo/realtime closed"), 10)
    assert "thread=" not in hopping.output.text
