"""A client is bound to its first event loop: another loop gets a RuntimeError that says why."""

from __future__ import annotations

import asyncio

import pytest
from client_fakes import RecordingTransport, make_client, response, sample

from dhmad_async import DhmadClient, Timeout


def test_a_second_asyncio_run_is_refused_with_advice() -> None:
    """Two asyncio.run calls on one client: the second says to create one client per loop.

    Before, the second loop reached the limiter and the session of the first
    one, and failed with a raw asyncio error (or a future bound to another loop).
    """
    transport = RecordingTransport(response(200, sample("me")))
    client = make_client(transport)

    async def call() -> None:
        await client.account.me()

    asyncio.run(call())
    with pytest.raises(RuntimeError, match="Create one DhmadClient per event loop"):
        asyncio.run(call())
    assert len(transport.sent) == 1  # the refused call sent nothing
    # Copies share the binding: they are refused too.
    with pytest.raises(RuntimeError, match="per event loop"):
        asyncio.run(client.with_options(timeout=Timeout()).account.me())


def test_a_client_per_loop_works() -> None:
    """A client built inside each asyncio.run, as advised, works every time."""

    async def once() -> str:
        async with make_client(RecordingTransport(response(200, sample("me")))) as client:
            return (await client.account.me()).api_key.id

    assert asyncio.run(once()) == asyncio.run(once())


def test_a_forked_child_may_bind_its_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """After fork (a new pid) the client binds the child's loop instead of refusing it."""
    import dhmad_async._client as client_module

    client: DhmadClient = make_client(RecordingTransport(response(200, sample("me"))))
    asyncio.run(client.account.me())
    monkeypatch.setattr(client_module.os, "getpid", lambda: 424242)
    asyncio.run(client.account.me())  # no RuntimeError in the "child"
