"""Structured JSON logs with correlation ids, and a redaction filter that keeps secrets out of them.

Every record is one JSON object per line: time, level, service, logger, message, correlation_id (from a context
variable set per request and per message), and any ``extra`` fields. Before a record is written, the
:class:`RedactingFilter` scrubs bearer tokens, OAuth token fields, API keys, passwords in URLs and any secret value
registered with :func:`register_secret`, and the user data PostgreSQL quotes in its error messages (engines also hide
bound parameters, see :mod:`herald.kit.db`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
from typing import Any

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

REDACTED = "[REDACTED]"
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|id_token|password|api_key|secret|code_verifier|token)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
    ),
    re.compile(r"(?i)(://[^:/\s]+:)[^@/\s]+(@)"),  # credentials in URLs
    re.compile(r"([?&](?:code|state)=)[^&\s\"']+"),  # OAuth callback parameters: short-lived credentials
    re.compile(r"\b(hk|svc)_[A-Za-z0-9]+_[A-Za-z0-9_-]{16,}"),  # Herald team API keys and service credentials
    # PostgreSQL errors quote the data that failed: the row ("Failing row contains (...)"), the key
    # ("Key (name)=(value) already exists") or the text ('invalid input syntax for type uuid: "..."'). User data.
    re.compile(r"(DETAIL:\s*)[^\n]*"),
    # asyncpg's own encoding errors quote the argument (and uuid's message quotes it again).
    re.compile(r"(invalid input for query argument \$\d+: )[^\n]*"),
    re.compile(r"(invalid UUID )'[^'\n]*'"),
    re.compile(r"(invalid input (?:syntax|value) for (?:type |enum )?[\w .\"]*?: )\"[^\n]*"),
]
_MARKERS = (
    "bearer",
    "token",
    "secret",
    "password",
    "api_key",
    "code_verifier",
    "://",
    "code=",
    "state=",
    "hk_",
    "svc_",
    "detail:",
    "invalid input",
    "invalid uuid",
)
"""Lower-case text every pattern above needs in order to match: a string containing none of it has nothing to
redact. Checking these is far cheaper than the substitutions, which matters where every string of every event is
scrubbed (the audit log). Keep it in step with ``_PATTERNS``: ``tests/kit/test_logging.py`` has a case for each."""
_SECRET_FIELD = re.compile(r"(?i)token|secret|password|passwd|api_?key|authorization|credential")
_known_secrets: set[str] = set()
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears in a log record (e.g. configured credentials)."""
    if value and len(value) >= 6:
        _known_secrets.add(value)


def redact(text: str) -> str:
    """Scrub secrets from a string."""
    for secret in _known_secrets:
        text = text.replace(secret, REDACTED)
    lowered = text.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return text
    for pattern in _PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def is_secret_field(name: str) -> bool:
    """Whether a field called ``name`` should never have its value written anywhere (logs, audit metadata)."""
    return bool(_SECRET_FIELD.search(name))


def _redact_value(value: Any, key: str = "") -> Any:
    if key and is_secret_field(key) and isinstance(value, str):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites the record in place so that no handler ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, _redact_value(value, key))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger (ours, uvicorn's, FastStream's) through one redacting JSON handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
