"""The SSE codec (warmwire.core.sse): whatever the chunking and line endings, the parser
gives back the events the encoder wrote, and skips what it must (comments, id, retry)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from warmwire.core.sse import EventParser, ServerSentEvent, encode_event

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=40,
)
_events = st.lists(
    st.tuples(
        _text.filter(lambda s: not s.startswith(" ")), st.none() | st.sampled_from(["error", "x"])
    ),
    max_size=8,
)


def _feed_in_pieces(data: bytes, cuts: list[int]) -> list[ServerSentEvent]:
    parser = EventParser()
    events: list[ServerSentEvent] = []
    start = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        events += parser.feed(data[start:cut])
        start = max(start, cut)
    events += parser.feed(data[start:])
    return events


@given(_events, st.lists(st.integers(min_value=0), max_size=10))
def test_encoded_events_come_back_whatever_the_chunking(
    events: list[tuple[str, str | None]], cuts: list[int]
) -> None:
    data = b"".join(encode_event(text.encode(), name) for text, name in events)
    parsed = _feed_in_pieces(data, cuts)
    expected = [ServerSentEvent(text, name or "message") for text, name in events]
    # An event with empty data still has a data line: it is dispatched, with "".
    assert parsed == expected


@given(st.sampled_from(["\n", "\r\n", "\r"]), st.lists(st.integers(min_value=0), max_size=10))
def test_line_endings_comments_and_multiline_data(ending: str, cuts: list[int]) -> None:
    lines = [
        ": keepalive",
        "id: 7",
        "retry: 1000",
        "event: update",
        "data: first",
        "data:second",
        "",
        "data",
        "",
        "",
        "event: nodata",
        "",
    ]
    data = ending.join(lines).encode() + ending.encode()
    assert _feed_in_pieces(data, cuts) == [
        ServerSentEvent("first\nsecond", "update"),
        ServerSentEvent("", "message"),
    ]


def test_utf8_split_across_chunks() -> None:
    data = encode_event("é🦊".encode())
    parser = EventParser()
    events = [e for i in range(len(data)) for e in parser.feed(data[i : i + 1])]
    assert events == [ServerSentEvent("é🦊")]
