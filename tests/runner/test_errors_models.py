"""App errors, undecodable input and input/output models, end to end.

An app's exception becomes ``INTERNAL_ERROR`` (its message, never its
traceback) and the session goes on; an input that cannot be decoded or does
not fit the endpoint's model becomes ``INVALID_INPUT`` naming the problem, and
the session goes on.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import attrs
import msgpack
import orjson
import pydantic
import pytest

import warmwire
from warmwire import runner
from warmwire.runner import RunningServer

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


class Failing(runner.App, app_id="test/failing"):
    @runner.realtime("/sync")
    def run_sync(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise ValueError(f"cannot handle n={inp['n']}")
        return {"n": inp["n"]}

    @runner.realtime("/async")
    async def run_async(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise ValueError(f"cannot handle n={inp['n']}")
        return {"n": inp["n"]}

    @runner.realtime("/stream")
    def stream(self, inp: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield {"n": inp["n"], "part": 0}
        if inp.get("fail"):
            raise ValueError(f"cannot handle n={inp['n']}")
        yield {"n": inp["n"], "part": 1}

    @runner.realtime("/bidi")
    async def bidi(self, inputs: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        async for inp in inputs:
            if inp.get("fail"):
                raise ValueError(f"cannot handle n={inp['n']}")
            yield {"n": inp["n"]}

    @runner.realtime("/unencodable")
    def unencodable(self, inp: dict[str, Any]) -> Any:
        return {"n": inp["n"], "bad": object()} if inp.get("fail") else {"n": inp["n"]}


@pytest.fixture
async def failing_server() -> AsyncIterator[RunningServer]:
    async with runner.serve(Failing, insecure_no_auth=True) as server:
        yield server


@pytest.mark.parametrize("path", ["/sync", "/async", "/bidi"])
async def test_app_exception_is_internal_error_and_the_session_goes_on(
    failing_server: RunningServer, path: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("test/failing", url=failing_server.url, path=path) as c:
            await c.send({"n": 1})
            assert await c.recv() == {"n": 1}
            await c.send({"n": 2, "fail": True})
            with pytest.raises(warmwire.RealtimeError) as caught:
                await c.recv()
            await c.send({"n": 3})
            assert await c.recv() == {"n": 3}
    error = caught.value
    assert not isinstance(error, warmwire.ConnectionClosedError)
    assert error.error == "INTERNAL_ERROR"
    assert "cannot handle n=2" in error.reason
    assert "ValueError" in error.reason
    assert "Traceback" not in error.reason
    assert 'File "' not in error.reason


async def test_streaming_exception_after_some_outputs(failing_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "test/failing", url=failing_server.url, path="/stream"
        ) as c:
            await c.send({"n": 1, "fail": True})
            assert await c.recv() == {"n": 1, "part": 0}
            with pytest.raises(warmwire.RealtimeError) as caught:
                await c.recv()
            await c.send({"n": 2})
            assert [await c.recv(), await c.recv()] == [{"n": 2, "part": 0}, {"n": 2, "part": 1}]
    assert caught.value.error == "INTERNAL_ERROR"
    assert "cannot handle n=1" in caught.value.reason
    assert "Traceback" not in caught.value.reason


async def test_unencodable_output_is_internal_error(failing_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "test/failing", url=failing_server.url, path="/unencodable"
        ) as c:
            await c.send({"n": 1, "fail": True})
            with pytest.raises(warmwire.RealtimeError) as caught:
                await c.recv()
            await c.send({"n": 2})
            assert await c.recv() == {"n": 2}
    assert caught.value.error == "INTERNAL_ERROR"
    assert "Traceback" not in caught.value.reason


class Fatal(BaseException):
    """Not an app error: like ``KeyboardInterrupt``, it must stop the runner."""


class Dying(runner.App, app_id="test/dying"):
    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("die"):
            raise Fatal(f"fatal at n={inp['n']}")
        return {"n": inp["n"]}


async def test_a_base_exception_escaping_a_handler_stops_the_runner() -> None:
    """The session's working task (under asyncio, a task it starts at the first
    input of a burst) does not swallow it: it ends the runner that serves it."""

    async def serve_and_die() -> None:
        async with runner.serve(Dying, insecure_no_auth=True) as server:
            async with warmwire.realtime_async("test/dying", url=server.url) as c:
                await c.send({"n": 1})
                assert await c.recv() == {"n": 1}
                await c.send({"n": 2, "die": True})
                await anyio.sleep_forever()  # until the runner's failure cancels this

    with pytest.raises(BaseExceptionGroup) as caught, anyio.fail_after(TIMEOUT):
        await serve_and_die()
    assert caught.group_contains(Fatal, match="fatal at n=2", depth=None)


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"\xc1", "undecodable"),  # a byte msgpack never uses
        (b"\x93\x01\x02", "msgpack array truncated"),
        ("{not json", "undecodable"),
        (msgpack.packb([1, 2]), "map/object"),
        ('"a string"', "map/object"),
    ],
)
async def test_undecodable_input_is_invalid_input_and_the_session_goes_on(
    failing_server: RunningServer, raw_ws: Callable[..., Any], frame: bytes | str, why: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with raw_ws(failing_server, "/test/failing/async") as ws:
            await ws.send(frame)
            error = await ws.recv()
            await ws.send(msgpack.packb({"n": 5}))
            after = await ws.recv()
    assert isinstance(error, str)
    message = orjson.loads(error)
    assert message["type"] == "x-fal-error"
    assert message["error"] == "INVALID_INPUT"
    assert "Traceback" not in message["reason"]
    if why != "msgpack array truncated":
        assert why in message["reason"]
    assert isinstance(after, bytes)
    assert msgpack.unpackb(after) == {"n": 5}


# -- input and output models ------------------------------------------------------------------


@attrs.define
class AttrsPoint:
    x: int
    y: float
    label: str = "p"


@dataclasses.dataclass
class DataPoint:
    x: int
    y: float
    label: str = "p"


class PydanticPoint(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int
    y: float
    label: str = "p"


def doubled(inp: Any) -> Any:
    return type(inp)(x=inp.x * 2, y=inp.y + 1, label=inp.label.upper())


async def total_until_end(inputs: AsyncIterator[Any], model: type) -> dict[str, Any]:
    total = 0
    async for inp in inputs:
        assert isinstance(inp, model), f"the handler got {type(inp).__name__}"
        total += inp.x
        if inp.label == "end":
            break
    return {"total": total}


class AttrsModels(runner.App, app_id="test/models"):
    @runner.realtime("/realtime")
    def run(self, inp: AttrsPoint) -> AttrsPoint:
        assert isinstance(inp, AttrsPoint), f"the handler got {type(inp).__name__}"
        return doubled(inp)

    @runner.realtime("/stream-in")
    async def stream_in(self, inputs: AsyncIterator[AttrsPoint]) -> dict[str, Any]:
        return await total_until_end(inputs, AttrsPoint)


class DataclassModels(runner.App, app_id="test/models"):
    @runner.realtime("/realtime")
    def run(self, inp: DataPoint) -> DataPoint:
        assert isinstance(inp, DataPoint), f"the handler got {type(inp).__name__}"
        return doubled(inp)

    @runner.realtime("/stream-in")
    async def stream_in(self, inputs: AsyncIterator[DataPoint]) -> dict[str, Any]:
        return await total_until_end(inputs, DataPoint)


class PydanticModels(runner.App, app_id="test/models"):
    @runner.realtime("/realtime")
    def run(self, inp: PydanticPoint) -> PydanticPoint:
        assert isinstance(inp, PydanticPoint), f"the handler got {type(inp).__name__}"
        return doubled(inp)

    @runner.realtime("/stream-in")
    async def stream_in(self, inputs: AsyncIterator[PydanticPoint]) -> dict[str, Any]:
        return await total_until_end(inputs, PydanticPoint)


@pytest.fixture(params=["attrs", "dataclass", "pydantic"])
async def models_server(request: pytest.FixtureRequest) -> AsyncIterator[RunningServer]:
    app = {"attrs": AttrsModels, "dataclass": DataclassModels, "pydantic": PydanticModels}
    async with runner.serve(app[request.param], insecure_no_auth=True) as server:
        yield server


async def test_model_input_is_validated_and_model_output_is_a_dict(
    models_server: RunningServer,
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("test/models", url=models_server.url) as conn:
            await conn.send({"x": 2, "y": 0.5, "request_id": "r1"})
            first = await conn.recv()
            await conn.send({"x": 3, "y": 1, "label": "q"})
            second = await conn.recv()
    assert first == {"x": 4, "y": 1.5, "label": "P", "request_id": "r1"}
    assert second == {"x": 6, "y": 2.0, "label": "Q"}


@pytest.mark.parametrize(
    ("inp", "field"),
    [
        ({"y": 1.0}, "x"),  # missing
        ({"x": 1}, "y"),  # missing
        ({"x": "one", "y": 1.0}, "x"),  # wrong type
        ({"x": 1, "y": "far"}, "y"),  # wrong type
        ({"x": 1, "y": 1.0, "label": 7}, "label"),  # wrong type, optional field
        ({"x": 1, "y": 1.0, "colour": "red"}, "colour"),  # unknown
    ],
)
async def test_model_violations_are_invalid_input_naming_the_field(
    models_server: RunningServer, inp: dict[str, Any], field: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("test/models", url=models_server.url) as conn:
            await conn.send({**inp, "request_id": "bad"})
            with pytest.raises(warmwire.RealtimeError) as caught:
                await conn.recv()
            await conn.send({"x": 1, "y": 1.0})
            assert await conn.recv() == {"x": 2, "y": 2.0, "label": "P"}
    assert caught.value.error == "INVALID_INPUT"
    assert f"'{field}'" in caught.value.reason
    assert "Traceback" not in caught.value.reason


async def test_streaming_input_models_are_validated_one_by_one(
    models_server: RunningServer,
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "test/models", url=models_server.url, path="/stream-in"
        ) as conn:
            await conn.send({"x": 1, "y": 0.0})
            await conn.send({"x": "two", "y": 0.0})  # reported, skipped
            with pytest.raises(warmwire.RealtimeError) as caught:
                await conn.recv()
            await conn.send({"x": 3, "y": 0.0, "label": "end"})
            assert await conn.recv() == {"total": 4}
    assert caught.value.error == "INVALID_INPUT"
    assert "'x'" in caught.value.reason
