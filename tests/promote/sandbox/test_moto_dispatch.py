"""Remembering each host's service routes every request where moto itself would."""

from __future__ import annotations

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from promote.sandbox.moto_dispatch import moto_get_backend_for_host, serve_fast_dispatch

SIGNED = "AWS4-HMAC-SHA256 Credential=AKID/20261122/{region}/{service}/aws4_request, " + (
    "SignedHeaders=host, Signature=0"
)
REQUESTS = [
    ("dynamodb", "eu-west-1", {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query"}),
    ("monitoring", "af-south-1", {}),
    ("logs", "eu-west-1", {"HTTP_X_AMZ_TARGET": "Logs_20140328.PutLogEvents"}),
    ("lambda", "eu-west-1", {}),
    ("s3", "us-east-1", {}),
    ("sts", "us-east-1", {}),
]


def hosts(app: DomainDispatcherApplication) -> list[str]:
    """The host moto infers for each request (its service and region)."""
    found = []
    for service, region, headers in REQUESTS:
        environ = {
            "PATH_INFO": "/",
            "HTTP_HOST": "127.0.0.1:5000",
            "HTTP_AUTHORIZATION": SIGNED.format(region=region, service=service),
            **headers,
        }
        host = app.infer_service_region_host(environ, "/")
        assert host is not None
        found.append(host)
    return found


def test_requests_reach_the_services_moto_would_choose() -> None:
    serve_fast_dispatch()
    app = DomainDispatcherApplication(create_backend_app)
    asked = hosts(app)
    expected = [moto_get_backend_for_host(app, host) for host in asked]

    first = [app.get_backend_for_host(host) for host in asked]
    again = [app.get_backend_for_host(host) for host in asked]  # from what it remembers

    assert first == again == expected
    assert expected == ["dynamodb", "cloudwatch", "logs", "awslambda", "s3", "sts"]
    assert app.get_backend_for_host(None) is None
    assert app.get_backend_for_host("nothing.example.org") is None
