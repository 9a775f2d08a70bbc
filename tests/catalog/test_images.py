"""Product images: the storage implementations (disk, and S3 against a local S3-compatible
server), the upload route with its checks, and the media route that serves the files."""

from __future__ import annotations

import re
import struct
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # boto3 ships no type hints
import pytest
from httpx import AsyncClient
from moto.server import ThreadedMotoServer

from tests.catalog.csvfiles import products
from tests.conftest import serve, test_settings
from tests.factories import Factory, Shop, bearer
from tribekit.api.app import create_app
from tribekit.catalog.router import media_router
from tribekit.kit.db import Database
from tribekit.kit.settings import Settings
from tribekit.kit.storage import (
    DiskStorage,
    InvalidKey,
    S3Storage,
    StorageNotConfigured,
    build_storage,
    sniff_image,
)
from tribekit.models.enums import Role

API = "/api/v1/products"
MB = 1024 * 1024
SECRET = "test-secret-key-that-is-long-enough"


def _png(width: int = 1, height: int = 1) -> bytes:
    """A real PNG: one white pixel unless told otherwise."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


PNG = _png()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\x00" * 24


def _files(data: bytes, name: str = "photo.png", declared: str = "image/png") -> Any:
    return {"file": (name, data, declared)}


def _stored(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ---------------------------------------------------------------------------------------- sniffing


def test_images_are_recognised_by_their_bytes_only() -> None:
    assert sniff_image(PNG) == ("image/png", "png")
    assert sniff_image(JPEG) == ("image/jpeg", "jpg")
    assert sniff_image(WEBP) == ("image/webp", "webp")
    assert sniff_image(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None
    assert sniff_image(b"GIF89a\x01\x00") is None
    assert sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert sniff_image(b"") is None


# ------------------------------------------------------------------------------------ disk storage


async def test_disk_storage_saves_opens_replaces_and_deletes(tmp_path: Path) -> None:
    storage = DiskStorage(tmp_path / "media", "https://shop.example/media/")
    key = "products/m/p/one.png"

    url = await storage.save(key, PNG, "image/png")

    assert url == "https://shop.example/media/products/m/p/one.png"
    assert (tmp_path / "media" / key).read_bytes() == PNG
    assert (tmp_path / "media" / key).stat().st_mode & 0o777 == 0o644
    assert await storage.open(key) == (PNG, "image/png")
    await storage.save(key, b"new", "image/png")
    assert await storage.open(key) == (b"new", "image/png")
    assert await storage.open("products/m/p/other.png") is None
    assert await storage.open("products/m") is None  # a directory is no file
    await storage.delete(key)
    await storage.delete(key)  # already gone: fine
    assert await storage.open(key) is None
    assert _stored(tmp_path / "media") == []


@pytest.mark.parametrize(
    "key",
    [
        "../secret.txt",
        "products/../../secret.txt",
        "/etc/passwd",
        "products//x.png",
        "products/x.png/",
        ".hidden",
        "products/.x",
        "a\\b.png",
        "a/b c.png",
        "",
        "x" * 600,
        "名字.png",
    ],
)
async def test_disk_storage_refuses_keys_that_could_leave_its_directory(
    tmp_path: Path, key: str
) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    storage = DiskStorage(tmp_path / "media", "/media")
    with pytest.raises(InvalidKey):
        await storage.save(key, b"x", "image/png")
    with pytest.raises(InvalidKey):
        await storage.open(key)
    with pytest.raises(InvalidKey):
        await storage.delete(key)
    assert (tmp_path / "secret.txt").read_text() == "secret"
    assert _stored(tmp_path / "media") == []


async def test_disk_storage_does_not_follow_a_link_out_of_its_directory(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.png").write_bytes(b"secret")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "escape").symlink_to(tmp_path / "outside")
    storage = DiskStorage(tmp_path / "media", "/media")
    with pytest.raises(InvalidKey):
        await storage.open("escape/secret.png")


def test_disk_storage_is_the_default_under_the_data_directory(tmp_path: Path) -> None:
    default = build_storage(Settings(data_dir=tmp_path))
    assert isinstance(default, DiskStorage)
    assert (default.root, default.base_url) == (tmp_path / "media", "/media")
    chosen = build_storage(Settings(media_dir=tmp_path / "m", media_base_url="https://cdn.example"))
    assert isinstance(chosen, DiskStorage)
    assert (chosen.root, chosen.base_url) == (tmp_path / "m", "https://cdn.example")
    with pytest.raises(StorageNotConfigured, match="TRIBEKIT_S3_BUCKET"):
        build_storage(Settings(media_storage="s3"))


# -------------------------------------------------------------------------------------- S3 storage


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "media_storage": "s3",
            "s3_bucket": self.bucket,
            "s3_endpoint_url": self.endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": "test-key",
            "s3_secret_access_key": "test-secret",
            **overrides,
        }
        return Settings(**values)

    def objects(self) -> dict[str, tuple[bytes, str]]:
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test-key",
            aws_secret_access_key="test-secret",
        )
        found: dict[str, tuple[bytes, str]] = {}
        for item in client.list_objects_v2(Bucket=self.bucket).get("Contents", []):
            obj = client.get_object(Bucket=self.bucket, Key=item["Key"])
            found[item["Key"]] = (obj["Body"].read(), obj["ContentType"])
        return found


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """moto's S3-compatible server on loopback, with one bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    ).create_bucket(Bucket="tribekit-media")
    try:
        yield S3Server(endpoint, "tribekit-media")
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Server) -> Iterator[S3Server]:
    yield s3_server
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    for key in s3_server.objects():
        client.delete_object(Bucket=s3_server.bucket, Key=key)


