"""The benchmark's interleaved pairs and targets: medians, spreads and verdicts on known data.

No timing and no servers: the results dicts are shaped as ``bench.load.run_load``,
``bench.idle.run_idle`` and ``python -m bench``'s round-trip phase write them.
"""

from __future__ import annotations

from typing import Any

import pytest
from bench import report
from bench.pairs import (
    IDLE_FIGURES,
    LOAD_FIGURES,
    batch_ratios,
    cpu_per_message,
    generators_cpu_per_message,
    load_held,
    meets,
    order,
    pair_ratios,
    run_pairs,
    schedule,
    spread,
    summarize_pairs,
)


def load_run(server: str, p50: float, p99: float, cpu_percent: float, **over: Any) -> dict:
    run = {
        "server": server,
        "sessions": 1000,
        "connected": 1000,
        "rate_per_session": 10.0,
        "duration": 20.0,
        "workers": 4,
        "path": "/async",
        "offered_per_s": 10000.0,
        "achieved_per_s": 10000.0,
        "client": "raw",
        "completed": 200000,
        "scheduled": 200000,
        "errors": 0,
        "latency_p50": p50,
        "latency_p99": p99,
        "latency_max": 2 * p99,
        "service_p50": p50 / 2,
        "service_p99": p99 / 2,
        "runner_cpu_percent": cpu_percent,
        "generators_cpu_percent": 90.0,
        "runner_rss": 100 * 2**20,
    }
    return {**run, **over}


def idle_run(server: str, per_session: float, held: int = 5000) -> dict:
    return {
        "server": server,
        "sessions": 5000,
        "held": held,
        "runner_counted": None,
        "runner_counted_after_idle": None,
        "connect_seconds": 5.0,
        "rss_before": 50 * 2**20,
        "rss_after": 50 * 2**20 + per_session * held,
        "uss_before": 40 * 2**20,
        "uss_after": 40 * 2**20 + per_session * held,
        "rss_per_session": per_session,
        "uss_per_session": per_session,
        "idle_cpu_percent": 0.5,
    }


