"""
The shipped package, its docs and its messages never send a user to a file they do not have.

The API notes this project was built from (a ``REFERENCE.md`` with numbered
sections, design files under ``shared/``) do not ship. Everything a user reads
either points at a file that does (``docs/dhmad-api.md`` and the other docs) or
says the rule in words. These tests read what a user reads: every string literal
and ``#:`` attribute doc in the package source, the docstrings of every public
object at run time, the messages of ``InvalidParamsError`` for a battery of bad
inputs, the CLI's ``--help`` pages, the README, ``docs/*.md`` and ``examples/``.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import re
import tokenize
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dhmad_async import DhmadClient, DhmadDeveloperClient, InvalidParamsError
from dhmad_async.models import FulfillmentPolicy, Unknown, WebhookEventType
from dhmad_async.resources import EscrowParams, code_challenge_s256, signature_data_uri

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dhmad_async"

#: A citation of a file the user does not have: the reference's name, a numbered
#: section sign ("§2.3", "§ 4"), or a path into the shared design folder.
CITATION = re.compile(r"\bREFERENCE\b|§\s*\d|\bshared/")

PUBLIC_MODULES = (
    "dhmad_async",
    "dhmad_async.models",
    "dhmad_async.resources",
    "dhmad_async.webhooks",
    "dhmad_async.batch",
    "dhmad_async.ratelimit",
    "dhmad_async.testing",
    "dhmad_async.testing.pytest_plugin",
)


def citations(text: str) -> list[str]:
    """Each line of ``text`` that cites an unshipped file."""
    return [line.strip() for line in text.splitlines() if CITATION.search(line)]


def test_the_pattern_catches_what_it_must_and_nothing_else() -> None:
    """The check itself: section numbers, the reference and shared/ paths; not SQL or prose."""
    for bad in ("see REFERENCE §2.3", "(§3.3)", "§ 4.1", "shared/design/ARCHITECTURE.md"):
        assert citations(bad), bad
    for fine in (
        "owner text REFERENCES workers (id)",  # SQL
        "see docs/dhmad-api.md#rate-limits",
        "the reference implementation",
        "one budget shared by every worker",
        "RFC 7636, section 4.2",
    ):
        assert citations(fine) == [], fine


# -- the source: every string literal and attribute doc -----------------------------------


def _source_texts(path: Path) -> Iterator[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
    # ``#:`` comments document attributes (Sphinx reads them): they are docs, not notes.
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.string.startswith("#:"):
            yield token.start[0], token.string


def test_no_string_in_the_package_cites_an_unshipped_file() -> None:
    """Docstrings, messages, help texts, page templates and emulator error bodies."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {hit}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, text in _source_texts(path)
        for hit in citations(text)
    ]
    assert found == [], "\n".join(found)


# -- what a user reads at run time ---------------------------------------------------------


def _members(obj: object) -> Iterator[tuple[str, object]]:
    if not inspect.isclass(obj):
        return
    for name, member in vars(obj).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        if isinstance(member, property):
            member = member.fget
        if callable(member) or inspect.isclass(member):
            yield name, member


def _public_docs() -> Iterator[tuple[str, str]]:
    import importlib

    for module_name in PUBLIC_MODULES:
        module: ModuleType = importlib.import_module(module_name)
        yield module_name, module.__doc__ or ""
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj):
                yield f"{module_name}.{name}", obj.__doc__ or ""
            for member_name, member in _members(obj):
                yield f"{module_name}.{name}.{member_name}", getattr(member, "__doc__", "") or ""


def test_public_docstrings_stand_alone() -> None:
    """help() on anything the package exports names no unshipped file."""
    docs = list(_public_docs())
    assert len(docs) > 300  # the walk really reached the classes and their methods
    found = [f"{where}: {hit}" for where, doc in docs for hit in citations(doc)]
    assert found == [], "\n".join(found)


KEY = "sk_sandbox_" + "0" * 64
#: Nothing listens here: a call that got past validation fails with a connection
#: error, not InvalidParamsError, and the battery below reports it.
NOWHERE = "http://127.0.0.1:9/api/v1"
QUICK: dict[str, Any] = {
    "title": "Kilim",
    "amount": "250",
    "buyer_email": "buyer@example.com",
    "mode": "quick",
    "seller_email": "seller@example.com",
    "estimated_delivery_days": 3,
}
STANDARD: dict[str, Any] = {
    "title": "Site",
    "amount": "500",
    "buyer_email": "buyer@example.com",
    "contract_terms": "Deliver in 7 days.",
    "estimated_delivery_days": 7,
}


