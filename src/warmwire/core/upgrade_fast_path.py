"""The runner's upgrade fast path: one object that knows who reads the request's bytes.

Most connections a runner sees open with the plainest WebSocket upgrade, and
:mod:`warmwire.core.http_request` parses that head for a fraction of h11's
cost.  Anything else (plain HTTP, an upgrade in a form that parser leaves
alone, a malformed or over-long head, a peer that leaves mid-head) goes to h11
from its first byte, so h11 judges and answers it exactly as it would without
the fast path.  Whoever read the head, the bytes that follow it (frames sent
before the 101, or EOF) wait for :meth:`~warmwire.core.server_handshake.ServerProtocol.accept`.

The states, h11-style (see :class:`FastPathState`)::

    READING_HEAD --a plain upgrade's head, whole--> FAST_UPGRADE
    READING_HEAD --anything else, EOF, too long---> H11_REQUEST
    H11_REQUEST  --h11 read an upgrade request----> H11_UPGRADE
    FAST_UPGRADE --an answer only h11 can write---> H11_UPGRADE
    FAST_UPGRADE | H11_UPGRADE --accepted---------> SWITCHED

Sans-IO and only for the handshake: nothing here runs per message.
"""

from __future__ import annotations

import enum

import h11

from warmwire.core import http_request
from warmwire.core.handshake_headers import MAX_HEADER_BYTES, asks_for_websocket


class FastPathState(enum.Enum):
    """Who holds the request's bytes, and what they are known to be."""

    READING_HEAD = "reading head"
    """The bytes so far may still be a plain upgrade's head: kept until the head ends."""
    FAST_UPGRADE = "fast upgrade"
    """A plain upgrade's head was parsed without h11: later bytes and EOF are kept here."""
    H11_REQUEST = "h11 request"
    """h11 reads the request, every byte of it from the first."""
    H11_UPGRADE = "h11 upgrade"
    """h11 has an upgrade request's head: it keeps later bytes and EOF as trailing data."""
    SWITCHED = "switched"
    """The upgrade was accepted: the bytes after the head are frames, read elsewhere."""


class UpgradeFastPath:
    """Where a server connection's bytes go until its request is answered.

    :class:`~warmwire.core.server_handshake.ServerProtocol` feeds it every byte
    read before the connection opens and asks it, by :attr:`state`, whether to
    read h11's events; it turns the parsed head into an
    :class:`~warmwire.core.events.UpgradeRequest` itself.
    """

    __slots__ = ("_buffer", "_eof", "_h11", "_head_size", "state")

    def __init__(self) -> None:
        self.state = FastPathState.READING_HEAD
        # READING_HEAD: the bytes so far.  FAST_UPGRADE: the head (its first
        # _head_size bytes), then whatever followed it.
        self._buffer = bytearray()
        self._head_size = 0
        self._eof = False  # FAST_UPGRADE: the peer ended the stream after the head
        self._h11: h11.Connection | None = None

    @property
    def h11_connection(self) -> h11.Connection:
        """The h11 connection that reads what the fast path does not, and writes HTTP answers.

        Made on first use: an upgrade on the fast path that is accepted never needs it.
        """
        if self._h11 is None:
            self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        return self._h11

    @property
    def upgrade_waiting(self) -> bool:
        """Whether an upgrade request's head has been read and nothing has switched yet."""
        return self.state is FastPathState.FAST_UPGRADE or self.state is FastPathState.H11_UPGRADE

    def receive_data(self, data: bytes | None) -> http_request.RequestHead | None:
        """Take bytes read before the connection opens (``None``: EOF; never ``b""``).

        Returns the head of a plain upgrade when this call completed one (the
        state is then ``FAST_UPGRADE``).  In ``H11_REQUEST`` afterwards, h11
        has the bytes and the caller reads its events.
        """
        state = self.state
        if state is FastPathState.READING_HEAD:
            if data is not None:
                return self._read_head(data)
            self._fall_back_to_h11(eof=True)  # the peer left mid-head
        elif state is FastPathState.H11_REQUEST:
            self._feed_h11(b"" if data is None else data, eof=data is None)
        elif state is FastPathState.FAST_UPGRADE:
            if not self._eof:  # bytes after EOF are ignored, as h11 would refuse them
                if data is None:
                    self._eof = True
                else:
                    self._buffer += data
        elif state is FastPathState.H11_UPGRADE:
            if not self.h11_connection.trailing_data[1]:
                self.h11_connection.receive_data(b"" if data is None else data)
        else:
            raise RuntimeError("the upgrade was accepted: its bytes are frames now")
        return None

    def upgrade_read_by_h11(self) -> None:
        """h11 has just read an upgrade request: from now on it keeps the bytes that follow."""
        self._expect(FastPathState.H11_REQUEST)
        self.state = FastPathState.H11_UPGRADE

    def hand_to_h11(self) -> h11.Request:
        """Give h11 the request the fast path read (and all that followed), before h11 answers.

        h11 writes every answer but the plain 101, and it can only answer a
        request it has read.
        """
        self._expect(FastPathState.FAST_UPGRADE)
        connection = self.h11_connection
        connection.receive_data(bytes(self._buffer))
        if self._eof:
            connection.receive_data(b"")
        self._buffer = bytearray()
        self.state = FastPathState.H11_UPGRADE
        request = connection.next_event()
        # parse_head takes only heads h11 takes (tests/core/test_http_request.py).
        assert isinstance(request, h11.Request), request
        return request

    def switch(self) -> tuple[bytes, bool]:
        """The upgrade is accepted: the bytes that followed its head, and whether EOF came."""
        if self.state is FastPathState.FAST_UPGRADE:
            trailing, eof = bytes(self._buffer[self._head_size :]), self._eof
            self._buffer = bytearray()
        else:
            self._expect(FastPathState.H11_UPGRADE)
            trailing, eof = self.h11_connection.trailing_data
        self.state = FastPathState.SWITCHED
        return trailing, eof

    def _read_head(self, data: bytes) -> http_request.RequestHead | None:
        """Add ``data`` to the head: the head once whole, else ``None`` (see :attr:`state`)."""
        buffer = self._buffer
        searched = len(buffer)
        buffer += data
        if not http_request.may_be_fast(buffer):
            self._fall_back_to_h11(eof=False)
            return None
        end = http_request.head_end(buffer, searched - 2)
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                self._fall_back_to_h11(eof=False)  # h11 answers it with 431
            return None
        head = http_request.parse_head(buffer, end)
        if head is None or not asks_for_websocket(head.headers):
            self._fall_back_to_h11(eof=False)
            return None
        self._head_size = end
        self.state = FastPathState.FAST_UPGRADE
        return head

    def _fall_back_to_h11(self, *, eof: bool) -> None:
        """Not a plain upgrade (or the peer left): h11 reads it all from the first byte."""
        pending = bytes(self._buffer)
        self._buffer = bytearray()
        self.state = FastPathState.H11_REQUEST
        self._feed_h11(pending, eof=eof)

    def _feed_h11(self, data: bytes, *, eof: bool) -> None:
        if data:
            self.h11_connection.receive_data(data)
        if eof:
            self.h11_connection.receive_data(b"")

    def _expect(self, state: FastPathState) -> None:
        if self.state is not state:
            raise RuntimeError(f"the upgrade fast path is {self.state.value}, not {state.value}")
