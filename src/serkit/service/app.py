"""The FastAPI application: factory, lifespan, error handlers and wiring.

:func:`create_app` only wires things together. Its ``lifespan`` loads the
recognizer once into ``app.state`` before the first request; nothing is
loaded when this module is imported. :func:`create_app_from_env` is the factory
``uvicorn --factory`` (and ``serkit serve --workers N``) calls in each worker
process; it is the only place the service reads environment variables.

Error responses always have the body ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .._errors import (
    AudioDecodeError,
    AudioEmptyError,
    AudioError,
    AudioNonFiniteError,
    AudioSilentError,
    AudioTooLongError,
    AudioTooShortError,
    ParameterError,
)
from .._version import __version__
from ._pool import make_limiter
from .dependencies import require_api_key
from .routers import health, models, predict, timeline
from .schemas import ErrorOut, ModelInfo
from .settings import ServiceSettings, model_path_from_env

__all__ = ["create_app", "create_app_from_env", "load_model_info"]

logger = logging.getLogger(__name__)

_AUDIO_ERRORS: tuple[tuple[type[AudioError], int, str], ...] = (
    (AudioDecodeError, 415, "audio_decode_error"),
    (AudioTooLongError, 413, "audio_too_long"),
    (AudioEmptyError, 422, "audio_empty"),
    (AudioSilentError, 422, "audio_silent"),
    (AudioTooShortError, 422, "audio_too_short"),
    (AudioNonFiniteError, 422, "audio_non_finite"),
)
"""Status and code of each kind of unusable audio; any other AudioError is 422."""

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "content_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    501: "not_implemented",
    503: "unavailable",
}

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "Empty body, bad Content-Length or malformed multipart"),
        (401, "Missing or wrong API key (when one is configured)"),
        (413, "Upload or recording longer than the limit"),
        (415, "Not an audio Content-Type, or bytes that are not audio"),
        (422, "Silent, too short or otherwise unusable audio; invalid parameters"),
    )
}

_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' blob:; "
    "style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _error(status: int, code: str, message: str, details: list[Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AudioError)
    async def audio_error(request: Request, exc: AudioError) -> JSONResponse:
        for kind, status, code in _AUDIO_ERRORS:
            if isinstance(exc, kind):
                return _error(status, code, str(exc))
        return _error(422, "audio_error", str(exc))

    @app.exception_handler(ParameterError)
    async def parameter_error(request: Request, exc: ParameterError) -> JSONResponse:
        return _error(422, "invalid_parameter", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if isinstance(detail, dict) and "code" in detail:
            code, message = str(detail["code"]), str(detail.get("message", ""))
        else:
            code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
            message = str(detail)
        response = _error(exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
        first = errors[0] if errors else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return _error(422, "invalid_request", message, details=errors)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        return _error(400, "client_disconnected", "the client closed the connection")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error in %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "internal server error; see the server log")


def load_model_info(model_path: Path, recognizer: Any, settings: ServiceSettings) -> ModelInfo:
    """The model card served at ``/v1/models``, from the bundle's ``model.json``.

    Parameters
    ----------
    model_path : Path
        The bundle folder.
    recognizer : EmotionRecognizer
        The recognizer loaded from it.
    settings : ServiceSettings
        Limits reported with the card.

    Returns
    -------
    ModelInfo
        Its ``id`` is the model name and the first 12 hex digits of the weights'
        SHA-256, e.g. ``mlp-033f19b0ead4``.
    """
    from ..bundles import describe_manifest, read_manifest

    manifest = read_manifest(model_path)
    model = manifest["model"]
    summary = describe_manifest(manifest)
    sha = summary["weights_sha256"]
    return ModelInfo(
        id=f"{model['name']}-{sha[:12]}",
        name=str(model["name"]),
        params=dict(model.get("params") or {}),
        classes=[str(c) for c in manifest["classes"]],
        features=manifest["features"],
        n_features=summary["n_features"],
        sample_rate=int(manifest.get("sample_rate", 16000)),
        weights_sha256=sha,
        speaker_norm=bool(getattr(recognizer, "supports_speaker_norm", False)),
        training=manifest.get("training"),
        metrics=manifest.get("metrics"),
        model_card=manifest.get("model_card"),
        versions={str(k): str(v) for k, v in (manifest.get("versions") or {}).items()},
        limits={
            "max_upload_bytes": settings.max_upload_bytes,
            "max_predict_seconds": settings.max_predict_seconds,
            "max_timeline_seconds": settings.max_timeline_seconds,
        },
    )


def _load(model_path: Path, settings: ServiceSettings) -> tuple[Any, ModelInfo]:
    """Load the bundle and run one prediction, so the first request is not slow."""
    from ..recognizer import EmotionRecognizer

    recognizer = EmotionRecognizer.load(model_path)
    info = load_model_info(model_path, recognizer, settings)
    sr = 16000
    t = np.arange(sr) / sr
    f0 = 140 * (1 + 0.1 * np.sin(2 * np.pi * 1.3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    warmup = 0.1 * sum(np.sin(k * phase) / k for k in range(1, 8)) * np.hanning(sr)
    try:
        recognizer.predict_signal(warmup.astype(np.float32), sr, name="<warm-up>")
    except Exception:  # a model that cannot use the warm-up signal still serves requests
        logger.warning("warm-up prediction failed", exc_info=True)
    logger.info("loaded model %s from %s", info.id, model_path)
    return recognizer, info


def create_app(
    model_path: str | os.PathLike, *, settings: ServiceSettings | None = None
) -> FastAPI:
    """Build the serkit HTTP service for one saved model.

    Parameters
    ----------
    model_path : str or path
        Bundle folder written by ``serkit train`` / :meth:`EmotionRecognizer.save`.
        It is loaded by the app's lifespan (when the server starts), not here.
    settings : ServiceSettings or None
        Limits, API key and CORS; defaults to ``ServiceSettings()``.

    Returns
    -------
    FastAPI
        Routes: ``POST /v1/predict``, ``POST /v1/timeline``, ``GET /v1/models``,
        ``GET /healthz``, the web page at ``/`` and the OpenAPI docs at ``/docs``
        (Swagger UI, whose files this server serves itself from ``/docs-assets``, so
        the page works without internet access).

    Examples
    --------
    >>> app = create_app("my-model/")  # nothing is loaded yet
    >>> sorted(path for path in app.openapi()["paths"] if path.startswith("/v1"))
    ['/v1/models', '/v1/predict', '/v1/timeline']
    """
    settings = settings if settings is not None else ServiceSettings()
    path = Path(model_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from threadpoolctl import threadpool_limits

        # Requests run in parallel threads: one BLAS thread each avoids oversubscription.
        blas = threadpool_limits(1)
        try:
            recognizer, info = await run_in_threadpool(_load, path, settings)
            app.state.recognizer = recognizer
            app.state.model_info = info
            yield
        finally:
            app.state.recognizer = None
            app.state.model_info = None
            blas.restore_original_limits()

    # FastAPIOffline is FastAPI with /docs pointed at the copy of Swagger UI 5 (which reads
    # OpenAPI 3.1) in the fastapi-offline wheel, so no CDN is needed. No /redoc: ReDoc's
    # page loads its logo from cdn.redoc.ly, and Swagger UI alone can try requests out.
    app = FastAPIOffline(
        title="serkit",
        version=__version__,
        summary="Speech emotion recognition over HTTP.",
        description="Upload a recording to `/v1/predict` for its emotion, or a long one to "
        "`/v1/timeline` for emotions over time. Errors come back as "
        '`{"error": {"code": ..., "message": ...}}`.',
        lifespan=lifespan,
        responses=_ERROR_RESPONSES,
        redoc_url=None,
        static_url="/docs-assets",
        # no online validator badge: it would send the schema's URL to validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    app.state.inference_limiter = make_limiter(settings.inference_threads)
    app.state.recognizer = None
    app.state.model_info = None
    _install_error_handlers(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization"],
            max_age=600,
        )

    app.include_router(health.router)
    protected = [Depends(require_api_key)]
    app.include_router(predict.router, dependencies=protected)
    app.include_router(timeline.router, dependencies=protected)
    app.include_router(models.router, dependencies=protected)

    static = resources.files("serkit.service") / "static"
    app.mount("/static", StaticFiles(packages=[("serkit.service", "static")]), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The web page: upload or record, see the emotion."""
        return FileResponse(
            str(static / "index.html"), media_type="text/html", headers=_PAGE_HEADERS
        )

    return app


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory serkit.service.app:create_app_from_env``.

    Reads the model folder from ``SERKIT_MODEL`` and the settings from the other
    ``SERKIT_*`` variables (see :meth:`ServiceSettings.from_env`); ``serkit
    serve`` sets them for its worker processes.
    """
    return create_app(
        model_path_from_env(os.environ), settings=ServiceSettings.from_env(os.environ)
    )
