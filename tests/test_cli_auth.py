"""Auth from the command line: keys generate, token-server, token, and a fleet runner
that verifies with the public key only (tokens minted by another process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import warmwire
from helpers.ports import free_port
from helpers.processes import run_cli, start_runner, start_runner_async
from warmwire import runner
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.examples.echo import Echo

SECRET = "s3cret-for-tests"


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    done = run_cli("keys", "generate", str(tmp_path / "signing.pem"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "signing.pem").stat().st_mode & 0o077 == 0  # private key: owner only
    assert (tmp_path / "signing.pem.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "keys.txt").write_text(f"# dev keys\ndev:{SECRET}\n")
    return tmp_path


@pytest.fixture
def token_server(keydir: Path) -> Iterator[str]:
    """``warmwire token-server`` in its own process; yields its ws:// URL."""
    args = ["token-server", "--port", "0", "--signing-key", str(keydir / "signing.pem")]
    with start_runner(*args, "--key-file", str(keydir / "keys.txt")) as served:
        yield served.url
        assert served.stop(timeout=10) == 0
    assert SECRET not in served.output.text


def test_keys_generate_refuses_to_overwrite(keydir: Path) -> None:
    done = run_cli("keys", "generate", str(keydir / "signing.pem"))
    assert done.returncode == 2
    assert "exists" in done.stderr


def mint(token_url: str, app: str) -> str:
    http_url = token_url.replace("ws://", "http://")
    response = httpx.post(
        f"{http_url}/tokens/",
        headers={"authorization": f"Key dev:{SECRET}"},
        json={"allowed_apps": [app], "token_expiration": 60},
    )
    response.raise_for_status()
    token: str = response.json()
    return token


@pytest.mark.anyio
@pytest.mark.parametrize("source", ["verify-key", "jwks-url"])
async def test_public_key_runner_accepts_tokens_from_another_process(
    token_server: str, keydir: Path, source: str
) -> None:
    http_url = token_server.replace("ws://", "http://")
    if source == "verify-key":
        auth = RunnerAuth.from_files(verify_key=keydir / "signing.pem.pub")
    else:
        auth = await anyio.to_thread.run_sync(
            lambda: RunnerAuth.from_files(jwks_url=f"{http_url}/.well-known/jwks.json")
        )
    assert auth.service is None  # this runner cannot mint, only verify

    async with runner.serve(Echo, auth=auth) as server:
        with anyio.fail_after(20):
            async with warmwire.realtime_async(
                "warmwire/echo",
                url=server.url,
                token_provider=lambda path: mint(token_server, "echo"),
            ) as conn:
                await conn.send({"n": 1})
                assert await conn.recv() == {"n": 1}
            # A token for another app is refused by the fleet runner.
            async with warmwire.realtime_async(
                "warmwire/echo", url=server.url, token=mint(token_server, "other")
            ) as conn:
                with pytest.raises(warmwire.UnauthorizedError, match="not valid for app"):
                    await conn.recv()


