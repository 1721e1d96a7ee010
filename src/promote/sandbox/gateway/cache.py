"""The CDN front's cache: responses keyed by (host, path, query, encoding), for as long as
their ``Cache-Control`` and the behaviour's TTLs allow. The encoding is the viewer's
``Accept-Encoding`` normalised (``gzip`` or "", :mod:`promote.sandbox.gateway.compression`),
so compressed and uncompressed variants are kept apart.

How long a response is kept (CloudFront's rules, simplified):

- ``no-store``, ``no-cache`` or ``private``, or ``max-age=0``: not cached;
- else ``s-maxage``, else ``max-age``, clamped to the behaviour's minimum and maximum TTL;
- else the behaviour's default TTL (CachingOptimized: one day).

Invalidation paths match ``path`` or ``path?query`` exactly, or as a prefix when they end in
``*`` (``/images/*``, ``/index.html*``), as CloudFront's do.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

from promote.sandbox.gateway.messages import Response

MAX_ENTRIES: Final = 10_000
MAX_BODY: Final = 10 * 1024 * 1024  # larger responses pass through uncached
_NOT_CACHED: Final = frozenset({"no-store", "no-cache", "private"})


@dataclass(frozen=True)
class TtlPolicy:
    min_ttl: float
    default_ttl: float
    max_ttl: float


# AWS-managed cache policies, by their fixed ids.
CACHING_OPTIMIZED: Final = TtlPolicy(1, 86_400, 31_536_000)
CACHING_DISABLED: Final = TtlPolicy(0, 0, 0)
MANAGED_POLICIES: Final = {
    "658327ea-f89d-4fab-a63d-7e88639e58f6": CACHING_OPTIMIZED,
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": CACHING_DISABLED,
    # CachingOptimizedForUncompressedObjects: the same TTLs.
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": CACHING_OPTIMIZED,
}
# Managed policies that do not cache compressed objects (their EnableAcceptEncodingGzip and
# EnableAcceptEncodingBrotli are false): behaviours using them never compress.
UNCOMPRESSED_POLICIES: Final = frozenset(
    {"4135ea2d-6df8-44a3-9df3-4b5a84be39ad", "b2884449-e4de-46a7-ac36-70bc7f1ddd6d"}
)


def parse_cache_control(value: str | None) -> dict[str, str]:
    """Directives in lower case; a directive without a value maps to ""."""
    directives: dict[str, str] = {}
    for part in (value or "").split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            directives[name.lower()] = argument.strip().strip('"')
    return directives


def ttl_for(cache_control: str | None, policy: TtlPolicy) -> float:
    """Seconds to keep a response; 0 means do not cache it."""
    directives = parse_cache_control(cache_control)
    if policy.max_ttl <= 0 or _NOT_CACHED & directives.keys():
        return 0
    for name in ("s-maxage", "max-age"):
        if name in directives:
            try:
                seconds = int(directives[name])
            except ValueError:
                continue
            if seconds <= 0:
                return 0
            return min(max(seconds, policy.min_ttl), policy.max_ttl)
    return policy.default_ttl


class CacheKey(NamedTuple):
    host: str
    path: str
    query: str
    encoding: str = ""  # "gzip" or "": invalidations purge both variants


@dataclass(frozen=True)
class Entry:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float
    expires_at: float

    def response(self, now: float) -> Response:
        fresh = Response(self.status, list(self.headers), self.body)
        fresh.set_header("Age", str(int(now - self.stored_at)))
        return fresh


class ResponseCache:
    """Thread-safe, least recently used first out when full."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = MAX_ENTRIES):
        self._clock = clock
        self._limit = limit
        self._entries: OrderedDict[CacheKey, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> Response | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires_at <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        return entry.response(now)

    def put(self, key: CacheKey, response: Response, ttl: float) -> None:
        if ttl <= 0 or len(response.body) > MAX_BODY:
            return
        now = self._clock()
        entry = Entry(response.status, tuple(response.headers), response.body, now, now + ttl)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)

    def purge(self, hosts: Iterable[str], paths: Iterable[str]) -> int:
        """Drop the entries of ``hosts`` that the invalidation ``paths`` match; how many."""
        names = frozenset(hosts)
        patterns = tuple(paths)
        with self._lock:
            doomed = [
                key
                for key in self._entries
                if key.host in names and any(_matches(p, key) for p in patterns)
            ]
            for key in doomed:
                del self._entries[key]
        return len(doomed)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _matches(pattern: str, key: CacheKey) -> bool:
    target = f"{key.path}?{key.query}" if key.query else key.path
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    if pattern.endswith("*"):
        return target.startswith(pattern[:-1])
    return target == pattern
