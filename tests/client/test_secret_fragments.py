"""No fragment of a credential survives in a repr or a redacted text, not just no whole copy.

Checking ``key not in text`` passes when a repr shows all but the last 4 characters,
or when redaction stops after 8 characters of the key: here no 8-character run of the
key's random part may appear anywhere.
"""

from __future__ import annotations

import pytest
from client_fakes import LIVE_KEY, SANDBOX_KEY, RecordingTransport, make_client

from dhmad_async import DhmadClient, DhmadDeveloperClient, RetryPolicy
from dhmad_async._redact import REDACTED, redact

FRAGMENT = 8
DEV_TOKEN = "dt_" + "a1b2c3d4e5f6g7h8" * 3


def _material(credential: str) -> str:
    """The random part of a credential, after its well-known prefix."""
    for prefix in ("sk_sandbox_", "sk_live_", "dt_"):
        if credential.startswith(prefix):
            return credential[len(prefix) :]
    return credential


def _fragments(credential: str) -> list[str]:
    material = _material(credential)
    return [material[i : i + FRAGMENT] for i in range(len(material) - FRAGMENT + 1)]


def assert_no_fragment(credential: str, text: str) -> None:
    """Fail naming the first 8-character run of ``credential`` found in ``text``."""
    leaked = [fragment for fragment in _fragments(credential) if fragment in text]
    assert not leaked, f"{len(leaked)} fragments of the credential in {text!r}"


def test_the_fragment_check_catches_partial_copies() -> None:
    """The check itself: a key minus its last 4 characters, or its tail, is a leak."""
    for partial in (SANDBOX_KEY[:-4], SANDBOX_KEY[-12:], _material(SANDBOX_KEY)[20:28]):
        with pytest.raises(AssertionError):
            assert_no_fragment(SANDBOX_KEY, f"<client {partial}>")
    assert_no_fragment(SANDBOX_KEY, "<client sk_sandbox_… ending in cdef>")


@pytest.mark.parametrize("key", [SANDBOX_KEY, LIVE_KEY])
async def test_client_reprs_hold_no_fragment_of_the_key(key: str) -> None:
    """repr/str of a client, its copies and its parts never show key material."""
    transport = RecordingTransport()
    async with make_client(transport, api_key=key) as client:
        copies = [client, client.with_options(retry=RetryPolicy(attempts=1))]
        texts = [text for c in copies for text in (repr(c), str(c))]
        texts += [repr(client.escrows), repr(client.account)]
    texts.append(repr(client))  # closed
    for text in texts:
        assert_no_fragment(key, text)


async def test_a_client_with_a_developer_token_shows_neither_credential() -> None:
    """The API key and the developer token stay out of every repr."""
    async with DhmadClient(
        SANDBOX_KEY, transport=RecordingTransport(), developer_token=DEV_TOKEN
    ) as client:
        text = repr(client) + str(client)
    assert_no_fragment(SANDBOX_KEY, text)
    assert_no_fragment(DEV_TOKEN, text)
    async with DhmadDeveloperClient(DEV_TOKEN, transport=RecordingTransport()) as dev:
        assert_no_fragment(DEV_TOKEN, repr(dev) + str(dev))


@pytest.mark.parametrize("length", [1, 8, 9, 32, 64, 200])
@pytest.mark.parametrize("prefix", ["sk_live_", "sk_sandbox_"])
def test_an_api_key_of_any_length_is_redacted_whole(prefix: str, length: int) -> None:
    """Redaction replaces every character of the key: the exact expected text, nothing left."""
    key = prefix + ("Z9y8X7w6" * 25)[:length]
    text = f"upstream said: invalid key {key}, retry later"
    assert redact(text) == f"upstream said: invalid key {REDACTED}, retry later"
    assert redact(f"({key})") == f"({REDACTED})"


def test_the_sample_keys_are_redacted_without_a_fragment() -> None:
    """The 64-character keys the tests use: nothing of them is left after redaction."""
    for key in (SANDBOX_KEY, LIVE_KEY):
        redacted = redact(f"Authorization failed for {key}.")
        assert redacted == f"Authorization failed for {REDACTED}."
        assert_no_fragment(key, redacted)
