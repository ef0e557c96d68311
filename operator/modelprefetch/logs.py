"""Logging of `modelprefetch run`: plain text or one JSON object per line.

Messages about one object come through kopf's per-object logger, whose records carry
`k8s_ref` (apiVersion, kind, namespace, name, uid); both formats show its namespace
and name: text as a `[namespace/name]` prefix, JSON as `namespace` and `name` fields.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# kopf's own INFO lines for every handler or activity call; ours at INFO on the same
# per-object logger (kopf.objects) are kept.
_KOPF_CHATTER = re.compile(
    r"^(Handler|Timer|Daemon|Activity) '.*' (succeeded|is invoked)|is processed:"
)


def object_ref(record: logging.LogRecord) -> tuple[str | None, str | None]:
    """(namespace, name) of the object a record is about, when it is about one."""
    ref: Any = getattr(record, "k8s_ref", None)
    if not isinstance(ref, dict):
        return None, None
    return ref.get("namespace"), ref.get("name")


class TextFormatter(logging.Formatter):
    """The usual one-line format, with `[namespace/name]` before per-object messages."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - stdlib name
        namespace, name = object_ref(record)
        if name:
            prefix = f"[{namespace}/{name}] " if namespace else f"[{name}] "
            record = logging.makeLogRecord({**record.__dict__, "message": prefix + record.message})
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, namespace, name, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        namespace, name = object_ref(record)
        if namespace:
            entry["namespace"] = namespace
        if name:
            entry["name"] = name
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class QuietKopf(logging.Filter):
    """Drop kopf's per-call INFO lines ("Handler 'x' succeeded.") but keep ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("kopf"):
            return True
        return not _KOPF_CHATTER.search(record.getMessage())


def configure_logging(level: str, fmt: LogFormat = "text") -> None:
    """Log to stderr at `level`, as text or JSON lines; called once at start."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(QuietKopf())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # aiohttp's access log would print every probe and admission.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
