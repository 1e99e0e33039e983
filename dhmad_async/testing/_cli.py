"""``python -m dhmad_async emulator``: run the emulator until Ctrl-C. Network I/O (serves)."""

from __future__ import annotations

import argparse
import asyncio

from dhmad_async.testing._emulator import Emulator
from dhmad_async.testing._fidelity import FIDELITY_PROFILES
from dhmad_async.testing._ratelimit import ServerRateLimitOptions
from dhmad_async.testing._routes_v1 import ApiOptions

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulator`` sub-command."""
    parser = subparsers.add_parser("emulator", help="run the local DHMAD sandbox emulator")
    parser.add_argument(
        "--fidelity",
        choices=FIDELITY_PROFILES,
        default="documented",
        help="documented: only what the DHMAD docs show (default); generous: every field, "
        "rate-limit headers, and escrows the key created for others in the list",
    )
    parser.add_argument(
        "--retry-after-unit",
        choices=("s", "ms"),
        default="s",
        help="unit of the 429 body's retryAfter (s)",
    )
    parser.add_argument(
        "--null-empty-arrays", action="store_true", help="write every empty array as null"
    )
    parser.add_argument(
        "--data-envelope",
        action="store_true",
        help='wrap the escrow endpoints\' bodies as {"data": ...}',
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--user-email", default="merchant@example.com")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per minute per IP")
    parser.add_argument("--state-path", default=None, help="SQLite file to keep state in")
    parser.set_defaults(handler=_run)


async def _serve(args: argparse.Namespace) -> None:
    emu = Emulator(
        fidelity=args.fidelity,
        host=args.host,
        port=args.port,
        user_email=args.user_email,
        time_scale=args.time_scale,
        rate_limit=ServerRateLimitOptions(
            limit=args.rate_limit, retry_after_unit=args.retry_after_unit
        ),
        api=ApiOptions(null_empty_arrays=args.null_empty_arrays, data_envelope=args.data_envelope),
        state_path=args.state_path,
    )
    async with emu:
        client_id, client_secret = emu.oauth_client
        # Printing credentials is the point of this command: they are local test values.
        print(f"fidelity:        {emu.fidelity}")
        print(f"base_url:        {emu.base_url}")
        print(f"root_url:        {emu.root_url}")
        print(f"control_url:     {emu.control_url}")
        print(f"dashboard:       {emu.dashboard_url}")
        print(f"api_key:         {emu.api_key}")
        print(f"user_email:      {emu.user_email}")
        print(f"developer_token: {emu.developer_token}")
        print(f"oauth_client:    {client_id} / {client_secret}")
        # Flush: piped output is block-buffered and would stay unseen while we serve.
        print(
            "webhook secrets are returned by POST /api/developer/webhooks. Ctrl-C to stop.",
            flush=True,
        )
        await asyncio.Event().wait()


def _run(args: argparse.Namespace) -> int:
    asyncio.run(_serve(args))
    return 0
