"""Structured logs for the scheduler: one line per event, text or JSON.

``log_event("job.finished", job="fetch", outcome="ok")`` becomes::

    2025-03-21T13:00:00.322Z info job.finished job=fetch outcome=ok
    {"time": "2025-03-21T13:00:00.322Z", "level": "info", "event": "job.finished", "job": "fetch", "outcome": "ok"}
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

logger = logging.getLogger("borderlinks.schedule")
HANDLER_NAME = "borderlinks.schedule"


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields: ``job.finished job=fetch outcome=ok seconds=1.2``."""
    logger.log(level, event, extra={"fields": fields})


class EventFormatter(logging.Formatter):
    """One line per event: ``time level event key=value...``, or a JSON object with ``as_json``.

    Lines of other loggers (APScheduler's warnings) become the event ``log``.
    """

    def __init__(self, as_json: bool = False) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", None) or {})
        event = record.getMessage() if hasattr(record, "fields") else "log"
        if not hasattr(record, "fields"):
            fields = {"logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
        level = record.levelname.lower()
        values = {k: _plain(v) for k, v in fields.items() if v is not None}
        if self.as_json:
            return json.dumps({"time": stamp, "level": level, "event": event, **values}, ensure_ascii=False)
        parts = [stamp, level, event] + [f"{k}={_quoted(v)}" for k, v in values.items()]
        return " ".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | Path):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _quoted(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if text and not any(c.isspace() or c in '"=' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def configure_logging(as_json: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """Send our events and APScheduler's warnings to standard error, one line each."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(EventFormatter(as_json))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.getLogger("borderlinks").setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.executors").setLevel(logging.ERROR)  # missed runs and errors: our own events
    return handler


def remove_logging(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()
