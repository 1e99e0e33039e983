"""Known-answer vectors for every signature scheme the verifier supports.

The expected signatures never come from our ``sign()``: they are literal strings
(RFC 4231 and RFC 2202 HMAC vectors, the Standard Webhooks specification's example,
and values computed once with ``hmac``), or computed here with ``hmac``/``hashlib``/
``base64`` from the scheme's definition. A sign/verify round trip would pass with a
bug on both sides; these do not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools

import pytest
from webhook_support import reference_key, reference_mac

from dhmad_async.webhooks import (
    DEFAULT_SCHEME,
    STANDARD_WEBHOOKS_SCHEME,
    SignatureScheme,
    WebhookFailureReason,
    WebhookVerificationError,
    WebhookVerifier,
    candidate_schemes,
    sign,
)

# 2026-01-01T00:00:00Z, as epoch seconds and as DHMAD writes it (JavaScript toISOString).
NOW = 1_767_225_600.0
STAMP = "2026-01-01T00:00:00.000Z"
EVENT_ID = "evt_kat_1"
BODY = (
    b'{"id":"evt_kat_1","type":"escrow.status.updated",'
    b'"data":{"escrow":{"id":"esc_kat","status":"paid","amount":150.5}}}'
)
KEY_BYTES = b"kat-key-bytes-0123456789"
#: One secret per key encoding, each standing for KEY_BYTES-like raw key bytes.
SECRETS = {
    "utf-8": "kat-secret-utf8",
    "hex": "00ff" * 16,
    "base64": "a2F0LWtleS1ieXRlcy0wMTIzNDU2Nzg5",  # base64 of KEY_BYTES
    "whsec": "whsec_a2F0LWtleS1ieXRlcy0wMTIzNDU2Nzg5",
}

# The space the verifier claims to support (see webhooks detect-scheme).
DIGESTS = ("sha256", "sha512", "sha1")
ENCODINGS = ("hex", "base64")
TEMPLATES = ("{body}", "{timestamp}.{body}", "{timestamp}{body}", "{id}.{timestamp}.{body}")
KEYS = ("utf-8", "hex", "base64")


def _clock() -> float:
    return NOW


def reference_signature(
    body: bytes,
    *,
    digest: str,
    encoding: str,
    template: str,
    key: bytes,
    timestamp: str = STAMP,
    event_id: str = EVENT_ID,
) -> str:
    """The encoded MAC of the templated message, computed with hmac/hashlib/base64 only."""
    mac = reference_mac(
        body, digest=digest, template=template, key=key, timestamp=timestamp, event_id=event_id
    )
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode("ascii")


def _headers(signature: str) -> dict[str, str]:
    return {
        "X-Webhook-Signature": signature,
        "X-Webhook-Timestamp": STAMP,
        "X-Webhook-Id": EVENT_ID,
        "X-Webhook-Event": "escrow.status.updated",
    }


def _reason(verifier: WebhookVerifier, body: bytes, signature: str) -> WebhookFailureReason:
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(body, _headers(signature))
    return info.value.reason


# -- literal vectors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digest", "expected"),
    [
        # RFC 4231, test case 2 (HMAC-SHA256 and HMAC-SHA512).
        ("sha256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (
            "sha512",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
        # RFC 2202, test case 2 (HMAC-SHA1).
        ("sha1", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    ],
)
def test_rfc_hmac_vectors_verify(digest: str, expected: str) -> None:
    """key "Jefe", message "what do ya want for nothing?": the RFCs' published MACs."""
    scheme = SignatureScheme(name=f"rfc-{digest}", digest=digest)
    verifier = WebhookVerifier("Jefe", scheme=scheme, tolerance=None)
    message = b"what do ya want for nothing?"
    verifier.verify_signature(message, {"X-Webhook-Signature": expected})
    assert sign(message, "Jefe", scheme=scheme) == expected
    wrong = expected[:-1] + ("0" if expected[-1] != "0" else "1")
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify_signature(message, {"X-Webhook-Signature": wrong})
    assert info.value.reason is WebhookFailureReason.NO_MATCHING_SIGNATURE


