"""Tests for `python -m dhmad_async webhooks verify|detect-scheme`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from webhook_support import SECRET, delivery

from dhmad_async._cli import main
from dhmad_async.webhooks import SignatureScheme, format_timestamp, sign


def _capture(tmp_path: Path, body: bytes, headers: dict[str, str]) -> tuple[str, str]:
    body_file = tmp_path / "body.bin"
    body_file.write_bytes(body)
    headers_file = tmp_path / "headers.json"
    headers_file.write_text(json.dumps(headers))
    return str(body_file), str(headers_file)


def test_verify_ok_prints_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A good delivery exits 0 and prints the event type."""
    body_file, headers_file = _capture(tmp_path, *delivery())
    code = main(["webhooks", "verify", "--secret", SECRET, "--headers", headers_file,
                 "--body", body_file])  # fmt: skip
    assert code == 0
    assert "escrow.status.updated" in capsys.readouterr().out


def test_verify_failure_prints_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong secret exits 1 with the reason; the secret is not printed."""
    body_file, headers_file = _capture(tmp_path, *delivery())
    monkeypatch.setenv("HOOK_SECRET", "wrong-secret-value")
    code = main(["webhooks", "verify", "--secret-env", "HOOK_SECRET", "--headers", headers_file,
                 "--body", body_file])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "no_matching_signature" in out and "wrong-secret-value" not in out


def test_detect_scheme_finds_timestamped_base64(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """detect-scheme names the scheme a capture was signed with, given -H headers."""
    body, _ = delivery()
    ts = format_timestamp(0)
    scheme = SignatureScheme(encoding="base64", message="{timestamp}.{body}")
    sig = sign(body, SECRET, timestamp=ts, scheme=scheme)
    body_file, _ = _capture(tmp_path, body, {})
    code = main(
        ["webhooks", "detect-scheme", "--secret", SECRET, "--body", body_file,
         "-H", f"X-Webhook-Signature: {sig}", "-H", f"X-Webhook-Timestamp: {ts}"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "hmac-sha256-base64-key:utf-8-msg:{timestamp}.{body}" in out


def test_detect_scheme_reports_no_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With a wrong secret nothing matches and the exit code is 1."""
    body_file, headers_file = _capture(tmp_path, *delivery())
    code = main(["webhooks", "detect-scheme", "--secret", "nope", "--headers", headers_file,
                 "--body", body_file])  # fmt: skip
    assert code == 1
    assert "no candidate" in capsys.readouterr().out