def test_token_command_mints_from_the_token_server(token_server: str) -> None:
    done = run_cli("token", "warmwire/echo", "--url", token_server, "--key", f"dev:{SECRET}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(".") == 2  # header.claims.signature
    bad = run_cli("token", "warmwire/echo", "--url", token_server, "--key", "dev:bogus-7f3a")
    assert bad.returncode != 0
    assert "401" in bad.stderr
    assert "bogus-7f3a" not in bad.stderr


def test_serve_with_signing_key_round_trips(keydir: Path) -> None:
    args = ["serve", "warmwire.examples.echo:Echo", "--port", "0"]
    keys = ["--signing-key", str(keydir / "signing.pem"), "--key-file", str(keydir / "keys.txt")]
    with start_runner(*args, *keys) as served:
        url = served.url
        with warmwire.realtime("warmwire/echo", url=url, key=f"dev:{SECRET}") as conn:
            conn.send({"n": 2})
            assert conn.recv(timeout=10) == {"n": 2}
        with warmwire.realtime("warmwire/echo", url=url) as conn:
            with pytest.raises(warmwire.UnauthorizedError, match="missing token"):
                conn.recv(timeout=10)
        assert served.stop(timeout=10) == 0
    assert SECRET not in served.output.text


@pytest.fixture(params=["0", "0.5"])
def paced_runner(keydir: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """``warmwire serve --max-refusal-rate R`` verifying tokens; yields (R, its URL)."""
    args = ["serve", "warmwire.examples.echo:Echo", "--port", "0", "--verify-key"]
    pace = ["--max-refusal-rate", request.param]
    with start_runner(*args, str(keydir / "signing.pem.pub"), *pace, stop_timeout=10) as served:
        yield request.param, served.url


@pytest.mark.anyio
async def test_serve_max_refusal_rate(paced_runner: tuple[str, str]) -> None:
    """``--max-refusal-rate R``: past the burst (one refusal at 0.5/s), the next bad
    token's refusal waits for its slot, 1/R seconds on; 0 turns the pace off."""
    rate, url = paced_runner

    async def refused_after() -> float:
        started = anyio.current_time()
        with pytest.raises(warmwire.UnauthorizedError):
            async with warmwire.realtime_async("warmwire/echo", url=url, token="bad") as conn:
                await conn.recv()
        return anyio.current_time() - started

    with anyio.fail_after(20):
        await refused_after()  # the burst
        waited = await refused_after()
    # At 0 the runner starts and refuses (a pace of 0/s would be a configuration
    # error: 0 must mean none).  At 0.5/s the pace guarantees a lower bound: it
    # sleeps until the slot, 2 s after the first refusal's.
    if rate != "0":
        assert waited >= 1.5


def test_serve_max_refusal_rate_must_be_a_rate() -> None:
    done = run_cli("serve", "warmwire.examples.echo:Echo", "--max-refusal-rate", "-1")
    assert done.returncode == 2
    assert "--max-refusal-rate" in done.stderr
    assert ">= 0" in done.stderr


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


async def _mint_async(http_url: str, app: str) -> str:
    async with httpx.AsyncClient(base_url=http_url, timeout=10) as http:
        response = await http.post(
            "/tokens/",
            headers={"authorization": f"Key dev:{SECRET}"},
            json={"allowed_apps": [app], "token_expiration": 60},
        )
    response.raise_for_status()
    token: str = response.json()
    return token


async def _round_trip(url: str, token: str) -> None:
    with anyio.fail_after(20):
        async with warmwire.realtime_async("warmwire/echo", url=url, token=token) as conn:
            await conn.send({"n": 1})
            assert await conn.recv() == {"n": 1}


async def _refused(url: str, token: str) -> str:
    with anyio.fail_after(20):
        async with warmwire.realtime_async("warmwire/echo", url=url, token=token) as conn:
            with pytest.raises(warmwire.UnauthorizedError) as refused:
                await conn.recv()
            with pytest.raises(warmwire.ConnectionClosedError) as closed:
                await conn.recv()
            assert closed.value.code == 1008
    return refused.value.reason


@pytest.mark.anyio
async def test_key_rotation_end_to_end(keydir: Path) -> None:
    """``warmwire keys rotate`` with a token server and a runner verifying through its JWKS:
    old and new tokens both accepted during the overlap, the old refused once retired."""
    port = free_port()
    http_url = f"http://127.0.0.1:{port}"
    signing = keydir / "signing.pem"
    server_args = ["token-server", "--port", str(port), "--signing-key", str(signing)]
    server_args += ["--key-file", str(keydir / "keys.txt")]

    async with start_runner_async(*server_args):
        old = await _mint_async(http_url, "warmwire/echo")
        # The runner fetches the JWKS at start; it fetches again for an unknown kid
        # (here without a minimum interval, so each step is seen at once).
        auth = await anyio.to_thread.run_sync(
            lambda: RunnerAuth.from_files(
                jwks_url=f"{http_url}/.well-known/jwks.json", jwks_min_interval=0
            )
        )

    async with runner.serve(Echo, auth=auth) as fleet:
        await _round_trip(fleet.url, old)

        # Stage: the next key is published, tokens are still signed with the old one.
        staged = await anyio.to_thread.run_sync(run_cli, "keys", "rotate", str(signing))
        assert staged.returncode == 0, staged.stderr
        assert "staged" in staged.stdout
        async with start_runner_async(*server_args):
            async with httpx.AsyncClient(timeout=10) as http:
                document = (await http.get(f"{http_url}/.well-known/jwks.json")).json()
            assert len(document["keys"]) == 2
            assert _kid(await _mint_async(http_url, "warmwire/echo")) == _kid(old)

        # Promote: new tokens carry the new kid; the old key stays published.
        promoted = await anyio.to_thread.run_sync(run_cli, "keys", "rotate", str(signing))
        assert promoted.returncode == 0, promoted.stderr
        async with start_runner_async(*server_args):
            new = await _mint_async(http_url, "warmwire/echo")
            assert _kid(new) != _kid(old)
            await _round_trip(fleet.url, new)  # unknown kid: the runner fetched the JWKS again
            await _round_trip(fleet.url, old)  # the overlap: both accepted

        # Retire: once the runner fetches the JWKS again, the old key's tokens are refused.
        retired = await anyio.to_thread.run_sync(run_cli, "keys", "retire", str(signing))
        assert retired.returncode == 0, retired.stderr
        async with start_runner_async(*server_args):
            async with httpx.AsyncClient(timeout=10) as http:
                document = (await http.get(f"{http_url}/.well-known/jwks.json")).json()
            assert [key["kid"] for key in document["keys"]] == [_kid(new)]
            stranger = jwt.encode(
                {"sub": "x", "allowed_apps": ["warmwire/echo"], "iat": 0, "exp": 1},
                Ed25519PrivateKey.generate(),
                algorithm="EdDSA",
                headers={"kid": "0000000000000000"},
            )
            # Any unknown kid makes the runner fetch the JWKS (bounded by its interval).
            assert "unknown kid" in await _refused(fleet.url, stranger)
            assert "unknown kid" in await _refused(fleet.url, old)
            await _round_trip(fleet.url, new)


def test_keys_rotate_and_retire_usage_errors(tmp_path: Path) -> None:
    missing = run_cli("keys", "rotate", str(tmp_path / "nope.pem"))
    assert missing.returncode == 2
    assert "warmwire keys generate" in missing.stderr
    assert run_cli("keys", "generate", str(tmp_path / "signing.pem")).returncode == 0
    nothing = run_cli("keys", "retire", str(tmp_path / "signing.pem"))
    assert nothing.returncode == 2
    assert "no retired key" in nothing.stderr
    assert run_cli("keys", "rotate", str(tmp_path / "signing.pem")).returncode == 0
    assert (tmp_path / "signing.pem.next").stat().st_mode & 0o077 == 0
    assert run_cli("keys", "rotate", str(tmp_path / "signing.pem")).returncode == 0  # promote
    assert (tmp_path / "signing.pem").stat().st_mode & 0o077 == 0
    assert run_cli("keys", "rotate", str(tmp_path / "signing.pem")).returncode == 0  # stage
    # Promoting again would drop the retired key, whose tokens may still be alive.
    early = run_cli("keys", "rotate", str(tmp_path / "signing.pem"))
    assert early.returncode == 2
    assert "warmwire keys retire" in early.stderr
