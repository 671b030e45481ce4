import json
import logging
import sys

import pytest

from herald.kit.logging import JsonFormatter, RedactingFilter, correlation_id, redact, register_secret

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("calling with Authorization: Bearer abc.DEF-123_xyz", "abc.DEF-123_xyz"),
        ('{"access_token": "tok-123456", "ok": 1}', "tok-123456"),
        ("refresh_token=rt-987654&grant_type=refresh_token", "rt-987654"),
        ("client_secret: 'cs-abcdef'", "cs-abcdef"),
        ("amqp://guest:pa55word@rabbit:5672/", "pa55word"),
        ("GET /v1/oauth/x/callback?state=st4te-value&code=c0de-value HTTP/1.1", "c0de-value"),
        ("GET /v1/oauth/x/callback?state=st4te-value&code=c0de-value HTTP/1.1", "st4te-value"),
        ("key hk_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA used", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        # Upper case and the service credential: the cheap pre-check must never let one of these through.
        ("AUTHORIZATION: BEARER Up.Per-Case_123", "Up.Per-Case_123"),
        ("PASSWORD = 'hunter2-and-more'", "hunter2-and-more"),
        ("AMQPS://guest:Pa55-Word@rabbit/", "Pa55-Word"),
        ("using svc_publisher_BBBBBBBBBBBBBBBBBBBBBBBB now", "BBBBBBBBBBBBBBBBBBBBBBBB"),
        # What PostgreSQL and asyncpg quote of the user's data, as a bare asyncpg error prints it (no URL in it).
        ('duplicate key value violates unique constraint "k"\nDETAIL:  Key (body)=(Dear diary) exists.', "Dear diary"),
        ("invalid input for query argument $1: 'Dear diary' (invalid UUID 'Dear diary')", "Dear diary"),
        ("invalid UUID 'Dear diary': length must be between 32..36 characters, got 10", "Dear diary"),
        ('invalid input syntax for type uuid: "Dear diary"', "Dear diary"),
    ],
)
def test_redact_removes_secrets(raw: str, secret: str) -> None:
    assert secret not in redact(raw)


def test_text_without_anything_secret_looking_comes_back_unchanged() -> None:
    text = "Published 9c9d2376-d83b-47f1-bf7d-6bd1000d8a53 at 2026-12-04T07:00:00Z (attempt 2, HTTP 201)"
    assert redact(text) is text


def test_registered_secret_values_are_redacted_anywhere() -> None:
    register_secret("opaque-value-42")
    assert "opaque-value-42" not in redact("we got opaque-value-42 back")


def _emit(record: logging.LogRecord) -> dict[str, object]:
    assert RedactingFilter().filter(record)
    result: dict[str, object] = json.loads(JsonFormatter("svc").format(record))
    return result


def test_json_record_carries_correlation_id_and_extras_without_secrets() -> None:
    token = correlation_id.set("corr-1")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "refresh for %s", ("acct",), None)
        record.access_token = "at-should-not-leak"  # an extra field with a secret-looking name and value
        record.detail = {"note": "Bearer sekrit-token-value"}
        entry = _emit(record)
    finally:
        correlation_id.reset(token)
    assert entry["message"] == "refresh for acct"
    assert entry["correlation_id"] == "corr-1"
    assert entry["service"] == "svc"
    assert "sekrit-token-value" not in json.dumps(entry)
    assert "at-should-not-leak" not in json.dumps(entry)


def test_exception_text_is_redacted() -> None:
    try:
        raise ValueError("token=leaky-token-123 rejected")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    entry = _emit(record)
    assert "leaky-token-123" not in json.dumps(entry)
    assert "ValueError" in str(entry["exception"])
