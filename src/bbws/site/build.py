"""Build the portal for one environment: content-hashed assets and an index.html that names them.

    build(out_dir, "https://api.sit.kimmyai.io") -> BuildManifest

writes ``index.html`` and ``assets/app.<hash8>.js``, ``assets/app.<hash8>.css``,
``assets/logo.<hash8>.svg``. The hash is the first 8 hex digits of the SHA-256 of the file as
written, so the same sources always give the same names, and the assets are identical in
every environment: only ``index.html`` carries the API base URL (in a ``<meta>`` tag, because
CSP ``default-src 'self'`` forbids inline script). Hashed names are what let the deploy cache
assets for a year as immutable while ``index.html`` is never cached.
"""

from __future__ import annotations

import hashlib
import html
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

INDEX: Final = "index.html"
ASSET_DIR: Final = "assets"
# Leaves first: a later source may reference an earlier one, and must be hashed after its
# references are rewritten.
SOURCE_ASSETS: Final = ("logo.svg", "app.css", "app.js")
API_PLACEHOLDER: Final = "%API_BASE_URL%"


@dataclass(frozen=True)
class BuildManifest:
    """What ``build`` wrote: ``assets`` maps each source name to its hashed key."""

    out_dir: Path
    assets: Mapping[str, str]
    index: str = INDEX

    @property
    def keys(self) -> tuple[str, ...]:
        """Every object key to publish, relative to ``out_dir``."""
        return (self.index, *sorted(self.assets.values()))

    def path(self, key: str) -> Path:
        return self.out_dir / key


def hashed_name(name: str, content: bytes) -> str:
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(content).hexdigest()[:8]
    return f"{stem}.{digest}{dot}{suffix}"


def _validated_api_base(api_base_url: str) -> str:
    parts = urlsplit(api_base_url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"api_base_url must be an https URL without query: {api_base_url!r}")
    return api_base_url.rstrip("/")


def _rewrite(text: str, renamed: Mapping[str, str]) -> str:
    for source, key in renamed.items():
        text = text.replace(f"/{ASSET_DIR}/{source}", f"/{key}")
    return text


def _source(name: str) -> str:
    return resources.files("bbws.site").joinpath(name).read_text(encoding="utf-8")


def _clean(out_dir: Path) -> None:
    # Only what a previous build wrote: stale hashed files would otherwise be published.
    shutil.rmtree(out_dir / ASSET_DIR, ignore_errors=True)
    (out_dir / INDEX).unlink(missing_ok=True)


def build(out_dir: Path, api_base_url: str) -> BuildManifest:
    api_base = _validated_api_base(api_base_url)
    _clean(out_dir)
    (out_dir / ASSET_DIR).mkdir(parents=True)
    renamed: dict[str, str] = {}
    for name in SOURCE_ASSETS:
        content = _rewrite(_source(name), renamed).encode("utf-8")
        key = f"{ASSET_DIR}/{hashed_name(name, content)}"
        (out_dir / key).write_bytes(content)
        renamed[name] = key
    index = _rewrite(_source(INDEX), renamed)
    index = index.replace(API_PLACEHOLDER, html.escape(api_base, quote=True))
    (out_dir / INDEX).write_bytes(index.encode("utf-8"))
    return BuildManifest(out_dir=out_dir, assets=MappingProxyType(renamed))
