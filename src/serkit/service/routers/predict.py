"""``POST /v1/predict``: the emotion of one short recording."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ... import audio
from ...recognizer import EmotionRecognizer, Prediction
from .._pool import run_inference
from ..dependencies import (
    AUDIO_BODY,
    AnswerRecognizerDep,
    ModelInfoDep,
    SettingsDep,
    Upload,
    UploadDep,
    named_audio_errors,
)
from ..schemas import PredictionOut

__all__ = ["predict", "router"]

router = APIRouter(prefix="/v1", tags=["predict"])


def _predict_upload(
    recognizer: EmotionRecognizer, upload: Upload, max_seconds: float
) -> tuple[Prediction, float]:
    """Decode (duration checked from the header first) and predict; runs in a worker thread."""
    with named_audio_errors(upload, hint="; send long recordings to /v1/timeline"):
        y, sr = audio.load(upload.data, max_duration=max_seconds)
        prediction = recognizer.predict_signal(y, sr, name=upload.filename or "upload")
    return prediction, len(y) / sr


@router.post(
    "/predict",
    response_model=PredictionOut,
    summary="Emotion of one recording",
    openapi_extra=AUDIO_BODY,
)
async def predict(
    request: Request,
    upload: UploadDep,
    recognizer: AnswerRecognizerDep,
    info: ModelInfoDep,
    settings: SettingsDep,
) -> PredictionOut:
    """Predict the emotion of an uploaded recording (up to ``max_predict_seconds``).

    Send the audio as multipart field ``file`` or as the raw body with an
    ``audio/*`` or ``application/octet-stream`` Content-Type. Decoding and
    inference run in a worker thread, so other requests are served meanwhile.
    """
    prediction, duration = await run_inference(
        request, _predict_upload, recognizer, upload, settings.max_predict_seconds
    )
    return PredictionOut(
        emotion=str(prediction.emotion),
        confidence=float(prediction.confidence or 0.0),
        probabilities=prediction.probabilities,
        uncertain=prediction.uncertain,
        duration=round(duration, 3),
        model_id=info.id,
        filename=upload.filename,
    )
