"""Encryption of OAuth tokens at rest: AES-256-GCM under a key ring.

Ciphertext format (one ASCII string per column value)::

    hv1:<key id>:<base64url(12-byte nonce || ciphertext || 16-byte tag)>

* Every ciphertext names the key that wrote it, so keys can be rotated: new writes use the *primary* key, older
  keys in the ring still decrypt, and ``python -m herald.tokens rotate-keys`` re-encrypts every row under the
  primary so that a retired key can then be removed.
* The associated data is ``<owner id>|<field name>`` (an account id and ``access_token``, say). A ciphertext
  copied into another row or another column fails authentication instead of decrypting to someone else's token.
* Failures raise :class:`DecryptionFailed` with a message that names the key id and field, never the data.

Keys come from ``HERALD_TOKEN_KEYS`` (JSON ``{"k1": "<base64 of 32 bytes>"}``) with ``HERALD_TOKEN_PRIMARY_KEY``,
or from ``HERALD_TOKEN_KEYS_FILE``: a JSON file holding either that same map or
``{"primary": "k2", "keys": {"k1": "...", "k2": "..."}}`` (environment values win). With one key, it is the
primary. In development only, a missing key ring is replaced by an ephemeral key (tokens stored with it are
unreadable after a restart) and a loud warning.

The ring also signs OAuth ``state`` values (HMAC-SHA256 under a key derived from a ring key with HKDF), so one
secret protects both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from herald.kit.logging import register_secret
from herald.tokens.settings import TokensSettings

log = logging.getLogger(__name__)

FORMAT = "hv1"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_STATE_INFO = b"herald.tokens oauth-state v1"


class KeyRingError(ValueError):
    """The key configuration is unusable (missing, malformed, or no primary key)."""


class DecryptionFailed(Exception):
    """A ciphertext could not be decrypted: unknown key, tampering, or bound to another row or field."""


def _aad(owner: uuid.UUID | str, field: str) -> bytes:
    return f"{owner}|{field}".encode()


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class KeyRing:
    """AES-256-GCM keys by id; :attr:`primary` encrypts, every key decrypts."""

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if primary not in keys:
            raise KeyRingError(f"primary key {primary!r} is not in the key ring ({', '.join(sorted(keys))})")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise KeyRingError(f"key id {key_id!r}: use 1-32 letters, digits, '_' or '-'")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._raw = dict(keys)
        self.primary = primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def encrypt(self, plaintext: str, *, owner: uuid.UUID | str, field: str) -> str:
        """Encrypt under the primary key, bound to ``owner`` and ``field``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.primary].encrypt(nonce, plaintext.encode(), _aad(owner, field))
        return f"{FORMAT}:{self.primary}:{_b64encode(nonce + sealed)}"

    def decrypt(self, ciphertext: str, *, owner: uuid.UUID | str, field: str) -> str:
        """Decrypt a value written by :meth:`encrypt` for the same ``owner`` and ``field``."""
        key_id = self.key_id(ciphertext)
        aead = self._keys.get(key_id)
        if aead is None:
            raise DecryptionFailed(f"{field}: key {key_id!r} is not in the key ring")
        try:
            blob = _b64decode(ciphertext.split(":", 2)[2])
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(owner, field)).decode()
        except (InvalidTag, ValueError, binascii.Error) as error:
            raise DecryptionFailed(f"{field}: authentication failed under key {key_id!r}") from error

    def key_id(self, ciphertext: str) -> str:
        """The id of the key a ciphertext was written with."""
        parts = ciphertext.split(":", 2)
        if len(parts) != 3 or parts[0] != FORMAT:
            raise DecryptionFailed("not a Herald token ciphertext")
        return parts[1]

    def is_current(self, ciphertext: str) -> bool:
        """True if the ciphertext is already under the primary key (rotation can skip it)."""
        return self.key_id(ciphertext) == self.primary

    def sign(self, message: str) -> str:
        """``<key id>.<base64url HMAC-SHA256>`` of ``message`` under the primary key's signing subkey."""
        return self._sign_with(self.primary, message)

    def verify(self, message: str, signature: str) -> bool:
        """Check a :meth:`sign` signature made with any key still in the ring."""
        key_id = signature.partition(".")[0]
        if key_id not in self._raw:
            return False
        return hmac.compare_digest(self._sign_with(key_id, message), signature)

    def _sign_with(self, key_id: str, message: str) -> str:
        mac = hmac.new(self._signing_key(key_id), message.encode(), hashlib.sha256).digest()
        return f"{key_id}.{_b64encode(mac)}"

    def _signing_key(self, key_id: str) -> bytes:
        # A separate subkey: the AES key itself is never used as an HMAC key.
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_STATE_INFO).derive(self._raw[key_id])


def parse_key(key_id: str, encoded: str) -> bytes:
    """Decode one base64 (standard or URL-safe, padding optional) key of exactly 32 bytes."""
    try:
        key = _b64decode(encoded.strip())
    except (binascii.Error, ValueError) as error:
        raise KeyRingError(f"key {key_id!r} is not valid base64") from error
    if len(key) != KEY_BYTES:
        raise KeyRingError(f"key {key_id!r} decodes to {len(key)} bytes; AES-256 needs {KEY_BYTES}")
    return key


def new_key() -> str:
    """A fresh random key, base64-encoded (for operators: ``python -m herald.tokens new-key``)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _read_file(path: Path) -> tuple[dict[str, str], str | None]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise KeyRingError(f"cannot read the key file {path}: {type(error).__name__}") from None
    if not isinstance(data, dict):
        raise KeyRingError(f"the key file {path} must hold a JSON object")
    if "keys" in data:
        keys, primary = data.get("keys"), data.get("primary")
    else:
        keys, primary = data, None
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise KeyRingError(f"the key file {path} must map key ids to base64 strings")
    return {str(k): v for k, v in keys.items()}, primary if isinstance(primary, str) else None


def load_key_ring(settings: TokensSettings) -> KeyRing:
    """Build the ring from settings (and the key file). Raises :class:`KeyRingError` outside development if empty."""
    encoded: dict[str, str] = {}
    file_primary = None
    if settings.token_keys_file is not None:
        encoded, file_primary = _read_file(settings.token_keys_file)
    encoded.update({k: v.get_secret_value() for k, v in settings.token_keys.items()})
    if not encoded:
        if not settings.is_development:
            raise KeyRingError("no token encryption key configured (HERALD_TOKEN_KEYS or HERALD_TOKEN_KEYS_FILE)")
        log.warning(
            "NO TOKEN ENCRYPTION KEY CONFIGURED: using an EPHEMERAL key (development only). Tokens stored now "
            "cannot be decrypted after a restart. Set HERALD_TOKEN_KEYS and HERALD_TOKEN_PRIMARY_KEY."
        )
        return KeyRing({"ephemeral": os.urandom(KEY_BYTES)}, "ephemeral")
    for value in encoded.values():
        register_secret(value)
    primary = settings.token_primary_key or file_primary
    if primary is None:
        if len(encoded) != 1:
            raise KeyRingError("several token keys but no HERALD_TOKEN_PRIMARY_KEY naming the one to encrypt with")
        primary = next(iter(encoded))
    return KeyRing({key_id: parse_key(key_id, value) for key_id, value in encoded.items()}, primary)
