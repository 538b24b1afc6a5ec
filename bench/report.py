"""Turn a run's results into ``docs/benchmarks.md``, ``docs/benchmarks.png`` and a console table.

Everything between ``<!-- analysis:start -->`` and ``<!-- analysis:end -->`` in an
existing ``benchmarks.md`` is hand-written analysis: it is kept across runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs

from bench.pairs import batch_ratios, cpu_per_message, idle_held, load_held, meets, spread
from bench.profiling import WAITING
from bench.stats import ratio

ANALYSIS_START = "<!-- analysis:start -->"
ANALYSIS_END = "<!-- analysis:end -->"
PAYLOADS = ("32 B", "100 KB", "1 MB")

# (numerator, denominator, what the target says, limit, payloads it applies to)
RTT_TARGETS = (
    (
        "ww-asyncio",
        "websockets-asyncio",
        "async client ≤ 1.0\u00d7 websockets (asyncio)",
        1.0,
        PAYLOADS,
    ),
    (
        "ww-blocking",
        "websockets-sync",
        "blocking client ≤ 1.0\u00d7 websockets sync client",
        1.0,
        PAYLOADS,
    ),
    (
        "ww-asyncio",
        "fal-async",
        "async client ≤ 0.67\u00d7 the fal stack",
        0.67,
        ("100 KB", "1 MB"),
    ),
    (
        "ww-asyncio",
        "tcp-asyncio",
        "32 B within 2\u00d7 the raw-TCP floor (asyncio)",
        2.0,
        ("32 B",),
    ),
    (
        "ww-blocking",
        "tcp-blocking",
        "32 B within 2\u00d7 the raw-TCP floor (blocking)",
        2.0,
        ("32 B",),
    ),
)
# Ratios shown for information (no target).
RTT_INFO = (
    ("ww-trio", "websockets-asyncio"),
    ("ww-trio", "tcp-asyncio"),
    ("ww-blocking", "fal-sync"),
    ("ww-asyncio", "fal-async-nodeflate"),
    ("ww-asyncio-thread", "fal-async"),
    ("ww-asyncio-thread", "ww-asyncio"),
    ("ww-asyncio-hop", "ww-asyncio"),
    ("websockets-asyncio", "tcp-asyncio"),
    ("websockets-sync", "tcp-blocking"),
)
# Load-pair targets: (figure in bench.pairs.LOAD_FIGURES, what the target says, limit).
LOAD_TARGETS = (
    ("latency_p99", "load run p99 (from schedule) ≤ 1.0\u00d7 the websockets server's", 1.0),
    ("cpu_per_message", "load run server CPU per message ≤ 1.0\u00d7 websockets'", 1.0),
)
IDLE_LIMIT = 1.0
"""warmwire / websockets memory (RSS) per idle session."""
INSTRUCTIONS_LIMIT = 1.0
"""Runner instructions per 32 B round trip (callgrind) / the websockets echo server's."""
SYNC_HANDLER = ("ww-asyncio-thread", "ww-asyncio", "32 B")
SYNC_HOP = "ww-asyncio-hop"
"""The sync handler's contender against a runner with ``worker_loop`` off: the hop."""
SYNC_LIMIT = 1.2
"""A sync handler's 32 B round trip / an async handler's (p50)."""
CLIENTS = {
    "raw": "a minimal WebSocket client (`bench/rawclient.py`: one pre-masked frame, "
    "header-only parsing, so the generator takes as little of the 2 cores as asyncio "
    "allows)",
    "warmwire": "warmwire's async client",
}


