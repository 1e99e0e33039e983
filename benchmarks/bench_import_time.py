"""
Figure 6, import time: ``import dhmad_async`` vs ``import aiohttp`` alone.

Each measurement is a fresh interpreter that times only the ``import``
statement (interpreter start-up is the same for both and would dilute the
ratio); the two modules alternate run by run and the figure is the median.
``python -X importtime`` then names the modules ``dhmad_async`` adds on top of
aiohttp, heaviest first, so a missed target says what to make lazy.
Spawns processes; no network.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from typing import Any

from benchmarks._common import interleaved, median, python_cmd, ratio, run_child

__all__ = ["main"]

TARGET = 1.3  # at most 1.3x aiohttp's import time
MODULES = ("dhmad_async", "aiohttp")
_TIMER = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"


def _time_import(module: str) -> float:
    return float(run_child(["-c", _TIMER.format(module)]).strip()) * 1000


def _importtime(module: str) -> dict[str, tuple[int, int, int]]:
    """``{module: (self µs, cumulative µs, depth)}`` from one ``-X importtime`` run."""
    done = subprocess.run(
        python_cmd("-X", "importtime", "-c", f"import {module}"),
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, tuple[int, int, int]] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        parts = line[len("import time:") :].split("|")
        self_us, cumulative_us, raw_name = parts[0], parts[1], parts[2]
        depth = (len(raw_name) - len(raw_name.lstrip(" ")) - 1) // 2
        out[raw_name.strip()] = (int(self_us), int(cumulative_us), depth)
    return out


def heavy_imports(runs: int = 3, top: int = 15) -> dict[str, list[dict[str, Any]]]:
    """Modules imported by ``dhmad_async`` but not by ``aiohttp``: per module and per package.

    ``modules`` ranks single modules by median self time; ``packages`` sums self
    times per top-level package (``email`` is what ``importlib.metadata`` pulls in).
    """
    ours = [_importtime("dhmad_async") for _ in range(runs)]
    theirs = set().union(*(_importtime("aiohttp") for _ in range(runs)))
    names = set(ours[0]) - theirs
    rows: list[dict[str, Any]] = []
    for name in names:
        selfs = [run[name][0] for run in ours if name in run]
        cumulative = [run[name][1] for run in ours if name in run]
        rows.append(
            {
                "module": name,
                "self_ms": median(selfs) / 1000,
                "cumulative_ms": median(cumulative) / 1000,
                "depth": ours[0][name][2],
            }
        )
    rows.sort(key=lambda row: row["self_ms"], reverse=True)
    packages: dict[str, float] = {}
    for row in rows:
        top_name = row["module"].split(".")[0]
        packages[top_name] = packages.get(top_name, 0.0) + row["self_ms"]
    by_package = [
        {"package": name, "self_ms": total}
        for name, total in sorted(packages.items(), key=lambda kv: kv[1], reverse=True)
    ]
    return {"modules": rows[:top], "packages": by_package[:top]}


def main(*, quick: bool = False) -> dict[str, Any]:
    """Time both imports in alternating fresh processes; print and return the medians."""
    runs = 5 if quick else 20
    samples = interleaved({m: partial(_time_import, m) for m in MODULES}, runs)
    medians = {m: median(v) for m, v in samples.items()}
    result: dict[str, Any] = {
        "runs": runs,
        "import_ms": medians,
        "samples_ms": samples,
        "ratio": ratio(medians["dhmad_async"], medians["aiohttp"]),
        "target": TARGET,
        "heavy_imports": heavy_imports(runs=1 if quick else 3),
    }
    result["met"] = result["ratio"] <= TARGET
    print(f"median import time of {runs} fresh processes each")
    for module, value in medians.items():
        print(f"  import {module:<12} {value:7.1f} ms")
    print(f"  ratio {result['ratio']:.2f}x (target ≤ {TARGET}x)")
    print("  what dhmad_async adds over aiohttp, per package (self ms):")
    for row in result["heavy_imports"]["packages"][:8]:
        print(f"    {row['package']:<24} {row['self_ms']:6.2f}")
    return result


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
