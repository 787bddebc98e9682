"""uvicorn's h11 protocol with deadlines for headers and bodies, and JSON 400s.

uvicorn closes a keep-alive connection that stays idle after a response
(``timeout_keep_alive``), but it waits for ever on a connection that never
finishes its request headers, or that sends part of a body and stops: each
such client holds a connection and its buffered body. This protocol closes

* a connection whose request headers are not complete ``headers_timeout``
  seconds after its first byte (or after it opened, for a silent one);
* a connection whose request body is not complete ``body_timeout`` seconds
  after its headers; the app then sees a disconnect and frees what it read.

The timeouts come from :class:`~serkit.service.settings.ServiceSettings`
(``SERKIT_HEADERS_TIMEOUT``, ``SERKIT_BODY_TIMEOUT``, which ``serkit serve`` sets
for every worker). Malformed requests that uvicorn refuses itself get the
service's JSON error body instead of plain text.
"""

from __future__ import annotations

import asyncio
import json
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import ServiceSettings

__all__ = ["TimedH11Protocol"]


class TimedH11Protocol(H11Protocol):
    """An :class:`H11Protocol` that drops connections stuck in headers or body."""

    _timeouts: tuple[float, float] | None = None

    @classmethod
    def timeouts(cls) -> tuple[float, float]:
        """``(headers_timeout, body_timeout)`` in seconds, read once per process."""
        if cls._timeouts is None:
            settings = ServiceSettings.from_env(os.environ)
            cls._timeouts = (settings.headers_timeout, settings.body_timeout)
        return cls._timeouts

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the headers deadline: a silent new connection is closed too."""
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = ""
        self._arm("headers", self.timeouts()[0])

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
        self._deadline = None
        self._phase = ""

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection stuck in its request %s", self._phase)
            self.transport.close()  # connection_lost tells the app the client is gone

    def data_received(self, data: bytes) -> None:
        """Feed h11, then move the deadline to the phase the request is in."""
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        """After a response, uvicorn's keep-alive timeout guards the idle connection."""
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body", self.timeouts()[1])
        elif state is h11.IDLE and self.conn.trailing_data[0]:
            # bytes of the next request's headers are waiting: they must complete in time
            if self._phase != "headers":
                self._arm("headers", self.timeouts()[0])
        elif self._phase:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel any deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's own 400 (a request h11 cannot parse), in the service's JSON shape."""
        body = json.dumps({"error": {"code": "bad_request", "message": msg}}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        self.transport.write(
            self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request"))
        )
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self._disarm()
        self.transport.close()
