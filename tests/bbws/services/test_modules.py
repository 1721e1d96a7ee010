"""The shared modules one by one: config, auth, ids, pagination, errors, and the fixtures."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from bbws.services import errors
from bbws.services.auth import Principal, TokenVerifier, bearer_token
from bbws.services.config import ConfigError, Settings, get_settings
from bbws.services.ids import is_valid_id, new_id, parse_id
from bbws.services.pagination import Cursors, InvalidCursor
from tests.bbws.services.support import (
    CLIENT_ID,
    CURSOR_KEY,
    ISSUER,
    OTHER_TENANT,
    TENANT,
    FakeLambdaContext,
    rest_event,
)

# --- config -----------------------------------------------------------------------------


def test_settings_derive_names_from_the_definitions(settings: Settings) -> None:
    assert (settings.products_table, settings.orders_table) == ("products-dev", "orders-dev")
    assert (settings.campaigns_table, settings.tenants_table) == ("campaigns-dev", "tenants-dev")
    assert settings.users_table == "users-dev"
    assert settings.product_images_bucket == "bbws-product-images-dev"
    assert settings.templates_bucket == "bbws-templates-dev"
    assert settings.image_url("/products/p1.jpg") == "https://images.dev.kimmyai.io/products/p1.jpg"
    assert (settings.fault_error_rate, settings.fault_latency_ms) == (0.0, 0)
    with pytest.raises(KeyError):
        settings.table("invoices")
    with pytest.raises(KeyError):
        settings.bucket("secrets")


def test_the_cursor_key_stays_out_of_reprs(settings: Settings) -> None:
    assert CURSOR_KEY not in repr(settings)
    assert settings.cursor_secret == CURSOR_KEY.encode()


def test_faults_and_limits_come_from_the_environment(environ: dict[str, str]) -> None:
    faulty = {**environ, "BBWS_FAULT_ERROR_RATE": "0.25", "BBWS_FAULT_LATENCY_MS": "150"}
    settings = Settings.from_env({**faulty, "BBWS_MAX_BODY_BYTES": "1024"})
    assert (settings.fault_error_rate, settings.fault_latency_ms) == (0.25, 150)
    assert settings.max_body_bytes == 1024


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"BBWS_ENV": "test"}, "BBWS_ENV"),
        ({"BBWS_ENV": ""}, "BBWS_ENV"),
        ({"JWKS_URL": "ftp://keys"}, "JWKS_URL"),
        ({"BBWS_CURSOR_KEY": "short"}, "BBWS_CURSOR_KEY"),
        ({"BBWS_FAULT_ERROR_RATE": "1.5"}, "BBWS_FAULT_ERROR_RATE"),
        ({"BBWS_FAULT_LATENCY_MS": "-1"}, "BBWS_FAULT_LATENCY_MS"),
        ({"BBWS_ENV": "prod", "JWKS_URL": "http://127.0.0.1:9000/jwks.json"}, "https"),
    ],
)
def test_a_bad_environment_fails_the_cold_start(
    environ: dict[str, str], change: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError, match=variable) as err:
        Settings.from_env({**environ, **change})
    assert "short" not in str(err.value)  # names the variable, never echoes a secret


def test_get_settings_reads_the_process_environment_once(service_env: Settings) -> None:
    assert service_env.env == "dev"
    assert get_settings() is service_env


# --- auth -------------------------------------------------------------------------------


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   abc ") == "abc"
    for value in (None, "", "Bearer", "Bearer a b", "Token abc"):
        with pytest.raises(errors.Unauthorized):
            bearer_token(value)


def test_principal(make_token: Callable[..., str], jwks_url: str) -> None:
    verifier = TokenVerifier(jwks_url, ISSUER, CLIENT_ID)
    principal = verifier.verify(make_token(TENANT, ("admin", "staff")))
    assert principal == Principal(
        "7f1c2d3e-aaaa-bbbb-cccc-0123456789ab", TENANT, frozenset({"admin", "staff"})
    )
    assert principal.is_admin and principal.partition == f"TENANT#{TENANT}"
    assert not verifier.verify(make_token(TENANT)).is_admin


def test_without_an_audience_any_client_is_accepted(
    make_token: Callable[..., str], jwks_url: str
) -> None:
    verifier = TokenVerifier(jwks_url, ISSUER)
    assert verifier.verify(make_token(TENANT, aud="other")).tenant_id == TENANT


def test_an_unreadable_jwks_is_a_500_not_a_401(
    make_token: Callable[..., str], tmp_path: Path
) -> None:
    verifier = TokenVerifier((tmp_path / "missing.json").as_uri(), ISSUER)
    with pytest.raises(errors.InternalError):
        verifier.verify(make_token(TENANT))


@pytest.fixture
def jwks_server(jwks_url: str) -> Iterator[str]:
    """The local sandbox's JWKS endpoint: plain http on 127.0.0.1."""
    body = Path(url2pathname(urlparse(jwks_url).path)).read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def test_the_jwks_can_come_from_a_local_http_server(
    make_token: Callable[..., str], jwks_server: str
) -> None:
    verifier = TokenVerifier(jwks_server, ISSUER, CLIENT_ID)
    assert verifier.verify(make_token(OTHER_TENANT)).tenant_id == OTHER_TENANT


