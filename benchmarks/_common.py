"""
Shared benchmark helpers: interleaved rounds, medians, ratios, helper processes, machine info.

Does I/O: starts and stops helper subprocesses, reads ``/proc`` for the
machine description and RSS. Nothing here asserts a time; benchmarks report.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "BENCH_DIR",
    "ROOT",
    "helper_process",
    "interleaved",
    "interleaved_async",
    "machine_info",
    "median",
    "python_cmd",
    "ratio",
    "rss_bytes",
    "run_child",
    "start_child",
    "verdict",
]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
T = TypeVar("T")

_VERSIONED = (
    "dhmad-async",
    "aiohttp",
    "httpx",
    "attrs",
    "cattrs",
    "tenacity",
    "aiolimiter",
    "standardwebhooks",
    "redis",
    "matplotlib",
)


def interleaved(cases: dict[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Run every case once per round, rotating the order, and collect the results per case.

    Interleaving spreads slow drifts of a shared machine (another process, CPU
    frequency) over every case instead of charging them to whichever ran last.
    """
    names = list(cases)
    out: dict[str, list[T]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(cases[name]())
    return out


async def interleaved_async(
    cases: dict[str, Callable[[], Awaitable[T]]], rounds: int
) -> dict[str, list[T]]:
    """:func:`interleaved` for coroutine functions, run one after another in this loop."""
    names = list(cases)
    out: dict[str, list[T]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(await cases[name]())
    return out


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


def ratio(value: float, baseline: float) -> float:
    """``value / baseline`` (inf when the baseline is zero)."""
    return value / baseline if baseline else float("inf")


def verdict(ok: bool | None) -> str:
    """``met``, ``**MISSED**`` or ``not measured`` (``None``)."""
    if ok is None:
        return "not measured"
    return "met" if ok else "**MISSED**"


def rss_bytes() -> int:
    """This process's current resident set size, from ``/proc/self/statm`` (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def python_cmd(*args: str) -> list[str]:
    """A command line running this interpreter (the venv's) with ``args``."""
    return [sys.executable, *args]


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, **(extra or {}))
    # The helper runs `-m benchmarks.…` from the repository root, whatever the caller's cwd.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONSTARTUP", None)
    return env


def run_child(args: Sequence[str], timeout: float = 600) -> str:
    """Run ``python args…`` in a fresh process from the repository root; return its stdout."""
    done = subprocess.run(
        python_cmd(*args),
        cwd=ROOT,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def start_child(args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``python args…`` from the repository root (stdout and stderr piped, text).

    ``env`` adds variables (e.g. a key that must not show in ``ps``); the caller waits.
    """
    return subprocess.Popen(
        python_cmd(*args),
        cwd=ROOT,
        env=_child_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def helper_process(args: Sequence[str], ready_timeout: float = 120) -> Iterator[str]:
    """Start ``python args…`` (a server), yield the first line it prints, stop it on exit.

    The helper must print exactly one line (e.g. its base URL) once it is serving.
    """
    proc = subprocess.Popen(
        python_cmd(*args),
        cwd=ROOT,
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"helper {' '.join(args)} exited before it was ready")
        yield line
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, date, Python and library versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    ram = _ram_gib()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": round(ram, 1) if ram is not None else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": {name: _version(name) for name in _VERSIONED},
    }
