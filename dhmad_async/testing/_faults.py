"""Seeded, reproducible fault injection for the emulator's API routes. Decides only; no I/O.

One ``random.Random(seed)`` draw per matching request picks at most one fault, so the
same seed and the same request order give the same faults.
"""

from __future__ import annotations

import fnmatch
import random
from collections import Counter
from typing import Any, Literal

import attrs

__all__ = ["FaultKind", "FaultPlan", "FaultRule", "Faults"]

FaultKind = Literal["error_500", "error_502", "error_503", "reset", "lost_response", "slow"]


def _share(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value!r}")


def _rate() -> Any:
    # float() first: JSON from the control API arrives as Decimal (money-safe parsing),
    # and a Decimal rate would break the float arithmetic of every draw.
    return attrs.field(default=0.0, converter=float, validator=_share)


@attrs.frozen
class FaultRule:
    """Fault rates (shares between 0 and 1) for requests whose ``METHOD`` and path match.

    ``path`` matches the full path, e.g. ``"/api/v1/escrows"`` or ``"/api/v1/escrows/*"``.
    ``commit_on_500`` is the share of injected 500s where the handler ran first (the
    change is committed, the client still sees a 500). The rates of one rule add up to
    at most 1.
    """

    method: str = "*"
    path: str = "*"
    error_500: float = _rate()
    error_502: float = _rate()
    error_503: float = _rate()
    reset: float = _rate()  # connection closed before the request is handled
    lost_response: float = _rate()  # handled (committed), then the connection is dropped
    slow: float = _rate()
    slow_seconds: float = attrs.field(default=2.0, converter=float)  # real seconds
    commit_on_500: float = attrs.field(default=0.5, converter=float, validator=_share)

    def __attrs_post_init__(self) -> None:
        total = (
            self.error_500
            + self.error_502
            + self.error_503
            + self.reset
            + self.lost_response
            + self.slow
        )
        if total > 1.0 + 1e-9:
            raise ValueError(f"the fault rates of one rule add up to {total:g}, more than 1")

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule covers ``method path``."""
        return fnmatch.fnmatchcase(method.upper(), self.method.upper()) and fnmatch.fnmatchcase(
            path, self.path
        )


@attrs.frozen
class FaultPlan:
    """What to do with one request: ``kind`` (or ``None``) and whether to commit first."""

    kind: FaultKind | None
    commit: bool = False
    delay: float = 0.0


class Faults:
    """Holds the rules, the seeded RNG and the counters of what was injected."""

    def __init__(self, rules: tuple[FaultRule, ...] = (), seed: int = 0) -> None:
        self.rules: list[FaultRule] = list(rules)
        self.seed = seed
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.committed_under_lost_response: list[str] = []  # escrow ids
        self.committed_under_500: list[str] = []

    def set_rules(self, *rules: FaultRule, seed: int | None = None) -> None:
        """Replace the rules (and optionally reseed); counters are kept."""
        self.rules = list(rules)
        if seed is not None:
            self.seed = seed
            self.rng = random.Random(seed)

    def reset(self) -> None:
        """Clear the counters and reseed with the original seed."""
        self.counts.clear()
        self.committed_under_lost_response.clear()
        self.committed_under_500.clear()
        self.rng = random.Random(self.seed)

    def plan(self, method: str, path: str) -> FaultPlan:
        """Draw the fault (if any) for one request."""
        rule = next((r for r in self.rules if r.matches(method, path)), None)
        if rule is None:
            return FaultPlan(None)
        draw = self.rng.random()
        commit_draw = self.rng.random()
        edge = 0.0
        kinds: tuple[tuple[FaultKind, float], ...] = (
            ("error_500", rule.error_500),
            ("error_502", rule.error_502),
            ("error_503", rule.error_503),
            ("reset", rule.reset),
            ("lost_response", rule.lost_response),
            ("slow", rule.slow),
        )
        for kind, rate in kinds:
            edge += rate
            if draw < edge:
                self.counts[kind] += 1
                commit = kind == "lost_response" or (
                    kind == "error_500" and commit_draw < rule.commit_on_500
                )
                if kind == "error_500" and commit:
                    self.counts["error_500_committed"] += 1
                return FaultPlan(kind, commit=commit, delay=rule.slow_seconds)
        return FaultPlan(None)
