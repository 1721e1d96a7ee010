"""The site's ACM certificate in us-east-1: found if one covers every alias, else requested.

An existing certificate counts when its names cover all aliases, wildcards included (the
runbook's prod check accepts ``*.kimmyai.io`` plus ``kimmyai.io``). A new one is requested
for ``site_domain`` with the other aliases as SANs and DNS validation. CloudFront refuses a
certificate that is not issued yet, so a pending one stops the deploy with the DNS records
to create (Route 53 is outside this stack, as in the runbook).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ._spec import CertificatePendingError

if TYPE_CHECKING:
    from mypy_boto3_acm import ACMClient
    from mypy_boto3_acm.literals import CertificateStatusType
    from mypy_boto3_acm.type_defs import CertificateDetailTypeDef

_USABLE: tuple[CertificateStatusType, ...] = ("ISSUED", "PENDING_VALIDATION")


def covers(certificate_name: str, host: str) -> bool:
    """Whether a certificate name matches a host; a wildcard covers exactly one label."""
    if certificate_name.startswith("*."):
        _, _, parent = host.partition(".")
        return parent == certificate_name[2:]
    return certificate_name == host


def _names(detail: CertificateDetailTypeDef) -> set[str]:
    return {detail.get("DomainName", ""), *detail.get("SubjectAlternativeNames", [])}


def _candidates(acm: ACMClient, aliases: Sequence[str]) -> Iterator[CertificateDetailTypeDef]:
    paginator = acm.get_paginator("list_certificates")
    for page in paginator.paginate(CertificateStatuses=list(_USABLE)):
        for summary in page.get("CertificateSummaryList", []):
            domain = summary.get("DomainName", "")
            # Describing every certificate in the account would be slow; only plausible ones.
            if domain in aliases or domain.startswith("*."):
                yield acm.describe_certificate(CertificateArn=summary["CertificateArn"])[
                    "Certificate"
                ]


def _find(acm: ACMClient, aliases: Sequence[str]) -> CertificateDetailTypeDef | None:
    fitting = [
        detail
        for detail in _candidates(acm, aliases)
        if all(any(covers(n, host) for n in _names(detail)) for host in aliases)
    ]
    # An issued certificate beats one still waiting for validation.
    fitting.sort(key=lambda d: d.get("Status") != "ISSUED")
    return fitting[0] if fitting else None


def _request(acm: ACMClient, site_domain: str, aliases: Sequence[str]) -> str:
    # Same names, same token: a retried deploy within the hour gets the same certificate.
    token = hashlib.sha256(",".join(sorted(aliases)).encode()).hexdigest()[:32]
    return acm.request_certificate(
        DomainName=site_domain,
        SubjectAlternativeNames=list(aliases),
        ValidationMethod="DNS",
        IdempotencyToken=token,
    )["CertificateArn"]


def ensure_certificate(acm: ACMClient, site_domain: str, aliases: Sequence[str]) -> str:
    """The ARN of an issued certificate for all aliases; raises while validation is pending."""
    detail = _find(acm, aliases)
    if detail is None:
        arn = _request(acm, site_domain, aliases)
        detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    arn = detail.get("CertificateArn", "")
    if detail.get("Status") != "ISSUED":
        records = [
            (r["Name"], r["Type"], r["Value"])
            for option in detail.get("DomainValidationOptions", [])
            if (r := option.get("ResourceRecord"))
        ]
        raise CertificatePendingError(arn, records)
    return arn
