"""Pydantic models of what the HTTP API returns (they also document it at ``/docs``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ErrorBody",
    "ErrorOut",
    "Health",
    "ModelInfo",
    "PredictionOut",
    "SegmentOut",
    "TimelineOut",
]


class PredictionOut(BaseModel):
    """The emotion of one recording, with the probability of every class."""

    emotion: str = Field(description="Most probable emotion.", examples=["angry"])
    confidence: float = Field(ge=0, le=1, description="Its probability.")
    probabilities: dict[str, float] = Field(
        description="Probability of each class, in the model's class order."
    )
    uncertain: bool | None = Field(
        None,
        description="True when the confidence is below the model's threshold for a "
        "trustworthy answer (the emotion is still given); null for a model without one.",
    )
    duration: float = Field(ge=0, description="Seconds of audio analysed.")
    model_id: str = Field(description="Model name and the start of its weights' SHA-256.")
    filename: str | None = Field(None, description="Name of the uploaded file, if any.")


class SegmentOut(BaseModel):
    """One stretch of a recording and its emotion."""

    model_config = ConfigDict(extra="ignore")

    start: float = Field(ge=0, description="Start in seconds.")
    end: float = Field(ge=0, description="End in seconds.")
    emotion: str | None = Field(description="Most probable emotion (None where no decision).")
    confidence: float | None = Field(None, description="Its probability.")
    probabilities: dict[str, float] = Field(default_factory=dict)
    uncertain: bool | None = Field(
        None, description="True when the confidence is below the model's threshold."
    )


class TimelineOut(BaseModel):
    """Emotions over time in a long recording."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = Field(None, description="Name of the uploaded file, if any.")
    duration: float = Field(ge=0, description="Length of the recording in seconds.")
    classes: list[str] = Field(description="The classes answered over (the model's, or the "
                               "request's emotions).")
    speech: list[SegmentOut] = Field(
        description="Speech segments with their smoothed emotion, in time order."
    )
    windows: list[SegmentOut] = Field(description="Every analysis window, in time order.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Window, hop, smoothing and VAD settings used."
    )
    model_id: str = Field(description="Model name and the start of its weights' SHA-256.")


class ModelInfo(BaseModel):
    """The card of the loaded model, from its ``model.json``."""

    id: str = Field(description="Model name and the start of its weights' SHA-256.")
    name: str = Field(description="Classifier name (mlp, svm ...).")
    params: dict[str, Any] = Field(default_factory=dict)
    classes: list[str]
    features: dict[str, Any] | list[dict[str, Any]] = Field(
        description="Feature set name and settings (a list when an ensemble reads several)."
    )
    n_features: int | None = Field(description="Width of a single feature vector, else null.")
    sample_rate: int
    weights_sha256: str
    speaker_norm: bool = Field(description="Whether a speaker-normalised model is included.")
    training: dict[str, Any] | None = Field(None, description="Training data summary.")
    metrics: dict[str, Any] | None = Field(None, description="Evaluation scores, if recorded.")
    model_card: dict[str, Any] | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, float] = Field(
        default_factory=dict,
        description="max_upload_bytes, max_predict_seconds and max_timeline_seconds.",
    )


class Health(BaseModel):
    """Liveness: is the model loaded."""

    status: str = Field(examples=["ok"])
    version: str = Field(description="serkit version.")
    model_loaded: bool
    auth_required: bool = Field(description="Whether /v1/* needs an API key.")


class ErrorBody(BaseModel):
    """What went wrong, in a stable code and a message for people."""

    code: str = Field(examples=["audio_decode_error"])
    message: str
    details: list[Any] | None = None


class ErrorOut(BaseModel):
    """Body of every error response."""

    error: ErrorBody
