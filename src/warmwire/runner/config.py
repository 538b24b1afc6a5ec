"""A runner's limits and switches, and the check that it is not served open by mistake."""

from __future__ import annotations

import ipaddress

import attrs

from warmwire.auth.runner_auth import RunnerAuth
from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE
from warmwire.core.errors import ConfigurationError


@attrs.frozen(slots=True)
class RunnerConfig:
    """Runner-wide limits and switches."""

    auth: RunnerAuth | None = None
    """Token verification, API keys and the token service; required unless insecure."""
    insecure_no_auth: bool = False
    """Accept connections without credentials (loopback only; local experiments)."""
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """Larger inputs close the session with 1009."""
    max_sessions: int | None = None
    """Further upgrades are refused with HTTP 503 and a JSON body.  ``None``: the apps'
    ``max_multiplexing`` (summed over the runner's apps) when every app declares it,
    else no limit; a value given here wins over theirs."""
    max_pending_bytes: int | None = 64 * 1024 * 1024
    """Bytes of inputs a session may hold waiting; beyond, the oldest are dropped."""
    handshake_timeout: float = 10.0
    """Seconds a connection may take to send its complete request; then it is dropped."""
    send_timeout: float | None = 30.0
    """A client that takes no message for this long is disconnected."""
    ping_interval: float | None = 20.0
    """Keepalive: ping every so often; ``None`` disables it."""
    ping_timeout: float = 20.0
    """A peer whose pong does not come within this time is gone."""
    close_timeout: float = 10.0
    """How long a closing handshake may wait for the client's reply before the connection is cut."""
    drain_timeout: float = 30.0
    """Grace period for in-flight work when draining; then sessions are cut."""
    freeze_gc: bool = False
    """After ``setup()``, move every object alive (the model, the imports) out of the
    garbage collector's reach (``gc.freeze()``).

    They live as long as the process, and every full collection would scan them
    again, a pause felt by every session at once (13.5 ms for a bare runner's 57,000
    objects, measured; more with a model).  The cost: an object alive then that
    later becomes cyclic garbage is never freed.  ``warmwire serve`` turns it on
    (``--no-freeze-gc`` turns it off): it owns its process.  Off by default for a
    runner embedded in a program of its own, or started many times in one process
    (tests).
    """
    worker_threads: int = 1
    """Blocking handlers run in at most this many threads at once (one model, one GPU)."""
    worker_loop: bool = True
    """Each worker thread runs an event loop of its own, and serves the sessions of
    blocking handlers whole: their socket is read, their handler called and their
    results written on that one thread, so a message crosses no thread (about 100 µs
    less per round trip, and less than half the CPU; see :mod:`warmwire.runner.worker_loops`).

    warmwire's own server, TCP and Unix sockets; a session under TLS and the stream
    route still hop to the same threads, and under an ASGI server, which owns the
    sockets, it does not apply (:func:`warmwire.asgi.app` turns it off).  The cost: while a
    handler runs, the other sessions on its thread are not read (their inputs wait
    in the kernel, then in their drop-oldest buffers) and the pings of their clients
    are answered when it returns, so a call longer than a client's ping timeout gets
    it disconnected (the runner's own pings are not: a pong read late still counts).
    ``False`` (``warmwire serve --no-worker-loop``) hops every call to the threads
    instead, and keeps reading and answering pings meanwhile: for handlers whose
    calls take many seconds.
    """
    max_handshakes: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    """Upgrades handled at once (routing, the 101, the token check); more wait their turn.

    This bounds how much of the event loop new connections take from the
    sessions already streaming: a flood of attempts (bad tokens, a reconnect
    storm) slows itself down, not them.  A connection takes a turn only once
    its request is complete, so one that sends it slowly holds none.
    """
    max_refusal_rate: float | None = 100.0
    """Refusals after the upgrade (a token refused; a browser's upgrade refused) answered
    per second, after a burst of 50 ms worth; ``None``: no bound.

    Past the burst (5 refusals at the default rate), a refused connection
    waits, outside its turn and costing no CPU, before its ``Unauthorized``
    message: a flood of bad tokens, or a fleet reconnecting in a loop with an
    expired one, is then answered at this pace instead of taking the event
    loop (and, on a shared machine, the cores) from the sessions; a client
    that retries only after its answer retries no faster.  Rare refusals are
    answered at once, and authorised connections never wait here.  The burst
    is kept small on purpose: a large one is a flood at full speed.
    """


def check_auth_configured(config: RunnerConfig, host: str) -> None:
    """Refuse to serve without credentials checks, unless asked to and on loopback only."""
    if config.auth is not None:
        return
    if not config.insecure_no_auth:
        raise ConfigurationError(
            "no authentication is configured for this runner: give it a signing key "
            "(--signing-key, create one with 'warmwire keys generate'), a verify key "
            "(--verify-key / --jwks-url) or API keys (--key-file / $WARMWIRE_KEYS). For local "
            "experiments only, pass insecure_no_auth=True (CLI: --insecure-no-auth); the "
            "runner then binds loopback only."
        )
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigurationError(
            f"--insecure-no-auth only binds loopback (127.0.0.1, ::1, localhost), not {host!r}"
        )
