"""The one front-door sequence: how an upgrade becomes a session, whichever door it came in.

Every door (warmwire's own server, the ASGI adapter and, through it, Ray Serve)
hands an upgrade request to :meth:`FrontDoor.enter`, which runs it in this order:

1. take a handshake turn (``max_handshakes``), so that a flood of attempts slows
   itself down, not the sessions already streaming;
2. admit it (route, ``max_buffering``, codec; not while draining, not past
   ``max_sessions``), or count the refusal and let the door answer it before
   the upgrade (:meth:`Door.refuse`), an HTTP status and a JSON body; but see
   *refusals a browser can read* below;
3. accept the upgrade (:meth:`Door.accept`), which gives the session's channel;
4. check the credentials, after the upgrade so that a browser can read why;
5. leave the turn; a token refusal then waits for its pace (``max_refusal_rate``),
   costing no CPU, and the door sends the ``Unauthorized`` message and closes
   with 1008 (:meth:`Door.reject`);
6. tell the runner's first session how long ``setup()`` took (the cold start it
   waited for), as an ``x-fal-message`` where the endpoint emits timings;
7. run the session to its end, counted and logged, with the door's keepalive: on
   this loop, or, for a blocking handler with ``worker_loop`` on, on a worker
   thread's own loop, where the door can let go of the connection
   (:meth:`Door.hand_over`; :mod:`warmwire.runner.worker_loops`).

Refusals a browser can read: a WebSocket in a browser (and any client built on
the WHATWG ``WebSocket`` API, such as Node's) cannot read the status or the body
of a refused upgrade; the page only sees "error" and a 1006 close.  Such a client
says what it is: browsers send ``Origin`` (RFC 6455 requires it of them) and
fetch-based clients ``Sec-Fetch-Mode: websocket``.  To it, a 4xx refusal (no such
app or path, a bad ``max_buffering`` or codec) is reported after the upgrade
instead: the ``x-fal-error`` message (``error`` the HTTP phrase, ``reason`` what
to fix), then a close with 4000 + the status (4404, 4400) and the phrase as its
reason.  A 503 (draining, at capacity) stays an HTTP answer for every client:
that is what nginx (``proxy_next_upstream http_503``) and other balancers retry
on another runner, and a browser behind one never sees it.  Clients that can read
an HTTP answer (warmwire's, fal-client's) keep the HTTP status and body, and so
does every client under an ASGI server without the ``websocket.http.response``
extension, which can only close before accepting.

All of it within :meth:`Runner.opening`, so that a drain waits for a connection
that has no session yet.

A stream (``POST …/stream``, :mod:`warmwire.runner.stream_route`) is no upgrade, but
it takes the same steps in the same order through :meth:`FrontDoor.turn`,
:meth:`FrontDoor.count_refusal`, :meth:`FrontDoor.credentials_problem` and
:meth:`FrontDoor.pace_refusal`, with an HTTP refusal where an upgrade gets its
``Unauthorized`` message.

A door supplies only what depends on its transport (the :class:`Door`
protocol).  What still differs between the doors, on purpose:

- reading the request: warmwire's own server parses it and bounds the wait with
  ``handshake_timeout``; under ASGI the server has done both before the app runs;
- the refusal before the upgrade: an HTTP status and a JSON body, except under an
  ASGI server without the ``websocket.http.response`` extension, which can only
  close before accepting: the client sees that server's 403, without the body;
- ``Unauthorized`` and a refusal after the upgrade: warmwire's own server writes
  the message and the close frame in one write, then waits (``close_timeout``)
  for the client's close reply;
  under ASGI they are two events, and the server does the closing handshake;
- keepalive: warmwire's own server pings (``ping_interval``, ``ping_timeout``); an
  ASGI server pings by its own settings (uvicorn's ``--ws-ping-interval``), so
  the ASGI door has none.  Likewise the largest message: ``max_message_size``
  here, the server's own limit there (uvicorn's ``--ws-max-size``);
- an unexpected error: warmwire's own server logs it and drops that connection
  (it must not reach the accept loop, which serves every other one); under ASGI
  it goes up to the server, which logs it and ends the connection its own way.

Why a protocol of a few async steps driven by one ``async def``, rather than a
sans-IO generator of steps as in httpx's auth flow: the sequence's own waits (the
turn, the pace, the session) are async as well, so a generator would hand them
back for every door to drive, and each door would repeat the same driving loop.
Here the order is one function that reads from top to bottom, and a door is three
methods and a keepalive (looked at by the session's reading task, see
:mod:`warmwire.runner.keepalive`).
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import anyio
import attrs

from warmwire import plugins
from warmwire.core.close_codes import CloseCode, refusal_close_code
from warmwire.core.endpoint import Endpoint, parse_app_id
from warmwire.core.envelope import cold_start_message, error_message, unauthorized_message
from warmwire.core.errors import ConfigurationError
from warmwire.core.events import UpgradeRequest
from warmwire.runner.metrics import MessageFigures
from warmwire.runner.pacing import Pacer
from warmwire.runner.routing import Admitted, Refused
from warmwire.runner.session import Channel, Keepalive, Session, SessionLimits
from warmwire.runner.workers import Workers
from warmwire.transports import eventloop

if TYPE_CHECKING:  # the runner owns its front door; the types only are needed here
    from warmwire.runner.host import Runner
    from warmwire.runner.websocket_door import Handover
    from warmwire.runner.worker_loops import HostedSession

log = logging.getLogger("warmwire.runner")


class Door(Protocol):
    """The steps of the front-door sequence that depend on the transport.

    :meth:`FrontDoor.enter` calls them in its order; a door implements each with
    its transport's means and decides nothing itself.
    """

    @property
    def keepalive(self) -> Keepalive | None:
        """The session's pings; ``None`` where the transport pings itself."""
        ...

    async def refuse(self, refused: Refused) -> None:
        """Answer the upgrade with ``refused``'s HTTP status and JSON body instead of accepting."""
        ...

    async def accept(self, subprotocol: str | None) -> Channel:
        """Complete the upgrade with ``subprotocol``; the channel the session will use."""
        ...

    async def reject(self, message: str, code: int, reason: str) -> None:
        """After :meth:`accept`: send ``message`` (a JSON text control message: the
        ``Unauthorized`` message, or a refusal's ``x-fal-error``), then close with
        ``code`` and ``reason``."""
        ...

    async def hand_over(self) -> Handover | None:
        """After :meth:`accept`: let go of the connection for a worker loop to serve
        (:mod:`warmwire.runner.worker_loops`); ``None`` where it cannot move."""
        ...


