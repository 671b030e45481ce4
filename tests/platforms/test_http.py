"""The helpers every platform adapter shares: redaction, excerpts, JSON bodies, token-endpoint refusals."""

import httpx
import pytest

from herald.platforms import http

SECRET = "s3cr3t-token-value-0123456789"


def test_redact_replaces_every_secret_and_ignores_empty_ones() -> None:
    text = f"echo {SECRET} and {SECRET}, proof abc"
    assert http.redact(text, [SECRET, "", "abc"]) == "echo [redacted] and [redacted], proof [redacted]"


def test_an_excerpt_is_redacted_before_it_is_cut() -> None:
    # The token straddles the cut: cutting first would leak its first half.
    body = "x" * 290 + SECRET
    excerpt = http.excerpt(httpx.Response(400, text=body), [SECRET], limit=300)
    assert len(excerpt) == 300
    assert SECRET[:10] not in excerpt
    assert excerpt.endswith("[redacted]")


@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b"", b"\xff\xfe"])
def test_a_body_that_is_not_json_reads_as_none(body: bytes) -> None:
    response = httpx.Response(502, content=body)
    assert http.json_body(response) is None
    assert http.json_object(response) == {}
    assert http.oauth_error(response) == ("", "")


DEAD = "Value passed for the token was invalid."
MISSING_SECRET = 'A required parameter "client_secret" is missing'


@pytest.mark.parametrize(
    ("status", "error", "description", "expected"),
    [
        (400, "invalid_request", DEAD, http.TokenFailure.REJECTED),  # X's dead refresh token
        (400, "invalid_grant", "Token revoked", http.TokenFailure.REJECTED),
        (400, "invalid_request", MISSING_SECRET, http.TokenFailure.CONFIGURATION),  # LinkedIn, no secret sent
        (400, "invalid_request", "redirect_uri does not match", http.TokenFailure.CONFIGURATION),
        (400, "redirect_uri_mismatch", "", http.TokenFailure.CONFIGURATION),
        (401, "invalid_client", "Client authentication failed", http.TokenFailure.CONFIGURATION),
        (401, "unauthorized_client", "Missing valid authorization header", http.TokenFailure.CONFIGURATION),
        (401, "", "", http.TokenFailure.CONFIGURATION),  # a 401 from a token endpoint is the client's credentials
        (400, "unauthorized_client", "", http.TokenFailure.CONFIGURATION),
        (429, "", "", http.TokenFailure.TRANSIENT),
        (503, "temporarily_unavailable", "", http.TokenFailure.TRANSIENT),
        (400, "invalid_scope", "", http.TokenFailure.REJECTED),
    ],
)
def test_token_endpoint_refusals(status: int, error: str, description: str, expected: http.TokenFailure) -> None:
    assert http.token_failure(status, error, description) is expected