def load_block(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``run_load_pairs`` returns, built from given pairs."""
    for i, pair in enumerate(pairs):
        pair.setdefault("index", i)
        pair.setdefault("order", list(order(i)))
        pair["ratios"] = pair_ratios(pair, LOAD_FIGURES)
    complete = [p for p in pairs if "error" not in p]
    return {
        "settings": {
            "pairs": len(pairs),
            "sessions": 1000,
            "rate_per_session": 10.0,
            "duration": 20.0,
            "workers": 4,
            "path": "/async",
        },
        "pairs": pairs,
        "summary": summarize_pairs(complete, LOAD_FIGURES),
    }


def idle_block(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    for i, pair in enumerate(pairs):
        pair.setdefault("index", i)
        pair.setdefault("order", list(order(i)))
        pair["ratios"] = pair_ratios(pair, IDLE_FIGURES)
    return {
        "settings": {"pairs": len(pairs), "sessions": 5000, "workers": 4},
        "pairs": pairs,
        "summary": summarize_pairs([p for p in pairs if "error" not in p], IDLE_FIGURES),
    }


def rows_by_start(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["target"].split(" \u2014 ")[0]: row for row in report.targets(results)}


def base_results(**blocks: Any) -> dict[str, Any]:
    return {"mode": "full", "contenders": {}, "skipped": {}, "failed": {}, "rtt": {}, **blocks}


# --- pure summaries ---------------------------------------------------------------------------


def test_order_alternates_which_side_goes_first() -> None:
    assert order(0) == ("warmwire", "websockets")
    assert order(1) == ("websockets", "warmwire")
    assert order(4) == ("warmwire", "websockets")
    assert list(schedule(3)) == [
        (0, "warmwire"),
        (0, "websockets"),
        (1, "websockets"),
        (1, "warmwire"),
        (2, "warmwire"),
        (2, "websockets"),
    ]


def test_spread_is_median_and_range_of_what_was_measured() -> None:
    s = spread([1.2, 0.8, None, 1.0, float("nan"), 0.9, 1.5])
    assert s is not None
    assert (s.median, s.low, s.high, s.count) == (1.0, 0.8, 1.5, 5)
    even = spread([1.0, 2.0])
    assert even is not None
    assert even.median == pytest.approx(1.5)
    assert spread([None, float("nan")]) is None
    assert spread([]) is None


def test_load_pair_ratios_and_their_summary() -> None:
    pairs = [
        # p99 ratio 0.8, p50 ratio 0.5, CPU/msg ratio 70/50 = 1.4
        {
            "warmwire": load_run("warmwire", 0.001, 0.020, 70),
            "websockets": load_run("websockets", 0.002, 0.025, 50),
        },
        # p99 ratio 1.2, CPU/msg 1.0
        {
            "warmwire": load_run("warmwire", 0.001, 0.030, 60),
            "websockets": load_run("websockets", 0.001, 0.025, 60),
        },
        # p99 ratio 0.9, CPU/msg 0.5
        {
            "warmwire": load_run("warmwire", 0.003, 0.027, 40),
            "websockets": load_run("websockets", 0.002, 0.030, 80),
        },
    ]
    first = pair_ratios(pairs[0], LOAD_FIGURES)
    assert first["latency_p99"] == pytest.approx(0.8)
    assert first["latency_p50"] == pytest.approx(0.5)
    assert first["cpu_per_message"] == pytest.approx(1.4)
    summary = summarize_pairs(pairs, LOAD_FIGURES)
    p99 = summary["latency_p99"]
    assert p99 is not None
    assert p99["median"] == pytest.approx(0.9)
    assert (p99["low"], p99["high"], p99["count"]) == (pytest.approx(0.8), pytest.approx(1.2), 3)
    cpu = summary["cpu_per_message"]
    assert cpu is not None
    assert cpu["median"] == pytest.approx(1.0)
    assert (cpu["low"], cpu["high"]) == (pytest.approx(0.5), pytest.approx(1.4))


def test_run_pairs_runs_in_schedule_order_and_leaves_out_a_failed_pair() -> None:
    p99s = iter([0.020, 0.025, 0.030, 0.025])  # the runs that succeed, in order
    ran: list[str] = []

    def run(side: str) -> dict[str, Any]:
        ran.append(side)
        if len(ran) == 3:  # pair 2's first run
            raise RuntimeError("the server did not start")
        return load_run(side, 0.001, next(p99s), 50)

    logged: list[str] = []
    results, summary = run_pairs(3, run, LOAD_FIGURES, what="load", log=logged.append)
    # Pair 2 stops at its failed run; the others run both sides, first side alternating.
    assert ran == ["warmwire", "websockets", "websockets", "warmwire", "websockets"]
    assert [r["order"] for r in results] == [
        ["warmwire", "websockets"],
        ["websockets", "warmwire"],
        ["warmwire", "websockets"],
    ]
    assert results[1]["error"] == "websockets: RuntimeError: the server did not start"
    assert any("failed" in line and "left out" in line for line in logged)
    p99 = summary["latency_p99"]
    assert p99 is not None
    assert p99["count"] == 2  # the failed pair is not in the summary
    assert (p99["low"], p99["high"]) == (pytest.approx(0.8), pytest.approx(1.2))


def test_cpu_per_message_is_cpu_seconds_over_answered_messages() -> None:
    # 50 % of a core at 10,000 msg/s: 50 µs per message.
    assert cpu_per_message(load_run("warmwire", 0.001, 0.01, 50.0)) == pytest.approx(50e-6)
    assert cpu_per_message(load_run("warmwire", 0.001, 0.01, 50.0, achieved_per_s=0.0)) is None


def test_generators_cpu_per_message_is_their_cpu_seconds_over_answered_messages() -> None:
    # 90 % of a core across the generators at 10,000 msg/s: 90 µs per message.
    run = load_run("warmwire", 0.001, 0.01, 50.0)
    assert generators_cpu_per_message(run) == pytest.approx(90e-6)
    assert generators_cpu_per_message({**run, "achieved_per_s": 0.0}) is None


def test_a_pair_missing_a_side_has_no_ratio() -> None:
    pair = {"warmwire": load_run("warmwire", 0.001, 0.02, 50)}
    assert pair_ratios(pair, LOAD_FIGURES) == dict.fromkeys(LOAD_FIGURES)
    nan_p99 = {
        "warmwire": load_run("warmwire", 0.001, float("nan"), 50),
        "websockets": load_run("websockets", 0.001, 0.02, 50),
    }
    assert pair_ratios(nan_p99, LOAD_FIGURES)["latency_p99"] is None


def test_verdict_is_the_median_against_the_limit() -> None:
    assert meets({"median": 1.0, "low": 0.5, "high": 3.0, "count": 3}, 1.0) is True
    assert meets({"median": 1.01, "low": 0.5, "high": 1.01, "count": 3}, 1.0) is False
    assert meets({"median": 1.19, "low": 1.19, "high": 1.19, "count": 1}, 1.2) is True
    assert meets(None, 1.0) is None


def test_batch_ratios_pair_rounds_and_skip_the_missing() -> None:
    num = [[0, 2.0], [1, 3.0], [2, 4.0], [3, 1.0]]
    den = [[0, 1.0], [2, 2.0], [3, 0.0]]  # round 1 missing; round 3's zero gives no ratio
    assert batch_ratios(num, den) == [2.0, 2.0]


def test_load_held_needs_every_session_no_errors_and_the_rate() -> None:
    assert load_held(load_run("warmwire", 0.001, 0.02, 50))
    assert not load_held(load_run("warmwire", 0.001, 0.02, 50, connected=999))
    assert not load_held(load_run("warmwire", 0.001, 0.02, 50, errors=1))
    assert not load_held(load_run("warmwire", 0.001, 0.02, 50, achieved_per_s=9800.0))
    assert load_held(load_run("warmwire", 0.001, 0.02, 50, achieved_per_s=9900.0))


# --- the report's targets -----------------------------------------------------------------------


def test_load_targets_met_and_missed_on_the_median() -> None:
    block = load_block(
        [
            {
                "warmwire": load_run("warmwire", 0.001, 0.020, 70),
                "websockets": load_run("websockets", 0.002, 0.025, 50),
            },
            {
                "warmwire": load_run("warmwire", 0.001, 0.030, 60),
                "websockets": load_run("websockets", 0.001, 0.025, 50),
            },
            {
                "warmwire": load_run("warmwire", 0.003, 0.027, 40),
                "websockets": load_run("websockets", 0.002, 0.030, 50),
            },
        ]
    )
    rows = rows_by_start(base_results(load_pairs=block))
    p99 = rows["load run p99 (from schedule) \u2264 1.0\u00d7 the websockets server's"]
    assert p99["met"] is True  # median 0.9 although pair 2 was 1.2
    assert p99["measured"] == "median 0.90\u00d7 (0.80\u20131.20\u00d7 over 3 pairs)"
    cpu = rows["load run server CPU per message \u2264 1.0\u00d7 websockets'"]
    assert cpu["met"] is False  # ratios 1.4, 1.2, 0.8: median 1.2
    assert cpu["measured"].startswith("median 1.20\u00d7")
    held = next(r for r in report.targets(base_results(load_pairs=block)) if "held" in r["target"])
    assert held["met"] is True


def test_a_failed_or_unheld_load_pair_is_reported() -> None:
    block = load_block(
        [
            {
                "warmwire": load_run("warmwire", 0.001, 0.020, 50, errors=3),
                "websockets": load_run("websockets", 0.001, 0.040, 50),
            },
            {
                "websockets": load_run("websockets", 0.001, 0.025, 50),
                "error": "warmwire: RuntimeError: a load worker exited",
            },
        ]
    )
    assert block["summary"]["latency_p99"]["count"] == 1
    rows = report.targets(base_results(load_pairs=block))
    held = next(r for r in rows if "held" in r["target"])
    assert held["met"] is False
    assert "warmwire in pair 1" in held["measured"]
    p99 = next(r for r in rows if r["target"].startswith("load run p99"))
    assert p99["measured"] == "0.50\u00d7 (1 pair)"
    text = report.markdown({**base_results(load_pairs=block), **MARKDOWN_CONTEXT}, analysis="")
    assert "failed: warmwire: RuntimeError: a load worker exited" in text


def test_the_sync_handler_load_block_has_targets_and_a_table_of_its_own() -> None:
    on_loop = load_block(
        [
            {
                "warmwire": load_run("warmwire", 0.001, 0.020, 50),
                "websockets": load_run("websockets", 0.001, 0.025, 50),
            }
        ]
    )
    sync = load_block(
        [
            {
                "warmwire": load_run("warmwire", 0.001, 0.050, 50),
                "websockets": load_run("websockets", 0.001, 0.025, 50),
            }
        ]
    )
    sync["settings"]["path"] = "/realtime"
    results = base_results(load_pairs=on_loop, load_pairs_sync=sync)
    rows = [r for r in report.targets(results) if r["target"].startswith("load run p99")]
    assert [(r["met"], "endpoint `/realtime`" in r["target"]) for r in rows] == [
        (True, False),
        (False, True),
    ]
    text = report.markdown({**results, **MARKDOWN_CONTEXT}, analysis="")
    assert "## Load run\n" in text
    assert "## Load run, sync handler\n" in text
    assert "warmwire endpoint `/realtime`" in text


def test_no_complete_load_pair_is_not_measured() -> None:
    block = load_block([{"error": "warmwire: RuntimeError: boom"}])
    rows = [r for r in report.targets(base_results(load_pairs=block)) if "load" in r["target"]]
    assert len(rows) == 3
    assert {r["met"] for r in rows} == {None}
    assert all("pair 1: warmwire: RuntimeError: boom" in r["measured"] for r in rows)


def test_idle_target_on_the_rss_ratio_and_every_session_held() -> None:
    block = idle_block(
        [
            {"warmwire": idle_run("warmwire", 30000), "websockets": idle_run("websockets", 15000)},
            {"warmwire": idle_run("warmwire", 16000), "websockets": idle_run("websockets", 16000)},
            {"warmwire": idle_run("warmwire", 9000), "websockets": idle_run("websockets", 10000)},
        ]
    )
    (row,) = [r for r in report.targets(base_results(idle_pairs=block)) if "idle" in r["target"]]
    assert row["met"] is True  # ratios 2.0, 1.0, 0.9: median 1.0
    assert row["measured"] == "median 1.00\u00d7 (0.90\u20132.00\u00d7 over 3 pairs)"
    short = idle_block(
        [
            {
                "warmwire": idle_run("warmwire", 9000, held=4990),
                "websockets": idle_run("websockets", 10000),
            }
        ]
    )
    (row,) = [r for r in report.targets(base_results(idle_pairs=short)) if "idle" in r["target"]]
    assert row["met"] is False  # 0.9x, but not every session was held
    assert "warmwire in pair 1 held 4990" in row["measured"]


def rtt_entry(p50: float, batches: list[list[float]] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"count": 100, "p50": p50, "p99": 2 * p50}
    if batches is not None:
        entry["batch_p50"] = batches
    return entry


def test_sync_handler_target_from_batch_ratios() -> None:
    results = base_results()
    results["rtt"]["32 B"] = {
        "ww-asyncio-thread": rtt_entry(2.2e-4, [[0, 2.4e-4], [1, 2.2e-4], [2, 1.1e-4]]),
        "ww-asyncio": rtt_entry(1.0e-4, [[0, 2.0e-4], [1, 1.0e-4], [2, 1.0e-4]]),
    }
    summary, basis = report.sync_handler_ratio(results)
    assert basis == "interleaved batches"
    assert summary is not None
    assert summary["median"] == pytest.approx(1.2)  # 1.2, 2.2, 1.1
    assert (summary["low"], summary["high"]) == (pytest.approx(1.1), pytest.approx(2.2))
    (row,) = report.targets(results)[-1:]
    assert row["target"].startswith("a sync handler's 32 B round trip")
    assert row["met"] is True
    results["rtt"]["32 B"]["ww-asyncio-thread"]["batch_p50"][2] = [2, 1.3e-4]  # 1.2, 2.2, 1.3
    assert report.targets(results)[-1]["met"] is False


def test_the_hop_is_a_ratio_for_information_not_a_target() -> None:
    results = base_results()
    results["rtt"]["32 B"] = {
        "ww-asyncio-thread": rtt_entry(1.0e-4, [[0, 1.1e-4], [1, 1.0e-4], [2, 0.9e-4]]),
        "ww-asyncio-hop": rtt_entry(2.2e-4, [[0, 2.4e-4], [1, 2.2e-4], [2, 2.1e-4]]),
        "ww-asyncio": rtt_entry(1.0e-4, [[0, 1.0e-4], [1, 1.0e-4], [2, 1.0e-4]]),
    }
    rows = [r for r in report.targets(results) if r["target"].startswith("a sync handler's")]
    assert [r["met"] for r in rows] == [True]
    assert "`ww-asyncio-thread` / `ww-asyncio`" in rows[0]["target"]
    assert ("ww-asyncio-hop", "ww-asyncio") in report.RTT_INFO


def instructions_row(results: dict[str, Any]) -> dict[str, Any]:
    (row,) = [r for r in report.targets(results) if r["target"].startswith("runner instructions")]
    return row


def test_instructions_target_is_the_ratio_to_websockets() -> None:
    counts = {"websockets": 144_000.0, "warmwire_sync": 245_000.0, "round_trips": 2000}
    row = instructions_row(base_results(instructions={**counts, "warmwire": 138_240.0}))
    assert row["measured"].startswith("0.96\u00d7 (138,240 against 144,000")
    assert row["met"] is True
    row = instructions_row(base_results(instructions={**counts, "warmwire": 151_200.0}))
    assert row["met"] is False
    hop = {**counts, "warmwire": 138_240.0, "warmwire_hop": 244_600.0}
    row = instructions_row(base_results(instructions=hop))
    assert row["measured"].endswith("sync handler 245,000, with the hop 244,600)")


def test_instructions_not_counted_say_why() -> None:
    block = {"error": "valgrind not installed: apt-get install valgrind"}
    row = instructions_row(base_results(instructions=block))
    assert row["measured"] == f"not measured ({block['error']})"
    assert row["met"] is None


def test_sync_handler_target_falls_back_to_overall_p50s() -> None:
    results = base_results()
    results["rtt"]["32 B"] = {
        "ww-asyncio-thread": rtt_entry(2.5e-4, None),
        "ww-asyncio": rtt_entry(1.0e-4, None),
    }
    row = report.targets(results)[-1]
    assert row["met"] is False
    assert row["measured"] == "2.50\u00d7 (ratio of the overall p50s)"
    results["skipped"]["ww-asyncio-thread"] = "left out by --only"
    del results["rtt"]["32 B"]["ww-asyncio-thread"]
    row = report.targets(results)[-1]
    assert row["met"] is None
    assert row["measured"] == "not measured (left out by --only)"


MARKDOWN_CONTEXT: dict[str, Any] = {
    "started": "2025-01-01 00:00:00 UTC",
    "seconds": 60.0,
    "notes": {},
    "payloads": {},
    "pipeline": {},
    "connect": {},
    "machine": {
        "nproc": 2,
        "usable_cpus": 2,
        "cpu_model": "test",
        "memory": "4 GiB",
        "kernel": "test",
        "python": "3.x",
        "libraries": {},
        "src_changes": [],
        "git_commit": "0000000",
    },
}


def test_markdown_has_a_row_per_pair_and_the_median_row() -> None:
    load = load_block(
        [
            {
                "warmwire": load_run("warmwire", 0.001, 0.020, 70),
                "websockets": load_run("websockets", 0.002, 0.025, 50),
            },
            {
                # The generators took 99 % of a core against warmwire, 90 % against websockets.
                "warmwire": load_run("warmwire", 0.001, 0.030, 60, generators_cpu_percent=99.0),
                "websockets": load_run("websockets", 0.001, 0.025, 50),
            },
        ]
    )
    idle = idle_block(
        [{"warmwire": idle_run("warmwire", 30000), "websockets": idle_run("websockets", 15000)}]
    )
    text = report.markdown(
        {**base_results(load_pairs=load, idle_pairs=idle), **MARKDOWN_CONTEXT}, analysis=""
    )
    load_part = text.split("## Load run", 1)[1].split("## Idle sessions", 1)[0]
    assert "| 1 (warmwire then websockets) | 1.00 / 20.00 | 2.00 / 25.00 |" in load_part
    assert "| 2 (websockets then warmwire) |" in load_part
    assert "| median (spread) over 2 pairs |" in load_part
    assert "**1.00\u00d7** (0.80\u20131.20\u00d7)" in load_part  # p99 ratios 0.8 and 1.2
    # The machine check, last column: 1.00x, then 99/90; its median is their mean.
    assert "| 1.40\u00d7 | 1.00\u00d7 |\n" in load_part
    assert "| 1.20\u00d7 | 1.10\u00d7 |\n" in load_part
    assert "**1.05\u00d7** (1.00\u20131.10\u00d7) |\n" in load_part
    idle_part = text.split("## Idle sessions", 1)[1].split("## Analysis", 1)[0]
    assert "One pair of idle runs" in idle_part
    assert "2.00\u00d7 (1 pair), **missed**" in idle_part