class FrontDoor:
    """The sequence every door runs an upgrade through, with what it keeps per runner:
    the handshake turns, the refusal pace, the endpoints for the token check."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._turns: anyio.Semaphore | None = None
        """Upgrades in their handshake at once (``max_handshakes``), from :meth:`start`."""
        rate = runner.config.max_refusal_rate
        if rate is not None and rate <= 0:
            raise ConfigurationError(
                f"max_refusal_rate must be above 0 (refusals per second) or None, not {rate}"
            )
        self._refusal_rate = rate
        self._refusals: Pacer | None = None
        """The refusal pace, once :meth:`start` has given it the runner's clock."""
        self._endpoints: dict[str, Endpoint] = {}
        """Each route's endpoint, for the token check (parsed once, not per connection)."""
        self._refused_unauthorized = runner.metrics.refused.labels("unauthorized")
        self._ids = itertools.count(1)

    def start(self, clock: Callable[[], float]) -> None:
        """Get ready on the serving loop, with the runner's clock (the loop's own).

        Not at construction: an ASGI app is built before its server's loop runs,
        and maybe under another (a test's trio, uvicorn's asyncio).
        """
        self._turns = anyio.Semaphore(self._runner.config.max_handshakes, fast_acquire=True)
        rate = self._refusal_rate
        if rate is not None:
            self._refusals = Pacer(rate, burst=max(1, round(rate / 20)), clock=clock)

    async def enter(self, door: Door, request: UpgradeRequest) -> None:
        """Run the upgrade ``request`` that came in at ``door`` to its end: refused, or a
        session that has ended."""
        runner = self._runner
        turns = self._turns
        assert turns is not None, "the runner serves only once started (Runner.startup)"
        with runner.opening():
            async with turns:
                decision = _no_subprotocol_for_a_browser(runner.admit(request), request)
                if isinstance(decision, Refused):
                    self.count_refusal(decision)
                    if decision.lets_balancer_retry or not _reads_http_refusals_poorly(request):
                        await door.refuse(decision)
                        return
                    # A subprotocol it offered: a browser fails an upgrade answered
                    # without one, and would not see the reason either.
                    await door.accept(next(iter(request.subprotocols), None))
                    rejection: _Rejection | None = _Rejection.of(decision)
                else:
                    channel = await door.accept(decision.subprotocol)
                    problem = await self.credentials_problem(
                        decision, request.header("authorization")
                    )
                    rejection = None if problem is None else _Rejection.unauthorized(problem)
            if rejection is not None:
                # Outside the turn: the pace and the client's close reply cost no CPU.
                await self.pace_refusal()
                await door.reject(rejection.message, rejection.code, rejection.reason)
                return
            assert isinstance(decision, Admitted), "every refusal has been answered"
            cold_start = runner.take_cold_start()
            if cold_start is not None and decision.route.config.emit_timings:
                await channel.send(cold_start_message(cold_start))
            loops = runner.worker_loops
            if loops is not None and not runner.handlers[decision.route.url_path].is_async:
                handover = await door.hand_over()
                if handover is not None:
                    del request, channel
                    hosted = loops.seat()
                    with runner.hosting(hosted):
                        await hosted.run(functools.partial(self._host, handover, decision, hosted))
                    return
            session = self._new_session(
                channel,
                decision,
                door.keepalive,
                workers=runner.workers,
                metrics=runner.metrics,
                clock=runner.clock,
            )
            # For the session's whole life, this frame holds only what it needs: the
            # request's headers and the token are about 1.5 KiB per idle session.
            del request, decision
            with runner.hosting(session):
                await self._run(session, runner.clock)

    def turn(self) -> anyio.Semaphore:
        """A handshake turn (``max_handshakes``), for ``async with``: every door's requests
        take one while they are routed and their credentials checked."""
        assert self._turns is not None, "the runner serves only once started (Runner.startup)"
        return self._turns

    def count_refusal(self, refused: Refused) -> None:
        """Count a refusal before the credentials check, by HTTP status."""
        self._runner.metrics.refused.labels(str(refused.status)).inc()

    async def credentials_problem(
        self, decision: Admitted, authorization: str | None
    ) -> str | None:
        """Why the connection's credentials are refused (safe to send), or ``None``."""
        auth = self._runner.config.auth
        if auth is None:
            return None
        route = decision.route
        endpoint = self._endpoints.get(route.url_path)
        if endpoint is None:
            endpoint = parse_app_id(route.app.app_id, route.config.path)
            self._endpoints[route.url_path] = endpoint
        reason = await auth.check_async(endpoint, decision.token, authorization)
        if reason is not None:
            # The reason never contains the token or a secret.
            self._refused_unauthorized.inc()
            log.info("refused path=%s reason=%s", route.url_path, reason)
        return reason

    async def pace_refusal(self) -> None:
        """Wait for this refusal's turn (``max_refusal_rate``): a token refused, or a
        browser's upgrade refused after it was accepted.

        Not paced while draining, when every connection is being let go anyway.
        """
        if self._refusals is not None and not self._runner.draining:
            await self._refusals.wait()

    async def _host(self, handover: Handover, decision: Admitted, hosted: HostedSession) -> None:
        """On a worker loop: go on with the connection ``handover`` as ``hosted``'s session,
        its handler called right there."""
        channel, keepalive = await handover.open()
        del handover
        clock = eventloop.clock()
        session = self._new_session(
            channel,
            decision,
            keepalive,
            workers=hosted.workers,
            metrics=hosted.figures,
            clock=clock,
        )
        del decision
        hosted.attach(session)
        try:
            await self._run(session, clock, f" thread={threading.current_thread().name}")
        finally:  # what Runner.handle does for a connection it serves to the end
            await channel.aclose_transport()

    def _new_session(
        self,
        channel: Channel,
        decision: Admitted,
        keepalive: Keepalive | None,
        *,
        workers: Workers,
        metrics: MessageFigures,
        clock: Callable[[], float],
    ) -> Session:
        runner = self._runner
        route = decision.route
        config = route.config
        return Session(
            channel,
            runner.handlers[route.url_path],
            decision.codec,
            SessionLimits(
                buffering=decision.buffering,
                session_timeout=config.session_timeout,
                max_batch_size=config.max_batch_size,
                emit_timings=config.emit_timings,
                max_pending_bytes=runner.config.max_pending_bytes,
                send_timeout=runner.config.send_timeout,
                close_timeout=runner.config.close_timeout,
            ),
            workers=workers,
            metrics=metrics,
            name=f"session={next(self._ids)} path={route.url_path}",
            raw=config.raw,
            clock=clock,
            keepalive=keepalive,
        )

    async def _run(self, session: Session, clock: Callable[[], float], where: str = "") -> None:
        """Run ``session`` to its end, logged (``where``: a note on the thread serving it)."""
        log.info(
            "%s open codec=%s buffering=%d%s",
            session.name,
            session.codec.name,
            session.limits.buffering,
            where,
        )
        started = clock()
        try:
            await session.run()
        finally:
            closed = session.closed
            log.info(
                "%s closed code=%s reason=%r duration=%.1fs in=%d out=%d dropped=%d",
                session.name,
                closed.code if closed else None,
                (closed.reason if closed else "runner stopped"),
                clock() - started,
                session.received,
                session.sent,
                session.dropped,
            )