# --- ids --------------------------------------------------------------------------------


def test_new_ids_are_canonical_ulids_in_creation_order() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(is_valid_id(i) and len(i) == 26 for i in ids)
    assert len(set(ids)) == 50
    assert [i[:10] for i in ids] == sorted(i[:10] for i in ids)  # the timestamp part


@pytest.mark.parametrize(
    "value", ["", "abc", new_id().lower(), "8" + "Z" * 25, "0" * 25 + "U", "0" * 27]
)
def test_parse_id_refuses_anything_but_a_canonical_ulid(value: str) -> None:
    with pytest.raises(errors.ValidationFailed) as err:
        parse_id(value, "product_id")
    assert err.value.details == [{"field": "path.product_id", "type": "ulid_invalid"}]


# --- pagination -------------------------------------------------------------------------

QUERY = {"index": "ProductsByCategory", "category": "Electronics", "min": 100}
CLIENT_KEY = {
    "pk": {"S": f"TENANT#{TENANT}"},
    "sk": {"S": "PRODUCT#01J0000000000000000000000A"},
    "tenant_category": {"S": f"TENANT#{TENANT}#Electronics"},
    "price": {"N": "299.99"},
}


@pytest.fixture
def cursors() -> Cursors:
    return Cursors(CURSOR_KEY.encode())


def test_cursor_round_trip_in_both_key_forms(cursors: Cursors) -> None:
    cursor = cursors.encode(CLIENT_KEY, tenant_id=TENANT, query=QUERY)
    assert cursor and "TENANT" not in cursor  # opaque: base64url, no raw key
    assert cursors.decode(cursor, tenant_id=TENANT, query=dict(QUERY)) == CLIENT_KEY
    resource_key = {"pk": f"TENANT#{TENANT}", "sk": "PRODUCT#1", "price": Decimal("299.99")}
    cursor = cursors.encode(resource_key, tenant_id=TENANT, query="by-price")
    assert cursors.decode(cursor, tenant_id=TENANT, query="by-price") == resource_key


def test_no_cursor_means_first_or_last_page(cursors: Cursors) -> None:
    assert cursors.encode(None, tenant_id=TENANT, query=QUERY) is None
    assert cursors.encode({}, tenant_id=TENANT, query=QUERY) is None
    assert cursors.decode(None, tenant_id=TENANT, query=QUERY) is None
    assert cursors.decode("", tenant_id=TENANT, query=QUERY) is None


def test_cursors_are_refused_when_tampered_or_foreign(cursors: Cursors) -> None:
    cursor = cursors.encode(CLIENT_KEY, tenant_id=TENANT, query=QUERY)
    assert cursor is not None
    body, signature = cursor.split(".")
    forged_key = {**CLIENT_KEY, "pk": {"S": f"TENANT#{OTHER_TENANT}"}}
    forged = cursors.encode(forged_key, tenant_id=TENANT, query=QUERY)  # signed, wrong partition
    refused = [
        (f"{body}x.{signature}", TENANT, QUERY),
        (
            f"{body}.{signature[:-1]}A" if signature[-1] != "A" else f"{body}.{signature[:-1]}B",
            TENANT,
            QUERY,
        ),
        (body, TENANT, QUERY),
        ("x" * 5000, TENANT, QUERY),
        (cursor, OTHER_TENANT, QUERY),
        (cursor, TENANT, {**QUERY, "min": 101}),
        (forged, TENANT, QUERY),
        (
            Cursors(b"another-key-" * 4).encode(CLIENT_KEY, tenant_id=TENANT, query=QUERY),
            TENANT,
            QUERY,
        ),
    ]
    for value, tenant, query in refused:
        with pytest.raises(InvalidCursor):
            cursors.decode(value, tenant_id=tenant, query=query)


