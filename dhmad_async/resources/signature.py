"""
Signature management with a developer token: ``/developer/signature``.

The signature is the image DHMAD stamps on contracts when an escrow is
created with ``auto_sign=True``. Both calls are documented (DOC) at
``https://dhmad.tn/developer/signature``: on the host itself, without the
``/api`` prefix that webhook management has. That difference is what the docs
say, so it is what the SDK sends; it is also the one path here most likely to
be a documentation slip (INF), so confirm it against the sandbox first.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from dhmad_async._config import USE_CLIENT_DEFAULT, TimeoutArg
from dhmad_async._serialization import response_parser
from dhmad_async.models import SignatureStatus
from dhmad_async.resources._base import (
    ExtraHeaders,
    InvalidParamsError,
    Resource,
    raw_method,
)

__all__ = [
    "IMAGE_TYPES",
    "SIGNATURE_PATH",
    "Signature",
    "SignatureWithRawResponse",
    "parse_signature",
    "signature_data_uri",
]

#: On the host, not under ``/api`` (see the module docs).
SIGNATURE_PATH: Final = "/developer/signature"
#: The image types the docs accept, as they name them in ``data:image/<type>;base64,``.
IMAGE_TYPES: Final = ("png", "jpeg", "jpg", "gif", "webp")

_DATA_URI: Final = re.compile(r"data:image/([A-Za-z]+);base64,(.*)", re.DOTALL)
_FIELD: Final = "signature_image"

parse_signature = response_parser(SignatureStatus)


def _sniff(data: bytes) -> str | None:
    """The image type the bytes start with (``png``, ``jpeg``, ``gif``, ``webp``), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _refuse(rule: str) -> InvalidParamsError:
    return InvalidParamsError("signature", {_FIELD: rule})


def signature_data_uri(image: str | bytes) -> str:
    """
    The ``signatureImage`` to send: a checked ``data:image/…;base64,…`` URI.

    ``image`` is such a data URI, or the raw bytes of a PNG, JPEG, GIF or WEBP
    file (encoded here). The declared type must be one the docs accept, the
    payload valid base64, and the decoded bytes an image of that type (a JPEG
    declared as ``image/png`` is refused). Raises :class:`InvalidParamsError`
    naming ``signature_image``; nothing is sent.
    """
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        kind = _sniff(data)
        if kind is None:
            raise _refuse("must be the bytes of a PNG, JPEG, GIF or WEBP image")
        return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"
    if not isinstance(image, str):
        raise _refuse("must be a data URI string or the image's bytes")
    match = _DATA_URI.fullmatch(image.strip())
    if match is None:
        raise _refuse(
            "must be a base64 data URI such as 'data:image/png;base64,iVBORw0...'"
            " (PNG, JPEG, JPG, GIF or WEBP)"
        )
    declared, payload = match.group(1).lower(), match.group(2)
    if declared not in IMAGE_TYPES:
        raise _refuse(f"image/{declared} is not accepted; use PNG, JPEG, JPG, GIF or WEBP")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("the data after 'base64,' is not valid base64") from None
    kind = _sniff(data)
    expected = "jpeg" if declared == "jpg" else declared
    if kind != expected:
        found = f"a {kind.upper()} image" if kind else "not an image of an accepted type"
        raise _refuse(f"declares image/{declared} but the data is {found}")
    return f"data:image/{declared};base64,{payload}"


class Signature(Resource):
    """Read whether a signature is configured, and upload one (it replaces the previous one)."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> SignatureWithRawResponse:
        """The same calls, answering :class:`~dhmad_async.APIResponse` (status, headers, bytes)."""
        return SignatureWithRawResponse(Signature(self._raw_client()))

    async def get(
        self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT, extra_headers: ExtraHeaders = None
    ) -> SignatureStatus:
        """``GET /developer/signature``: ``has_signature`` (the image itself is never returned)."""
        return await self._client._request(
            "GET",
            SIGNATURE_PATH,
            base="host",
            timeout=timeout,
            extra_headers=extra_headers,
            parse=parse_signature,
        )

    async def set(
        self,
        image: str | bytes,
        *,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        extra_headers: ExtraHeaders = None,
    ) -> SignatureStatus:
        """
        ``PUT /developer/signature``: the image used for every later ``auto_sign=True`` escrow.

        ``image`` is a ``data:image/png;base64,…`` URI (PNG, JPEG, JPG, GIF or
        WEBP) or the image file's bytes::

            await developer.signature.set(Path("signature.png").read_bytes())

        It is checked first (:func:`signature_data_uri`); a bad one raises
        :class:`InvalidParamsError` and nothing is sent. A new image replaces
        the old one, so resending after a failure is safe.
        """
        body = {"signatureImage": signature_data_uri(image)}
        return await self._client._request(
            "PUT",
            SIGNATURE_PATH,
            json=body,
            base="host",
            timeout=timeout,
            extra_headers=extra_headers,
            parse=parse_signature,
        )


class SignatureWithRawResponse:
    """``developer.signature.with_raw_response``: each call answers an APIResponse."""

    __slots__ = ("get", "set")

    def __init__(self, signature: Signature) -> None:
        self.get = raw_method(signature.get)
        self.set = raw_method(signature.set)
