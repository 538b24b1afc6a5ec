"""``stream()`` and ``stream_async()``: one request's outputs as they come, over SSE.

The runner's ``/stream`` route (fal's contract, see
:mod:`warmwire.runner.stream_route`) answers one JSON input with
Server-Sent Events, one per output.  These clients POST the input with the
same credentials as ``realtime()`` (a token in ``fal_jwt_token``, or
``Authorization: Key`` with ``use_jwt=False``) and yield each output::

    for preview in warmwire.stream("acme/refine", {"prompt": "a fox"}, url=URL):
        show(preview)

    async with warmwire.stream_async("acme/refine", {"prompt": "a fox"}, url=URL) as events:
        async for preview in events:
            show(preview)

The last output is the final result.  An error event (``x-fal-error``) raises
:class:`StreamError` (``error`` is ``INVALID_INPUT``, ``INTERNAL_ERROR`` or
``TIMEOUT``; ``CONNECTION_CLOSED`` for a response cut short); a refusal before
the stream raises :class:`UnauthorizedError` (401) or :class:`HandshakeError`
(404, 503, ...; ``status_code`` and ``body``), as does a runner out of reach.
Leaving the iteration early (``break``, an exception, ``close()``) closes the
connection, and the runner stops the handler.  HTTP is ``httpx``'s: sync,
asyncio and trio alike.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import orjson

from warmwire.auth.strategies import Credentials, strategy_for
from warmwire.client.builder import ConnectionBuilder
from warmwire.client.options import DEFAULT_OPEN_TIMEOUT, ClientOptions, check_option_names
from warmwire.core.endpoint import Endpoint, RunnerUrl, normalize_path, parse_app_id
from warmwire.core.errors import (
    ConfigurationError,
    HandshakeError,
    RealtimeError,
    UnauthorizedError,
)
from warmwire.core.request_target import build_target
from warmwire.core.sse import EventParser, ServerSentEvent

if TYPE_CHECKING:
    # Typing only: PEP 692's Unpack is in typing from 3.11, and warmwire supports 3.10.
    from typing_extensions import Unpack

SUFFIX = "/stream"
ERROR_EVENT = "error"

_NOT_FOR_STREAMS = {
    "codec": "a stream's input and outputs are JSON",
    "encode_message": "a stream's input and outputs are JSON",
    "decode_message": "a stream's input and outputs are JSON",
    "max_buffering": "a stream answers one input",
    "transport": "a stream is plain HTTP (httpx); only the URL's scheme chooses the transport",
    "raw_path": "a stream is requested at the app's path followed by /stream",
    "max_message_size": "events are as large as the app makes them",
    "close_timeout": "a stream has no closing handshake",
}


class StreamError(RealtimeError):
    """The runner ended the stream with an error event.

    ``error`` is ``INVALID_INPUT`` (the input does not fit), ``INTERNAL_ERROR``
    (the app raised) or ``TIMEOUT`` (no output within the endpoint's timeout), or
    ``CONNECTION_CLOSED`` when the response was cut short (the runner stopped, or
    dropped a client that had stopped reading).
    """


@attrs.frozen(slots=True)
class _Request:
    """Where and how to POST: resolved from the options before any I/O."""

    url: RunnerUrl
    endpoint: Endpoint
    body: bytes
    options: ClientOptions

    @classmethod
    def of(cls, app: str, arguments: Any, options: ClientOptions) -> _Request:
        check_option_names(options)
        for name in options:
            if name in _NOT_FOR_STREAMS:
                raise ConfigurationError(
                    f"{name}= does not apply to stream(): {_NOT_FOR_STREAMS[name]}"
                )
        # The URL is resolved as realtime() does (url= or $WARMWIRE_URL, ws:// or http://).
        runner_url = ConnectionBuilder(app, url=options.get("url")).resolve().spec.url
        path = options.get("path")
        stream_path = SUFFIX
        if path is not None and normalize_path(path) != SUFFIX:
            stream_path = normalize_path(path) + SUFFIX
        endpoint = parse_app_id(app, stream_path)
        try:
            body = orjson.dumps(arguments)
        except TypeError as exc:
            raise ConfigurationError(f"the input must be JSON-serialisable: {exc}") from None
        strategy_for(options)  # the credential options are checked now, before any I/O
        return cls(runner_url, endpoint, body, options)

    def target(self, credentials: Credentials) -> str:
        base = "https" if self.url.secure else "http"
        host = self.url.host_header
        path = build_target(f"{self.url.prefix}{self.endpoint.url_path}", token=credentials.token)
        return f"{base}://{host}{path}"

    def timeout(self) -> httpx.Timeout:
        open_timeout = self.options.get("open_timeout", DEFAULT_OPEN_TIMEOUT)
        # Reading waits for the app: no timeout there (the runner's TIMEOUT event bounds it).
        return httpx.Timeout(open_timeout, read=None)

    def transport_kwargs(self) -> dict[str, Any]:
        """TLS settings and the Unix socket: the transport's (a client's own are not used
        once it is given a transport)."""
        context: ssl.SSLContext | bool = self.options.get("ssl_context") or True
        kwargs: dict[str, Any] = {"verify": context}
        if self.url.unix_path is not None:
            kwargs["uds"] = self.url.unix_path
        return kwargs


def _headers(credentials: Credentials) -> dict[str, str]:
    headers = {"accept": "text/event-stream", "content-type": "application/json"}
    headers.update(dict(credentials.headers))
    return headers


def _refusal(status: int, body: bytes) -> Exception:
    try:
        parsed = orjson.loads(body)
        reason = str(parsed.get("reason") or parsed) if isinstance(parsed, dict) else str(parsed)
    except orjson.JSONDecodeError:
        reason = body.decode("utf-8", "replace")
    if status == 401:
        return UnauthorizedError(reason)
    return HandshakeError(
        f"the runner refused the stream with HTTP {status}: {reason}",
        status_code=status,
        body=body,
    )


def _unreachable(request: _Request, exc: httpx.TransportError) -> HandshakeError:
    url = request.options.get("url") or "$WARMWIRE_URL"
    return HandshakeError(
        f"cannot reach the runner at {url}: {exc or type(exc).__name__}; is it running, "
        "and is the URL right?"
    )


def _cut(exc: httpx.TransportError) -> StreamError:
    return StreamError(
        "CONNECTION_CLOSED",
        f"the stream was cut before its end ({exc or type(exc).__name__}): the runner "
        "stopped, or dropped a client that stopped reading; ask again",
    )


def _output(event: ServerSentEvent) -> Any:
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError as exc:
        raise HandshakeError(f"the runner sent an event that is not JSON: {exc}") from None
    if event.event == ERROR_EVENT or (isinstance(data, dict) and data.get("type") == "x-fal-error"):
        raise StreamError(str(data.get("error", "")), str(data.get("reason", "")))
    return data


class EventStream:
    """The outputs of one stream, blocking: iterate, and ``close()`` (or ``with``) when done."""

    def __init__(self, request: _Request) -> None:
        self._request = request
        self._client: httpx.Client | None = None
        self._response: httpx.Response | None = None
        self._outputs: Iterator[Any] | None = None

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._outputs is None:
            self._outputs = self._read()
        try:
            return next(self._outputs)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection (the runner then stops the handler)."""
        outputs, self._outputs = self._outputs, iter(())
        if outputs is not None and hasattr(outputs, "close"):
            outputs.close()
        if self._response is not None:
            self._response.close()
        if self._client is not None:
            self._client.close()
        self._response = self._client = None

    def _read(self) -> Iterator[Any]:
        request = self._request
        auth = request.options.get("auth") or strategy_for(request.options)
        credentials = auth.credentials_sync(request.endpoint, request.url)
        self._client = client = httpx.Client(
            transport=httpx.HTTPTransport(**request.transport_kwargs()), timeout=request.timeout()
        )
        outgoing = client.build_request(
            "POST", request.target(credentials), content=request.body, headers=_headers(credentials)
        )
        try:
            self._response = response = client.send(outgoing, stream=True)
        except httpx.TransportError as exc:
            raise _unreachable(request, exc) from exc
        if response.status_code != 200:
            raise _refusal(response.status_code, response.read())
        parser = EventParser()
        try:
            for chunk in response.iter_bytes():
                for event in parser.feed(chunk):
                    yield _output(event)
        except httpx.TransportError as exc:
            raise _cut(exc) from exc


