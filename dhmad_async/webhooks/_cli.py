"""
``python -m dhmad_async webhooks verify|detect-scheme``: check one captured delivery. I/O: files.

``detect-scheme`` exists because DHMAD does not document its signing scheme:
capture one sandbox delivery (headers + raw body), run it with the secret,
and it lists every candidate scheme under which the signature matches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from dhmad_async._errors import WebhookVerificationError
from dhmad_async.webhooks._jsonjs import js_stringify
from dhmad_async.webhooks._scheme import DEFAULT_SCHEME, candidate_schemes
from dhmad_async.webhooks._verifier import WebhookVerifier, parse_body

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``webhooks`` command and its sub-commands."""
    parser = subparsers.add_parser("webhooks", help="verify captured webhook deliveries")
    sub = parser.add_subparsers(dest="webhooks_command", metavar="SUBCOMMAND")
    parser.set_defaults(handler=lambda args: _usage(parser))

    verify = sub.add_parser("verify", help="verify one delivery and print its event")
    _add_delivery_args(verify)
    verify.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="replay window in seconds (default: no timestamp check, for old captures)",
    )
    verify.add_argument(
        "--allow-reserialized",
        action="store_true",
        help="also accept a MAC over JSON.stringify(parsed body)",
    )
    verify.set_defaults(handler=_verify)

    detect = sub.add_parser("detect-scheme", help="report which signing schemes match")
    _add_delivery_args(detect)
    detect.set_defaults(handler=_detect)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _add_delivery_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--secret", action="append", default=[], help="receiver secret")
    parser.add_argument(
        "--secret-env", action="append", default=[], metavar="VAR", help="read a secret from VAR"
    )
    parser.add_argument("--headers", metavar="FILE", help="JSON object of the delivery's headers")
    parser.add_argument(
        "-H", "--header", action="append", default=[], metavar="'Name: value'", help="one header"
    )
    parser.add_argument("--body", required=True, metavar="FILE", help="raw body file ('-': stdin)")


class _InputError(Exception):
    pass


def _load(args: argparse.Namespace) -> tuple[list[str], dict[str, str], bytes]:
    secrets = list(args.secret)
    for var in args.secret_env:
        value = os.environ.get(var)
        if not value:
            raise _InputError(f"environment variable {var} is not set")
        secrets.append(value)
    if not secrets:
        raise _InputError("give --secret or --secret-env")
    headers: dict[str, str] = {}
    if args.headers:
        with open(args.headers, encoding="utf-8") as file:
            loaded = json.load(file)
        if not isinstance(loaded, Mapping):
            raise _InputError("--headers must hold a JSON object")
        headers.update({str(k): str(v) for k, v in loaded.items()})
    for line in args.header:
        name, sep, value = line.partition(":")
        if not sep:
            raise _InputError(f"bad -H value (want 'Name: value'): {line!r}")
        headers[name.strip()] = value.strip()
    if args.body == "-":
        body = sys.stdin.buffer.read()
    else:
        with open(args.body, "rb") as file:
            body = file.read()
    return secrets, headers, body


def _verify(args: argparse.Namespace) -> int:
    try:
        secrets, headers, body = _load(args)
        verifier = WebhookVerifier(
            secrets, tolerance=args.tolerance, allow_reserialized=args.allow_reserialized
        )
    except (_InputError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        event = verifier.verify(body, headers)
    except WebhookVerificationError as exc:
        print(f"rejected: {exc.reason.value} ({exc.message})")
        return 1
    print(f"ok: {event.type or '(no type)'} id={event.id} timestamp={event.timestamp}")
    print(js_stringify(event.data).decode("utf-8", "replace"))
    return 0


def _detect(args: argparse.Namespace) -> int:
    try:
        secrets, headers, body = _load(args)
    except (_InputError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        compact = js_stringify(parse_body(body))
    except WebhookVerificationError:
        compact = None
    matches: list[str] = []
    for index, secret in enumerate(secrets, start=1):
        for scheme in candidate_schemes():
            try:
                verifier = WebhookVerifier(secret, tolerance=None, scheme=scheme)
            except ValueError:
                continue  # this key handling cannot read the secret (e.g. not hex)
            for label, candidate in (("raw body", body), ("JSON.stringify body", compact)):
                if candidate is None or (label != "raw body" and candidate == body):
                    continue
                try:
                    verifier.verify_signature(candidate, headers)
                except WebhookVerificationError:
                    continue
                default = " (the default)" if scheme == DEFAULT_SCHEME else ""
                matches.append(f"secret #{index}: {scheme.name} over the {label}{default}")
    if not matches:
        print("no candidate scheme matched; check the secret and that the body is byte-exact")
        return 1
    for line in matches:
        print(f"match: {line}")
    return 0
