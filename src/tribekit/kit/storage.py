"""File storage for uploaded media (product images): a typed Protocol and two implementations.

* ``DiskStorage`` keeps files under a directory (by default ``<data_dir>/media``).
* ``S3Storage`` keeps them in a bucket of any S3-compatible service (AWS S3, MinIO, Ceph, R2...),
  through boto3 run in a worker thread. boto3 is optional: ``pip install 'tribekit[s3]'``.

Keys are relative paths made of safe segments (``products/<merchant>/<product>/<uuid>.png``); a key
that could leave the storage root (``..``, absolute paths, backslashes) is refused with
``InvalidKey`` before any I/O. The URL a file is served at is ``<base_url>/<key>``.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .settings import Settings

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
MAX_KEY_LENGTH = 512
#: Content types of the files Tribekit stores, by file extension.
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}
FALLBACK_CONTENT_TYPE = "application/octet-stream"


class InvalidKey(ValueError):
    pass


class StorageNotConfigured(RuntimeError):
    pass


class FileStorage(Protocol):
    async def save(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key`` (replacing what was there); the URL to serve it at."""
        ...

    async def open(self, key: str) -> tuple[bytes, str] | None:
        """The bytes and content type stored under ``key``, or None."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...


def check_key(key: str) -> str:
    """``key`` if it is a relative path of safe segments, else ``InvalidKey``."""
    segments = key.split("/")
    if (
        not key
        or len(key) > MAX_KEY_LENGTH
        or not all(_SEGMENT.fullmatch(segment) for segment in segments)
    ):
        raise InvalidKey(
            f"{key[:100]!r} is not a storage key: use '/'-separated segments of letters, digits, "
            "'.', '_' and '-', none starting with '.'"
        )
    return key


def content_type_of(key: str) -> str:
    return CONTENT_TYPES.get(key.rpartition(".")[2].lower(), FALLBACK_CONTENT_TYPE)


def _url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/{key}"


class DiskStorage:
    """Files under ``root``; writes are atomic (a temporary file renamed into place)."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # Segments cannot be "..", so this holds by construction; a symlink placed under the root
        # by somebody else is the one way out, and it is refused here.
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise InvalidKey(f"{key!r} leads outside the storage directory")
        return path

    async def save(self, key: str, data: bytes, content_type: str) -> str:
        path = self._path(key)
        await asyncio.to_thread(_write_atomically, path, data)
        return _url(self.base_url, key)

    async def open(self, key: str) -> tuple[bytes, str] | None:
        path = self._path(key)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return data, content_type_of(key)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # served to anybody; the temporary file starts at 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class S3Storage:
    """Objects in an S3-compatible bucket. boto3's client is thread-safe; each call runs in a
    worker thread so that the event loop never waits on the network."""

    def __init__(
        self,
        bucket: str,
        base_url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
    ) -> None:
        try:
            import boto3  # type: ignore[import-untyped]  # boto3 ships no type hints
            from botocore.config import Config  # type: ignore[import-untyped]  # nor botocore
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise StorageNotConfigured(
                "TRIBEKIT_MEDIA_STORAGE=s3 needs boto3: pip install 'tribekit[s3]'"
            ) from exc
        self.bucket = bucket
        self.base_url = base_url
        self.prefix = check_key(prefix.strip("/")) + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
        )
        self._missing = (self._client.exceptions.NoSuchKey,)

    async def save(self, key: str, data: bytes, content_type: str) -> str:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self.prefix + check_key(key),
            Body=data,
            ContentType=content_type,
        )
        return _url(self.base_url, key)

    async def open(self, key: str) -> tuple[bytes, str] | None:
        def fetch() -> tuple[bytes, str] | None:
            try:
                found = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            except self._missing:
                return None
            body: bytes = found["Body"].read()
            return body, str(found.get("ContentType") or content_type_of(key))

        check_key(key)
        return await asyncio.to_thread(fetch)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(
            self._client.delete_object, Bucket=self.bucket, Key=self.prefix + check_key(key)
        )


def build_storage(settings: Settings) -> FileStorage:
    """The storage the settings ask for (``TRIBEKIT_MEDIA_STORAGE``)."""
    if settings.media_storage == "disk":
        return DiskStorage(settings.resolved_media_dir, settings.media_base_url)
    if not settings.s3_bucket:
        raise StorageNotConfigured("TRIBEKIT_MEDIA_STORAGE=s3 needs TRIBEKIT_S3_BUCKET")
    secret = settings.s3_secret_access_key
    return S3Storage(
        settings.s3_bucket,
        settings.media_base_url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        prefix=settings.s3_prefix,
    )


def sniff_image(data: bytes) -> tuple[str, str] | None:
    """``(content type, extension)`` of a JPEG, PNG or WebP image, from its first bytes (never
    from a declared type or a file name); None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None