def test_a_short_cursor_key_is_refused() -> None:
    with pytest.raises(ValueError):
        Cursors(b"short")


# --- errors -----------------------------------------------------------------------------


def test_every_error_renders_the_same_envelope() -> None:
    classes = [
        (errors.BadRequest, 400),
        (errors.ValidationFailed, 400),
        (errors.Unauthorized, 401),
        (errors.Forbidden, 403),
        (errors.NotFound, 404),
        (errors.Conflict, 409),
        (errors.PreconditionFailed, 412),
        (errors.PayloadTooLarge, 413),
        (errors.UnsupportedMediaType, 415),
        (errors.Unprocessable, 422),
        (errors.TooManyRequests, 429),
        (errors.InternalError, 500),
        (errors.FaultInjected, 500),
    ]
    for cls, status in classes:
        response = errors.error_response(cls())
        assert response.status_code == status, cls
        body = json.loads(str(response.body))
        assert body == {"error": {"code": cls.code, "message": cls.default_message, "details": []}}
    assert errors.TooManyRequests(retry_after_s=7).headers == {"Retry-After": "7"}


def test_pydantic_errors_become_field_and_type_only() -> None:
    class Model(BaseModel):
        name: str
        qty: int

    with pytest.raises(ValidationError) as err:
        Model.model_validate({"qty": "many, from <script>"})
    details = errors.validation_details(err.value.errors())
    assert details == [
        {"field": "name", "type": "missing"},
        {"field": "qty", "type": "int_parsing"},
    ]


def _client_error(code: str, reasons: list[dict[str, str]] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "m"}}
    if reasons is not None:
        response["CancellationReasons"] = reasons
    return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


def test_condition_failures_become_the_chosen_error() -> None:
    cancelled = _client_error(
        "TransactionCanceledException", [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]
    )
    for failure in (_client_error("ConditionalCheckFailedException"), cancelled):
        with (
            pytest.raises(errors.PreconditionFailed) as err,
            errors.on_condition_failure(errors.PreconditionFailed("stale")),
        ):
            raise failure
        assert err.value.__cause__ is failure
    throttled = _client_error("ProvisionedThroughputExceededException")
    with pytest.raises(ClientError), errors.on_condition_failure(errors.Conflict()):
        raise throttled
    other_cancel = _client_error("TransactionCanceledException", [{"Code": "ThrottlingError"}])
    assert not errors.is_condition_failure(other_cancel)


# --- the fixtures other services use -------------------------------------------------------


def test_aws_has_the_tables_and_buckets_of_the_real_stacks(
    aws: boto3.session.Session, settings: Settings
) -> None:
    tables = set(aws.client("dynamodb").list_tables()["TableNames"])
    assert tables == {
        settings.table(t) for t in ("campaigns", "orders", "products", "tenants", "users")
    }
    buckets = {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}
    assert {settings.product_images_bucket, settings.templates_bucket} <= buckets
    assert len(buckets) == 6


def test_events_keep_the_recorded_shape(recorded_event_path: Path) -> None:
    recorded = json.loads(recorded_event_path.read_text())
    event = rest_event("PUT", "/products/P1", body={"price": 1}, query={"a": ["1", "2"]})
    assert set(event) == set(recorded)
    assert set(event["requestContext"]) == set(recorded["requestContext"])
    assert (event["path"], event["resource"]) == ("/v1.0/products/P1", "/v1.0/products/{proxy+}")
    assert event["pathParameters"] == {"proxy": "P1"}
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["requestContext"]["requestId"] != recorded["requestContext"]["requestId"]
    raw = rest_event("POST", "/v1.0/products/P1/image", body=b"\x89PNG")
    assert raw["isBase64Encoded"] and raw["body"] == "iVBORw=="


def test_the_fake_context_has_what_powertools_reads() -> None:
    context = FakeLambdaContext()
    assert context.invoked_function_arn.endswith(":function:bbws-test-handler-dev")
    assert context.get_remaining_time_in_millis() == 30_000 and context.memory_limit_in_mb == 256
