#!/usr/bin/env python3
"""
Mutation check: each listed bug, applied to a throw-away copy, must fail the tests named for it.

For every mutation below the script copies the project (without ``.venv``, ``.git``
and caches) to a temporary directory, replaces one exact snippet of the source (or
several, for a bug that moves code), and runs the mutation's tests there with the
project's ``.venv`` Python. A mutation is *killed* when those tests fail, *survived*
when they pass. The unmutated copy runs every named test first: a mutation only counts
as killed by tests that pass without it.

The copy's package must be the one imported: pytest runs with the copy as its working
directory (first on ``sys.path``, ahead of the editable install) and a probe plugin
records ``dhmad_async.__file__``; a run that imported any other copy is an error.

Exit status: 0 when every mutation is killed; 1 when one survives, or when a snippet
no longer matches the source exactly once (a refactor moved the code: re-anchor the
mutation, the message names it), or when the unmutated baseline fails.

    .venv/bin/python scripts/mutate.py              # every mutation
    .venv/bin/python scripts/mutate.py --list       # names, files and tests
    .venv/bin/python scripts/mutate.py --only mac-prefix --only default-limit
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Not copied: the environment, history and anything a run leaves behind.
_IGNORED = shutil.ignore_patterns(
    ".venv",
    ".git",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "*.pyc",
    "*.egg-info",
)

_PROBE = '''\
"""Written by scripts/mutate.py: record which dhmad_async this pytest run imports."""
import os

import dhmad_async


def pytest_configure(config):
    with open(os.environ["MUTATE_PROBE_OUT"], "w", encoding="utf-8") as out:
        out.write(os.path.realpath(dhmad_async.__file__))
'''


@dataclasses.dataclass(frozen=True)
class Edit:
    """Replace ``original`` (which must occur exactly once in the file) by ``replacement``."""

    original: str
    replacement: str


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One deliberate bug: where it goes, what it changes, and which tests must catch it."""

    name: str
    description: str
    path: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]


def _m(name: str, description: str, path: str, tests: Sequence[str], *edits: Edit) -> Mutation:
    return Mutation(name, description, path, tuple(edits), tuple(tests))


