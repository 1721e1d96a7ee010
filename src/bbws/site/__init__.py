"""The customer-portal front end: static HTML, JS and CSS, and ``build`` to hash them for S3."""

from .build import BuildManifest, build

__all__ = ["BuildManifest", "build"]
