"""``GET /healthz``: is the service up and its model loaded (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..._version import __version__
from ..dependencies import SettingsDep
from ..schemas import Health

__all__ = ["healthz", "router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness and readiness")
async def healthz(request: Request, response: Response, settings: SettingsDep) -> Health:
    """``status: ok`` (200) once the model is loaded, ``unavailable`` (503) before."""
    loaded = getattr(request.app.state, "recognizer", None) is not None
    if not loaded:
        response.status_code = 503
    return Health(
        status="ok" if loaded else "unavailable",
        version=__version__,
        model_loaded=loaded,
        auth_required=settings.auth_required,
    )
