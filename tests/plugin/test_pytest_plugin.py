"""The pytest plugin as a new user meets it: a fresh project, only the plugin's fixtures.

Each case runs pytest in a subprocess on a temporary project (pytester), so the
project's own settings (asyncio_mode=auto here) do not leak in: no ini file means
pytest-asyncio's strict mode.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# What a new user writes after reading the docs: no conftest, no asyncio_mode.
USER_TESTS = """
import pytest

from dhmad_async.testing import ServerRateLimitOptions

pytestmark = pytest.mark.asyncio  # strict mode runs marked tests; auto mode ignores the mark


async def test_buyer_pays(dhmad_emulator, dhmad_client, dhmad_webhook_receiver):
    created = await dhmad_client.escrows.create(
        title="Kilim", amount="250", buyer_email="buyer@example.com",
        mode="quick", seller_email="seller@example.com", estimated_delivery_days=3,
    )
    session = await dhmad_client.checkout_sessions.create(
        created.escrow.id, action="accept_pay",
        target_user_email="buyer@example.com", redirect_url="http://localhost:3000/done",
    )
    await dhmad_emulator.complete_session(session.session_id)
    assert (await dhmad_client.escrows.get(created.escrow.id)).status == "paid"
    [event] = await dhmad_webhook_receiver.wait_for("escrow.status.updated")
    assert event.escrow.id == created.escrow.id and event.escrow.status == "paid"
    assert dhmad_webhook_receiver.rejected == []


@pytest.mark.dhmad_emulator(time_scale=600, rate_limit=ServerRateLimitOptions(limit=7))
async def test_marker_options_reach_the_emulator_and_the_client(dhmad_emulator, dhmad_client):
    assert dhmad_emulator.clock.time_scale == 600
    assert dhmad_emulator.rate_limiter.options.limit == 7
    me = await dhmad_client.account.me()
    assert me.api_key is not None
"""


def _write_project(pytester: pytest.Pytester, tests: str = USER_TESTS) -> None:
    pytester.makepyfile(test_integration=textwrap.dedent(tests))


def test_strict_mode_without_any_setting(pytester: pytest.Pytester) -> None:
    _write_project(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert "mode=Mode.STRICT" in result.stdout.str() or "mode=strict" in result.stdout.str()


def test_auto_mode(pytester: pytest.Pytester) -> None:
    # In auto mode a user does not mark anything: drop the module mark.
    _write_project(pytester, USER_TESTS.replace("pytestmark = pytest.mark.asyncio", ""))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=2)
    assert "mode=Mode.AUTO" in result.stdout.str() or "mode=auto" in result.stdout.str()


def test_no_plugin_warning_and_strict_markers(pytester: pytest.Pytester) -> None:
    _write_project(pytester)
    # --strict-markers: the plugin registers its marker; -W error: it warns about nothing
    # (pytest-asyncio's own hint about its unset loop-scope option is not ours: set it).
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--strict-markers", "-W", "error"
    )
    result.assert_outcomes(passed=2)


def test_fixture_override_and_nearest_marker_wins(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def dhmad_emulator_options():
            return {"time_scale": 120, "user_email": "shop@example.com"}
        """
    )
    pytester.makepyfile(
        test_options="""
        import pytest

        pytestmark = [pytest.mark.asyncio, pytest.mark.dhmad_emulator(time_scale=300)]

        async def test_module_marker_over_the_fixture(dhmad_emulator):
            assert dhmad_emulator.clock.time_scale == 300
            assert dhmad_emulator.user_email == "shop@example.com"

        @pytest.mark.dhmad_emulator(time_scale=900)
        async def test_test_marker_over_the_module_marker(dhmad_emulator):
            assert dhmad_emulator.clock.time_scale == 900
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_without_pytest_asyncio_the_plugin_loads_and_says_what_is_missing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Make `import pytest_asyncio` fail as if it were not installed, and keep pytest
    # from loading it through its entry point.
    shadow = tmp_path / "shadow" / "pytest_asyncio"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('pytest-asyncio is not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    _write_project(pytester)
    pytester.makepyfile(test_sync="def test_unrelated():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    text = result.stdout.str() + result.stderr.str()
    assert "pytest-asyncio is not installed" not in text  # the plugin imported cleanly
    assert "need the pytest-asyncio plugin: pip install 'pytest-asyncio>=0.24'" in text
    result.assert_outcomes(passed=1, errors=2)  # the unrelated test still runs


def test_a_disabled_pytest_asyncio_is_named_too(pytester: pytest.Pytester) -> None:
    _write_project(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    assert "need the pytest-asyncio plugin" in result.stdout.str()
    result.assert_outcomes(errors=2)