# Snippets are kept to the one line that carries the behaviour, so an unrelated
# refactor of the surrounding code leaves them applicable.
MUTATIONS: tuple[Mutation, ...] = (
    _m(
        "mac-prefix",
        "webhook MAC compared on its first 8 bytes only",
        "dhmad_async/webhooks/_verifier.py",
        ["tests/webhooks/test_webhook_vectors.py"],
        # The one compare every MAC loop (the inlined fast one and the general one) uses.
        Edit(
            "_compare = hmac.compare_digest",
            "_compare = lambda a, b: hmac.compare_digest(a[:8], b[:8])  # noqa: E731",
        ),
    ),
    _m(
        "view-whole-buffer",
        "a memoryview body MACed over its whole underlying buffer, not the bytes it shows",
        "dhmad_async/webhooks/_verifier.py",
        ["tests/webhooks/test_webhook_fuzz.py"],
        Edit(
            "            return bytes(body)\n",
            "            return bytes(body.obj) if isinstance(body, memoryview) else bytes(body)\n",
        ),
    ),
    _m(
        "default-limit",
        "default client budget raised from 100 to 120 requests per minute",
        "dhmad_async/_config.py",
        ["tests/client/test_documented_defaults.py"],
        Edit(
            "requests: int = attrs.field(default=100)",
            "requests: int = attrs.field(default=120)",
        ),
    ),
    _m(
        "auto-sign-seller",
        "'auto_sign only when you are the seller' rule deleted",
        "dhmad_async/resources/escrows.py",
        ["tests/client/test_documented_defaults.py"],
        Edit(
            "elif self.auto_sign and self.seller_email is not None:",
            "elif False:",
        ),
    ),
    _m(
        "repr-key",
        "client repr shows all but the last 4 characters of the key",
        "dhmad_async/_client.py",
        ["tests/client/test_secret_fragments.py"],
        Edit(
            'return f"<DhmadClient {self.environment} base_url=',
            'return f"<DhmadClient {self.environment} key={self._credential[:-4]}… base_url=',
        ),
    ),
    _m(
        "redact-key-prefix",
        "API-key redaction pattern leaves 56 of 64 key characters",
        "dhmad_async/_redact.py",
        ["tests/client/test_secret_fragments.py"],
        Edit(
            r'(re.compile(r"\bsk_(?:live|sandbox)_[A-Za-z0-9]+"), REDACTED),',
            r'(re.compile(r"\bsk_(?:live|sandbox)_[A-Za-z0-9]{1,8}"), REDACTED),',
        ),
    ),
    _m(
        "retry-after-cap-backoff",
        "Retry-After silently capped at wait_max (8 s) in the retry backoff",
        "dhmad_async/_retry.py",
        ["tests/unit/test_retry.py", "tests/client/test_documented_defaults.py"],
        Edit(
            "return exc.retry_after + policy.wait_jitter * uniform()",
            "return min(exc.retry_after, policy.wait_max) + policy.wait_jitter * uniform()",
        ),
    ),
    _m(
        "retry-after-cap-parse",
        "Retry-After silently capped at 8 s when the headers are read",
        "dhmad_async/ratelimit/_headers.py",
        ["tests/client/test_documented_defaults.py"],
        Edit(
            "return None if value is None else min(MAX_SERVER_WAIT, max(0.0, value))",
            "return None if value is None else min(8.0, max(0.0, value))",
        ),
    ),
    _m(
        "cancelled-retried",
        "CancelledError retried when it comes from the second attempt or later",
        "dhmad_async/_retry.py",
        ["tests/unit/test_retry.py", "tests/client/test_documented_defaults.py"],
        Edit(
            "retry=_t.retry_if_exception(retry_predicate),",
            "retry=_t.retry_if_exception(\n"
            '            lambda e: type(e).__name__ == "CancelledError" or retry_predicate(e)\n'
            "        ),",
        ),
    ),
    _m(
        "intent-after-send",
        "batch journal intent ('sent') written after the create request, not before",
        "dhmad_async/batch/_runner.py",
        ["tests/batch/test_intent_before_send.py"],
        Edit(
            "        await journal.mark_sent(key, floor)\n",
            "",
        ),
        Edit(
            "created = await self.client.escrows.create_from(work.item.params, validate=False)\n",
            "created = await self.client.escrows.create_from(work.item.params, validate=False)\n"
            "                await journal.mark_sent(key, floor)\n",
        ),
    ),
)


class StaleMutation(Exception):
    """A snippet no longer occurs exactly once in its file."""


def mutated_source(mutation: Mutation, source: str) -> str:
    """Apply every edit of ``mutation`` to ``source``; StaleMutation names what failed."""
    for number, edit in enumerate(mutation.edits, 1):
        count = source.count(edit.original)
        if count != 1:
            first_line = edit.original.strip().splitlines()[0]
            where = "not found" if count == 0 else f"found {count} times"
            raise StaleMutation(
                f"mutation {mutation.name!r} no longer applies: snippet {number} of "
                f"{len(mutation.edits)} ({first_line!r}) {where} in {mutation.path}; "
                "re-anchor it in scripts/mutate.py"
            )
        source = source.replace(edit.original, edit.replacement)
    return source


def _copy_project(target: Path) -> None:
    shutil.copytree(ROOT, target, ignore=_IGNORED, symlinks=True)
    (target / "_mutate_probe.py").write_text(_PROBE, encoding="utf-8")


