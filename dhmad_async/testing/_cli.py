"""``python -m dhmad_async emulator``: run the emulator until Ctrl-C. Network I/O (serves)."""

from __future__ import annotations

import argparse
import asyncio

from dhmad_async.testing._emulator import Emulator
from dhmad_async.testing._ratelimit import ServerRateLimitOptions

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulator`` sub-command."""
    parser = subparsers.add_parser("emulator", help="run the local DHMAD sandbox emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--user-email", default="merchant@example.com")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per minute per IP")
    parser.add_argument("--state-path", default=None, help="SQLite file to keep state in")
    parser.set_defaults(handler=_run)


async def _serve(args: argparse.Namespace) -> None:
    emu = Emulator(
        host=args.host,
        port=args.port,
        user_email=args.user_email,
        time_scale=args.time_scale,
        rate_limit=ServerRateLimitOptions(limit=args.rate_limit),
        state_path=args.state_path,
    )
    async with emu:
        client_id, client_secret = emu.oauth_client
        # Printing credentials is the point of this command: they are local test values.
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