async def test_s3_storage_saves_opens_and_deletes_objects(s3: S3Server) -> None:
    storage = build_storage(s3.settings(s3_prefix="/shop-a/", media_base_url="https://cdn.example"))
    assert isinstance(storage, S3Storage)

    url = await storage.save("products/m/p/one.png", PNG, "image/png")

    assert url == "https://cdn.example/products/m/p/one.png"
    assert s3.objects() == {"shop-a/products/m/p/one.png": (PNG, "image/png")}
    assert await storage.open("products/m/p/one.png") == (PNG, "image/png")
    assert await storage.open("products/m/p/missing.png") is None
    with pytest.raises(InvalidKey):
        await storage.open("../shop-b/products/x.png")
    with pytest.raises(InvalidKey):
        await storage.save("products/../x.png", PNG, "image/png")
    await storage.delete("products/m/p/one.png")
    await storage.delete("products/m/p/one.png")
    assert s3.objects() == {}


async def test_uploads_go_to_s3_and_are_served_from_it(
    db: Database, factory: Factory, s3: S3Server
) -> None:
    shop = await factory.shop()
    product = await factory.product(shop, name="Mango")
    settings = s3.settings(database_url=db.url, secret_key=SECRET)
    app = create_app(settings, db=db)
    app.include_router(media_router)
    async with serve(app) as http:
        response = await http.post(
            f"{API}/{product.id}/images", files=_files(PNG), headers=shop.headers
        )
        assert response.status_code == 201, response.text
        [url] = response.json()["images"]
        key = url.removeprefix("/media/")
        assert s3.objects() == {key: (PNG, "image/png")}
        served = await http.get(url)
        assert (served.status_code, served.content) == (200, PNG)
        assert served.headers["content-type"] == "image/png"


# ------------------------------------------------------------------------------------ upload route


@dataclass(frozen=True)
class MediaApp:
    http: AsyncClient
    root: Path


async def _media_app(db: Database, root: Path, **settings: Any) -> AsyncIterator[MediaApp]:
    app = create_app(test_settings(db, media_dir=root, **settings), db=db)
    if not any(getattr(route, "path", "") == "/media/{key:path}" for route in app.routes):
        app.include_router(media_router)
    async with serve(app) as http:
        yield MediaApp(http, root)


@pytest.fixture
async def media(db: Database, tmp_path: Path) -> AsyncIterator[MediaApp]:
    """The app with disk storage under a temporary directory, and an upload limit above 5 MB."""
    async for served in _media_app(db, tmp_path / "media", max_upload_bytes=8 * MB):
        yield served


async def _upload(media: MediaApp, shop: Shop, product_id: uuid.UUID, files: Any) -> Any:
    return await media.http.post(f"{API}/{product_id}/images", files=files, headers=shop.headers)


