"""How every daemon logs: one line per event, as text or JSON, with the same fields.

Each line carries the time (UTC, RFC 3339 with milliseconds), the level, the
component (``hub``, ``node/<name>``, ``witness``), the module that logged it
and the message; and, where it applies, the list and the partner. Those two
are not parsed from the text: a message about a list starts with
``"list %s"`` and takes the id as its first argument, and a partner is an
``Identity`` among the arguments (the house convention, which this module
relies on and ``tests/unit/test_logs.py`` checks).

JSON lines are for log pipelines: ``{"time", "level", "component", "logger",
"message"[, "list"][, "partner"][, "exception"]}``. A stack trace appears
only for the unexpected (``log.exception``); expected conditions (a
reconnect, a pending quorum) are logged as one line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from hashlist.errors import ConfigError
from hashlist.identity import Identity, Role

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")


def check_log_options(level: str, fmt: str) -> None:
    """For the daemons' configs: refuse a level or format this module does not know."""
    if level not in LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LEVELS)}, got {level!r}")
    if fmt not in FORMATS:
        raise ConfigError(f"log_format must be one of {', '.join(FORMATS)}, got {fmt!r}")


class _Context(logging.Filter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def filter(self, record: logging.LogRecord) -> bool:
        record.component = self.component
        args = record.args if isinstance(record.args, tuple) else ()
        if isinstance(record.msg, str) and record.msg.startswith("list %s") and args:
            record.list = str(args[0])
        partners = [a.name for a in args if isinstance(a, Identity) and a.role is Role.PARTNER]
        if partners:
            record.partner = partners[0]
        return True


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Text(logging.Formatter):
    """``<time> <LEVEL> <component> <module>: <message>``; the list and the partner are
    in the message already (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line = (f"{_time(record)} {record.levelname} {getattr(record, 'component', '-')} "
                f"{record.name}: {record.getMessage()}")  # fmt: skip
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "component": getattr(record, "component", ""),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("list", "partner"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(component: str, level: str = "info", fmt: str = "text") -> None:
    """Log to standard error from here on: ``level`` and up, in ``fmt``."""
    check_log_options(level, fmt)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Text())
    handler.addFilter(_Context(component))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
