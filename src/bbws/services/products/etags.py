"""ETags are the item's ``version`` (``"7"``); ``If-Match`` turns writes into conditional ones.

RFC 9110: If-Match uses the strong comparison, so a weak tag (``W/"7"``) never matches; a
header naming only unparsable tags matches nothing (412), and ``*`` matches any current
version. No header means no precondition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bbws.services.errors import PreconditionFailed

_STRONG: Final = re.compile(r'^"([1-9][0-9]{0,17})"$')


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True)
class Precondition:
    """What the client said about the version it expects; ``NONE`` when it said nothing."""

    versions: frozenset[int] | None = None  # None: any version is fine

    @property
    def strict(self) -> bool:
        """True when the client named versions: a concurrent change is then its 412."""
        return self.versions is not None

    def check(self, current: int) -> None:
        if self.versions is not None and current not in self.versions:
            raise PreconditionFailed("the product changed since it was read (stale If-Match)")


NONE: Final = Precondition()


def if_match(header: str | None) -> Precondition:
    if header is None or not header.strip():
        return NONE
    if header.strip() == "*":
        return NONE  # every write here needs the product to exist already
    versions = set()
    for tag in header.split(","):
        match = _STRONG.match(tag.strip())
        if match:
            versions.add(int(match.group(1)))
    return Precondition(frozenset(versions))


def expected_version(version: int | None) -> Precondition:
    """The bulk update's per-item ``version`` as a precondition."""
    return NONE if version is None else Precondition(frozenset({version}))
