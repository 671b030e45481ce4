"""Key rotation: re-encrypt every stored token (and pending PKCE verifier) under the primary key.

Procedure: add the new key to every replica's ring and make it primary (new writes use it at once), run
``python -m herald.tokens rotate-keys`` (rewrites what older keys wrote, in batches, each under the rows' locks
so a concurrent refresh is never lost), then remove the old key. A value that does not decrypt is left alone and
counted in ``unreadable``: rotation never destroys data.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.tokens import repository
from herald.tokens.crypto import DecryptionFailed, KeyRing

log = logging.getLogger(__name__)
TOKEN_FIELDS = ("access_token", "refresh_token")


@dataclass
class RotationReport:
    primary: str
    accounts: int = 0
    """Accounts with at least one value rewritten."""
    values: int = 0
    """Ciphertexts rewritten (tokens and verifiers)."""
    unreadable: int = 0
    """Ciphertexts left as they were because no key in the ring decrypts them."""


def _reencrypt(ring: KeyRing, ciphertext: str, owner: uuid.UUID | str, field: str) -> str | None:
    """The value under the primary key, or ``None`` if it already is (or cannot be read)."""
    if ring.is_current(ciphertext):
        return None
    return ring.encrypt(ring.decrypt(ciphertext, owner=owner, field=field), owner=owner, field=field)


async def _rotate_batch(
    conn: AsyncConnection, ring: KeyRing, after: uuid.UUID | None, size: int, report: RotationReport
) -> uuid.UUID | None:
    rows = await repository.account_token_batch(conn, after, size)
    for account_id, *ciphertexts in rows:
        changed: dict[str, object] = {}
        for field, ciphertext in zip(TOKEN_FIELDS, ciphertexts, strict=True):
            if ciphertext is None:
                continue
            try:
                rewritten = _reencrypt(ring, ciphertext, account_id, field)
            except DecryptionFailed:
                report.unreadable += 1
                extra = {"account_id": str(account_id), "field": field}
                log.warning("token does not decrypt; left as it is", extra=extra)
                continue
            if rewritten is not None:
                changed[field] = rewritten
        if changed:
            await repository.update_account(conn, account_id, changed)
            report.accounts += 1
            report.values += len(changed)
    return rows[-1][0] if len(rows) == size else None


async def rotate(engine: AsyncEngine, ring: KeyRing, batch_size: int = 100) -> RotationReport:
    """Rewrite every ciphertext not under ``ring.primary``; one transaction per batch of accounts."""
    report = RotationReport(primary=ring.primary)
    after: uuid.UUID | None = None
    while True:
        async with engine.begin() as conn:
            after = await _rotate_batch(conn, ring, after, batch_size, report)
        if after is None:
            break
    async with engine.begin() as conn:
        for state_id, ciphertext in await repository.state_verifiers(conn):
            try:
                rewritten = _reencrypt(ring, ciphertext, state_id, "code_verifier")
            except DecryptionFailed:
                report.unreadable += 1
                continue
            if rewritten is not None:
                await repository.set_state_verifier(conn, state_id, rewritten)
                report.values += 1
    return report
