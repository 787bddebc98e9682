"""Settings of the HTTP service: one frozen dataclass, checked when it is built.

The service never reads the environment itself. :meth:`ServiceSettings.from_env`
turns a mapping of ``SERKIT_*`` variables into settings; only the app factory
used by ``uvicorn --factory`` (and so ``serkit serve --workers N``) hands it
``os.environ``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .._errors import ParameterError

__all__ = ["MB", "ServiceSettings", "model_path_from_env"]

MB = 1024 * 1024
"""Bytes in one (binary) megabyte, the unit of ``--max-upload-mb``."""

_ENV_NAMES = {
    "model_path": "SERKIT_MODEL",
    "max_upload_bytes": "SERKIT_MAX_UPLOAD_BYTES",
    "max_predict_seconds": "SERKIT_MAX_PREDICT_SECONDS",
    "max_timeline_seconds": "SERKIT_MAX_TIMELINE_SECONDS",
    "api_key": "SERKIT_API_KEY",
    "cors_origins": "SERKIT_CORS_ORIGINS",
    "workers": "SERKIT_WORKERS",
    "headers_timeout": "SERKIT_HEADERS_TIMEOUT",
    "body_timeout": "SERKIT_BODY_TIMEOUT",
    "idle_timeout": "SERKIT_IDLE_TIMEOUT",
    "inference_threads": "SERKIT_INFERENCE_THREADS",
}


@dataclass(frozen=True)
class ServiceSettings:
    """Limits, access control and CORS of the HTTP service.

    Parameters
    ----------
    max_upload_bytes : int > 0
        Largest request body accepted, in bytes (default 50 MB). Counted while
        the body streams in; the request is refused with 413 as soon as it is
        crossed.
    max_predict_seconds : float > 0
        Longest recording ``POST /v1/predict`` accepts (default 60 s), read
        from the file header before decoding.
    max_timeline_seconds : float > 0
        Longest recording ``POST /v1/timeline`` accepts (default 3600 s).
    api_key : str or None
        When set, every ``/v1/*`` request needs it in ``X-API-Key`` or
        ``Authorization: Bearer``; ``/healthz`` and the web page stay open.
    cors_origins : tuple of str
        Origins allowed to call the API from a browser (none by default).
    workers : int > 0
        Server processes (used by ``serkit serve``; the app itself ignores it).
    headers_timeout : float > 0
        Seconds a connection may take to send complete request headers, counted
        from its first byte (or from when it opened); then it is closed (default 10).
    body_timeout : float > 0
        Seconds a request body may take once its headers arrived; a client that
        stops mid-body is dropped and what it sent is freed (default 60).
    idle_timeout : float > 0
        Seconds an idle keep-alive connection stays open after a response (default 5).
    inference_threads : int >= 0
        Requests of one server process that decode and predict at the same time; more
        wait their turn (default 0: one per available CPU). Bounds the CPU contention
        and the memory of many concurrent uploads.

    Raises
    ------
    ParameterError
        A value outside its range.

    Examples
    --------
    >>> ServiceSettings(max_upload_bytes=MB).max_upload_bytes
    1048576
    >>> ServiceSettings.from_env({"SERKIT_CORS_ORIGINS": "https://a.org, https://b.org"}).cors_origins
    ('https://a.org', 'https://b.org')
    """

    max_upload_bytes: int = 50 * MB
    max_predict_seconds: float = 60.0
    max_timeline_seconds: float = 3600.0
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    workers: int = 1
    headers_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 5.0
    inference_threads: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.max_upload_bytes, bool) or not isinstance(self.max_upload_bytes, int):
            raise ParameterError(f"max_upload_bytes must be an int; got {self.max_upload_bytes!r}")
        if self.max_upload_bytes <= 0:
            raise ParameterError(f"max_upload_bytes must be > 0; got {self.max_upload_bytes}")
        for name in (
            "max_predict_seconds",
            "max_timeline_seconds",
            "headers_timeout",
            "body_timeout",
            "idle_timeout",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ParameterError(f"{name} must be a finite number > 0; got {value!r}")
        if self.api_key is not None and not self.api_key.strip():
            raise ParameterError(
                "the API key is empty or only whitespace, which would leave /v1/* open; "
                "give a real key, or none at all to serve without one"
            )
        if self.api_key is not None and self.api_key != self.api_key.strip():
            raise ParameterError("the API key must not start or end with whitespace")
        if isinstance(self.cors_origins, str):
            raise ParameterError(
                f"cors_origins must be a tuple of origins, not a string; got {self.cors_origins!r}"
            )
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ParameterError(f"workers must be an int >= 1; got {self.workers!r}")
        threads = self.inference_threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ParameterError(
                f"inference_threads must be an int >= 0 (0: one per CPU); got {threads!r}"
            )

    @property
    def auth_required(self) -> bool:
        """True when an API key protects ``/v1/*``."""
        return self.api_key is not None

    def to_env(self, model_path: str) -> dict[str, str]:
        """Environment variables that :meth:`from_env` turns back into these settings.

        Parameters
        ----------
        model_path : str
            Model folder, stored as ``SERKIT_MODEL``.

        Returns
        -------
        dict of str to str
            Unset options are left out.
        """
        env = {_ENV_NAMES["model_path"]: str(model_path)}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value == ():
                continue
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            env[_ENV_NAMES[item.name]] = text
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServiceSettings:
        """Build settings from ``SERKIT_*`` variables; missing ones keep their defaults.

        Reads ``SERKIT_MAX_UPLOAD_BYTES``, ``SERKIT_MAX_PREDICT_SECONDS``,
        ``SERKIT_MAX_TIMELINE_SECONDS``, ``SERKIT_API_KEY`` (set but blank is an
        error), ``SERKIT_CORS_ORIGINS`` (comma-separated), ``SERKIT_WORKERS``,
        ``SERKIT_HEADERS_TIMEOUT``, ``SERKIT_BODY_TIMEOUT``, ``SERKIT_IDLE_TIMEOUT`` and
        ``SERKIT_INFERENCE_THREADS``.

        Raises
        ------
        ParameterError
            A variable that does not parse, naming it and its value.
        """
        values: dict[str, object] = {}
        for item in fields(cls):
            name = _ENV_NAMES[item.name]
            raw = environ.get(name)
            if raw is not None and item.name == "api_key":
                values["api_key"] = raw  # an empty or blank key is refused, never ignored
                continue
            if raw is None or raw.strip() == "":
                continue
            try:
                if item.name in ("max_upload_bytes", "workers", "inference_threads"):
                    values[item.name] = int(raw)
                elif item.name.startswith("max_") or item.name.endswith("_timeout"):
                    values[item.name] = float(raw)
                elif item.name == "cors_origins":
                    values[item.name] = tuple(o.strip() for o in raw.split(",") if o.strip())
                else:
                    values[item.name] = raw
            except ValueError as exc:
                raise ParameterError(f"{name}={raw!r} is not a valid value ({exc})") from exc
        return cls(**values)  # type: ignore[arg-type]


def model_path_from_env(environ: Mapping[str, str]) -> str:
    """The model folder named by ``SERKIT_MODEL``.

    Raises
    ------
    ParameterError
        The variable is missing or empty.
    """
    name = _ENV_NAMES["model_path"]
    value = environ.get(name, "").strip()
    if not value:
        raise ParameterError(
            f"{name} is not set: it must name the model folder the service loads "
            "(serkit serve --model DIR sets it)"
        )
    return value
