"""Small real images for upload tests, built by hand (no imaging library is installed)."""

from __future__ import annotations

import base64
import struct
import zlib


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid RGB PNG: signature, IHDR, one IDAT, IEND, every CRC right."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# The well-known 125-byte 1x1 JPEG (JFIF, arithmetic coding).
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010101004800480000"
    "ffdb004300030202020202030202020303030304060404040404080606050609080a0a090809090a0c0f0c0a0b0e0b09090d110d0e0f101011100a0c12131210130f101010"
    "ffc9000b080001000101011100"
    "ffcc000600101005"
    "ffda0008010100003f00d2cf20"
    "ffd9"
)
# 1x1 WebP, lossy (VP8) and lossless (VP8L), as feature probes in browsers use them.
WEBP = base64.b64decode("UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA")
WEBP_LOSSLESS = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
PHP = b"<?php system($_GET['cmd']); ?>\n"


def multipart(
    parts: list[tuple[str, str | None, str | None, bytes]],
    boundary: str = "------------------------bbws7d1c0e",
) -> tuple[bytes, str]:
    """A multipart/form-data body as curl -F builds it, and its Content-Type.

    ``parts``: (field name, file name or None, part Content-Type or None, bytes).
    """
    body = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type is not None:
            body += f"Content-Type: {content_type}\r\n".encode()
        body += b"\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(
    data: bytes, filename: str = "test-image.jpg", content_type: str = "image/jpeg"
) -> tuple[bytes, str]:
    """``curl -F "image=@<filename>"``: curl names the type after the file's extension."""
    return multipart([("image", filename, content_type, data)])
