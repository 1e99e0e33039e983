"""
What the batch needs from a client, as a protocol. Pure.

The batch is handed a client and never imports the client module: ``DhmadClient``
builds resources, ``client.escrows.create_many`` builds a batch run, and the run
only talks back through this narrow surface. That keeps the import graph one-way
(``_client`` → ``resources`` → ``batch``) and lets tests hand in a fake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from dhmad_async._clock import Clock
    from dhmad_async.resources.escrows import Escrows

__all__ = ["BatchClient", "EscrowsBinding"]


class BatchClient(Protocol):
    """The parts of :class:`~dhmad_async.DhmadClient` a batch run uses."""

    @property
    def escrows(self) -> Escrows:
        """Creates, reconciliation lists and confirming reads go through here."""
        ...

    @property
    def clock(self) -> Clock:
        """The client's clock: pacing, settle delays and server-time floors."""
        ...

    @property
    def max_connections(self) -> int | None:
        """The pool size, which bounds how many creates may be in flight."""
        ...


@attrs.frozen
class EscrowsBinding:
    """A :class:`BatchClient` made from an escrows resource and what its client knows."""

    escrows: Escrows
    clock: Clock
    max_connections: int | None
