"""Test doubles for AWS APIs that moto does not implement.

moto 5.2 has no CloudFront origin access identities. ``CloudFrontOaiDouble`` answers those
calls at botocore's documented ``before-send`` hook with the XML the real API returns, so
the code under test runs unchanged through botocore's parsing.
"""

from __future__ import annotations

import io
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

Session = boto3.session.Session


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


class CloudFrontOaiDouble:
    """The OAI calls promote's stacks make: list and create."""

    NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

    def __init__(self) -> None:
        self.items: dict[str, dict[str, str]] = {}  # CallerReference -> OAI

    def install(self, session: Session) -> None:
        events = session.events
        events.register("before-send.cloudfront.ListCloudFrontOriginAccessIdentities", self._list)
        events.register("before-send.cloudfront.CreateCloudFrontOriginAccessIdentity", self._create)

    def _respond(self, request: AWSPreparedRequest, status: int, xml: str) -> AWSResponse:
        body = f'<?xml version="1.0"?>{xml}'.encode()
        return AWSResponse(request.url, status, {"Content-Type": "text/xml"}, _Body(body))

    def _list(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        items = "".join(
            "<CloudFrontOriginAccessIdentitySummary>"
            f"<Id>{o['Id']}</Id><S3CanonicalUserId>{o['Canonical']}</S3CanonicalUserId>"
            f"<Comment>{o['Comment']}</Comment></CloudFrontOriginAccessIdentitySummary>"
            for o in self.items.values()
        )
        xml = (
            f'<CloudFrontOriginAccessIdentityList xmlns="{self.NS}"><Marker></Marker>'
            f"<MaxItems>100</MaxItems><IsTruncated>false</IsTruncated>"
            f"<Quantity>{len(self.items)}</Quantity><Items>{items}</Items>"
            "</CloudFrontOriginAccessIdentityList>"
        )
        return self._respond(request, 200, xml)

    def _create(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        assert isinstance(request.body, bytes)
        config = {el.tag.split("}")[-1]: el.text or "" for el in ET.fromstring(request.body)}
        ref = config["CallerReference"]
        oai = self.items.setdefault(
            ref,
            {
                "Id": "E" + secrets.token_hex(6).upper(),
                "Canonical": secrets.token_hex(32),
                "Comment": config["Comment"],
            },
        )
        xml = (
            f'<CloudFrontOriginAccessIdentity xmlns="{self.NS}"><Id>{oai["Id"]}</Id>'
            f"<S3CanonicalUserId>{oai['Canonical']}</S3CanonicalUserId>"
            "<CloudFrontOriginAccessIdentityConfig>"
            f"<CallerReference>{ref}</CallerReference><Comment>{oai['Comment']}</Comment>"
            "</CloudFrontOriginAccessIdentityConfig></CloudFrontOriginAccessIdentity>"
        )
        return self._respond(request, 201, xml)

    def add(self, comment: str) -> str:
        """An OAI that already exists (made by the S3 stack), with this comment; its id."""
        oai = {
            "Id": "E" + secrets.token_hex(6).upper(),
            "Canonical": secrets.token_hex(32),
            "Comment": comment,
        }
        self.items[comment] = oai
        return oai["Id"]

    def clear(self) -> None:
        self.items.clear()