def _bad_calls(
    client: DhmadClient, developer: DhmadDeveloperClient
) -> list[tuple[str, Callable[[], Awaitable[object] | object]]]:
    e, s = client.escrows, client.checkout_sessions
    quick_policy = FulfillmentPolicy(
        type="purchase_proof_required",
        proof_upload_deadline_hours=1,
        buyer_review_deadline_hours=100,
    )
    return [
        ("typo in mode", lambda: e.create(**{**QUICK, "mode": "qiuck"})),
        ("instant with a seller", lambda: e.create(**{**QUICK, "mode": "instant"})),
        ("standard without terms", lambda: e.create(**{**STANDARD, "contract_terms": None})),
        (
            "standard without delivery days",
            lambda: e.create(**{**STANDARD, "estimated_delivery_days": None}),
        ),
        ("quick with terms", lambda: e.create(**QUICK, contract_terms="x")),
        ("quick with auto_sign", lambda: e.create(**QUICK, auto_sign=True)),
        ("auto_sign not a bool", lambda: e.create(**STANDARD, auto_sign="yes")),  # type: ignore[arg-type]
        (
            "auto_sign with a seller",
            lambda: e.create(**STANDARD, seller_email="s@example.com", auto_sign=True),
        ),
        ("below the minimum", lambda: e.create(**{**QUICK, "amount": "1"})),
        ("too many decimals", lambda: e.create(**{**QUICK, "amount": "10.0001"})),
        ("negative amount", lambda: e.create(**{**QUICK, "amount": "-5"})),
        ("huge amount", lambda: e.create(**{**QUICK, "amount": "1e99999"})),
        ("empty title", lambda: e.create(**{**QUICK, "title": ""})),
        ("bad email", lambda: e.create(**{**QUICK, "buyer_email": "not-an-email"})),
        ("unknown currency", lambda: e.create(**QUICK, currency="GBP")),  # type: ignore[arg-type]
        ("fee without seller", lambda: e.create(**STANDARD, developer_fee_percentage=5)),
        ("fee out of range", lambda: e.create(**QUICK, developer_fee_percentage=150)),
        ("policy on standard", lambda: e.create(**STANDARD, fulfillment_policy=quick_policy)),
        ("policy bounds", lambda: e.create(**QUICK, fulfillment_policy=quick_policy)),
        ("policy type", lambda: e.create(**QUICK, fulfillment_policy={"type": "other"})),
        ("policy shape", lambda: e.create(**QUICK, fulfillment_policy=5)),  # type: ignore[arg-type]
        ("long description", lambda: e.create(**QUICK, description="x" * 2001)),
        ("delivery days 0", lambda: e.create(**{**QUICK, "estimated_delivery_days": 0})),
        ("unknown create key", lambda: EscrowParams.from_mapping({"title": "t", "colour": 1})),
        ("missing create keys", lambda: EscrowParams.from_mapping({"title": "t"})),
        ("list limit", lambda: e.list(limit=0)),
        ("list page", lambda: e.list(page=0)),
        ("list role", lambda: e.list(role="owner")),  # type: ignore[arg-type]
        ("list status", lambda: e.list(status="disputed")),  # type: ignore[arg-type]
        ("list page with until_stable", lambda: e.list(page=2, until_stable=True)),
        ("update without currency", lambda: e.update("a" * 24, amount=Decimal("5"))),
        ("update in USD", lambda: e.update("a" * 24, amount=Decimal("5"), amount_currency="USD")),  # type: ignore[arg-type]
        ("update currency alone", lambda: e.update("a" * 24, amount_currency="TND")),
        ("update nothing", lambda: e.update("a" * 24)),
        ("path id", lambda: e.get("..")),
        ("reject reason", lambda: e.reject_delivery("a" * 24, reason=5)),  # type: ignore[arg-type]
        (
            "session action",
            lambda: s.create(
                "a" * 24,
                action="pay",  # type: ignore[arg-type]
                target_user_email="nobody",
                redirect_url="ftp://x",
                metadata=5,  # type: ignore[arg-type]
            ),
        ),
        (
            "kyc",
            lambda: client.identity_verifications.create(
                email="x",
                external_user_id="",
                metadata={"k": 5},  # type: ignore[dict-item]
            ),
        ),
        ("kyc list", lambda: client.identity_verifications.list(email="bad")),
        (
            "domain-only redirect",
            lambda: client.oauth.authorization_url(client_id="c", redirect_uri="https://shop.tn"),
        ),
        (
            "relative redirect",
            lambda: client.oauth.authorization_url(client_id="", redirect_uri="/callback"),
        ),
        (
            "callback without state",
            lambda: client.oauth.parse_callback("https://shop.tn/cb?code=x", expected_state=""),
        ),
        (
            "token request",
            lambda: client.oauth.exchange_code(
                "", client_id="", client_secret="", redirect_uri="https://shop.tn/cb"
            ),
        ),
        ("userinfo", lambda: client.oauth.userinfo("")),
        ("short verifier", lambda: code_challenge_s256("short")),
        ("webhook url", lambda: developer.webhooks.create("ftp://example.com")),
        (
            "webhook event typo",
            lambda: developer.webhooks.create("https://a.tn/h", events=["escrow.paid"]),
        ),  # type: ignore[list-item]
        (
            "webhook proof event",
            lambda: developer.webhooks.create(
                "https://a.tn/h", events=[WebhookEventType.ESCROW_PROOF_REQUIRED]
            ),
        ),
        (
            "webhook events as str",
            lambda: developer.webhooks.create("https://a.tn/h", events="escrow.updated"),
        ),  # type: ignore[arg-type]
        (
            "webhook update verb",
            lambda: developer.webhooks.update("a" * 24, url="https://a.tn/h", method="DELETE"),
        ),  # type: ignore[arg-type]
        ("webhook update flag", lambda: developer.webhooks.update("a" * 24, is_active="false")),  # type: ignore[arg-type]
        ("webhook update nothing", lambda: developer.webhooks.update("a" * 24)),
        ("signature bytes", lambda: signature_data_uri(b"not an image")),
        ("signature uri", lambda: signature_data_uri("data:image/bmp;base64,AAAA")),
        ("headers", lambda: client.escrows.get("a" * 24, extra_headers={"bad name": "x"})),
        ("options", lambda: client.with_options(max_retries=-1)),
        ("limit with an Unknown status", lambda: e.list(status=Unknown("disputed"), limit=0)),
    ]