def _run_tests(copy: Path, python: str, tests: Sequence[str], log: Path) -> tuple[int, str]:
    """Run ``tests`` in ``copy``; return pytest's exit code and the imported package path."""
    probe_out = copy / ".mutate-probe"
    probe_out.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(copy), env.get("PYTHONPATH")]))
    env["MUTATE_PROBE_OUT"] = str(probe_out)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    command += ["-p", "_mutate_probe", *tests]
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.call(command, cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT)
    imported = probe_out.read_text(encoding="utf-8") if probe_out.exists() else ""
    expected = os.path.realpath(copy / "dhmad_async" / "__init__.py")
    if imported != expected:
        raise RuntimeError(
            f"the run imported dhmad_async from {imported or 'nowhere'!r}, not the copy"
            f" {expected!r} (see {log})"
        )
    return code, imported


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--only", action="append", default=[], help="run this mutation only")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument(
        "--python",
        default=str(ROOT / ".venv" / "bin" / "python"),
        help="the interpreter that runs pytest (default: the project's .venv)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    parser.add_argument(
        "--tests",
        nargs="+",
        metavar="PATH",
        help="run these tests against every mutation instead of its own (a survey)",
    )
    args = parser.parse_args(argv)

    unknown = set(args.only) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
    selected = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.tests:
        selected = [dataclasses.replace(m, tests=tuple(args.tests)) for m in selected]
    if args.list:
        for m in selected:
            print(f"{m.name}: {m.description}\n  {m.path}\n  tests: {' '.join(m.tests)}")
        return 0

    # Every snippet is checked before anything runs: a stale one fails the check
    # even if an earlier mutation would have survived.
    stale: list[str] = []
    for m in selected:
        try:
            mutated_source(m, (ROOT / m.path).read_text(encoding="utf-8"))
        except StaleMutation as exc:
            stale.append(str(exc))
        except FileNotFoundError:
            stale.append(f"mutation {m.name!r} no longer applies: {m.path} does not exist")
    for message in stale:
        print(f"STALE: {message}", file=sys.stderr)
    if stale:
        return 1

    workdir = Path(tempfile.mkdtemp(prefix="dhmad-mutate-"))
    results: list[tuple[Mutation, str, float]] = []
    try:
        baseline = workdir / "baseline"
        _copy_project(baseline)
        all_tests = sorted({t for m in selected for t in m.tests})
        started = time.monotonic()
        code, imported = _run_tests(baseline, args.python, all_tests, workdir / "baseline.log")
        print(f"baseline (unmutated, {len(all_tests)} test paths, package {imported}):", end=" ")
        if code != 0:
            print(f"FAILED (pytest exit {code})\n{_tail(workdir / 'baseline.log')}")
            return 1
        print(f"passed in {time.monotonic() - started:.0f} s")
        for m in selected:
            copy = workdir / m.name
            _copy_project(copy)
            target = copy / m.path
            target.write_text(
                mutated_source(m, target.read_text(encoding="utf-8")), encoding="utf-8"
            )
            log = workdir / f"{m.name}.log"
            started = time.monotonic()
            code, _ = _run_tests(copy, args.python, m.tests, log)
            elapsed = time.monotonic() - started
            # pytest: 1 = tests failed. Anything else (interrupted, usage, internal
            # error, no tests collected) is not a kill by an assertion: report it.
            verdict = {0: "survived", 1: "killed"}.get(code, f"error (pytest exit {code})")
            results.append((m, verdict, elapsed))
            print(f"{m.name}: {verdict} in {elapsed:.0f} s")
            if verdict != "killed":
                print(_tail(log))
            if not args.keep:
                shutil.rmtree(copy, ignore_errors=True)
    finally:
        if args.keep:
            print(f"copies and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print("\n| Mutation | What it breaks | Result |\n|---|---|---|")
    for m, verdict, _ in results:
        print(f"| `{m.name}` | {m.description} | {verdict} |")
    survivors = [m.name for m, verdict, _ in results if verdict != "killed"]
    print(f"\n{len(results) - len(survivors)} of {len(results)} mutations killed.")
    if survivors:
        print(f"Not killed: {', '.join(survivors)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
