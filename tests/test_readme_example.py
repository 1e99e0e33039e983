"""
README's "Testing your integration" example is a test file that passes, as printed.

The code block is taken from README.md itself and run by pytest in a subprocess on
a fresh project (pytester): no conftest, no ini setting, so pytest-asyncio runs in
its default strict mode and the project's own ``asyncio_mode = auto`` cannot leak
in. Only the installed plugin's fixtures are available, as for a new user.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Testing your integration"


def readme_testing_example() -> str:
    """The first ``python`` block of README's testing section."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, f"README's {SECTION!r} section has no python block"
    return str(blocks[0])


def test_the_example_uses_only_the_plugin() -> None:
    """No hand-written fixtures and no asyncio_mode: what the README promises."""
    code = readme_testing_example()
    assert "@pytest.fixture" not in code and "asyncio_mode" not in code
    assert re.findall(r"^async def (test_\w+)", code, flags=re.MULTILINE)
    for fixture in ("dhmad_emulator", "dhmad_client", "dhmad_webhook_receiver"):
        assert fixture in code


def test_the_readme_example_passes_in_strict_mode(pytester: pytest.Pytester) -> None:
    """Copied verbatim into a new project, every test in the block passes."""
    code = readme_testing_example()
    tests = re.findall(r"^async def (test_\w+)", code, flags=re.MULTILINE)
    pytester.makepyfile(test_from_readme=code)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    out = result.stdout.str()
    assert "mode=Mode.STRICT" in out or "mode=strict" in out, out
    result.assert_outcomes(passed=len(tests))
    for name in tests:
        assert f"test_from_readme.py::{name} PASSED" in out, out


async def test_the_readme_emulator_command_prints_a_dashboard_that_opens() -> None:
    """``python -m dhmad_async emulator`` as README shows it, then the dashboard URL it prints."""
    import asyncio
    import sys

    import aiohttp

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Click through a checkout locally") :]
    block = re.search(r"```\n(python -m dhmad_async emulator[^\n]*)\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README shows the emulator command and its output"
    shown = dict(re.findall(r"^# (\w+):\s+(\S+)$", block.group(2), flags=re.MULTILINE))
    assert {"base_url", "api_key", "dashboard"} <= set(shown)
    # The same command on a free port (8080 may be taken on this machine).
    argv = block.group(1).split()[1:]
    argv[argv.index("--port") + 1] = "0"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        printed: dict[str, str] = {}
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while "Ctrl-C" not in (line := (await proc.stdout.readline()).decode()):
                assert line, "the emulator exited before printing its URLs"
                name, _, value = line.partition(":")
                printed[name.strip()] = value.strip()
        for name, example in shown.items():
            pattern = re.escape(example).replace(r"\.\.\.", ".+").replace("8080", r"\d+")
            assert re.fullmatch(pattern, printed[name]), (name, printed[name])
        async with aiohttp.ClientSession() as http, http.get(printed["dashboard"]) as page:
            assert page.status == 200 and page.content_type == "text/html"
            html = await page.text()
        assert "<h1>Dashboard</h1>" in html and "Rate limit" in html
    finally:
        proc.terminate()
        await proc.wait()