async def test_validation_messages_name_the_rule_not_a_section() -> None:
    """Every refusal of a battery of bad inputs is an InvalidParamsError in plain words."""
    async with (
        DhmadClient(KEY, base_url=NOWHERE) as client,
        DhmadDeveloperClient("dev-token", base_url=NOWHERE) as developer,
    ):
        messages: list[str] = []
        not_refused: list[str] = []
        for name, call in _bad_calls(client, developer):
            try:
                result = call()
                if inspect.isawaitable(result):
                    result = await result
                if hasattr(result, "__aiter__"):  # a pager validates before its first page
                    async for _ in result:  # type: ignore[attr-defined]
                        break
            except InvalidParamsError as exc:
                messages.append(f"{name}: {exc}")
                messages.extend(f"{name}: {field}: {rule}" for field, rule in exc.errors.items())
            except Exception as exc:
                not_refused.append(f"{name}: {type(exc).__name__}: {exc}")
            else:
                not_refused.append(f"{name}: accepted")
    assert not_refused == [], "\n".join(not_refused)
    found = [hit for message in messages for hit in citations(message)]
    assert found == [], "\n".join(found)
    text = "\n".join(messages)
    # The rules are said in words where section numbers used to stand.
    assert "you are always the seller" in text
    assert "only standard escrows have a contract" in text
    assert "domain-only" in text


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_cli_help_stands_alone() -> None:
    """``--help`` of the CLI and of every sub-command."""
    from dhmad_async._cli import build_parser

    pages = {parser.prog: parser.format_help() for parser in _parsers(build_parser())}
    assert {"dhmad emulator", "dhmad webhooks detect-scheme", "dhmad batch create"} <= set(pages)
    found = [f"{prog}: {hit}" for prog, text in pages.items() for hit in citations(text)]
    assert found == [], "\n".join(found)


USER_DOCS = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "benchmarks" / "RESULTS.md",  # linked from the README
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "examples").glob("*.py"),
    ]
)


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_docs_stand_alone(path: Path) -> None:
    """The README, the changelog, the benchmark results, every page under docs/, every example."""
    found = citations(path.read_text(encoding="utf-8"))
    assert found == [], "\n".join(found)


def test_relative_links_in_the_docs_resolve() -> None:
    """A link to a shipped file (and its #anchor in docs/) points at something that exists."""
    link = re.compile(r"\]\(([^)\s]+)\)")
    broken = []
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in link.findall(path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                broken.append(f"{path.name}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert broken == [], "\n".join(broken)


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            heading = re.sub(r"[^\w\- ]", "", heading)
            anchors.add(heading.replace(" ", "-"))
    return anchors
