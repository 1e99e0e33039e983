"""Fixtures for emulator tests: a started emulator and a raw aiohttp client over loopback.

``emu`` runs every test that uses it once per fidelity profile (``documented``, then
``generous``); a test that needs one profile says which and why with
``@pytest.mark.parametrize("fidelity", ["generous"], indirect=True)`` and a docstring line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from emulator_support import Raw, Receiver

from dhmad_async.testing import FIDELITY_PROFILES, Emulator, Fidelity


@pytest.fixture(params=FIDELITY_PROFILES)
def fidelity(request: pytest.FixtureRequest) -> Fidelity:
    """The emulator profile under test: ``documented`` and ``generous``."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def emu(fidelity: Fidelity) -> AsyncIterator[Emulator]:
    """A started emulator with default options in the profile under test."""
    async with Emulator(fidelity=fidelity) as e:
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
