"""Fixtures for emulator tests: a started emulator and a raw aiohttp client over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from emulator_support import Raw, Receiver

from dhmad_async.testing import Emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A started emulator with default options."""
    async with Emulator() as e:
        yield e


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def raw(emu: Emulator, http: aiohttp.ClientSession) -> Raw:
    """JSON helper bound to ``emu``."""
    return Raw(emu, http)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver listening on 127.0.0.1 for the test's duration."""
    async with Receiver().serve() as rec:
        yield rec
