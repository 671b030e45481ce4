"""Herald's S3-compatible object store client: media bytes, multipart uploads, presigned GET URLs.

Depends on httpx only. Build :class:`ObjectStoreSettings` with :func:`objectstore_settings_from_env` in a
composition root, open an :class:`ObjectStore` with it, and hand publishers an :class:`ObjectStoreMediaSource`.
"""

from herald.objectstore.errors import ObjectNotFound, ObjectStoreConfigError, ObjectStoreError
from herald.objectstore.media_source import ObjectStoreMediaSource, StoredMedia
from herald.objectstore.settings import ObjectStoreSettings, load_objectstore_settings, objectstore_settings_from_env
from herald.objectstore.store import MultipartUpload, ObjectInfo, ObjectStore

__all__ = [
    "MultipartUpload",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreConfigError",
    "ObjectStoreError",
    "ObjectStoreMediaSource",
    "ObjectStoreSettings",
    "StoredMedia",
    "load_objectstore_settings",
    "objectstore_settings_from_env",
]