class AsyncEventStream:
    """The outputs of one stream (asyncio or trio): ``async for``, inside ``async with``."""

    def __init__(self, request: _Request) -> None:
        self._request = request
        self._client: httpx.AsyncClient | None = None
        self._response: httpx.Response | None = None
        self._outputs: AsyncIterator[Any] | None = None

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if self._outputs is None:
            self._outputs = self._read()
        try:
            return await self._outputs.__anext__()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection (the runner then stops the handler)."""
        outputs, self._outputs = self._outputs, _empty()
        if outputs is not None and hasattr(outputs, "aclose"):
            await outputs.aclose()
        if self._response is not None:
            await self._response.aclose()
        if self._client is not None:
            await self._client.aclose()
        self._response = self._client = None

    async def _read(self) -> AsyncIterator[Any]:
        request = self._request
        auth = request.options.get("auth") or strategy_for(request.options)
        credentials = await auth.credentials(request.endpoint, request.url)
        self._client = client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(**request.transport_kwargs()),
            timeout=request.timeout(),
        )
        outgoing = client.build_request(
            "POST", request.target(credentials), content=request.body, headers=_headers(credentials)
        )
        try:
            self._response = response = await client.send(outgoing, stream=True)
        except httpx.TransportError as exc:
            raise _unreachable(request, exc) from exc
        if response.status_code != 200:
            raise _refusal(response.status_code, await response.aread())
        parser = EventParser()
        try:
            async for chunk in response.aiter_bytes():
                for event in parser.feed(chunk):
                    yield _output(event)
        except httpx.TransportError as exc:
            raise _cut(exc) from exc


async def _empty() -> AsyncIterator[Any]:
    return
    yield  # an async generator that yields nothing


def stream(app: str, arguments: Any, **options: Unpack[ClientOptions]) -> EventStream:
    """POST ``arguments`` (JSON) to ``app``'s ``/stream`` route; iterate over its outputs::

        with warmwire.stream("acme/refine", {"prompt": "a fox"}, url=URL) as events:
            for preview in events:
                show(preview)

    The options are ``realtime()``'s where they apply (``url``, ``path``, the
    credentials, ``auth``, ``ssl_context``, ``open_timeout``); others raise
    :class:`ConfigurationError` before any I/O, as bad arguments do.
    """
    return EventStream(_Request.of(app, arguments, options))


def stream_async(app: str, arguments: Any, **options: Unpack[ClientOptions]) -> AsyncEventStream:
    """Async counterpart of :func:`stream` (asyncio or trio), with the same options::

    async with warmwire.stream_async("acme/refine", {"prompt": "a fox"}, url=URL) as events:
        async for preview in events:
            show(preview)
    """
    return AsyncEventStream(_Request.of(app, arguments, options))
