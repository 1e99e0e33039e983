"""Emulator state: users, developers, API keys and every resource as plain dicts.

In memory by default; with ``state_path`` the whole state is also written to one
SQLite row as a JSON blob after each mutation (synchronous, small; I/O only then).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from dhmad_async.testing._common import ApiError, EmuClock, iso, new_hex, new_object_id

__all__ = ["TABLES", "ApiKeyInfo", "KeyContext", "Store"]

JsonDict = dict[str, Any]
EventSink = Callable[[str, JsonDict, str], None]  # (event type, data, developer id)

TABLES = (
    "users",
    "developers",
    "api_keys",
    "escrows",
    "contracts",
    "sessions",
    "verifications",
    "webhooks",
    "oauth_clients",
    "oauth_codes",
    "oauth_tokens",
    "meta",
)


@attrs.frozen
class ApiKeyInfo:
    """A key the emulator accepts; ``key`` is the secret, hidden from ``repr``."""

    key: str = attrs.field(repr=False)
    key_id: str
    developer_id: str
    user_email: str | None
    environment: str
    developer_token: str = attrs.field(repr=False)


@attrs.frozen
class KeyContext:
    """Who is calling: the API key record, its developer and its associated user's email."""

    key: JsonDict
    developer: JsonDict
    user_email: str | None


def _encode(obj: object) -> object:
    if isinstance(obj, Decimal):
        return {"$dec": str(obj)}
    raise TypeError(type(obj).__name__)


def _decode(obj: dict[str, Any]) -> object:
    if set(obj) == {"$dec"}:
        return Decimal(obj["$dec"])
    return obj


