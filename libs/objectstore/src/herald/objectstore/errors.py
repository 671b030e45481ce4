"""The object store's errors. Their messages name the operation, the key and what the store answered, never a
credential, a signature or a presigned URL (they end up in logs and in API error bodies)."""

from __future__ import annotations


class ObjectStoreError(Exception):
    """A request to the object store failed (refused, unreachable, or an answer that makes no sense).

    ``status_code`` is the HTTP status when the store answered (None when it could not be reached) and ``code`` the
    S3 error code from the answer's body (``AccessDenied``, ``NoSuchUpload``, ...) when it had one.
    """

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code

    @property
    def is_outage(self) -> bool:
        """The store could not be reached or answered 5xx: the call may succeed shortly (not a bug, not a refusal)."""
        return self.status_code is None or self.status_code >= 500


class ObjectNotFound(ObjectStoreError):
    """The object (or the multipart upload, or the bucket) does not exist."""


class ObjectStoreConfigError(ValueError):
    """The object store settings are missing or malformed; the message names the variable or field."""