@attrs.frozen(slots=True)
class _Rejection:
    """A refusal after the upgrade: the message to send, then the close."""

    message: str
    code: int
    reason: str

    @classmethod
    def of(cls, refused: Refused) -> _Rejection:
        """``refused``, told after the upgrade: its ``x-fal-error``, then 4000 + its status."""
        return cls(
            error_message(refused.error, refused.reason),
            refusal_close_code(refused.status),
            refused.error,
        )

    @classmethod
    def unauthorized(cls, problem: str) -> _Rejection:
        """The ``Unauthorized`` message with ``problem``, then a 1008 close."""
        return cls(unauthorized_message(problem), CloseCode.POLICY_VIOLATION, "Unauthorized")


def _no_subprotocol_for_a_browser(
    decision: Admitted | Refused, request: UpgradeRequest
) -> Admitted | Refused:
    """Refuse (400) a browser's upgrade if none of the subprotocols it offered is served.

    Other clients are accepted without one, in the endpoint's default codec (an
    unknown codec offered by name falls back); a browser would fail the handshake
    instead, with nothing said, and retry: better to tell it which codecs would do.
    """
    if (
        isinstance(decision, Admitted)
        and decision.subprotocol is None
        and request.subprotocols
        and _reads_http_refusals_poorly(request)
    ):
        served = ", ".join(plugins.codecs.names())
        return Refused(
            400,
            "Bad Request",
            f"none of the codecs offered ({', '.join(request.subprotocols)}) is served "
            f"here; offer one of: {served}",
        )
    return decision


def _reads_http_refusals_poorly(request: UpgradeRequest) -> bool:
    """The client is a WHATWG ``WebSocket`` (a browser, Node's global), which cannot read
    the status or body of a refused upgrade: it sends ``Origin`` or ``Sec-Fetch-Mode``."""
    return request.header("origin") is not None or request.header("sec-fetch-mode") is not None