def ms(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "\u2013"
    if seconds < 0.001:
        return f"{seconds * 1000:.3f}"
    if seconds < 0.1:
        return f"{seconds * 1000:.2f}"
    return f"{seconds * 1000:.0f}"


def fx(value: float | None) -> str:
    return "\u2013" if value is None else f"{value:.2f}\u00d7"


SINGULAR = {"pairs": "pair", "interleaved batches": "batch"}


def fspread(summary: dict[str, Any] | None, what: str = "pairs") -> str:
    """A ratio over pairs (or batches): its median, and its min and max in brackets."""
    if summary is None:
        return "\u2013"
    n = summary["count"]
    if n == 1:
        return f"{fx(summary['median'])} (1 {SINGULAR.get(what, what)})"
    return (
        f"median {fx(summary['median'])} "
        f"({summary['low']:.2f}\u2013{summary['high']:.2f}\u00d7 over {n} {what})"
    )


def mib(value: float) -> str:
    return f"{value / 1024 / 1024:.1f} MiB"


def kib(value: float) -> str:
    return f"{value / 1024:.1f} KiB"


def _rtt(results: dict[str, Any], payload: str, key: str, field: str = "p50") -> float | None:
    entry = results.get("rtt", {}).get(payload, {}).get(key)
    return None if entry is None else float(entry[field])


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and verdict (``None`` when it could not be measured)."""
    rows = []
    for num, den, text, limit, payloads in RTT_TARGETS:
        for payload in payloads:
            value = ratio(_rtt(results, payload, num), _rtt(results, payload, den))
            why = None
            if value is None:
                lost = {**results.get("failed", {}), **results.get("skipped", {})}
                why = lost.get(den) or lost.get(num)
                if isinstance(why, list):
                    why = "; ".join(why)
            rows.append(
                {
                    "target": f"{text} — {payload}",
                    "measured": fx(value) if value is not None else f"not measured ({why})",
                    "met": None if value is None else value <= limit,
                }
            )
    rows += _load_targets(results, "load_pairs") + _load_targets(results, "load_pairs_sync")
    rows += _instructions_targets(results)
    rows += [*_idle_targets(results), _sync_handler_target(results)]
    return rows


def _instructions_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The repeatable form of CPU per message: instructions, counted by callgrind."""
    block = results.get("instructions")
    if not block:
        return []
    target = (
        "runner instructions per 32 B round trip ≤ 1.0\u00d7 the websockets echo server's "
        "(callgrind, one connection, asyncio, async handler)"
    )
    if "error" in block:
        return [{"target": target, "measured": f"not measured ({block['error']})", "met": None}]
    value = block["warmwire"] / block["websockets"]
    return [
        {
            "target": target,
            "measured": f"{fx(value)} ({block['warmwire']:,.0f} against "
            f"{block['websockets']:,.0f}; sync handler {block['warmwire_sync']:,.0f}"
            + (f", with the hop {hop:,.0f}" if (hop := block.get("warmwire_hop")) else "")
            + ")",
            "met": value <= INSTRUCTIONS_LIMIT,
        }
    ]


def _runs(block: dict[str, Any], side: str) -> list[dict[str, Any]]:
    return [p[side] for p in block["pairs"] if "error" not in p and side in p]


def _not_measured(block: dict[str, Any]) -> str:
    errors = [f"pair {p['index'] + 1}: {p['error']}" for p in block["pairs"] if "error" in p]
    return f"not measured ({'; '.join(errors) or 'no complete pair'})"


def _load_targets(results: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The load targets of the block ``key`` (``load_pairs``: the async handler;
    ``load_pairs_sync``: the sync handler); a block on another endpoint than the async
    handler's says which."""
    block = results.get(key)
    if not block:
        return []
    conf = block["settings"]
    endpoint = f", endpoint `{conf['path']}`" if conf["path"] != "/async" else ""
    rows = []
    for figure, text, limit in LOAD_TARGETS:
        summary = block["summary"].get(figure)
        rows.append(
            {
                "target": f"{text} — {conf['sessions']} sessions \u00d7 "
                f"{conf['rate_per_session']:g}/s, {conf['duration']:g} s{endpoint}",
                "measured": fspread(summary) if summary else _not_measured(block),
                "met": meets(summary, limit),
            }
        )
    runs = _runs(block, "warmwire") + _runs(block, "websockets")
    unheld = [
        f"{side} in pair {p['index'] + 1}"
        for p in block["pairs"]
        for side in ("warmwire", "websockets")
        if side in p and not load_held(p[side])
    ]
    rows.append(
        {
            "target": "load held in every run, so the ratios compare like with like (all "
            f"{conf['sessions']} sessions connected, no errors, ≥ 99 % of the offered "
            f"rate){endpoint}",
            "measured": (
                f"{len(runs)} runs, "
                + (f"not held: {', '.join(unheld)}" if unheld else "every one held")
            )
            if runs
            else _not_measured(block),
            "met": (not unheld) if runs else None,
        }
    )
    return rows


def _idle_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    block = results.get("idle_pairs")
    if not block:
        return []
    summary = block["summary"].get("rss_per_session")
    complete = [p for p in block["pairs"] if "error" not in p]
    unheld = [
        f"{side} in pair {p['index'] + 1} held {p[side]['held']}"
        for p in complete
        for side in ("warmwire", "websockets")
        if not idle_held(p[side])
    ]
    measured = fspread(summary) if summary else _not_measured(block)
    if unheld:
        measured += f"; not every session held: {', '.join(unheld)}"
    met = meets(summary, IDLE_LIMIT)
    return [
        {
            "target": "idle session memory (RSS) ≤ 1.0\u00d7 websockets' per session — "
            f"{block['settings']['sessions']:,} sessions",
            "measured": measured,
            "met": None if met is None else met and not unheld,
        }
    ]


def sync_handler_ratio(results: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The sync handler's round trip over the async handler's: the median and spread of
    the ratios of the two contenders' batch p50s, round by round; without per-batch
    figures (an older results file), the ratio of the overall p50s.  Also says which
    it is."""
    num, den, payload = SYNC_HANDLER
    rtt = results.get("rtt", {}).get(payload, {})
    if num not in rtt or den not in rtt:
        return None, "not measured"
    per_batch = batch_ratios(rtt[num].get("batch_p50", []), rtt[den].get("batch_p50", []))
    if per_batch:
        summary = spread(per_batch)
        return (None if summary is None else attrs.asdict(summary)), "interleaved batches"
    value = ratio(rtt[num]["p50"], rtt[den]["p50"])
    if value is None:
        return None, "not measured"
    return {"median": value, "low": value, "high": value, "count": 1}, "overall p50s"


def thread_hop_text(results: dict[str, Any]) -> str | None:
    """What a sync handler's round trip adds to an async one's with ``worker_loop`` off,
    beside the floor under it: one bare thread hop in CPython, and warmwire's
    ``WorkerPool.run`` (``bench/threadhop.py``)."""
    hop = results.get("thread_hop")
    _, den, payload = SYNC_HANDLER
    num = SYNC_HOP
    extra = None
    if _rtt(results, payload, num) is not None and _rtt(results, payload, den) is not None:
        extra = _rtt(results, payload, num) - _rtt(results, payload, den)
    if not hop or extra is None:
        return None
    us = 1e6
    return (
        f"What a sync handler adds with `worker_loop` off (`--no-worker-loop`): its {payload} "
        "round trip's p50 is "
        f"{extra * us:,.0f} \u00b5s over an async handler's (`{num}` \u2212 `{den}`). "
        "Under it lies a hop to a thread and back, two cross-thread wake-ups an async "
        "handler never pays; measured in the bench process on asyncio for a call that "
        f"returns at once ({hop['rounds']} interleaved rounds of {hop['hops_per_round']:,} "
        f"hops, `bench/threadhop.py`), a bare hop (a `SimpleQueue` to a thread, "
        f"`call_soon_threadsafe` back to a future) takes {hop['bare_p50'] * us:,.0f} \u00b5s "
        f"p50 and warmwire's `WorkerPool.run` {hop['pool_p50'] * us:,.0f} \u00b5s: the 1.2\u00d7 "
        "target leaves the hop "
        f"{0.2 * _rtt(results, payload, den) * us:,.0f} \u00b5s."
        + (
            f" With both threads held to one CPU the bare hop takes "
            f"{hop['bare_one_cpu_p50'] * us:,.0f} \u00b5s: the rest is the cost of waking "
            "another CPU, twice per hop."
            if hop.get("bare_one_cpu_p50") is not None
            else ""
        )
    )


def _sync_handler_target(results: dict[str, Any]) -> dict[str, Any]:
    num, den, payload = SYNC_HANDLER
    summary, basis = sync_handler_ratio(results)
    if summary is None:
        lost = {**results.get("failed", {}), **results.get("skipped", {})}
        why = lost.get(num) or lost.get(den) or "no round trips"
        if isinstance(why, list):
            why = "; ".join(why)
        measured = f"not measured ({why})"
    elif basis == "interleaved batches":
        measured = fspread(summary, "interleaved batches")
    else:
        measured = f"{fx(summary['median'])} (ratio of the overall p50s)"
    return {
        "target": f"a sync handler's {payload} round trip ≤ 1.2\u00d7 an async handler's "
        f"(`{num}` / `{den}`)",
        "measured": measured,
        "met": meets(summary, SYNC_LIMIT),
    }


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def _label(results: dict[str, Any], key: str) -> str:
    return str(results["contenders"].get(key, {}).get("label", key))


def markdown(results: dict[str, Any], analysis: str) -> str:
    out: list[str] = []
    add = out.append
    m = results["machine"]
    add("# Benchmarks\n")
    add(
        "Generated by `make bench` (`python -m bench`) on "
        f"{results['started']}, {results['mode']} run, {results['seconds'] / 60:.1f} minutes. "
        "Every figure below comes from that one run on one machine: compare the **ratios**, "
        "absolute times drift on shared machines. Method and caveats are at the end.\n"
    )
    add("![Round-trip latency by payload and contender](benchmarks.png)\n")

    add("## Targets\n")
    add(
        "| target | measured (ratios within this run: of p50 round trips; of load and idle "
        "runs, pair by pair) | verdict |"
    )
    add("| --- | --- | --- |")
    for row in targets(results):
        add(f"| {row['target']} | {row['measured']} | {_verdict(row['met'])} |")
    add("")

    skipped = results.get("skipped", {})
    failed = results.get("failed", {})
    if skipped or failed:
        add("Left out of this run:\n")
        for key, why in skipped.items():
            add(f"- `{key}`: {why}")
        for key, whys in failed.items():
            add(f"- `{key}` failed: {'; '.join(whys)}")
        add("")

    add("## Round trips\n")
    add(
        "One message sent, its echo received, on one open connection; "
        f"{_count(results)} round trips per contender and payload after a warm-up, in "
        "interleaved batches. Milliseconds.\n"
    )
    head = "| contender | " + " | ".join(f"{p} p50 | {p} p99" for p in PAYLOADS) + " |"
    add(head)
    add("| --- |" + " ---: |" * (2 * len(PAYLOADS)))
    for key in results["contenders"]:
        if not any(_rtt(results, p, key) is not None for p in PAYLOADS):
            continue
        cells = []
        for p in PAYLOADS:
            cells += [ms(_rtt(results, p, key)), ms(_rtt(results, p, key, "p99"))]
        add(f"| {_label(results, key)} | " + " | ".join(cells) + " |")
    add("")
    add("Ratios (p50, and p99 in brackets):\n")
    add("| ratio | " + " | ".join(PAYLOADS) + " |")
    add("| --- |" + " ---: |" * len(PAYLOADS))
    pairs = [(n, d) for n, d, *_ in RTT_TARGETS] + list(RTT_INFO)
    seen = set()
    for num, den in pairs:
        if (num, den) in seen:
            continue
        seen.add((num, den))
        cells = []
        for p in PAYLOADS:
            r50 = ratio(_rtt(results, p, num), _rtt(results, p, den))
            r99 = ratio(_rtt(results, p, num, "p99"), _rtt(results, p, den, "p99"))
            cells.append(f"{fx(r50)} ({fx(r99)})" if r50 is not None else "\u2013")
        add(f"| `{num}` / `{den}` | " + " | ".join(cells) + " |")
    add("")
    hop = thread_hop_text(results)
    if hop:
        add(hop + "\n")

    if any("client_cpu" in e for p in results.get("rtt", {}).values() for e in p.values()):
        add("CPU time per round trip, client / server, in microseconds: the bench process's")
        add("CPU (all its threads) and the server process's CPU over each batch, divided by")
        add("its round trips. It says which side a latency gap comes from.\n")
        add("| contender | " + " | ".join(PAYLOADS) + " |")
        add("| --- |" + " ---: |" * len(PAYLOADS))
        for key in results["contenders"]:
            cells = []
            for p in PAYLOADS:
                e = results["rtt"].get(p, {}).get(key)
                if e is None or "client_cpu" not in e:
                    cells.append("\u2013")
                else:
                    cells.append(f"{e['client_cpu'] * 1e6:,.0f} / {e['server_cpu'] * 1e6:,.0f}")
            if any(c != "\u2013" for c in cells):
                add(f"| {_label(results, key)} | " + " | ".join(cells) + " |")
        add("")

    if results.get("pipeline"):
        add("## Pipelined throughput\n")
        window = next(iter(next(iter(results["pipeline"].values())).values()))["window"]
        add(
            f"Messages per second on one connection with up to {window} in flight "
            "(median of the interleaved rounds; the runner's realtime buffer drops nothing "
            "at this depth).\n"
        )
        add("| contender | " + " | ".join(PAYLOADS) + " |")
        add("| --- |" + " ---: |" * len(PAYLOADS))
        for key in results["contenders"]:
            cells = []
            for p in PAYLOADS:
                entry = results["pipeline"].get(p, {}).get(key)
                cells.append("\u2013" if entry is None else f"{entry['msgs_per_s']:,.0f}")
            if any(c != "\u2013" for c in cells):
                add(f"| {_label(results, key)} | " + " | ".join(cells) + " |")
        add("")

    if results.get("connect"):
        add("## Connect time\n")
        add("From the call to an open, usable connection (closing is not counted). Milliseconds.\n")
        add("| contender | p50 | p99 | what a connect includes |")
        add("| --- | ---: | ---: | --- |")
        for key, entry in results["connect"].items():
            add(
                f"| {_label(results, key)} | {ms(entry['p50'])} | {ms(entry['p99'])} | "
                f"{entry['note']} |"
            )
        add("")

    load = results.get("load_pairs")
    if load:
        _load_section(add, load, "Load run")
    load_sync = results.get("load_pairs_sync")
    if load_sync:
        _load_section(add, load_sync, "Load run, sync handler")

    idle = results.get("idle_pairs")
    if idle:
        _idle_section(add, idle, results["mode"])
    profile = results.get("profile")
    if profile:
        add("## Profile of warmwire's round trip\n")
        add(
            "pyinstrument (sampling every 0.5 ms) on the async client (asyncio), the blocking "
            "client and the runner's event-loop thread, echo endpoint `/async`. *Self* time is "
            "time in the function's own code (C functions appear as `<built-in>`); the share "
            "is of the busy time, i.e. excluding waiting for the peer (epoll, and a blocking "
            "socket's `recv`). Full call trees: "
            "`docs/benchmarks-profiles/*.txt`.\n"
        )
        for payload, sides in profile.items():
            for side in ("client-async", "client-blocking", "runner"):
                if side not in sides:
                    continue
                data = sides[side]
                busy = data["total"] - data["waiting"]
                what = f"{sides['count']:,} messages"
                if side == "runner" and "client-async" in sides:
                    what = f"{sides['count']:,} round trips from each of the two clients"
                add(
                    f"**{payload}, {side}** ({what}; "
                    f"{data['total']:.2f} s sampled, {busy:.2f} s busy)\n"
                )
                if data.get("layers"):
                    layers = ", ".join(
                        f"{name} {seconds / busy:.0%}"
                        for name, seconds in list(data["layers"].items())[:8]
                        if busy
                    )
                    add(f"Busy time by layer: {layers}.\n")
                add("| function (self time) | file | share of busy |")
                add("| --- | --- | ---: |")
                rows = [r for r in data["self"] if (r["file"], r["function"]) and r["seconds"]]
                shown = 0
                for row in rows:
                    if (Path(row["file"]).name, row["function"]) in WAITING:
                        continue
                    share = row["seconds"] / busy if busy else 0
                    add(f"| `{row['function']}` | `{row['file']}` | {share:.0%} |")
                    shown += 1
                    if shown == 10:
                        break
                add("")

    add("## Analysis\n")
    add(ANALYSIS_START)
    add(analysis.strip() or "_(to be written after a full run)_")
    add(ANALYSIS_END)
    add("")

    add("## Machine\n")
    add(f"- CPUs: {m['nproc']} ({m['usable_cpus']} usable), {m['cpu_model']}")
    add(f"- Memory: {m['memory']}; kernel {m['kernel']}")
    add(f"- Python: {m['python']}")
    add(
        "- Libraries: " + ", ".join(f"{name} {version}" for name, version in m["libraries"].items())
    )
    dirty = (
        f", with {len(m['src_changes'])} uncommitted changes under src/" if m["src_changes"] else ""
    )
    add(f"- warmwire at commit {m['git_commit']}{dirty}")
    if m.get("fal_versions"):
        versions = ", ".join(f"{k} {v}" for k, v in m["fal_versions"].items())
        add(f"- The fal endpoint ran on `{m.get('fal_python')}`: {versions}")
    if results["notes"].get("fal_extensions"):
        add(
            "- The fal stack negotiated `Sec-WebSocket-Extensions: "
            f"{results['notes']['fal_extensions']}` (fal-client's and uvicorn's defaults)."
        )
    add("")

    add("## Method\n")
    add(
        "- Each server runs in its own process; the clients run in the bench process, each "
        "in its own thread with its own event loop (or none), driven one batch at a time: "
        "a round visits every contender once in a fresh random order, so noise lands on all "
        "of them alike.\n"
        "- Payloads: a dict whose msgpack encoding is 32 bytes; dicts with a 100,000- and a "
        "1,000,000-byte random (incompressible) image plus two small fields. Every WebSocket "
        "contender encodes and decodes msgpack at both ends; the raw-TCP floor sends the "
        "same encoded bytes with a 4-byte length prefix and no codec.\n"
        "- warmwire: `bench/servers/warmwire_runner.py` serves `bench/echo` with "
        "`runner.serve` (what `warmwire serve` runs), with a signing key and an API key; "
        "clients connect with a token it minted, so every connect is verified. It runs "
        "without keepalive pings (`--no-keepalive`): between its batches a client is not "
        "read for longer than the ping timeout, and warmwire's client answers pings only "
        "while it reads. `/async` "
        "echoes on the event loop, like the peers' servers; `/realtime` runs a sync handler "
        "in the worker thread, like a model (the `→ sync handler` row).\n"
        "- websockets: its asyncio server and its asyncio and sync clients, permessage-deflate "
        "off on both ends (warmwire does not compress; the images do not compress).\n"
        "- fal: a `fal.App` with an async `@fal.realtime` echo, the FastAPI app fal builds "
        "for it, served by uvicorn with the settings of `App.serve`; `fal-client` pointed at "
        "it through its module constants `REALTIME_URL_FORMAT` and `REST_URL`. Defaults "
        "untouched (so permessage-deflate is negotiated).\n"
        "- Pipelined: a sender keeps up to the window of messages in flight while the "
        "receiver takes results (blocking clients alternate on one thread).\n"
        "- Load and idle runs use fresh server processes without authentication, in pairs: "
        "one run of warmwire and one of the websockets echo server under the same settings "
        "(the same generator processes and counts), back to back, warmwire first in "
        "odd-numbered pairs and websockets first in even-numbered ones (so a drift of the "
        "machine during the bench lands on both alike), every run with a fresh server "
        "process. A ratio is taken within a pair; over the pairs it is reported as its "
        "median and its spread (min\u2013max), and a target is met when the median is at or "
        "under it. A pair in which a run failed is shown and left out of the median.\n"
        "- The sync-handler target: in every round of the 32 B round trips, the batch p50 of "
        "`ww-asyncio-thread` (the `/realtime` endpoint, a sync handler, its session served "
        "whole on the worker thread's own event loop: `worker_loop`, the default) over that "
        "of `ww-asyncio` (`/async`, an async handler on the runner's loop), both batches of "
        "the same interleaved round; the median and spread of these per-round ratios. "
        "`ww-asyncio-hop` is the same endpoint on a second runner started with "
        "`--no-worker-loop`, where every call hops to the worker thread and back (shown "
        "for information).\n"
        "- The instructions target (`bench/instructions.py`): the warmwire runner and the "
        "websockets echo server, each in turn under `valgrind --tool=callgrind`, answer one "
        "connection of warmwire's async client; after a warm-up the counters are zeroed, "
        "the client does its round trips of 32 B, and the user-space instructions the "
        "server executed are divided by them. The kernel's share of a send is not in it; "
        "unlike wall-clock CPU, the count repeats to within 0.1 % on a busy machine."
    )
    add("")
    return "\n".join(out)


def _cpu_msg(run: dict[str, Any]) -> str:
    value = cpu_per_message(run)
    return "\u2013" if value is None else f"{value * 1e6:,.0f} \u00b5s"


def _pair_label(pair: dict[str, Any]) -> str:
    return f"{pair['index'] + 1} ({' then '.join(pair['order'])})"


def _interleaving(pairs: int, kind: str) -> str:
    if pairs == 1:
        return (
            f"One pair of {kind} runs (warmwire first, then websockets), each with a fresh "
            "server process: one ratio, no spread."
        )
    return (
        f"{pairs} interleaved pairs of {kind} runs, each run with a fresh server process: "
        "warmwire first in odd-numbered pairs, websockets first in even-numbered ones, so "
        "that a drift of the machine lands on both alike. Each ratio is warmwire / "
        "websockets within one pair; the last row gives its median and its spread "
        "(min\u2013max) over the pairs."
    )


def _load_section(add: Any, block: dict[str, Any], title: str) -> None:
    conf = block["settings"]
    pairs = block["pairs"]
    client = next(
        (p[s]["client"] for p in pairs for s in ("warmwire", "websockets") if s in p), "raw"
    )
    add(f"## {title}\n")
    add(
        f"{conf['sessions']} concurrent sessions, each sending a 32-byte message "
        f"{conf['rate_per_session']:g} times a second (one in flight) for "
        f"{conf['duration']:g} s against one server process (warmwire endpoint "
        f"`{conf['path']}`), from {conf['workers']} load-generator processes using "
        f"{CLIENTS.get(client)}, on the same 2 cores. Latency is measured from each "
        "message's scheduled send time, so a server that falls behind shows it. The same "
        "generator against the websockets echo server is the reference. "
        f"{_interleaving(conf['pairs'], 'load')} Milliseconds; server CPU per answered "
        "message in microseconds. The last column checks the machine: the generators do "
        "the same work against either server, so the ratio of their CPU per message is "
        "1.00\u00d7 when the pair's two runs had the same machine; far from it (a "
        "neighbour, the host), the pair's other ratios say less about the servers.\n"
    )
    add(
        "| pair (order) | warmwire p50 / p99 | websockets p50 / p99 | warmwire CPU/msg | "
        "websockets CPU/msg | p50 ratio | p99 ratio | CPU/msg ratio | generators' CPU/msg "
        "ratio (the machine check) |"
    )
    add("| --- |" + " ---: |" * 8)
    figures = ("latency_p50", "latency_p99", "cpu_per_message", "generators_cpu_per_message")
    for pair in pairs:
        if "error" in pair:
            add(f"| {_pair_label(pair)} | failed: {pair['error']} |" + " |" * 7)
            continue
        ww, ref = pair["warmwire"], pair["websockets"]
        add(
            f"| {_pair_label(pair)} "
            f"| {ms(ww['latency_p50'])} / {ms(ww['latency_p99'])} "
            f"| {ms(ref['latency_p50'])} / {ms(ref['latency_p99'])} "
            f"| {_cpu_msg(ww)} | {_cpu_msg(ref)} | "
            + " | ".join(fx(pair["ratios"][f]) for f in figures)
            + " |"
        )
    summary = block["summary"]
    cells = []
    for f in figures:
        sm = summary.get(f)
        cells.append(
            "\u2013"
            if sm is None
            else f"**{fx(sm['median'])}** ({sm['low']:.2f}\u2013{sm['high']:.2f}\u00d7)"
        )
    add(
        f"| median (spread) over {summary_count(summary)} pairs | | | | | "
        + " | ".join(cells)
        + " |"
    )
    add("")
    add("Every run:\n")
    add(
        "| pair | server | connected | offered \u2192 achieved (within the window) | "
        "latency max | send\u2192result p50 / p99 | errors | server CPU | generators' CPU | "
        "server RSS at the end |"
    )
    add("| --- | --- |" + " ---: |" * 8)
    for pair in pairs:
        for side in pair["order"]:
            if side not in pair:
                continue
            r = pair[side]
            add(
                f"| {pair['index'] + 1} | {side} | {r['connected']} / {r['sessions']} | "
                f"{r['offered_per_s']:,.0f} \u2192 {r['achieved_per_s']:,.0f} msg/s | "
                f"{ms(r['latency_max'])} | {ms(r['service_p50'])} / {ms(r['service_p99'])} | "
                f"{r['errors']} | {r['runner_cpu_percent']:.0f} % | "
                f"{r['generators_cpu_percent']:.0f} % | {mib(r['runner_rss'])} |"
            )
    add("")


def summary_count(summary: dict[str, Any]) -> int:
    """How many complete pairs a summary is over (the most any of its figures has)."""
    return max((s["count"] for s in summary.values() if s), default=0)


def _idle_section(add: Any, block: dict[str, Any], mode: str) -> None:
    pairs = block["pairs"]
    n = block["settings"]["pairs"]
    add("## Idle sessions\n")
    add(
        "Sessions opened and left idle (each client keeps a `recv()` pending, so "
        "keepalive pings are answered); memory growth of the server process divided by "
        "the sessions held. USS counts only the process's own pages. "
        f"{_interleaving(n, 'idle')}"
        + (
            " (The full bench runs 3 pairs of 5,000 sessions; a quick run, one pair of a few "
            "hundred.)"
            if mode == "quick"
            else ""
        )
        + "\n"
    )
    add(
        "| pair | server | held | connect all | RSS before \u2192 after | per session (RSS) | "
        "per session (USS) | CPU while idle |"
    )
    add("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for pair in pairs:
        if "error" in pair:
            add(f"| {pair['index'] + 1} | failed: {pair['error']} |" + " |" * 6)
        for side in pair["order"]:
            if side not in pair:
                continue
            e = pair[side]
            add(
                f"| {pair['index'] + 1} | {side} | {e['held']} / {e['sessions']} | "
                f"{e['connect_seconds']:.1f} s | "
                f"{mib(e['rss_before'])} \u2192 {mib(e['rss_after'])} | "
                f"{kib(e['rss_per_session'])} | {kib(e['uss_per_session'])} | "
                f"{e['idle_cpu_percent']:.1f} % |"
            )
    add("")
    add("warmwire / websockets memory per idle session:\n")
    add("| pair (order) | RSS ratio | USS ratio |")
    add("| --- | ---: | ---: |")
    for pair in pairs:
        if "error" not in pair:
            r = pair["ratios"]
            add(
                f"| {_pair_label(pair)} | {fx(r['rss_per_session'])} | {fx(r['uss_per_session'])} |"
            )
    summary = block["summary"]
    rss, uss = summary.get("rss_per_session"), summary.get("uss_per_session")
    if rss and rss["count"] > 1:
        add(
            f"| median (spread) over {rss['count']} pairs | **{fx(rss['median'])}** "
            f"({rss['low']:.2f}\u2013{rss['high']:.2f}\u00d7) | "
            + (
                f"{fx(uss['median'])} ({uss['low']:.2f}\u2013{uss['high']:.2f}\u00d7) |"
                if uss
                else "\u2013 |"
            )
        )
    met = meets(rss, IDLE_LIMIT)
    add(
        f"\nAgainst the target (RSS per session \u2264 {IDLE_LIMIT:.1f}\u00d7 websockets'): "
        f"{fspread(rss)}, {_verdict(met)}."
    )
    add("")


def _count(results: dict[str, Any]) -> str:
    counts = {
        e["count"] for p in results.get("rtt", {}).values() for e in p.values() if "count" in e
    }
    if not counts:
        return "no"
    low, high = min(counts), max(counts)
    return f"{low:,}" if low == high else f"{low:,}\u2013{high:,}"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        k for k in results["contenders"] if any(k in results["rtt"].get(p, {}) for p in PAYLOADS)
    ]
    colors = {"warmwire": "#d9480f", "websockets": "#1c7ed6", "fal": "#7048e8", "tcp": "#868e96"}
    fig, axes = plt.subplots(1, len(PAYLOADS), figsize=(15, 0.45 * len(keys) + 2.0), sharey=True)
    for ax, payload in zip(axes, PAYLOADS, strict=True):
        data = results["rtt"].get(payload, {})
        ys = list(range(len(keys)))
        p50 = [data[k]["p50"] * 1000 if k in data else 0 for k in keys]
        p99 = [data[k]["p99"] * 1000 if k in data else 0 for k in keys]
        family = [results["contenders"][k]["family"] for k in keys]
        floor = min([v for v in p50 if v] + [1.0]) / 3
        ax.barh(
            ys,
            [v - floor if v else 0 for v in p50],
            left=floor,
            color=[colors[f] for f in family],
            alpha=0.85,
            label="p50",
        )
        ax.scatter(p99, ys, marker="|", s=200, color="black", label="p99", zorder=3)
        for y, v in zip(ys, p50, strict=True):
            if v:
                ax.text(v, y, f" {v:.3g}", va="center", fontsize=7)
        ax.set_title(f"{payload} payload")
        ax.set_xlabel("round trip, ms (log scale)")
        ax.set_xscale("log")
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlim(floor, max([*p99, 1.0]) * 2.5)
    axes[0].set_yticks(range(len(keys)))
    axes[0].set_yticklabels([_label(results, k) for k in keys], fontsize=8)
    axes[0].invert_yaxis()
    axes[-1].legend(loc="lower right", fontsize=8)
    fig.suptitle("Round-trip latency (bars: p50, ticks: p99) — same run, lower is better")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict[str, Any], out_dir: Path) -> None:
    md_path = out_dir / "benchmarks.md"
    analysis = ""
    if md_path.exists():
        text = md_path.read_text()
        if ANALYSIS_START in text and ANALYSIS_END in text:
            analysis = text.split(ANALYSIS_START, 1)[1].split(ANALYSIS_END, 1)[0]
    md_path.write_text(markdown(results, analysis))
    plot(results, out_dir / "benchmarks.png")


def console_summary(results: dict[str, Any]) -> str:
    lines = []
    width = (
        max(len(_label(results, k)) for k in results["contenders"]) if results["contenders"] else 20
    )
    lines.append("round trip p50 / p99, ms")
    lines.append(" " * width + "".join(f"{p:>22}" for p in PAYLOADS))
    for key in results["contenders"]:
        if not any(_rtt(results, p, key) is not None for p in PAYLOADS):
            continue
        cells = "".join(
            f"{ms(_rtt(results, p, key)) + ' / ' + ms(_rtt(results, p, key, 'p99')):>22}"
            for p in PAYLOADS
        )
        lines.append(f"{_label(results, key):<{width}}{cells}")
    lines.append("")
    lines.append("targets")
    for row in targets(results):
        lines.append(
            f"  [{_verdict(row['met']).strip('*'):>12}] {row['target']}: {row['measured']}"
        )
    for key, why in results.get("skipped", {}).items():
        lines.append(f"  left out: {key}: {why}")
    for key, whys in results.get("failed", {}).items():
        lines.append(f"  failed: {key}: {'; '.join(whys)}")
    return "\n".join(lines)
