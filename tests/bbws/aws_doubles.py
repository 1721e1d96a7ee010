"""Test doubles for AWS APIs that moto does not implement.

moto 5.2 has no CloudFront origin access identities. ``CloudFrontOaiDouble`` answers those
calls at botocore's documented ``before-send`` hook with the XML the real API returns, so
the code under test runs unchanged through botocore's parsing.

moto 5.2 accepts DynamoDB global-table replica updates but ignores them.
``DynamoDBReplicaDouble`` keeps the replicas itself, at botocore's ``before-call`` and
``after-call`` hooks, and leaves everything else to moto.
"""

from __future__ import annotations

import io
import json
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


class DynamoDBReplicaDouble:
    """Global-table replicas (version 2019.11.21), which moto 5.2 accepts but ignores.

    ``before-call.dynamodb.UpdateTable`` records each ``ReplicaUpdates`` entry (Create or
    Delete) per table and removes ``ReplicaUpdates`` from the request, so moto handles the
    rest of the call as it would without it. ``after-call.dynamodb.DescribeTable`` adds
    ``Replicas`` (all ACTIVE) and ``GlobalTableVersion`` to the parsed response of a table
    that has replicas, as DynamoDB does. Tables are keyed by (client region, table name).
    """

    def __init__(self) -> None:
        self.replicas: dict[tuple[str, str], list[str]] = {}
        self.calls: list[tuple[str, str, str, str]] = []  # (region, table, verb, replica)

    def install(self, session: Session) -> None:
        session.events.register("before-call.dynamodb.UpdateTable", self._update_table)
        session.events.register("after-call.dynamodb.DescribeTable", self._describe_table)

    def _update_table(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = json.loads(params["body"] or b"{}")
        updates = body.pop("ReplicaUpdates", None)
        if updates is None:
            return
        region, table = context["client_region"], body["TableName"]
        replicas = self.replicas.setdefault((region, table), [])
        for update in updates:
            [(verb, spec)] = update.items()
            replica = spec["RegionName"]
            self.calls.append((region, table, verb, replica))
            if verb == "Create" and replica not in replicas:
                replicas.append(replica)
            elif verb == "Delete" and replica in replicas:
                replicas.remove(replica)
        params["body"] = json.dumps(body).encode()

    def _describe_table(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        table = parsed.get("Table")
        if not table:  # an error response
            return
        replicas = self.replicas.get((context["client_region"], table["TableName"]))
        if replicas:
            table["GlobalTableVersion"] = "2019.11.21"
            table["Replicas"] = [{"RegionName": r, "ReplicaStatus": "ACTIVE"} for r in replicas]

    def of(self, region: str, table: str) -> list[str]:
        """The regions this double holds a replica of the table in."""
        return list(self.replicas.get((region, table), []))
