"""A runner that is one of several processes sharing a port (``warmwire serve --workers N``).

The kernel hands each connection to one of the workers (``SO_REUSEPORT``), a
metrics scrape included: a worker answering with only its own figures would be
silently partial.  So each worker also listens on a private Unix socket of its
own, where it answers with its own figures (``GET /metrics?worker=self``); a
scrape on the shared port gathers every worker's over those sockets and answers
them together, each figure labelled ``worker="i"`` (sum over the label for the
runner's totals).  If a worker does not answer, the scrape gets a 503 that names
it: never a partial answer passing for the whole.
"""

from __future__ import annotations

import os

import anyio
import attrs
import httpx
import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from warmwire.core.events import HttpRequest
from warmwire.runner.http_routes import Headers
from warmwire.runner.metrics import CONTENT_TYPE, Metrics

OWN_FIGURES = "worker=self"
"""The query of a scrape for one worker's own figures (what the workers ask each other)."""

GATHER_TIMEOUT = 5.0
"""Seconds a scrape waits for each other worker's figures."""


@attrs.frozen(slots=True)
class WorkerGroup:
    """This runner is worker ``index``; ``sockets[i]`` is where worker ``i`` answers for itself."""

    index: int
    sockets: tuple[str, ...]

    @classmethod
    def in_directory(cls, directory: str, index: int, workers: int) -> WorkerGroup:
        """Worker ``index`` of ``workers``, their private sockets in ``directory``."""
        return cls(
            index, tuple(os.path.join(directory, f"worker-{i}.sock") for i in range(workers))
        )

    @property
    def own_socket(self) -> str:
        return self.sockets[self.index]

    async def answer(self, request: HttpRequest, own: Metrics) -> tuple[int, bytes, Headers] | None:
        """The answer to ``request`` if it is a scrape for the whole group, else ``None``."""
        path, _, query = request.target.partition("?")
        if path != "/metrics" or query == OWN_FIGURES:
            return None
        figures = {self.index: own.render().decode()}
        missing: list[str] = []

        async def fetch(index: int, socket: str) -> None:
            transport = httpx.AsyncHTTPTransport(uds=socket)
            try:
                async with httpx.AsyncClient(transport=transport, timeout=GATHER_TIMEOUT) as http:
                    response = await http.get(f"http://worker-{index}/metrics?{OWN_FIGURES}")
                    response.raise_for_status()
            except httpx.HTTPError as exc:
                missing.append(f"worker {index} ({socket}): {exc or type(exc).__name__}")
            else:
                figures[index] = response.text

        async with anyio.create_task_group() as tg:
            for index, socket in enumerate(self.sockets):
                if index != self.index:
                    tg.start_soon(fetch, index, socket)
        if missing:
            reason = (
                "cannot answer for every worker: "
                + "; ".join(sorted(missing))
                + "; retry the scrape (a worker may be restarting)"
            )
            body = orjson.dumps({"error": "Service Unavailable", "reason": reason})
            return 503, body, (("content-type", "application/json"),)
        return 200, _labelled(figures), (("content-type", CONTENT_TYPE),)


def _labelled(figures: dict[int, str]) -> bytes:
    """Every worker's exposition text as one, each sample labelled with its worker."""
    families: dict[str, Metric] = {}
    for index in sorted(figures):
        for family in text_string_to_metric_families(figures[index]):
            merged = families.get(family.name)
            if merged is None:
                merged = Metric(family.name, family.documentation, family.type, family.unit)
                families[family.name] = merged
            worker = str(index)
            merged.samples.extend(
                sample._replace(labels={**sample.labels, "worker": worker})
                for sample in family.samples
            )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values())))
    return generate_latest(registry)


@attrs.frozen(eq=False)  # registered in a registry: hashed by identity
class _Families:
    """A collector of families already made."""

    families: list[Metric]

    def collect(self) -> list[Metric]:
        return self.families
