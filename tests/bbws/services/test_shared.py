"""The shared layer, proven through a throwaway service built with make_app.

Every request goes through the Lambda handler build_handler returns, with events built from
the recorded API Gateway REST event, so auth, errors, headers, faults and metrics are
exercised exactly as a deployed service would run them.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import CORSConfig
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from bbws.edge.security_headers import SECURITY_HEADERS
from bbws.services.app import (
    BodyRule,
    RoutePolicy,
    ServiceApp,
    build_handler,
    current_principal,
    make_app,
)
from bbws.services.config import Settings
from bbws.services.errors import Conflict, ErrorEnvelope, on_condition_failure
from bbws.services.ids import IdPath, new_id
from bbws.services.openapi import ERROR_REF, openapi_document
from bbws.services.pagination import Cursors
from tests.bbws.services.support import (
    OTHER_TENANT,
    TENANT,
    FakeLambdaContext,
    bearer,
    invoke,
    log_lines,
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
SECRET_INPUT = "<script>s3cr3t-input</script>"


class WidgetIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0)


@dataclass
class Service:
    app: ServiceApp
    handler: Handler
    logs: io.StringIO
    sleeps: list[float] = field(default_factory=list)


def widgets(
    settings: Settings,
    *,
    rng: Callable[[], float] = lambda: 0.5,
    policy: RoutePolicy | None = None,
    cors: CORSConfig | None = None,
) -> Service:
    """A throwaway service on the shared layer, with one route per behaviour under test."""
    logs = io.StringIO()
    # A fresh logger name per app: Powertools configures one logger per name, once.
    logger = Logger(service=f"widgets-{uuid.uuid4().hex[:8]}", stream=logs)
    sleeps: list[float] = []
    app = make_app(
        "widgets", settings, rng=rng, sleep=sleeps.append, policy=policy, logger=logger, cors=cors
    )
    cursors = Cursors(settings.cursor_secret)

    @app.get("/widgets")
    def list_widgets(cursor: str | None = None, category: str = "all") -> dict[str, Any]:
        tenant = current_principal().tenant_id
        query = {"category": category}
        start = cursors.decode(cursor, tenant_id=tenant, query=query)
        last = {"pk": {"S": f"TENANT#{tenant}"}, "sk": {"S": f"WIDGET#{new_id()}"}}
        next_cursor = cursors.encode(last, tenant_id=tenant, query=query)
        return {"tenant": tenant, "start": start, "next_cursor": next_cursor}

    @app.post("/widgets")
    def create_widget(widget: WidgetIn) -> tuple[dict[str, Any], int]:
        return {"id": new_id(), "name": widget.name, "tenant": current_principal().tenant_id}, 201

    @app.get("/widgets/boom")
    def boom() -> dict[str, Any]:
        raise RuntimeError("secret detail: /var/task/widgets.py password=hunter2")

    @app.get("/widgets/gone")
    def gone() -> dict[str, Any]:
        raise NotFoundError("widget not found")

    @app.get("/widgets/broken")
    def broken() -> WidgetIn:
        return {"name": "", "price": -1}  # type: ignore[return-value]  # our bug, not theirs

    @app.get("/widgets/<widget_id>")
    def get_widget(widget_id: IdPath) -> dict[str, Any]:
        return {"id": widget_id}

    @app.put("/widgets/<widget_id>")
    def update_widget(widget_id: IdPath) -> dict[str, Any]:
        failed = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "failed"}}
        with on_condition_failure(Conflict("widget changed meanwhile")):
            raise ClientError(failed, "PutItem")  # type: ignore[arg-type]

    @app.post("/widgets/<widget_id>/image")
    def upload_image(widget_id: IdPath) -> dict[str, Any]:
        return {"id": widget_id}

    return Service(app, build_handler(app), logs, sleeps)


@pytest.fixture
def service(settings: Settings) -> Service:
    return widgets(settings)


@pytest.fixture
def token(make_token: Callable[..., str]) -> str:
    return make_token(TENANT)


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    return bearer(make_token(TENANT, ("admin",)))


def assert_security_headers(headers: dict[str, str]) -> None:
    for name, value in SECURITY_HEADERS:
        assert headers.get(name) == value, name


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert ErrorEnvelope.model_validate(body).error.code == code


# --- health, auth -----------------------------------------------------------------------


def test_health_is_public_and_carries_the_security_headers(service: Service, make_event) -> None:
    status, headers, body = invoke(service.handler, make_event("GET", "/widgets/health"))
    assert (status, body) == (200, {"status": "ok", "service": "widgets", "env": "dev"})
    assert headers["Content-Type"] == "application/json"
    assert_security_headers(headers)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer a.b.c"],
)
def test_401_without_a_bearer_token(service: Service, make_event, authorization) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    status, response_headers, body = invoke(
        service.handler, make_event("GET", "/widgets", headers=headers)
    )
    assert status == 401
    assert_error(body, "unauthorized")
    assert response_headers["WWW-Authenticate"].startswith("Bearer")
    assert_security_headers(response_headers)


@pytest.mark.parametrize(
    "claims",
    [
        {"expired": True},
        {"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"},
        {"aud": "another-client"},
        {"token_use": "refresh"},
        {"token_use": "access", "client_id": "another-client"},
        {"exp": None},
        {"kid": "unknown-key"},
    ],
    ids=["expired", "issuer", "audience", "token-use", "client-id", "no-exp", "unknown-kid"],
)
def test_401_for_a_token_that_fails_a_check(
    service: Service, make_event, make_token, claims
) -> None:
    event = make_event("GET", "/widgets", headers=bearer(make_token(TENANT, **claims)))
    status, _, body = invoke(service.handler, event)
    assert status == 401
    assert_error(body, "unauthorized")


def test_401_for_a_token_signed_by_another_key(service: Service, make_event) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.bbws.services.support import sign_token

    forged = sign_token(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    status, _, _ = invoke(service.handler, make_event("GET", "/widgets", headers=bearer(forged)))
    assert status == 401


@pytest.mark.parametrize("token_use", ["id", "access"])
def test_id_and_access_tokens_carry_the_tenant(
    service: Service, make_event, make_token, token_use
) -> None:
    token = make_token(TENANT, token_use=token_use)
    status, _, body = invoke(service.handler, make_event("GET", "/widgets", headers=bearer(token)))
    assert (status, body["tenant"]) == (200, TENANT)


@pytest.mark.parametrize("tenant", [None, "", "a#b", "TENANT#x", "x" * 65, "ten ant"])
def test_403_when_the_token_names_no_usable_tenant(
    service: Service, make_event, make_token, tenant
) -> None:
    token = make_token(tenant)
    status, _, body = invoke(service.handler, make_event("GET", "/widgets", headers=bearer(token)))
    assert status == 403
    assert_error(body, "forbidden")


def test_writes_need_the_admin_group(service: Service, make_event, make_token, admin) -> None:
    payload = {"name": "Lamp", "price": 10}
    member = bearer(make_token(TENANT, ("viewer",)))
    status, _, body = invoke(
        service.handler, make_event("POST", "/widgets", body=payload, headers=member)
    )
    assert status == 403
    assert_error(body, "forbidden")
    status, _, body = invoke(
        service.handler, make_event("POST", "/widgets", body=payload, headers=admin)
    )
    assert (status, body["name"], body["tenant"]) == (201, "Lamp", TENANT)


def test_a_route_policy_can_open_a_write_to_every_member(settings, make_event, token) -> None:
    svc = widgets(settings, policy=RoutePolicy(member_writes=frozenset({"POST /widgets"})))
    event = make_event("POST", "/widgets", body={"name": "Lamp", "price": 1}, headers=bearer(token))
    assert invoke(svc.handler, event).status == 201


# --- validation, bodies -------------------------------------------------------------------


def test_400_names_fields_and_problem_types_without_echoing_input(
    service: Service, make_event, admin
) -> None:
    event = make_event(
        "POST", "/widgets", body={"name": SECRET_INPUT * 3, "price": -5}, headers=admin
    )
    response = service.handler(event, FakeLambdaContext())
    status, headers, body = invoke(lambda e, c: response, event)
    assert status == 400
    assert_error(body, "validation_error")
    assert body["error"]["details"] == [
        {"field": "body.name", "type": "string_too_long"},
        {"field": "body.price", "type": "greater_than"},
    ]
    assert "s3cr3t" not in response["body"] and "-5" not in response["body"]
    assert_security_headers(headers)


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ("{not json", [{"field": "body", "type": "json_invalid"}]),
        ({"price": 3}, [{"field": "body.name", "type": "missing"}]),
        ({"name": "x", "price": "cheap"}, [{"field": "body.price", "type": "float_parsing"}]),
    ],
)
def test_400_for_malformed_bodies(service: Service, make_event, admin, body, details) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    status, _, response = invoke(
        service.handler, make_event("POST", "/widgets", body=body, headers=headers)
    )
    assert (status, response["error"]["details"]) == (400, details)


def test_400_for_a_malformed_path_id(service: Service, make_event, token) -> None:
    event = make_event("GET", "/widgets/not-a-ulid", headers=bearer(token))
    status, _, body = invoke(service.handler, event)
    assert status == 400
    assert body["error"]["details"] == [{"field": "path.widget_id", "type": "string_too_short"}]
    widget_id = new_id()
    event = make_event("GET", f"/widgets/{widget_id}", headers=bearer(token))
    assert invoke(service.handler, event).body == {"id": widget_id}


def test_auth_is_checked_before_the_body_is_validated(service: Service, make_event) -> None:
    event = make_event("POST", "/widgets", body={"price": "nope"})
    status, _, body = invoke(service.handler, event)
    assert status == 401
    assert "price" not in json.dumps(body)


def test_413_for_a_body_over_the_limit(service: Service, make_event, admin, settings) -> None:
    big = {"name": "x" * settings.max_body_bytes, "price": 1}
    status, headers, body = invoke(
        service.handler, make_event("POST", "/widgets", body=big, headers=admin)
    )
    assert status == 413
    assert_error(body, "payload_too_large")
    assert_security_headers(headers)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_415_for_a_body_that_is_not_json(service: Service, make_event, admin, content_type) -> None:
    headers = {**admin, **({"Content-Type": content_type} if content_type else {})}
    event = make_event("POST", "/widgets", body='{"name": "x", "price": 1}', headers=headers)
    status, response_headers, body = invoke(service.handler, event)
    assert status == 415
    assert_error(body, "unsupported_media_type")
    assert response_headers["Accept"] == "application/json"


def test_json_with_a_charset_parameter_is_accepted(service: Service, make_event, admin) -> None:
    headers = {**admin, "content-type": "application/json; charset=utf-8"}
    event = make_event("POST", "/widgets", body='{"name": "x", "price": 1}', headers=headers)
    assert invoke(service.handler, event).status == 201


def test_a_body_rule_admits_other_media_types_and_sizes(settings, make_event, admin) -> None:
    rule = BodyRule(("multipart/form-data",), max_bytes=10)
    svc = widgets(settings, policy=RoutePolicy(bodies={"POST /widgets/<widget_id>/image": rule}))
    path = f"/widgets/{new_id()}/image"
    headers = {**admin, "Content-Type": "multipart/form-data; boundary=x"}
    assert (
        invoke(svc.handler, make_event("POST", path, body=b"123456789", headers=headers)).status
        == 200
    )
    assert (
        invoke(svc.handler, make_event("POST", path, body=b"12345678901", headers=headers)).status
        == 413
    )
    json_headers = {**admin, "Content-Type": "application/json"}
    assert (
        invoke(svc.handler, make_event("POST", path, body="{}", headers=json_headers)).status == 415
    )


# --- unknown routes, failures ----------------------------------------------------------------


def test_unknown_route_is_a_json_404_with_security_headers(
    service: Service, make_event, token
) -> None:
    for method, path in [("GET", "/nothing/here"), ("PATCH", "/widgets"), ("GET", "/v2/widgets")]:
        status, headers, body = invoke(
            service.handler, make_event(method, path, headers=bearer(token))
        )
        assert status == 404, (method, path)
        assert_error(body, "not_found")
        assert_security_headers(headers)


def test_unknown_route_without_a_token_is_401(service: Service, make_event) -> None:
    # Deny by default: an anonymous caller cannot probe which paths exist.
    assert invoke(service.handler, make_event("GET", "/nothing/here")).status == 401


def test_an_exception_is_a_500_without_internals_and_is_logged(
    service: Service, make_event, token
) -> None:
    event = make_event("GET", "/widgets/boom", headers=bearer(token), request_id="req-boom-1")
    response = service.handler(event, FakeLambdaContext())
    status, headers, body = invoke(lambda e, c: response, event)
    assert status == 500
    assert body == {
        "error": {"code": "internal_error", "message": "internal server error", "details": []}
    }
    assert "hunter2" not in response["body"] and "Traceback" not in response["body"]
    assert_security_headers(headers)
    (error,) = [line for line in log_lines(service.logs) if line["level"] == "ERROR"]
    assert error["correlation_id"] == "req-boom-1"
    assert "hunter2" in error["exception"] and error["tenant_id"] == TENANT


def test_a_response_that_fails_its_model_is_a_500_not_a_400(
    service: Service, make_event, token
) -> None:
    event = make_event("GET", "/widgets/broken", headers=bearer(token))
    status, _, body = invoke(service.handler, event)
    assert (status, body["error"]["code"], body["error"]["details"]) == (500, "internal_error", [])


def test_powertools_http_errors_use_the_same_shape(service: Service, make_event, token) -> None:
    status, _, body = invoke(
        service.handler, make_event("GET", "/widgets/gone", headers=bearer(token))
    )
    assert (status, body["error"]["message"]) == (404, "widget not found")
    assert_error(body, "not_found")


def test_condition_failures_map_to_the_error_the_service_chose(
    service: Service, make_event, admin
) -> None:
    event = make_event("PUT", f"/widgets/{new_id()}", headers=admin)
    status, _, body = invoke(service.handler, event)
    assert (status, body["error"]["message"]) == (409, "widget changed meanwhile")


def test_cors_preflight_passes_without_a_token(settings, make_event) -> None:
    svc = widgets(settings, cors=CORSConfig(allow_origin="https://portal.dev.kimmyai.io"))
    headers = {"Origin": "https://portal.dev.kimmyai.io", "Access-Control-Request-Method": "POST"}
    status, response_headers, _ = invoke(
        svc.handler, make_event("OPTIONS", "/widgets", headers=headers)
    )
    assert status == 204
    assert response_headers["Access-Control-Allow-Origin"] == "https://portal.dev.kimmyai.io"
    assert_security_headers(response_headers)


# --- faults -----------------------------------------------------------------------------------


def faulty(settings: Settings, rate: float, latency_ms: int = 0, rng=lambda: 0.999) -> Service:
    changed = settings.model_copy(update={"fault_error_rate": rate, "fault_latency_ms": latency_ms})
    return widgets(changed, rng=rng)


def test_fault_rate_one_fails_every_request_but_health(settings, make_event, token) -> None:
    svc = faulty(settings, 1.0)
    for path in ("/widgets", f"/widgets/{new_id()}", "/nothing"):
        status, headers, body = invoke(svc.handler, make_event("GET", path, headers=bearer(token)))
        assert status == 500, path
        assert_error(body, "fault_injected")
        assert_security_headers(headers)
    assert invoke(svc.handler, make_event("GET", "/widgets/health")).status == 200


def test_fault_rate_zero_never_fails(settings, make_event, token) -> None:
    svc = faulty(settings, 0.0, rng=lambda: 0.0)
    assert all(
        invoke(svc.handler, make_event("GET", "/widgets", headers=bearer(token))).status == 200
        for _ in range(20)
    )


def test_fault_rate_is_a_fraction_of_requests(settings, make_event, token) -> None:
    draws = iter([0.1, 0.5, 0.29, 0.3, 0.9])
    svc = faulty(settings, 0.3, rng=lambda: next(draws))
    statuses = [
        invoke(svc.handler, make_event("GET", "/widgets", headers=bearer(token))).status
        for _ in range(5)
    ]
    assert statuses == [500, 200, 500, 200, 200]


def test_faults_come_after_auth(settings, make_event) -> None:
    assert invoke(faulty(settings, 1.0).handler, make_event("GET", "/widgets")).status == 401


def test_latency_injection_delays_non_health_requests(settings, make_event, token) -> None:
    svc = faulty(settings, 0.0, latency_ms=250)
    invoke(svc.handler, make_event("GET", "/widgets", headers=bearer(token)))
    invoke(svc.handler, make_event("GET", "/widgets/health"))
    assert svc.sleeps == [0.25]


def test_latency_injection_really_sleeps_by_default(settings, make_event, token) -> None:
    from bbws.services.app import make_app as real_make_app

    changed = settings.model_copy(update={"fault_latency_ms": 60})
    app = real_make_app(
        "widgets", changed, logger=Logger(service=f"w-{uuid.uuid4().hex}", stream=io.StringIO())
    )
    handler = build_handler(app)
    started = time.perf_counter()
    status, _, _ = invoke(handler, make_event("GET", "/widgets/anything", headers=bearer(token)))
    assert status == 404 and time.perf_counter() - started >= 0.06


# --- metrics, logs ----------------------------------------------------------------------------


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_emf_metrics_per_invocation_with_the_route_dimension(
    service: Service, make_event, token, capsys
) -> None:
    capsys.readouterr()
    widget_id = new_id()
    invoke(service.handler, make_event("GET", f"/widgets/{widget_id}", headers=bearer(token)))
    invoke(service.handler, make_event("GET", "/widgets/boom", headers=bearer(token)))
    invoke(service.handler, make_event("GET", "/unknown/path", headers=bearer(token)))
    lines = [m for m in emf_lines(capsys.readouterr().out) if "route" in m]
    assert [m["route"] for m in lines] == [
        "GET /widgets/{widget_id}",
        "GET /widgets/boom",
        "unmatched",
    ]
    first, failed, unknown = lines
    (directive,) = first["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "BBWS"
    assert sorted(directive["Dimensions"][0]) == ["route", "service"]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "Requests": "Count",
        "Errors": "Count",
        "ClientErrors": "Count",
        "Latency": "Milliseconds",
    }
    assert first["service"] == "widgets"
    assert (first["Requests"], first["Errors"], first["ClientErrors"]) == ([1.0], [0.0], [0.0])
    assert first["Latency"][0] >= 0
    assert (failed["Errors"], unknown["ClientErrors"]) == ([1.0], [1.0])


def per_version(line: dict[str, Any]) -> dict[str, Any]:
    """The request metrics of one EMF line as a canary reads them: under the dimension set
    {service, ExecutedVersion, operation}, high resolution."""
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert ["service", "ExecutedVersion", "operation"] in directive["Dimensions"]
    resolution = {m["Name"]: m.get("StorageResolution", 60) for m in directive["Metrics"]}
    assert {name: resolution[name] for name in ("Requests", "Errors", "Latency")} == {
        "Requests": 1,
        "Errors": 1,
        "Latency": 1,
    }
    return {
        "version": line["ExecutedVersion"],
        "operation": line["operation"],
        "service": line["service"],
        "requests": line["Requests"],
        "errors": line["Errors"],
    }


def test_emf_metrics_per_executed_version_and_operation(
    service: Service, make_event, token, capsys
) -> None:
    capsys.readouterr()
    seven = FakeLambdaContext(function_version="7")
    for method, path in (("GET", "/widgets"), ("HEAD", "/widgets"), ("POST", "/widgets")):
        body = {"name": "lamp", "price": 3} if method == "POST" else None
        event = make_event(method, path, headers=bearer(token), body=body)
        invoke(service.handler, event, seven)
    invoke(service.handler, make_event("GET", "/widgets/boom", headers=bearer(token)))
    lines = [per_version(m) for m in emf_lines(capsys.readouterr().out) if "route" in m]
    assert lines == [
        {"version": "7", "operation": op, "service": "widgets", "requests": [1.0], "errors": [0.0]}
        for op in ("read", "read", "write")
    ] + [
        {
            "version": "$LATEST",
            "operation": "read",
            "service": "widgets",
            "requests": [1.0],
            "errors": [1.0],
        }
    ]


def test_injected_faults_show_in_the_per_version_metrics(
    settings, make_event, token, capsys
) -> None:
    changed = settings.model_copy(update={"fault_error_rate": 1.0, "fault_latency_ms": 60})
    logger = Logger(service=f"w-{uuid.uuid4().hex}", stream=io.StringIO())
    handler = build_handler(make_app("widgets", changed, logger=logger))
    capsys.readouterr()
    event = make_event("DELETE", "/widgets/x", headers=bearer(token))
    assert invoke(handler, event, FakeLambdaContext(function_version="3")).status == 500
    (line,) = [m for m in emf_lines(capsys.readouterr().out) if "route" in m]
    assert per_version(line) == {
        "version": "3",
        "operation": "write",
        "service": "widgets",
        "requests": [1.0],
        "errors": [1.0],
    }
    assert line["Latency"][0] >= 60  # the injected delay is part of what the caller waited


def test_one_structured_log_line_per_request_with_the_correlation_id(
    service: Service, make_event, token
) -> None:
    event = make_event("GET", "/widgets", headers=bearer(token), request_id="req-42")
    invoke(service.handler, event)
    (line,) = [x for x in log_lines(service.logs) if x["message"] == "request"]
    assert line["correlation_id"] == "req-42"
    assert (line["route"], line["status"], line["tenant_id"]) == ("GET /widgets", 200, TENANT)
    assert line["function_name"] == "bbws-test-handler-dev"


def test_no_principal_leaks_into_the_next_request(service: Service, make_event, token) -> None:
    invoke(service.handler, make_event("GET", "/widgets", headers=bearer(token)))
    with pytest.raises(Exception, match="bearer token"):
        current_principal()


# --- pagination through a route -----------------------------------------------------------------


def test_cursor_round_trip_through_a_route(service: Service, make_event, token) -> None:
    first = invoke(service.handler, make_event("GET", "/widgets", headers=bearer(token))).body
    assert first["start"] is None and first["next_cursor"]
    event = make_event(
        "GET", "/widgets", headers=bearer(token), query={"cursor": first["next_cursor"]}
    )
    second = invoke(service.handler, event).body
    assert second["start"]["pk"] == {"S": f"TENANT#{TENANT}"}


def test_tampered_or_foreign_cursors_are_400(
    service: Service, make_event, make_token, token
) -> None:
    cursor = invoke(service.handler, make_event("GET", "/widgets", headers=bearer(token))).body[
        "next_cursor"
    ]
    body, signature = cursor.split(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
    other = bearer(make_token(OTHER_TENANT))
    cases = [
        (bearer(token), {"cursor": tampered}),
        (bearer(token), {"cursor": "garbage"}),
        (other, {"cursor": cursor}),  # another tenant
        (bearer(token), {"cursor": cursor, "category": "lamps"}),  # another query
    ]
    for headers, query in cases:
        status, _, response = invoke(
            service.handler, make_event("GET", "/widgets", headers=headers, query=query)
        )
        assert status == 400, query
        assert response["error"]["details"] == [{"field": "query.cursor", "type": "cursor"}]


# --- OpenAPI ------------------------------------------------------------------------------------


def test_the_openapi_document_describes_what_the_api_answers(service: Service) -> None:
    doc = openapi_document(service.app)
    assert doc["servers"] == [{"url": "/v1.0"}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    schemas = doc["components"]["schemas"]
    assert "Error" in schemas and "HTTPValidationError" not in schemas
    assert doc["paths"]["/widgets/health"]["get"]["security"] == []
    create = doc["paths"]["/widgets"]["post"]["responses"]
    assert {"400", "401", "403", "413", "415", "500"} <= set(create) and "422" not in create
    assert create["400"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
    assert "404" in doc["paths"]["/widgets/{widget_id}"]["get"]["responses"]
    assert "401" not in doc["paths"]["/widgets/health"]["get"]["responses"]