async def test_an_uploaded_image_is_stored_appended_and_served(
    media: MediaApp, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    product = await factory.product(shop, name="Mango", images=["https://cdn.example/old.png"])
    folder = f"products/{shop.tenant.id}/{product.id}"

    png = await _upload(media, shop, product.id, _files(PNG))
    jpeg = await _upload(media, shop, product.id, _files(JPEG, "a.bin", "application/octet-stream"))
    webp = await _upload(media, shop, product.id, _files(WEBP, "photo.png", "image/png"))

    assert [r.status_code for r in (png, jpeg, webp)] == [201, 201, 201], png.text
    images = webp.json()["images"]
    assert images[0] == "https://cdn.example/old.png"
    pattern = re.compile(rf"/media/{folder}/[0-9a-f-]{{36}}\.(png|jpg|webp)")
    assert [m.group(1) for m in map(pattern.fullmatch, images[1:]) if m] == ["png", "jpg", "webp"]
    assert (await products(db, shop))["Mango"].images == images
    stored = {str(path.relative_to(media.root)): path.read_bytes() for path in _stored(media.root)}
    assert stored == {
        url.removeprefix("/media/"): data
        for url, data in zip(images[1:], (PNG, JPEG, WEBP), strict=True)
    }

    served = await media.http.get(images[1])
    assert served.status_code == 200
    assert served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert (await media.http.get(images[2])).headers["content-type"] == "image/jpeg"
    assert (await media.http.get(images[3])).headers["content-type"] == "image/webp"


async def test_a_file_that_is_not_an_image_is_refused_whatever_it_claims(
    media: MediaApp, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    product = await factory.product(shop, name="Mango")

    text = await _upload(media, shop, product.id, _files(b"just some text\n", "photo.png"))
    svg = await _upload(
        media, shop, product.id, _files(b"<svg onload='alert(1)'/>", "x.svg", "image/svg+xml")
    )
    empty = await _upload(media, shop, product.id, _files(b""))

    for response in (text, svg, empty):
        assert response.status_code == 422
        assert response.json()["code"] == "unsupported_image"
        assert response.json()["detail"] == (
            "the file is not a JPEG, PNG or WebP image (judged by its content, not by its name "
            "or declared type)"
        )
    no_file = await media.http.post(
        f"{API}/{product.id}/images", data={"image": "x"}, headers=shop.headers
    )
    assert no_file.status_code == 422
    assert no_file.json()["errors"][0]["loc"] == ["body", "file"]
    assert (await products(db, shop))["Mango"].images == []
    assert _stored(media.root) == []


async def test_an_image_over_5_mb_is_refused(
    media: MediaApp, factory: Factory, db: Database, tmp_path: Path
) -> None:
    shop = await factory.shop()
    product = await factory.product(shop, name="Mango")
    too_big = PNG + b"\x00" * (5 * MB + 1 - len(PNG))
    just_fits = PNG + b"\x00" * (5 * MB - len(PNG))

    refused = await _upload(media, shop, product.id, _files(too_big))
    assert refused.status_code == 413
    assert (refused.json()["code"], refused.json()["detail"]) == (
        "image_too_large",
        "the image is larger than 5 MB; send a smaller one",
    )
    assert _stored(media.root) == []
    accepted = await _upload(media, shop, product.id, _files(just_fits))
    assert accepted.status_code == 201

    # With a 1 MiB upload limit, the app refuses the body before the route sees it.
    async for small in _media_app(db, tmp_path / "small", max_upload_bytes=MB):
        limited = await _upload(small, shop, product.id, _files(PNG + b"\x00" * (2 * MB)))
        assert limited.status_code == 413
        assert limited.json()["code"] == "payload_too_large"
        assert _stored(small.root) == []
    assert len((await products(db, shop))["Mango"].images) == 1


async def test_uploads_need_catalog_write_at_the_products_own_merchant(
    media: MediaApp, factory: Factory, db: Database
) -> None:
    shop, other = await factory.shop(), await factory.shop()
    product = await factory.product(shop, name="Mango")
    analyst = bearer(await factory.staff_token(shop, Role.ANALYST))

    denied = await media.http.post(f"{API}/{product.id}/images", files=_files(PNG), headers=analyst)
    assert denied.status_code == 403
    assert denied.json()["code"] == "permission_denied"
    elsewhere = await _upload(media, other, product.id, _files(PNG))
    assert elsewhere.status_code == 404
    assert elsewhere.json()["detail"] == f"no product with id {product.id} at this merchant"
    assert (await products(db, shop))["Mango"].images == []
    assert _stored(media.root) == []


async def test_a_product_holds_at_most_20_images(
    media: MediaApp, factory: Factory, db: Database
) -> None:
    shop = await factory.shop()
    full = [f"https://cdn.example/{i}.png" for i in range(20)]
    product = await factory.product(shop, name="Mango", images=full)

    response = await _upload(media, shop, product.id, _files(PNG))

    assert response.status_code == 409
    assert response.json()["code"] == "too_many_images"
    assert (await products(db, shop))["Mango"].images == full
    assert _stored(media.root) == []


async def test_the_media_route_serves_stored_files_only(media: MediaApp, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    storage = DiskStorage(media.root, "/media")
    await storage.save("products/a/b/one.png", PNG, "image/png")

    assert (await media.http.get("/media/products/a/b/one.png")).content == PNG
    for path in (
        "/media/products/a/b/two.png",
        "/media/%2E%2E/secret.txt",
        "/media/products/%2E%2E/%2E%2E/%2E%2E/secret.txt",
        "/media/products",
        "/media/",
    ):
        response = await media.http.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
