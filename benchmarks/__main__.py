"""
``python -m benchmarks`` (``make bench``): run every figure, write RESULTS.md, results.json, plots.

Every figure is a ratio against a baseline measured in the same run. A figure
that fails (or whose module is missing) is reported as such; the others still
run. Targets are reported (met / MISSED), never asserted: the exit status is 0
unless the runner itself breaks. Does I/O: spawns processes, loopback HTTP,
writes files into ``--out-dir``.

    python -m benchmarks              # full run, writes benchmarks/RESULTS.md …
    python -m benchmarks --quick      # smoke run, writes into a temporary directory
    python -m benchmarks --only 4     # one figure, merged into the existing results
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from benchmarks._common import BENCH_DIR, machine_info, verdict

JsonDict = dict[str, Any]


@attrs.frozen
class Figure:
    """One figure: how to run it and how to describe its target and outcome."""

    number: int
    title: str
    module: str  # benchmarks.<module>, imported only when the figure runs
    target: str
    takes_quick: bool  # our modules accept main(quick=…); the others are called as they are
    evaluate: Callable[[JsonDict], tuple[bool | None, str]]  # data → (met, measured text)
    render: Callable[[JsonDict, Path], list[str]]  # data, out dir → Markdown lines
    decided: str  # how the verdict follows from the data, in words (shown in RESULTS.md)
    # Why the target is missed, from profiling it (shown only when a run misses it).
    missed_because: str = ""


# -- figure 1: request overhead --------------------------------------------------------------


def _eval_overhead(d: JsonDict) -> tuple[bool | None, str]:
    r = d["ratio_vs_aiohttp"]["dhmad_async"]
    us = d["us_per_request"]
    return d["met"], f"{r:.2f}x raw aiohttp ({us['dhmad_async']:.0f} vs {us['raw aiohttp']:.0f} µs)"


def _render_overhead(d: JsonDict, out: Path) -> list[str]:
    lines = [
        f"{d['requests_per_round']:,} sequential `GET /escrows/{{id}}` per round over keep-alive, "
        f"{d['rounds']} interleaved rounds of the clients; median of rounds. The server "
        "(aiohttp.web, the documented get-escrow example body) runs in its own process; "
        "the SDK's limiter is disabled and its time includes parsing into the `Escrow` model.",
        "",
        "| client | µs per request (median) | vs raw aiohttp | per round (µs) |",
        "|---|---:|---:|---|",
    ]
    for name, value in d["us_per_request"].items():
        rounds = ", ".join(f"{v:.0f}" for v in d["samples_us"][name])
        lines.append(f"| {name} | {value:.1f} | {d['ratio_vs_aiohttp'][name]:.2f}x | {rounds} |")
    plot = _plot_bars(
        out / "request_overhead.png",
        "Figure 1: time per GET /escrows/{id} (median of rounds)",
        "µs per request",
        d["us_per_request"],
        d["samples_us"],
        reference=d["us_per_request"]["raw aiohttp"] * d["target"],
        reference_label=f"target: {d['target']}x raw aiohttp",
    )
    lines += ["", *plot]
    steps = d.get("breakdown_us")
    if steps:
        gap = d["us_per_request"]["dhmad_async"] - d["us_per_request"]["raw aiohttp"]
        lines += [
            "",
            f"Where the SDK's extra {gap:.0f} µs per request go: CPU cost of its per-request "
            "steps on the same body, measured alone (timeit, no I/O):",
            "",
            "| step | µs |",
            "|---|---:|",
            *(f"| {name} | {us:.1f} |" for name, us in steps.items()),
        ]
        own = sum(us for name, us in steps.items() if not name.startswith(("json.loads", "await ")))
        transport = d["us_per_request"].get("dhmad transport only")
        if transport is not None:
            lines += [
                "",
                f"The SDK's transport alone costs {transport:.0f} µs per request "
                f"({d['ratio_vs_aiohttp']['dhmad transport only']:.2f}x raw aiohttp), so the gap "
                f"is in the pipeline above it. Its steps add up to {own:.0f} µs when timed alone "
                "in a tight loop; in the request loop, between network callbacks, the same "
                "code runs colder and slower, which the profile below shows.",
            ]
    profile = d.get("profile")
    if profile:
        lines += [
            "",
            "Profile of the SDK path (cProfile, one round) — functions by own time:",
            "",
            "```",
            profile["tottime"],
            "```",
            "",
            "`dhmad_async` functions by cumulative time:",
            "",
            "```",
            profile["cumulative"],
            "```",
        ]
    return lines


# -- figure 2: staying at the rate limit ----------------------------------------------------


def _sdk_rows(d: JsonDict) -> dict[str, JsonDict]:
    return {name: row for name, row in d["scenarios"].items() if name.startswith("sdk")}


def _eval_batch(d: JsonDict) -> tuple[bool | None, str]:
    ours = _sdk_rows(d)
    missing = [name for name in d.get("errors", {}) if name.startswith("sdk")]
    text = "; ".join(
        f"{name}: {r['x_min']:.3f}x the burst minimum ({r['x_paced_min']:.3f}x paced), "
        f"{r['429s']} × 429"
        for name, r in ours.items()
    )
    if missing:
        text += "; " + "; ".join(f"{name}: {d['errors'][name]}" for name in missing)
    if not all(r["x_min"] <= d["target"] and r["429s"] == 0 for r in ours.values()):
        return False, text
    return (None if missing else True), text


def _render_batch(d: JsonDict, out: Path) -> list[str]:
    lines = [
        f"{d['n']:,} creates at {d['limit']} per {d['window_s']:g} s (the documented 100 per "
        f"minute, time scale {d['time_scale']:g}); the emulator's 429 `Retry-After` is scaled "
        "like its window. Burst minimum (ceil(N/L)-1)·W = "
        f"{d['burst_min_s']:.2f} s, paced minimum (N-1)·W/L = {d['paced_min_s']:.2f} s.",
        "",
        "| approach | server span s | x burst min | x paced min | 429s | max in window "
        "| admitted | client wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in d["scenarios"].items():
        lines.append(
            f"| {name} | {r['span_s']:.3f} | {r['x_min']:.3f} | {r['x_paced_min']:.3f} | "
            f"{r['429s']} | {r['max_in_window']} | {r['admitted']} | {r['client_wall_s']:.3f} |"
        )
    for name, why in d.get("errors", {}).items():
        lines.append(f"| {name} | {why} | | | | | | |")
    a = d["aiolimiter"]
    lines += [
        "",
        "The span is what the server saw: from the first to the last admission recorded by "
        "the emulator's rate limiter (client start-up, imports of the four processes and the "
        "last response are outside it); *client wall* is the driver's view, for reference. "
        "The SDK runs with its default `RateLimit` and `RetryPolicy`, every duration divided "
        "by the time scale, and its default on-disk SQLite journal (a temporary file). "
        f"aiolimiter runs as `AsyncLimiter({a['max_rate']}, {a['time_period']:.5f})` = "
        "`AsyncLimiter(1, W/(L-1))`, its documented no-burst set-up: a leaky bucket of "
        "capacity b draining at r admits b + r·W in any window W, so only b + r·W ≤ L stays "
        "under a sliding window, and b = 1 gives the highest rate that does "
        "(`AsyncLimiter(L, W)` admits up to 2L in its first window). The retry-on-429 loop "
        "sleeps the server's `Retry-After`. Both raw peers run 8 workers, like "
        "`create_many`.",
    ]
    return lines


# -- figure 3: limiter scale ---------------------------------------------------------------


def _eval_limiter(d: JsonDict) -> tuple[bool | None, str]:
    per_size = ", ".join(f"{r['ratio']:.2f}x at {r['tasks']:,}" for r in d["rows"])
    return d["met"], f"limiter / no-op FIFO CPU per acquisition: {per_size}"


def _render_limiter(d: JsonDict, out: Path) -> list[str]:
    p = d["policy"]
    lines = [
        f"All tasks call `acquire()` at once, in a fresh event loop per run: on a "
        f"`SlidingWindowLimiter` of {p['requests'] / p['per']:,.0f} requests/s (burst "
        f"{p['burst']}, real clock), or on the no-op baseline, a FIFO of `asyncio.Event`s "
        "that admits everyone at once. Same task count, same run, interleaved; median of "
        f"{d['rows'][0]['runs']} runs per size. CPU is `process_time`; GC is the CPU time "
        "inside the cyclic collector (`gc.callbacks`), which both variants pay.",
        "",
        "| tasks | limiter CPU µs/acq | no-op CPU µs/acq | limiter / no-op | limiter GC µs/acq "
        "| no-op GC µs/acq | limiter wall s | ideal wall s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in d["rows"]:
        lines.append(
            f"| {r['tasks']:,} | {r['limiter_cpu_us']:.2f} | {r['noop_cpu_us']:.2f} | "
            f"{r['ratio']:.2f}x | {r['limiter_gc_us']:.2f} | {r['noop_gc_us']:.2f} | "
            f"{r['limiter_wall_s']:.3f} | {r['ideal_wall_s']:.3f} |"
        )
    lines += [
        "",
        f"Growth from {d['rows'][0]['tasks']:,} to {d['rows'][-1]['tasks']:,} tasks "
        f"(information): limiter {d['limiter_growth']:.2f}x, no-op {d['noop_growth']:.2f}x.",
    ]
    return [*lines, "", *_plot_limiter(out / "limiter_scale.png", d["rows"], d["target"])]


# -- figure 4: pagination memory ------------------------------------------------------------------


def _eval_pagination(d: JsonDict) -> tuple[bool | None, str]:
    small, large = d["pages"]
    g = d["growth_mb"]
    return d["met"], (
        f"{g[f'sdk/{large}']:.1f} MB at {large:,} pages, {g[f'sdk/{small}']:.1f} MB at {small:,} "
        f"(raw aiohttp {g[f'raw/{large}']:.1f} MB)"
    )


def _render_pagination(d: JsonDict, out: Path) -> list[str]:
    small, large = d["pages"]
    g, w = d["growth_mb"], d["wall_s"]
    lines = [
        f"{d['escrows']:,} escrows seeded in the emulator's store, listed {d['page_size']} per "
        f"page; every client is a fresh process; peak RSS (sampled after each page) minus the "
        f"RSS before the first request, median of {d['repetitions']}. Target: under "
        f"{d['target_mb']:.0f} MB, and the {large:,}-page growth within {d['flat_mb']:.0f} MB "
        f"of the {small:,}-page growth.",
        "",
        "| pages | items | dhmad_async MB | raw aiohttp + json MB | ratio | dhmad_async s"
        " | raw s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in (small, large):
        lines.append(
            f"| {p:,} | {p * d['page_size']:,} | {g[f'sdk/{p}']:.2f} | {g[f'raw/{p}']:.2f} | "
            f"{d['ratio_sdk_vs_raw'][str(p)]:.2f}x | {w[f'sdk/{p}']:.2f} | {w[f'raw/{p}']:.2f} |"
        )
    lines += [
        "",
        f"Under {d['target_mb']:.0f} MB: {verdict(d['under_target'])}; independent of the "
        f"number of pages: {verdict(d['flat'])}.",
        "",
        "The emulator's `GET /escrows` filters and sorts every stored escrow per request "
        "(~70 ms a page at 100k, server time this figure does not measure), so the benchmark "
        "puts a middleware in front that serves the same order through the emulator's own "
        "`escrow_view` and JSON encoder, rendered once per page.",
    ]
    series = {
        "dhmad_async": [g[f"sdk/{small}"], g[f"sdk/{large}"]],
        "raw aiohttp + json": [g[f"raw/{small}"], g[f"raw/{large}"]],
    }
    return [*lines, "", *_plot_grouped(out / "pagination_memory.png", [small, large], series,
                                       d["target_mb"])]  # fmt: skip


# -- figure 5: webhook verification ----------------------------------------------------------

_BARE, _SW_PARSE = "bare hmac", "standardwebhooks"  # the baseline row of each table


def _eval_webhooks(d: JsonDict) -> tuple[bool | None, str]:
    sig = ", ".join(f"{r:.2f}x at {s}" for s, r in d["sig_ratio_vs_bare"].items())
    worst = {
        s: max(by_size[s] for by_size in d["parse_ratio_vs_standardwebhooks"].values())
        for s in d["sizes"]
    }
    parse = ", ".join(f"{r:.2f}x at {s}" for s, r in worst.items())
    return d["met"], (
        f"signature only: {sig} bare HMAC; verify+parse (worse of our two schemes): {parse} "
        "standardwebhooks"
    )


def _webhook_table(rows: JsonDict, sizes: list[str], baseline: str) -> list[str]:
    lines = [
        "| verifier | " + " | ".join(f"{s} µs" for s in sizes) + " | "
        + " | ".join(f"{s} vs {baseline}" for s in sizes) + " |",
        "|---|" + "---:|" * (2 * len(sizes)),
    ]  # fmt: skip
    for name, by_size in rows.items():
        cells = [f"{by_size[s]:.2f}" for s in sizes]
        cells += [f"{by_size[s] / rows[baseline][s]:.2f}x" for s in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _render_webhooks(d: JsonDict, out: Path) -> list[str]:
    sizes = d["sizes"]
    return [
        "CPU only, an `escrow.status.updated` delivery of each size; interleaved rounds "
        f"(headers re-signed each round), each sample a timeit batch of at least "
        f"{d['min_seconds']:g} s, median of {d['rounds']}. "
        "Every case is checked to accept its delivery before it is timed. *[std scheme]* is "
        "our verifier on `STANDARD_WEBHOOKS_SCHEME`: it MACs exactly the bytes "
        "standardwebhooks MACs (`id.timestamp.body`, base64).",
        "",
        "**Signature only** (nothing parsed). The bare baseline is "
        "`hmac.new(key, body, sha256).hexdigest()` + `compare_digest` (no header look-up, "
        "no timestamp window); standardwebhooks' signature step is isolated with its own "
        "documented `verify(..., json_parse=False)`.",
        "",
        *_webhook_table(d["signature_only"], sizes, _BARE),
        "",
        "**Verify + parse** (what a handler calls): our `verify` returns the typed "
        "`WebhookEvent` (JSON with exact decimals), standardwebhooks' `verify` a `dict` "
        "from `json.loads`. The event's `dedup_key` (a SHA-256 over the body) is computed "
        "when first read: *dhmad verify + dedup_key* shows what a deduplicating handler "
        "pays (reference, not judged).",
        "",
        *_webhook_table(d["verify_parse"], sizes, _SW_PARSE),
    ]


# -- figure 6: import time --------------------------------------------------------------------

_IMPORT, _CLIENT, _AIOHTTP = (
    "import dhmad_async",
    "import dhmad_async + DhmadClient()",
    "import aiohttp",
)


def _eval_import(d: JsonDict) -> tuple[bool | None, str]:
    ms, r = d["ms"], d["ratios"]
    return d["met"], (
        f"import {r[_IMPORT]:.2f}x, import + client {r[_CLIENT]:.2f}x aiohttp "
        f"({ms[_IMPORT]:.0f} / {ms[_CLIENT]:.0f} vs {ms[_AIOHTTP]:.0f} ms)"
    )


def _render_import(d: JsonDict, out: Path) -> list[str]:
    ms, r = d["ms"], d["ratios"]
    lines = [
        f"Each sample is a fresh interpreter timing only the statements under test; the "
        f"variants alternate, {d['runs']} runs each, median. `DhmadClient()` opens no HTTP "
        "session (that happens on the first request), so its peer is `import aiohttp` alone: "
        "adding an `aiohttp.ClientSession` there would charge the peer for work the SDK has "
        "not done yet.",
        "",
        "| statements | ms (median) | vs `import aiohttp` |",
        "|---|---:|---:|",
        f"| `import aiohttp` | {ms[_AIOHTTP]:.1f} | 1.00x |",
        f"| `import dhmad_async` | {ms[_IMPORT]:.1f} | {r[_IMPORT]:.2f}x |",
        f"| `import dhmad_async; DhmadClient(key)` | {ms[_CLIENT]:.1f} | {r[_CLIENT]:.2f}x |",
        *[
            f"| `import dhmad_async; DhmadClient(key).escrows` (first use of a resource group;"
            f" information, not judged) | {ms[name]:.1f} | {value:.2f}x |"
            for name, value in d.get("information_ratios", {}).items()
        ],
        "",
        ("What import + client adds on top of aiohttp (`python -X importtime`, "
         "median self time):" + (" **these are the candidates to make lazy.**"
                                 if not d["met"] else "")),
        "",
        "| package | self ms |",
        "|---|---:|",
    ]  # fmt: skip
    heavy = d["heavy_imports"]
    lines += [f"| `{row['package']}` | {row['self_ms']:.2f} |" for row in heavy["packages"]]
    lines += ["", "| module | self ms | cumulative ms |", "|---|---:|---:|"]
    lines += [
        f"| `{row['module']}` | {row['self_ms']:.2f} | {row['cumulative_ms']:.2f} |"
        for row in heavy["modules"]
    ]
    return lines


FIGURES = (
    Figure(1, "Request overhead", "bench_request_overhead", "≤ 1.2x raw aiohttp per request",
           True, _eval_overhead, _render_overhead,
           "met when the SDK's median µs per request (parsing into `Escrow` included) is at "
           "most 1.2 × raw aiohttp's median (`session.get` + `json()`), same interleaved "
           "rounds.",
           missed_because=(
               "the SDK's transport alone costs what raw aiohttp does (the transport-only "
               "row); the gap is the pipeline above it, and mostly what the figure counts on "
               "purpose: structuring `Escrow` (35 fields, nested users, tickets and "
               "signatures) into typed models with "
               "Decimal-exact money and parsed dates (the largest step in the table), then "
               "Decimal-exact JSON. With a transport that answers at once, the whole "
               "pipeline costs about 26 µs of CPU per request; interleaved with aiohttp's "
               "network callbacks the same code measured about 65 µs (process time outside "
               "the transport), the cold-cache cost the profile below shows. Structuring "
               "already runs through a generated fast path; what is left is the model.")),
    Figure(2, "Staying at the rate limit", "bench_batch_rate",
           "≤ 1.03x the burst minimum, zero 429s, for every SDK scenario", True, _eval_batch,
           _render_batch,
           "met when every SDK scenario's server-observed span is at most 1.03 × the "
           "*burst* minimum (ceil(N/L)-1)·W, the smaller and so stricter of the two "
           "minimums, with zero 429s; not measured if an SDK scenario could not run (no "
           "Redis). The paced ratio is shown for information only.",
           missed_because=(
               "the SDK paces: after a burst of `RateLimit.burst` (10) it spreads each "
               "window's requests evenly, and finishes within 1.03x of the paced minimum "
               "with zero 429s. The burst minimum needs each window's whole budget sent "
               "back to back at its start, which the default limiter does not do, by "
               "choice: a smooth rate keeps few requests in flight when the client's idea "
               "of the server's window is off. Even `RateLimit(burst=100)`, which sends "
               "each window's budget at once, measured 1.048x the burst minimum with zero "
               "429s in one process (one run, 2026-12-02): every window also pays the "
               "margin and the journal's committed write before each create.")),
    Figure(3, "Limiter scale", "bench_limiter_scale",
           "≤ 1.2x a no-op FIFO's CPU per acquisition, 1,000 to 50,000 tasks", True,
           _eval_limiter, _render_limiter,
           "met when, at every size, the limiter's median CPU per acquisition is at most "
           "1.2 × the no-op FIFO's median at the same task count (the worst size decides); "
           "the growth with size is information only.",
           missed_because=(
               "the size that misses is 1,000 tasks, where the limiter really paces: 900 "
               "admissions at 20,000 per second take about 45 ms, some 57 timer sleeps and "
               "240 loop iterations, against the no-op's 11 iterations without a sleep. At "
               "10,000 and 50,000 tasks the limiter is cheaper than the baseline. The "
               "remaining option is a timer scheduled on the loop itself (`call_at`) when "
               "the real clock is in use; not done.")),
    Figure(4, "Pagination memory", "bench_pagination_memory",
           "< 30 MB peak RSS growth over 100,000 escrows, independent of pages", True,
           _eval_pagination, _render_pagination,
           "met when the SDK's peak RSS growth at 1,000 pages is under 30 MB and within 5 MB "
           "of its growth at 100 pages (median of the repetitions).",
           missed_because=(
               "the pager de-duplicates by id across pages (an escrow served twice after "
               "the list shifted is yielded once), so it keeps every id it has yielded: "
               "about 150 bytes per escrow, some 15 MB more at 100,000 escrows than at "
               "10,000. The growth stays under 30 MB; memory independent of the page count "
               "would need a pager that forgets ids and yields shifted escrows twice.")),
    Figure(5, "Webhook verification", "bench_webhooks",
           "signature only ≤ 1.2x bare HMAC; verify+parse ≤ standardwebhooks", True,
           _eval_webhooks, _render_webhooks,
           "met when `verify_signature` is at most 1.2 × the bare HMAC at both sizes, and "
           "`verify` (signature + typed event) is no slower than standardwebhooks' `verify` "
           "(signature + `json.loads`) at both sizes on both of our schemes (the worse "
           "decides). Our signature-only time against standardwebhooks' is shown, not judged."),
    Figure(6, "Import time", "bench_import_time",
           "import, and import + `DhmadClient()`, ≤ 1.3x `import aiohttp`", True,
           _eval_import, _render_import,
           "met when both `import dhmad_async` and `import dhmad_async` + constructing a "
           "`DhmadClient` take at most 1.3 × `import aiohttp` (medians; the larger ratio "
           "decides)."),
    # Figure 7 evaluates and renders itself (benchmarks/bench_scale_out.py).
    Figure(7, "Scale-out across hosts", "bench_scale_out",
           "N hosts ≥ 0.97 × N × one host, zero 429s; shared Redis budget ≤ 1.03x the paced "
           "minimum; journal cost SQLite vs PostgreSQL", True,
           lambda d: importlib.import_module("benchmarks.bench_scale_out").evaluate(d),
           lambda d, out: importlib.import_module("benchmarks.bench_scale_out").render(d, out),
           "met when 2 and 4 hosts each reach at least 0.97 × N × the one-host rate with zero "
           "429s, and the 4-process shared Redis budget's server-observed span is at most "
           "1.03 × the paced minimum; the journal cost is shown, not judged."),
)  # fmt: skip


# -- plots (matplotlib, Agg) ----------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    return plt


def _plot_ok(path: Path, draw: Callable[[Any], None]) -> list[str]:
    try:
        plt = _pyplot()
        fig = plt.figure(figsize=(6.4, 3.6), dpi=100)
        try:
            draw(fig)
            fig.tight_layout()
            fig.savefig(path)
        finally:
            plt.close(fig)
    except Exception as exc:  # a plot is a nicety; the tables carry the figures
        return [f"(plot not drawn: {type(exc).__name__}: {exc})"]
    return [f"![{path.stem}]({path.name})"]


def _plot_bars(
    path: Path,
    title: str,
    ylabel: str,
    values: dict[str, float],
    samples: dict[str, list[float]],
    *,
    reference: float,
    reference_label: str,
) -> list[str]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        names = list(values)
        ax.bar(names, [values[n] for n in names], color=["#2b6cb0", "#718096", "#a0aec0"])
        for i, name in enumerate(names):
            ax.plot([i] * len(samples[name]), samples[name], "k.", markersize=4)
        ax.axhline(reference, color="#c53030", linestyle="--", label=reference_label)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)

    return _plot_ok(path, draw)


def _plot_limiter(path: Path, rows: list[JsonDict], target: float) -> list[str]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        tasks = [r["tasks"] for r in rows]
        ax.plot(tasks, [r["limiter_cpu_us"] for r in rows], "o-", label="limiter CPU µs / acq")
        ax.plot(tasks, [r["noop_cpu_us"] for r in rows], "s--", label="no-op FIFO CPU µs / acq")
        ax.plot(
            tasks, [r["noop_cpu_us"] * target for r in rows], ":", color="#c53030",
            label=f"target: {target}x no-op",
        )  # fmt: skip
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("concurrent tasks")
        ax.set_title("Figure 3: CPU per acquisition, limiter vs no-op FIFO", fontsize=10)
        ax.legend(fontsize=8)

    return _plot_ok(path, draw)


def _plot_grouped(
    path: Path, pages: list[int], series: dict[str, list[float]], target: float
) -> list[str]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        width = 0.8 / len(series)
        for i, (name, values) in enumerate(series.items()):
            xs = [x + i * width for x in range(len(pages))]
            ax.bar(xs, values, width, label=name)
        ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(pages))])
        ax.set_xticklabels([f"{p:,} pages" for p in pages])
        ax.axhline(target, color="#c53030", linestyle="--", label=f"target {target:.0f} MB")
        ax.set_ylabel("peak RSS growth, MB")
        ax.set_title("Figure 4: memory while iterating escrows", fontsize=10)
        ax.legend(fontsize=8)

    return _plot_ok(path, draw)


# -- running and writing ------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict | list):
        return "`" + json.dumps(value, default=str)[:60] + "`"
    return str(value)


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def run_figure(fig: Figure, quick: bool) -> JsonDict:
    """Import and run one figure; errors become an ``error`` entry instead of a crash."""
    print(f"\n=== Figure {fig.number}: {fig.title} ===", flush=True)
    started = time.perf_counter()
    entry: JsonDict = {"title": fig.title, "target": fig.target, "quick": quick}
    try:
        module = importlib.import_module(f"benchmarks.{fig.module}")
        main = module.main
        params = inspect.signature(main).parameters
        if fig.takes_quick or "quick" in params:
            data = main(quick=quick)
        elif "argv" in params:  # an argparse main: never let it read our own sys.argv
            data = main(["-n", "300"] if quick else [])
        else:
            data = main()
        entry["data"] = json.loads(json.dumps(data, default=str))  # JSON-safe copy
        met, measured = fig.evaluate(entry["data"])
        entry.update(met=met, measured=measured)
    except ModuleNotFoundError as exc:
        entry.update(met=None, measured="not run", error=f"module missing: {exc.name}")
    except Exception as exc:
        traceback.print_exc()
        entry.update(met=None, measured="not run", error=f"{type(exc).__name__}: {exc}")
    entry["seconds"] = round(time.perf_counter() - started, 1)
    entry["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"--- figure {fig.number}: {verdict(entry['met'])} — {entry['measured']}", flush=True)
    return entry


def render_markdown(results: JsonDict, out: Path) -> str:
    """RESULTS.md: summary table, machine, then one section per figure."""
    m = results["machine"]
    lines = [
        "# dhmad_async benchmark results",
        "",
        "Generated by `make bench` (`python -m benchmarks`); do not edit by hand. Every figure "
        "is a ratio against a baseline measured in the same run, and each section says how "
        "its verdict is decided. How each figure is measured: "
        "[docs/benchmarks.md](../docs/benchmarks.md).",
        "",
        f"Run: {m['date']}{' (quick smoke run)' if results.get('quick') else ''}.",
        "",
        "| # | figure | target | measured | verdict |",
        "|---|---|---|---|---|",
    ]
    figures = results["figures"]
    for fig in FIGURES:
        e = figures.get(str(fig.number))
        if e is None:
            lines.append(f"| {fig.number} | {fig.title} | {fig.target} | not run | not measured |")
            continue
        measured = e["measured"] if "error" not in e else f"not run: {e['error']}"
        lines.append(
            f"| {fig.number} | {fig.title} | {fig.target} | {measured} | {verdict(e['met'])} |"
        )
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines += [
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable)",
        f"- RAM: {m['ram_gib']} GiB",
        f"- OS: {m['os']}",
        f"- Python: {m['python']}",
        f"- Libraries: {versions}",
        "",
        "Absolute times on a shared machine drift; read the ratios.",
    ]
    for fig in FIGURES:
        e = figures.get(str(fig.number))
        lines += ["", f"## {fig.number}. {fig.title}", ""]
        if e is None:
            lines.append("Not run in this results file.")
            continue
        lines += [
            f"Target: {fig.target}. Measured: {e['measured']} — {verdict(e['met'])} "
            f"({e['date']}, {e['seconds']} s{', quick' if e.get('quick') else ''}).",
            "",
            f"How the verdict is decided: {fig.decided}",
            "",
        ]
        if e["met"] is False and fig.missed_because:
            lines += [f"Why it is missed: {fig.missed_because}", ""]
        if "error" in e:
            lines.append(
                f"Not measured: `{e['error']}`. `benchmarks/{fig.module}.py` must provide "
                "`main()` returning a dict."
            )
            continue
        try:
            lines += fig.render(e["data"], out)
        except Exception as exc:  # a shape change upstream must not lose the other figures
            lines += [
                f"(could not render: {type(exc).__name__}: {exc})",
                "",
                "```json",
                _dumps(e["data"]),
                "```",
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the chosen figures, write the results."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[1]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only", type=int, action="append", choices=[f.number for f in FIGURES], metavar="N",
        help="run figure N only (repeatable); other figures keep their last results",
    )  # fmt: skip
    parser.add_argument(
        "--out-dir", type=Path, default=None,
        help="where to write RESULTS.md, results.json and plots "
             "(default: benchmarks/, or a temporary directory with --quick)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    out: Path = args.out_dir or (
        Path(tempfile.mkdtemp(prefix="dhmad-bench-")) if args.quick else BENCH_DIR
    )
    out.mkdir(parents=True, exist_ok=True)
    chosen = [f for f in FIGURES if not args.only or f.number in args.only]
    results_path = out / "results.json"
    results: JsonDict = {"figures": {}}
    if args.only and results_path.exists():  # keep the figures not re-run
        results = json.loads(results_path.read_text(encoding="utf-8"))
    results["machine"] = machine_info()
    results["quick"] = args.quick
    for fig in chosen:
        results["figures"][str(fig.number)] = run_figure(fig, args.quick)
    results_path.write_text(_dumps(results) + "\n", encoding="utf-8")
    (out / "RESULTS.md").write_text(render_markdown(results, out), encoding="utf-8")
    print(f"\nwrote {out / 'RESULTS.md'} and {results_path}")
    for fig in chosen:
        e = results["figures"][str(fig.number)]
        print(f"  {fig.number}. {fig.title:<28} {verdict(e['met']):<14} {e['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
