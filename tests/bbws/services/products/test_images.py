"""POST /products/{id}/image: the type comes from the bytes, sizes are bounded, S3 holds it."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from bbws.services.errors import ApiError
from bbws.services.products import images
from tests.bbws.services.products.conftest import Api
from tests.bbws.services.products.images_data import (
    JPEG,
    PHP,
    WEBP,
    WEBP_LOSSLESS,
    multipart,
    png,
    upload,
)

PNG = png(3, 2)


def post_image(api: Api, product_id: str, body: bytes, content_type: str, **kw: Any) -> Any:
    headers = {"Content-Type": content_type, **kw.pop("headers", {})}
    return api("POST", f"/products/{product_id}/image", body=body, headers=headers, **kw)


@pytest.mark.parametrize(
    ("data", "filename", "declared", "media_type", "extension"),
    [
        (JPEG, "test-image.jpg", "image/jpeg", "image/jpeg", "jpg"),
        (PNG, "photo.png", "image/png", "image/png", "png"),
        (WEBP, "photo.webp", "image/webp", "image/webp", "webp"),
        (WEBP_LOSSLESS, "photo.webp", "image/webp", "image/webp", "webp"),
        # the client's name and type are ignored: the bytes decide
        (PNG, "photo.jpg", "image/jpeg", "image/png", "png"),
        (JPEG, "blob", "application/octet-stream", "image/jpeg", "jpg"),
    ],
)
def test_valid_images_are_stored_with_their_real_type(
    api: Api,
    s3_client: Any,
    product_settings: Any,
    data: bytes,
    filename: str,
    declared: str,
    media_type: str,
    extension: str,
) -> None:
    product = api.create()
    status, headers, body = post_image(api, product["id"], *upload(data, filename, declared))
    assert status == 200, body
    digest = hashlib.sha256(data).hexdigest()[:16]
    key = f"products/{product['id']}/{digest}.{extension}"
    assert body == {"image_url": f"https://images.dev.kimmyai.io/{key}"}
    stored = s3_client.get_object(Bucket=product_settings.product_images_bucket, Key=key)
    assert (stored["ContentType"], stored["Body"].read()) == (media_type, data)
    assert stored["CacheControl"] == images.CACHE_CONTROL
    assert stored["Metadata"] == {"tenant-id": api.tenant, "product-id": product["id"]}
    assert api("GET", f"/products/{product['id']}").body["image_url"] == body["image_url"]
    assert headers["ETag"] == '"2"'


def test_a_php_file_renamed_jpg_is_a_415(api: Api, s3_client: Any, product_settings: Any) -> None:
    product = api.create()
    status, _, body = post_image(api, product["id"], *upload(PHP, "shell.jpg", "image/jpeg"))
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    assert body["error"]["message"] == "the file is not a JPEG, PNG or WebP image"
    listing = s3_client.list_objects_v2(
        Bucket=product_settings.product_images_bucket, Prefix=f"products/{product['id']}/"
    )
    assert "Contents" not in listing
    assert api("GET", f"/products/{product['id']}").body["version"] == 1


def test_a_6_mb_image_is_a_413(api: Api) -> None:
    product = api.create()
    huge = JPEG[:-2] + b"\x00" * (6 * 1000 * 1000) + b"\xff\xd9"
    status, _, body = post_image(api, product["id"], *upload(huge))
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_the_image_itself_is_held_to_5_mib() -> None:
    # Within the guard's limit for the whole body (image + multipart framing), above 5 MiB.
    data = JPEG + b"\x00" * (images.MAX_IMAGE_BYTES + 1 - len(JPEG))
    body, content_type = upload(data)
    with pytest.raises(ApiError) as raised:
        images.read_upload(base64.b64encode(body).decode(), True, content_type)
    assert raised.value.status == 413
    exact = JPEG + b"\x00" * (images.MAX_IMAGE_BYTES - len(JPEG))
    body, content_type = upload(exact)
    assert images.read_upload(base64.b64encode(body).decode(), True, content_type) == exact


@pytest.mark.parametrize(
    "broken",
    [
        PNG[:-12],  # IEND missing
        PNG[:-3],  # IEND cut
        PNG[:40],  # cut inside IDAT
        PNG[:8],  # signature only
        PNG[:-8] + b"\x00\x00\x00\x00" + PNG[-4:],  # IEND with a wrong CRC
        PNG + b"<?php system($_GET['c']); ?>",  # a script after IEND
        PNG[:12] + b"IDAT" + PNG[16:],  # first chunk not IHDR
        WEBP[:-4],  # RIFF size larger than the file
        WEBP[:12] + b"JUNK" + WEBP[16:],  # no VP8 chunk
    ],
)
def test_a_truncated_or_corrupt_png_or_webp_is_a_400(api: Api, broken: bytes) -> None:
    product = api.create()
    status, _, body = post_image(api, product["id"], *upload(broken, "x.png", "image/png"))
    assert (status, body["error"]["code"]) == (400, "bad_request")
    assert "truncated or corrupt" in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (*multipart([("file", "a.jpg", "image/jpeg", JPEG)]), 400, "validation_error"),
        (
            *multipart([("image", "a.jpg", None, JPEG), ("image", "b.jpg", None, JPEG)]),
            400,
            "validation_error",
        ),
        (*multipart([("image", "a.jpg", None, b"")]), 400, "validation_error"),
        (*multipart([("image", "empty", None, b"\x00\x01")]), 415, "unsupported_media_type"),
        (JPEG, "multipart/form-data; boundary=nope", 400, "bad_request"),
        (JPEG, "multipart/form-data", 400, "bad_request"),
        (upload(JPEG)[0][:-40], upload(JPEG)[1], 400, "bad_request"),  # no closing boundary
        (JPEG, "image/jpeg", 415, "unsupported_media_type"),  # the guard wants multipart
        (b'{"image": "x"}', "application/json", 415, "unsupported_media_type"),
    ],
)
def test_malformed_uploads(
    api: Api, body: bytes, content_type: str, status: int, code: str
) -> None:
    product = api.create()
    got = post_image(api, product["id"], body, content_type)
    assert (got.status, got.body["error"]["code"]) == (status, code), got.body


def test_a_form_field_without_a_file_name_is_read_too(api: Api) -> None:
    # Not every client sends filename=; the field's bytes are what counts.
    product = api.create()
    body, content_type = multipart([("note", None, None, b"hi"), ("image", None, None, PNG)])
    assert post_image(api, product["id"], body, content_type).status == 200


def test_a_body_that_is_not_base64_encoded_is_taken_as_text() -> None:
    # API Gateway without multipart/form-data as binary media type: only text survives.
    body, content_type = upload(b"plain text")
    data = images.read_upload(body.decode(), False, content_type)
    assert data == b"plain text"
    with pytest.raises(ApiError) as raised:
        images.sniff(data)
    assert raised.value.status == 415
    with pytest.raises(ApiError) as raised:
        images.read_upload("@@not base64@@", True, content_type)
    assert raised.value.status == 400
    with pytest.raises(ApiError) as raised:
        images.read_upload("", False, content_type + "\r\nX-Evil: 1")
    assert raised.value.status == 400


def test_if_match_applies_to_uploads_and_a_stale_one_stores_nothing(
    api: Api, s3_client: Any, product_settings: Any
) -> None:
    product = api.create()
    api("PATCH", f"/products/{product['id']}", body={"price": 5})
    got = post_image(api, product["id"], *upload(JPEG), headers={"If-Match": '"1"'})
    assert got.status == 412
    listing = s3_client.list_objects_v2(
        Bucket=product_settings.product_images_bucket, Prefix=f"products/{product['id']}/"
    )
    assert "Contents" not in listing
    assert post_image(api, product["id"], *upload(JPEG), headers={"If-Match": '"2"'}).status == 200


def test_deleting_a_product_deletes_its_images(
    api: Api, s3_client: Any, product_settings: Any
) -> None:
    product = api.create()
    for data in (JPEG, PNG):
        assert post_image(api, product["id"], *upload(data)).status == 200
    bucket, prefix = product_settings.product_images_bucket, f"products/{product['id']}/"
    assert len(s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]) == 2
    assert api("DELETE", f"/products/{product['id']}").status == 204
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)


def test_uploading_for_an_unknown_product_is_a_404_and_stores_nothing(
    api: Api, s3_client: Any, product_settings: Any
) -> None:
    from bbws.services.ids import new_id

    missing = new_id()
    assert post_image(api, missing, *upload(JPEG)).status == 404
    listing = s3_client.list_objects_v2(
        Bucket=product_settings.product_images_bucket, Prefix=f"products/{missing}/"
    )
    assert "Contents" not in listing
