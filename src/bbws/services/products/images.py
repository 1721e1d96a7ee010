"""Product images: the multipart upload, its real type, and the object in S3.

The type is decided by the file's own bytes, never by the client's Content-Type or file
name (a PHP script named ``x.jpg`` and sent as ``image/jpeg`` is a 415):

    JPEG  FF D8 FF                           signature only: JPEG has no length to check,
                                             and trailers after the EOI marker are common
    PNG   89 50 4E 47 0D 0A 1A 0A, then      every chunk complete with a valid CRC, IHDR
          IHDR ... IEND                      first, IEND last and nothing after it
    WebP  RIFF <size> WEBP VP8/VP8L/VP8X     the RIFF size must match the file's length

A recognised format whose structure is broken (a truncated PNG or WebP) is a 400
(``bad_request``: the type is fine, the file is not); anything unrecognised is a 415.
Images larger than ``MAX_IMAGE_BYTES`` are a 413.

Objects go to ``products/<id>/<first 16 hex of sha256>.<ext>``: content-addressed, so the
CDN may cache them forever and a re-upload of the same file is the same object.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import zlib
from dataclasses import dataclass
from email import errors as email_errors
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Final

import boto3

from bbws.services.aws import AWS_CONFIG
from bbws.services.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

MAX_IMAGE_BYTES: Final = 5 * 2**20
# The guard's limit for the whole multipart body: the image plus the part headers and
# boundaries; the image itself is then held to MAX_IMAGE_BYTES.
MAX_UPLOAD_BYTES: Final = MAX_IMAGE_BYTES + 64 * 2**10
FIELD: Final = "image"
CACHE_CONTROL: Final = "public, max-age=31536000, immutable"  # keys change with content
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_WEBP_CHUNKS: Final = (b"VP8 ", b"VP8L", b"VP8X")
_BROKEN_MULTIPART: Final = (
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.CloseBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)


@dataclass(frozen=True)
class ImageKind:
    extension: str
    media_type: str


JPEG: Final = ImageKind("jpg", "image/jpeg")
PNG: Final = ImageKind("png", "image/png")
WEBP: Final = ImageKind("webp", "image/webp")


def read_upload(body: str, is_base64: bool, content_type: str) -> bytes:
    """The ``image`` field of a multipart/form-data body, as API Gateway delivered it.

    API Gateway base64-encodes bodies of the API's binary media types (multipart/form-data
    must be one); a text body is taken as it came, which only works for text-safe files.
    """
    try:
        raw = base64.b64decode(body, validate=True) if is_base64 else body.encode()
    except (binascii.Error, UnicodeEncodeError):
        raise BadRequest("the body cannot be decoded") from None
    image = _form_field(raw, content_type)
    if len(image) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(f"images are limited to {MAX_IMAGE_BYTES // 2**20} MiB")
    return image


def _form_field(raw: bytes, content_type: str) -> bytes:
    # The stdlib MIME parser, fed the request's Content-Type as the message header. CR/LF
    # in it would let the client write headers of its own.
    if "\r" in content_type or "\n" in content_type or not content_type.isascii():
        raise BadRequest("invalid Content-Type header")
    head = f"Content-Type: {content_type}\r\n\r\n".encode("ascii")
    message = BytesParser(EmailMessage, policy=HTTP).parsebytes(head + raw)
    if not message.is_multipart() or message.get_boundary() is None:
        raise BadRequest("expected a multipart/form-data body with a boundary")
    if any(isinstance(defect, _BROKEN_MULTIPART) for defect in message.defects):
        raise BadRequest("the multipart body is malformed or truncated")
    parts = [
        part
        for part in message.iter_parts()
        if part.get_content_disposition() == "form-data"
        and part.get_param("name", header="content-disposition") == FIELD
    ]
    if len(parts) != 1 or parts[0].is_multipart():
        kind = "missing" if not parts else "multiple_files"
        raise ValidationFailed(
            "send exactly one file in the form field 'image'",
            details=[{"field": f"body.{FIELD}", "type": kind}],
        )
    payload = parts[0].get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload:
        raise ValidationFailed(details=[{"field": f"body.{FIELD}", "type": "missing"}])
    return payload


def sniff(data: bytes) -> ImageKind:
    """The image's type from its bytes; 415 when it is none of ours, 400 when broken."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(PNG_SIGNATURE):
        _check_png(memoryview(data))
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        _check_webp(data)
        return WEBP
    # No Accept header: that would name request body types, and the body is multipart.
    raise UnsupportedMediaType("the file is not a JPEG, PNG or WebP image")


def _broken(kind: str) -> BadRequest:
    return BadRequest(f"the {kind} image is truncated or corrupt")


def _check_png(data: memoryview) -> None:
    position, first = len(PNG_SIGNATURE), True
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        end = position + 12 + length
        if end > len(data):
            raise _broken("PNG")
        chunk_type = bytes(data[position + 4 : position + 8])
        if first and (chunk_type != b"IHDR" or length != 13):
            raise _broken("PNG")
        crc = int.from_bytes(data[end - 4 : end], "big")
        if zlib.crc32(data[position + 4 : end - 4]) != crc:
            raise _broken("PNG")
        if chunk_type == b"IEND":
            # Bytes after IEND are no part of the image: refuse PNG/script polyglots.
            if length or end != len(data):
                raise _broken("PNG")
            return
        position, first = end, False
    raise _broken("PNG")  # ran out of bytes before IEND


def _check_webp(data: bytes) -> None:
    declared = int.from_bytes(data[4:8], "little")
    if declared + 8 != len(data) or len(data) < 20 or data[12:16] not in _WEBP_CHUNKS:
        raise _broken("WebP")


def object_key(product_id: str, data: bytes, kind: ImageKind) -> str:
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"products/{product_id}/{digest}.{kind.extension}"


class ImageStore:
    """The product-images bucket (bbws-product-images-{env}), served at images.<domain>."""

    def __init__(self, client: S3Client | None, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    @functools.cached_property
    def client(self) -> S3Client:
        # Made on first use: see bbws.services.aws.
        return self._client or boto3.client("s3", config=AWS_CONFIG)

    def put(self, tenant_id: str, product_id: str, data: bytes, kind: ImageKind) -> str:
        key = object_key(product_id, data, kind)
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=kind.media_type,
            CacheControl=CACHE_CONTROL,
            # The key holds no tenant (ids are unique anyway); the metadata says whose it is.
            Metadata={"tenant-id": tenant_id, "product-id": product_id},
        )
        return key

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_product(self, product_id: str) -> int:
        """Remove every image of a product; returns how many. The bucket is versioned, so
        this adds delete markers and the bytes stay recoverable."""
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"products/{product_id}/")
        keys: list[ObjectIdentifierTypeDef] = [
            {"Key": obj["Key"]} for obj in listing.get("Contents", [])
        ]
        if keys:  # at most 1000 per call; a product never has that many images
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        return len(keys)