def test_standard_webhooks_specification_example_verifies() -> None:
    """The Standard Webhooks specification's own example delivery."""
    verifier = WebhookVerifier(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", scheme=STANDARD_WEBHOOKS_SCHEME, tolerance=None
    )
    headers = {
        "X-Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "X-Webhook-Timestamp": "1614265330",
        "X-Webhook-Signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    event = verifier.verify(b'{"test": 2432232314}', headers)
    assert event.raw == {"test": 2432232314}


# (scheme fields, secret, expected header value), computed once with hmac and pasted here.
LITERAL_DELIVERIES = [
    pytest.param(
        DEFAULT_SCHEME,
        SECRETS["utf-8"],
        "fb4beb1884f267deff0238dcc71f68dfd7a5f7c975df653a1cf2f76a115013cd",
        id="default-hex-sha256",
    ),
    pytest.param(
        STANDARD_WEBHOOKS_SCHEME,
        SECRETS["whsec"],
        "v1,5dqjPRsolnVITqPP4c6M48MDQVfVm8/LogDclq3xJAk=",
        id="standard-webhooks",
    ),
    pytest.param(
        SignatureScheme(
            name="sha512-b64-ts", digest="sha512", encoding="base64", message="{timestamp}.{body}"
        ),
        SECRETS["utf-8"],
        "9OnJ2vy00diJ4TjC4DND01faYJIjeMyM5K00bnuo00Irfr20NkuQJWim0F0Tny8/MrHNGTRFS/VlnJv4sqH6kA==",
        id="sha512-base64-timestamp-dot-body",
    ),
    pytest.param(
        SignatureScheme(name="sha1-hexkey", digest="sha1", key="hex", message="{timestamp}{body}"),
        SECRETS["hex"],
        "d3a025464ea5a320e136228b465924def531cc21",
        id="sha1-hex-key-timestamp-body",
    ),
]


@pytest.mark.parametrize(("scheme", "secret", "expected"), LITERAL_DELIVERIES)
def test_literal_delivery_vectors(scheme: SignatureScheme, secret: str, expected: str) -> None:
    """Fixed body, timestamp and id: the literal signature verifies, and sign() produces it."""
    verifier = WebhookVerifier(secret, scheme=scheme, clock=_clock)
    assert verifier.verify(BODY, _headers(expected)).raw["id"] == EVENT_ID
    assert sign(BODY, secret, scheme=scheme, timestamp=STAMP, event_id=EVENT_ID) == expected
    bare = expected.removeprefix(scheme.header_prefix)
    assert (
        reference_signature(
            BODY,
            digest=scheme.digest,
            encoding=scheme.encoding,
            template=scheme.message,
            key=reference_key(scheme.key, secret),
        )
        == bare
    )


# -- every supported scheme, against the reference computation ---------------------------------


def _fields(scheme: SignatureScheme) -> tuple[str, str, str, str]:
    return (scheme.digest, scheme.encoding, scheme.message, scheme.key)


def test_the_vectors_cover_every_candidate_scheme() -> None:
    """candidate_schemes() is exactly the default, Standard Webhooks, and the full grid below."""
    grid = set(itertools.product(DIGESTS, ENCODINGS, TEMPLATES, KEYS))
    listed = [_fields(s) for s in candidate_schemes()]
    assert len(listed) == len(set(listed)) == len(grid) + 1
    assert set(listed) == grid | {_fields(STANDARD_WEBHOOKS_SCHEME)}
    assert _fields(DEFAULT_SCHEME) == ("sha256", "hex", "{body}", "utf-8")


ALL_SCHEMES = [pytest.param(s, id=s.name) for s in candidate_schemes()]


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_every_scheme_verifies_its_reference_signature(scheme: SignatureScheme) -> None:
    """The independently computed signature verifies; sign() agrees with it."""
    secret = SECRETS[scheme.key]
    expected = reference_signature(
        BODY,
        digest=scheme.digest,
        encoding=scheme.encoding,
        template=scheme.message,
        key=reference_key(scheme.key, secret),
    )
    verifier = WebhookVerifier(secret, scheme=scheme, clock=_clock)
    headers = {scheme.header_prefix + expected, *(p + expected for p in scheme.accepted_prefixes)}
    for header in headers:
        assert verifier.verify(BODY, _headers(header)).raw["id"] == EVENT_ID
    assert sign(BODY, secret, scheme=scheme, timestamp=STAMP, event_id=EVENT_ID) == (
        scheme.header_prefix + expected
    )


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_every_scheme_rejects_a_mac_wrong_in_any_single_byte(scheme: SignatureScheme) -> None:
    """Flip one byte of the MAC, at every position (the last ones too): never accepted.

    A comparison of a prefix only (or of anything less than the whole digest)
    accepts the flips past that prefix.
    """
    secret = SECRETS[scheme.key]
    key = reference_key(scheme.key, secret)
    mac = reference_mac(
        BODY,
        digest=scheme.digest,
        template=scheme.message,
        key=key,
        timestamp=STAMP,
        event_id=EVENT_ID,
    )
    verifier = WebhookVerifier(secret, scheme=scheme, clock=_clock)
    for position in range(len(mac)):
        forged = bytearray(mac)
        forged[position] ^= 0x01
        encoded = forged.hex() if scheme.encoding == "hex" else base64.b64encode(forged).decode()
        reason = _reason(verifier, BODY, scheme.header_prefix + encoded)
        assert reason is WebhookFailureReason.NO_MATCHING_SIGNATURE, position


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_every_scheme_rejects_the_right_mac_of_other_content(scheme: SignatureScheme) -> None:
    """The reference MAC of another body, timestamp or id (when signed) does not verify."""
    secret = SECRETS[scheme.key]
    key = reference_key(scheme.key, secret)
    verifier = WebhookVerifier(secret, scheme=scheme, clock=_clock)
    common = {"digest": scheme.digest, "encoding": scheme.encoding, "template": scheme.message}
    other_body = BODY.replace(b"150.5", b"150.6")
    forged = reference_signature(other_body, key=key, **common)
    assert _reason(verifier, BODY, scheme.header_prefix + forged) is (
        WebhookFailureReason.NO_MATCHING_SIGNATURE
    )
    if scheme.needs_timestamp:
        forged = reference_signature(BODY, key=key, timestamp="2026-01-01T00:00:01.000Z", **common)
        assert _reason(verifier, BODY, scheme.header_prefix + forged) is (
            WebhookFailureReason.NO_MATCHING_SIGNATURE
        )
    if scheme.needs_id:
        forged = reference_signature(BODY, key=key, event_id="evt_kat_2", **common)
        assert _reason(verifier, BODY, scheme.header_prefix + forged) is (
            WebhookFailureReason.NO_MATCHING_SIGNATURE
        )
    wrong_key = reference_signature(BODY, key=key + b"x", **common)
    assert _reason(verifier, BODY, scheme.header_prefix + wrong_key) is (
        WebhookFailureReason.NO_MATCHING_SIGNATURE
    )


# -- header forms ---------------------------------------------------------------------------------


def test_default_scheme_header_forms() -> None:
    """The default accepts the bare hex MAC, ``sha256=`` in any case, and several signatures."""
    good = "fb4beb1884f267deff0238dcc71f68dfd7a5f7c975df653a1cf2f76a115013cd"
    stale = hmac.new(b"old-secret", BODY, hashlib.sha256).hexdigest()
    verifier = WebhookVerifier(SECRETS["utf-8"], clock=_clock)
    for header in (
        good,
        good.upper(),
        "sha256=" + good,
        "SHA256=" + good,
        f"{stale} {good}",
        f"{stale},{good}",
        f"sha256={stale}, sha256={good}",
    ):
        verifier.verify(BODY, _headers(header))
    assert _reason(verifier, BODY, stale) is WebhookFailureReason.NO_MATCHING_SIGNATURE
    # The first 8 bytes of the right MAC, then the rest of a wrong one: not a match.
    spliced = good[:16] + stale[16:]
    assert _reason(verifier, BODY, spliced) is WebhookFailureReason.NO_MATCHING_SIGNATURE
    # Truncated to 8 bytes: not even a well-formed SHA-256 signature.
    assert _reason(verifier, BODY, good[:16]) is WebhookFailureReason.MALFORMED_SIGNATURE


def test_rotation_accepts_either_secret_from_its_own_vector() -> None:
    """Two configured secrets: a delivery signed (independently) with either one verifies."""
    verifier = WebhookVerifier(["old-secret", SECRETS["utf-8"]], clock=_clock)
    for secret in ("old-secret", SECRETS["utf-8"]):
        verifier.verify(BODY, _headers(hmac.new(secret.encode(), BODY, "sha256").hexdigest()))
    other = hmac.new(b"third-secret", BODY, "sha256").hexdigest()
    assert _reason(verifier, BODY, other) is WebhookFailureReason.NO_MATCHING_SIGNATURE


def test_standard_webhooks_several_signatures_and_urlsafe_base64() -> None:
    """Space-separated ``v1,`` signatures, one of them right, verify; so does URL-safe base64."""
    key = base64.b64decode("a2F0LWtleS1ieXRlcy0wMTIzNDU2Nzg5")
    message = f"{EVENT_ID}.{STAMP}.".encode() + BODY
    mac = hmac.new(key, message, hashlib.sha256).digest()
    verifier = WebhookVerifier(SECRETS["whsec"], scheme=STANDARD_WEBHOOKS_SCHEME, clock=_clock)
    stale = base64.b64encode(hmac.new(b"old", message, hashlib.sha256).digest()).decode()
    verifier.verify(BODY, _headers(f"v1,{stale} v1,{base64.b64encode(mac).decode()}"))
    verifier.verify(BODY, _headers("v1," + base64.urlsafe_b64encode(mac).decode().rstrip("=")))
    assert _reason(verifier, BODY, f"v1,{stale}") is WebhookFailureReason.NO_MATCHING_SIGNATURE
