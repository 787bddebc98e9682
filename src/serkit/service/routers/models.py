"""``GET /v1/models``: the card of the loaded model."""

from __future__ import annotations

from fastapi import APIRouter

from ..dependencies import ModelInfoDep
from ..schemas import ModelInfo

__all__ = ["models", "router"]

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelInfo, summary="The loaded model's card")
async def models(info: ModelInfoDep) -> ModelInfo:
    """Classes, features, classifier, training summary, metrics and versions of the model."""
    return info
