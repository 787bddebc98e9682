"""The HTTP service: a FastAPI app serving one saved model, plus a web page.

Needs the ``serve`` extra (``pip install "serkit[serve]"``). Start it with
``serkit serve --model DIR`` or, programmatically::

    from serkit.service import ServiceSettings, create_app
    app = create_app("my-model/", settings=ServiceSettings(api_key="secret"))

Endpoints: ``POST /v1/predict``, ``POST /v1/timeline``, ``GET /v1/models``,
``GET /healthz``, the page at ``/`` and the OpenAPI docs at ``/docs``.
"""

from __future__ import annotations

from .app import create_app, create_app_from_env
from .settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app", "create_app_from_env"]
