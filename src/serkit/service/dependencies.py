"""Dependencies shared by the routers: settings, the loaded model, the API key, the upload.

Everything the lifespan loads lives on ``app.state`` and reaches the routes
only through these functions, so tests can swap any of them through
``app.dependency_overrides``.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.formparsers import MultiPartException, MultiPartParser

from .._errors import AudioError, AudioTooLongError, ParameterError
from ..recognizer import EmotionRecognizer
from .schemas import ModelInfo
from .settings import MB, ServiceSettings

__all__ = [
    "AUDIO_BODY",
    "Upload",
    "api_error",
    "get_model_info",
    "get_recognizer",
    "get_settings",
    "named_audio_errors",
    "read_upload",
    "require_api_key",
]

RAW_TYPES = ("audio/", "application/octet-stream")
"""Media types (prefixes) accepted as a raw audio body."""

AUDIO_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An audio file (WAV, FLAC, OGG, MP3, AIFF ...), either as multipart "
        "form field `file` or as the raw request body with an `audio/*` or "
        "`application/octet-stream` Content-Type.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "audio/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
"""OpenAPI description of the audio request body (the routes read the body themselves)."""


def api_error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> HTTPException:
    """An ``HTTPException`` whose JSON body will be ``{"error": {"code", "message"}}``."""
    return HTTPException(status, detail={"code": code, "message": message}, headers=headers)


async def get_settings(request: Request) -> ServiceSettings:
    """The settings the app was created with."""
    return request.app.state.settings


async def get_recognizer(request: Request) -> EmotionRecognizer:
    """The recognizer loaded by the lifespan; 503 while none is loaded."""
    recognizer = getattr(request.app.state, "recognizer", None)
    if recognizer is None:
        raise api_error(503, "model_not_loaded", "the model is not loaded yet")
    return recognizer


async def get_model_info(request: Request) -> ModelInfo:
    """The card of the loaded model; 503 while none is loaded."""
    info = getattr(request.app.state, "model_info", None)
    if info is None:
        raise api_error(503, "model_not_loaded", "the model is not loaded yet")
    return info


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]


_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The API key, when the server was started with one (--api-key).",
)
_BEARER = HTTPBearer(auto_error=False, description="The API key as 'Authorization: Bearer KEY'.")


async def require_api_key(
    request: Request,
    settings: SettingsDep,
    key: Annotated[str | None, Security(_KEY_HEADER)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> None:
    """Let the request through only with the configured key (when one is configured).

    The key is taken from ``X-API-Key`` or ``Authorization: Bearer KEY`` and
    compared in constant time. Both are declared as OpenAPI security schemes, so
    ``/docs`` can send the key ("Authorize").

    Raises
    ------
    HTTPException
        401 with ``WWW-Authenticate: Bearer`` when the key is missing or wrong.
    """
    expected = settings.api_key
    if expected is None:
        return
    given = key
    if given is None and bearer is not None:
        given = bearer.credentials.strip()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise api_error(
            401,
            "unauthorized",
            "missing or wrong API key: send it in the X-API-Key header "
            "or as 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )


@dataclass(frozen=True)
class Upload:
    """An audio upload read completely into memory (never more than the size limit)."""

    data: bytes
    """The file's bytes."""
    filename: str | None
    """Client-side file name (multipart only), at most 200 characters."""
    content_type: str
    """Media type the client declared."""


@contextmanager
def named_audio_errors(upload: Upload, *, hint: str = "") -> Iterator[None]:
    """Re-raise an :class:`AudioError` about the upload's bytes under the upload's name.

    ``audio`` names in-memory input ``<bytes>``; a client is better served by
    its own file name (or ``upload``). ``hint`` is appended to the reason of a
    too-long recording.
    """
    try:
        yield
    except AudioError as exc:
        reason = exc.reason + (hint if isinstance(exc, AudioTooLongError) else "")
        raise type(exc)(upload.filename or "upload", reason) from exc


def _too_large(limit: int) -> HTTPException:
    return api_error(
        413,
        "upload_too_large",
        f"the request body is larger than the limit of {limit} bytes ({limit / MB:g} MB)",
    )


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """Pass chunks through, raising 413 as soon as more than ``limit`` bytes went by."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        yield chunk


async def _read_multipart(request: Request, limit: int) -> Upload:
    parser = MultiPartParser(
        request.headers,
        _limited(request.stream(), limit),
        max_files=1,
        max_fields=16,
        max_part_size=64 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise api_error(400, "invalid_multipart", f"cannot read the multipart body: {exc}") from exc
    try:
        item = form.get("file")
        if item is None or isinstance(item, str):
            raise api_error(
                400, "missing_file", "the multipart body needs the audio in a file field 'file'"
            )
        data = await item.read()
        filename = (item.filename or "").strip()[:200] or None
        content_type = item.content_type or "application/octet-stream"
    finally:
        await form.close()
    if not data:
        raise api_error(400, "empty_body", "the uploaded file is empty (0 bytes)")
    return Upload(data=data, filename=filename, content_type=content_type)


async def read_upload(request: Request, settings: SettingsDep) -> Upload:
    """Read the audio of a request: multipart field ``file`` or a raw ``audio/*`` body.

    The size limit is enforced while the body streams in: a declared
    ``Content-Length`` over the limit is refused before anything is read, and
    counting stops the read as soon as the limit is crossed.

    Raises
    ------
    HTTPException
        400 empty body, bad ``Content-Length`` or malformed multipart;
        413 body over the limit; 415 a Content-Type that is not audio.
    """
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise api_error(
                400, "bad_request", f"Content-Length {declared[:40]!r} is not a number"
            ) from None
        if size > limit:
            raise _too_large(limit)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        return await _read_multipart(request, limit)
    if media and not media.startswith(RAW_TYPES):
        raise api_error(
            415,
            "unsupported_media_type",
            f"Content-Type {media[:80]!r} is not accepted: send the audio as multipart field "
            "'file', or as the raw body with an audio/* or application/octet-stream type",
        )
    body = bytearray()
    async for chunk in _limited(request.stream(), limit):
        body += chunk
    if not body:
        raise api_error(400, "empty_body", "the request body is empty: send an audio file")
    return Upload(data=bytes(body), filename=None, content_type=media or "application/octet-stream")


RecognizerDep = Annotated[EmotionRecognizer, Depends(get_recognizer)]


def answering_recognizer(
    recognizer: RecognizerDep,
    emotions: Annotated[
        str | None,
        Query(
            description="Answer over these emotions only, comma-separated (e.g. "
            "angry,happy,neutral,sad): each probability is summed onto the set (calm counts "
            "as neutral unless listed) and renormalised over it.",
            max_length=200,
        ),
    ] = None,
) -> EmotionRecognizer:
    """The loaded recognizer, restricted to the request's ``emotions`` when given."""
    if emotions is None:
        return recognizer
    try:
        return recognizer.restrict([e for e in emotions.split(",") if e.strip()])
    except ParameterError as exc:
        raise api_error(422, "bad_emotions", str(exc)) from None


AnswerRecognizerDep = Annotated[EmotionRecognizer, Depends(answering_recognizer)]
ModelInfoDep = Annotated[ModelInfo, Depends(get_model_info)]
UploadDep = Annotated[Upload, Depends(read_upload)]