class Store:
    """All tables plus the bookkeeping the state machine needs (clock, event sink)."""

    def __init__(self, clock: EmuClock, state_path: str | Path | None = None) -> None:
        self.clock = clock
        self.state_path = Path(state_path) if state_path is not None else None
        self.t: dict[str, dict[str, JsonDict]] = {name: {} for name in TABLES}
        self.seq = 0
        self.event_sink: EventSink | None = None
        # Where the hosted pages are served (``http://127.0.0.1:PORT``), set once bound:
        # checkout session URLs point here, never at a dhmad.tn host.
        self.web_origin: str | None = None
        if self.state_path is not None and self.state_path.exists():
            self._load()

    # -- persistence -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        assert self.state_path is not None
        conn = sqlite3.connect(self.state_path)
        conn.execute("CREATE TABLE IF NOT EXISTS state (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        return conn

    def _load(self) -> None:
        conn = self._connect()
        try:
            row = conn.execute("SELECT v FROM state WHERE k = 'state'").fetchone()
        finally:
            conn.close()
        if row is None:
            return
        blob = json.loads(row[0], object_hook=_decode)
        for name in TABLES:
            self.t[name] = blob.get(name, {})
        self.seq = int(blob.get("seq", 0))

    def save(self) -> None:
        """Write the whole state to SQLite (no-op when in memory)."""
        if self.state_path is None:
            return
        blob = dict(self.t)
        text = json.dumps({**blob, "seq": self.seq}, default=_encode)
        conn = self._connect()
        try:
            with conn:
                conn.execute("INSERT OR REPLACE INTO state (k, v) VALUES ('state', ?)", (text,))
        finally:
            conn.close()

    def reset(self) -> None:
        """Forget every resource but keep users, developers, keys and OAuth clients."""
        for name in ("escrows", "contracts", "sessions", "verifications", "webhooks"):
            self.t[name].clear()
        self.t["oauth_codes"].clear()
        self.t["oauth_tokens"].clear()
        self.save()

    # -- helpers -----------------------------------------------------------------------------

    def now_iso(self) -> str:
        """Current emulated time, ISO 8601."""
        return iso(self.clock.now())

    def next_seq(self) -> int:
        """Monotonic creation counter (newest-first ordering tie-breaker)."""
        self.seq += 1
        return self.seq

    def emit(self, event_type: str, data: JsonDict, developer_id: str) -> None:
        """Hand an event to the webhook outbox, if one is attached."""
        if self.event_sink is not None:
            self.event_sink(event_type, data, developer_id)

    # -- users, developers, keys ------------------------------------------------------------

    def ensure_user(self, email: str, first: str = "Test", last: str = "User") -> JsonDict:
        """Return the user with ``email``, registering it if needed."""
        email = email.strip().lower()
        user = self.t["users"].get(email)
        if user is None:
            user = {
                "_id": new_object_id(),
                "email": email,
                "firstName": first,
                "lastName": last,
                "phone": "+21612345678",
                "kycStatus": None,
            }
            self.t["users"][email] = user
        return user

    def user(self, email: str | None) -> JsonDict | None:
        """The registered user with ``email`` or ``None``."""
        if not email:
            return None
        return self.t["users"].get(email.strip().lower())

    def create_developer(
        self, user_email: str | None, *, email: str | None = None, has_signature: bool = True
    ) -> JsonDict:
        """A developer account, optionally associated with (a new or existing) user."""
        if user_email is not None:
            self.ensure_user(user_email)
        dev: JsonDict = {
            "id": new_object_id(),
            "email": email or "dev@example.com",
            "companyName": "Emulated Corp",
            "applicationName": "Emulator App",
            "userEmail": user_email.lower() if user_email else None,
            "hasSignature": has_signature,
            "devToken": "devtok_" + new_hex(24),
        }
        self.t["developers"][dev["id"]] = dev
        return dev

    def create_api_key(
        self,
        developer: JsonDict,
        *,
        environment: str = "sandbox",
        name: str = "Emulator Key",
        rate_limit: int = 100,
        key: str | None = None,
    ) -> ApiKeyInfo:
        """Issue an ``sk_<environment>_`` + 64 hex key for ``developer``."""
        prefix = "sk_live_" if environment == "live" else "sk_sandbox_"
        secret = key or prefix + new_hex(32)
        record = {
            "id": new_object_id(),
            "key": secret,
            "name": name,
            "keyPrefix": secret[: len(prefix) + 6],
            "environment": environment,
            "developerId": developer["id"],
            "isActive": True,
            "rateLimit": rate_limit,
            "expiresAt": None,
            "lastUsedAt": None,
            "metadata": {"appName": developer["applicationName"], "website": "https://example.com"},
            "createdAt": self.now_iso(),
        }
        self.t["api_keys"][secret] = record
        self.save()
        return self.key_info(record)

    def key_info(self, record: JsonDict) -> ApiKeyInfo:
        """The public description of a stored key."""
        dev = self.t["developers"][record["developerId"]]
        return ApiKeyInfo(
            key=record["key"],
            key_id=record["id"],
            developer_id=dev["id"],
            user_email=dev["userEmail"],
            environment=record["environment"],
            developer_token=dev["devToken"],
        )

    def authenticate(self, key: str | None, sandbox: bool) -> KeyContext:
        """Resolve an API key or raise the documented 401."""
        if not key:
            raise ApiError(
                401,
                {
                    "error": "Unauthorized",
                    "message": "Missing API key. Please include X-API-Key header.",
                },
            )
        own, other = ("sk_sandbox_", "sk_live_") if sandbox else ("sk_live_", "sk_sandbox_")
        if key.startswith(other):
            # INF: the exact wrong-environment text is UNKNOWN; this wording says which
            # kind of key to use.
            env = "sandbox" if sandbox else "production"
            raise ApiError(
                401,
                {
                    "error": "Unauthorized",
                    "message": f"Invalid API key for this environment. This is the {env} API: "
                    f"use an {own}... key.",
                },
            )
        record = self.t["api_keys"].get(key)
        if record is None or not record["isActive"]:
            raise ApiError(401, {"error": "Unauthorized", "message": "Invalid or expired API key"})
        record["lastUsedAt"] = self.now_iso()
        dev = self.t["developers"][record["developerId"]]
        return KeyContext(key=record, developer=dev, user_email=dev["userEmail"])

    def developer_by_token(self, token: str | None) -> JsonDict:
        """Resolve a developer token (webhook management and signature) or raise 401."""
        for dev in self.t["developers"].values():
            if token and dev["devToken"] == token:
                return dev
        raise ApiError(401, {"error": "Unauthorized", "message": "Invalid developer token"})

    # -- escrow visibility --------------------------------------------------------------------

    def get_escrow(self, escrow_id: str) -> JsonDict:
        """The escrow or 404 ``{"error":"Escrow not found"}``."""
        esc = self.t["escrows"].get(escrow_id)
        if esc is None:
            raise ApiError(404, {"error": "Escrow not found"})
        return esc

    @staticmethod
    def role_of(esc: JsonDict, email: str | None) -> str | None:
        """``"seller"``, ``"buyer"`` or ``None`` for ``email`` (compared case-insensitively)."""
        if not email:
            return None
        email = email.lower()
        if esc["sellerEmail"] == email:
            return "seller"
        if esc["buyerEmail"] == email:
            return "buyer"
        return None

    def can_see(self, ctx: KeyContext, esc: JsonDict) -> bool:
        """Creator's developer account, or the associated user is a party."""
        return (
            esc["developerId"] == ctx.developer["id"]
            or self.role_of(esc, ctx.user_email) is not None
        )
