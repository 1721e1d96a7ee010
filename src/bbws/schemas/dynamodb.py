"""The dynamodb_schemas foundation stack: plan, apply and drift for the BBWS tables.

The desired state is ``dynamodb_definition.standard_definition``; the live state is read
with boto3 only. Entry points for the engine::

    plan(target, session=None, definition=None) -> list[Change]
    apply(target, changes, allow_destructive=False, session=None) -> list[Change]
    drift(target, session=None) -> list[Change]
    apply_all(target, allow_destructive=False, session=None) -> list[Change]

Safety: apply refuses destructive changes (replace or delete a table, delete or rebuild a
GSI, turn off PITR, SSE-KMS, deletion protection or a stream) unless allowed, before any
call; every table it deletes is first copied to an on-demand backup; PITR is switched on as
soon as a new table is ACTIVE, before anything else touches it; GSIs change one per
UpdateTable; credentials must belong to the target's account when the target names one.

DR for prod: the runbooks ask for "cross-region replication for PROD DR". The right AWS
mechanism is a global-table replica (UpdateTable ReplicaUpdates). moto 5.2 accepts that call
but ignores it: DescribeTable shows no Replicas and nothing appears in the DR region, so
neither the checks nor plan's idempotency could see it. The closest thing moto supports is
what is built here: in the DR region, a standby copy of every table with the same keys,
GSIs, stream, PITR, SSE-KMS, deletion protection and tags, planned, applied and drift-checked
exactly like the primary. Honest limits: it holds no data until something restores into it
or writes to it (this is not replication), and before switching to global-table replicas the
standby tables must be removed, as a replica cannot be added where a table of that name
exists. See docs/bbws/dynamodb.md.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

import boto3
from botocore.exceptions import ClientError

from bbws.schemas.common import (
    Change,
    ChangeKind,
    StackError,
    Target,
    TargetError,
    refuse_destructive,
    verified_session,
)
from bbws.schemas.dynamodb_definition import (
    DR_ENVIRONMENTS,
    MANAGED_BY,
    IndexSpec,
    SchemaDefinition,
    TableSpec,
    sse_specification,
    standard_definition,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        CreateTableInputTypeDef,
        GlobalSecondaryIndexTypeDef,
        TableDescriptionTypeDef,
        TagTypeDef,
    )

POLL_SECONDS = 5.0
WAIT_ATTEMPTS = 720  # an hour: a GSI backfill on a large table is slow
CREATE, UPDATE, DESTRUCTIVE = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.DESTRUCTIVE

# Attribute names with their types; a type is None when DescribeTable no longer lists it.
LiveKey = tuple[tuple[str, str | None], ...]
_Executor = Callable[["DynamoDBClient", Change], bool]


@dataclass(frozen=True)
class LiveIndex:
    key: LiveKey
    projection: str


@dataclass(frozen=True)
class LiveTable:
    name: str
    arn: str
    key: LiveKey
    indexes: Mapping[str, LiveIndex]
    billing_mode: str
    pitr: bool
    deletion_protection: bool
    sse_kms: bool
    stream: str | None
    tags: Mapping[str, str]


# --- reading the account ------------------------------------------------------------------


def _key_of(schema: Sequence[Mapping[str, Any]], defs: Sequence[Mapping[str, Any]]) -> LiveKey:
    types = {d["AttributeName"]: d["AttributeType"] for d in defs}
    ordered = sorted(schema, key=lambda e: e["KeyType"] != "HASH")
    return tuple((e["AttributeName"], types.get(e["AttributeName"])) for e in ordered)


def _spec_key(owner: TableSpec | IndexSpec) -> LiveKey:
    return tuple((a.name, a.type) for a in owner.key.attributes)


def _same_key(desired: LiveKey, live: LiveKey) -> bool:
    # moto forgets AttributeDefinitions on UpdateTable: an unknown type is no evidence of change.
    return len(desired) == len(live) and all(
        d[0] == v[0] and v[1] in (None, d[1]) for d, v in zip(desired, live, strict=True)
    )


def _show(key: LiveKey) -> str:
    return "/".join(f"{n}({t or '?'})" for n, t in key)


def _describe(client: DynamoDBClient, name: str) -> TableDescriptionTypeDef | None:
    try:
        return client.describe_table(TableName=name)["Table"]
    except client.exceptions.ResourceNotFoundException:
        return None


def _tags(client: DynamoDBClient, arn: str) -> dict[str, str]:
    page = client.list_tags_of_resource(ResourceArn=arn)
    tags = {t["Key"]: t["Value"] for t in page.get("Tags", [])}
    while token := page.get("NextToken"):
        page = client.list_tags_of_resource(ResourceArn=arn, NextToken=token)
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    return tags


def _pitr(client: DynamoDBClient, name: str) -> bool:
    desc = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    status = desc.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    return status == "ENABLED"


def _read_table(client: DynamoDBClient, name: str) -> LiveTable | None:
    desc = _describe(client, name)
    if desc is None:
        return None
    defs = desc.get("AttributeDefinitions", [])
    sse, stream = desc.get("SSEDescription", {}), desc.get("StreamSpecification", {})
    indexes = {
        i["IndexName"]: LiveIndex(_key_of(i["KeySchema"], defs), i["Projection"]["ProjectionType"])
        for i in desc.get("GlobalSecondaryIndexes", [])
    }
    return LiveTable(
        name=name,
        arn=desc["TableArn"],
        key=_key_of(desc["KeySchema"], defs),
        indexes=indexes,
        # A table created PROVISIONED may carry no BillingModeSummary at all.
        billing_mode=desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        pitr=_pitr(client, name),
        deletion_protection=desc.get("DeletionProtectionEnabled", False),
        sse_kms=sse.get("SSEType") == "KMS" and sse.get("Status") != "DISABLED",
        stream=stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        tags=_tags(client, desc["TableArn"]),
    )


def _read_env_tables(client: DynamoDBClient, env: str) -> dict[str, LiveTable]:
    pages = client.get_paginator("list_tables").paginate()
    names = [n for page in pages for n in page.get("TableNames", []) if n.endswith(f"-{env}")]
    found = {n: _read_table(client, n) for n in names}
    return {n: t for n, t in found.items() if t is not None}


def _is_managed(table: LiveTable, env: str) -> bool:
    return table.tags.get("managed-by") == MANAGED_BY and table.tags.get("environment") == env


# --- diffing: one table's definition against its live state -----------------------------------


@dataclass(frozen=True)
class _At:
    """Where a change happens. Resources of the DR copy end in "@<region>"."""

    region: str
    table: str
    dr: bool = False

    @property
    def title(self) -> str:
        return f"{self.table} (DR copy in {self.region})" if self.dr else self.table

    def change(
        self,
        kind: ChangeKind,
        action: str,
        reason: str,
        desired: Mapping[str, Any],
        current: Mapping[str, Any],
        index: str | None = None,
    ) -> Change:
        resource = f"dynamodb:table/{self.table}" + (f"/index/{index}" if index else "")
        where = {"region": self.region, "table": self.table} | ({"gsi": index} if index else {})
        suffix = f"@{self.region}" if self.dr else ""
        return Change(kind, resource + suffix, action, reason, where | dict(desired), current)


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def _create_table(spec: TableSpec, at: _At) -> Change:
    reason = (
        f"{at.title} does not exist: create it with key {spec.key.describe()}, "
        f"{len(spec.indexes)} GSI(s), {spec.billing_mode}, SSE-KMS {_onoff(spec.sse_kms)}, "
        f"PITR {_onoff(spec.point_in_time_recovery)}, deletion protection "
        f"{_onoff(spec.deletion_protection)}, stream {spec.stream or 'none'}"
    )
    desired = {"request": spec.create_request(), "pitr": spec.point_in_time_recovery}
    return at.change(CREATE, "create-table", reason, desired, {})


def _replace_table(spec: TableSpec, live: LiveTable, at: _At) -> Change:
    reason = (
        f"replacing {at.title} drops every item: key schema changes from {_show(live.key)} "
        f"to {spec.key.describe()}; DynamoDB cannot change keys in place (an on-demand backup "
        "is taken before the delete)"
    )
    desired = {"request": spec.create_request(), "pitr": spec.point_in_time_recovery}
    return at.change(DESTRUCTIVE, "replace-table", reason, desired, {"key": _show(live.key)})


def _delete_table(live: LiveTable, at: _At) -> Change:
    reason = (
        f"{at.title} carries managed-by={MANAGED_BY} but is no longer defined: deleting it "
        "drops every item (an on-demand backup is taken first)"
    )
    current = {"exists": True, "key": _show(live.key)}
    return at.change(DESTRUCTIVE, "delete-table", reason, {"exists": False}, current)


# Boolean safety properties: LiveTable field -> (TableSpec field, name, what turning it off
# loses). Switching one on is an in-place update; switching it off is destructive.
_SAFETY: Final = {
    "pitr": ("point_in_time_recovery", "point-in-time recovery", "the 35-day restore window"),
    "sse_kms": ("sse_kms", "SSE-KMS", "KMS key control and audit (AWS-owned key instead)"),
    "deletion_protection": (
        "deletion_protection",
        "deletion protection",
        "the guard against a single DeleteTable call",
    ),
}


def _diff_safety(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    changes = []
    for field, (spec_field, name, loses) in _SAFETY.items():
        wanted, found = bool(getattr(spec, spec_field)), bool(getattr(live, field))
        if wanted == found:
            continue
        verb = "enable" if wanted else "disable"
        values = f"(defined: {_onoff(wanted)}, live: {_onoff(found)})"
        reason = (
            f"{name} is off on {at.title} {values}; switching it on is in place"
            if wanted
            else f"turning {name} off on {at.title} loses {loses} {values}"
        )
        kind = UPDATE if wanted else DESTRUCTIVE
        action = f"{verb}-{field.replace('_', '-')}"
        changes.append(at.change(kind, action, reason, {field: wanted}, {field: found}))
    return changes


def _diff_billing(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    if spec.billing_mode == live.billing_mode:
        return []
    reason = (
        f"billing mode of {at.title} is {live.billing_mode}, defined {spec.billing_mode}: "
        "switched in place (AWS allows one switch per 24 hours)"
    )
    values = ({"billing_mode": spec.billing_mode}, {"billing_mode": live.billing_mode})
    return [at.change(UPDATE, "set-billing-mode", reason, *values)]


def _diff_stream(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    wanted = spec.stream.value if spec.stream else None
    if wanted == live.stream:
        return []
    values = ({"stream": wanted}, {"stream": live.stream})
    if live.stream is None:
        reason = f"{at.title} has no stream (defined: {wanted}, live: none)"
        return [at.change(CREATE, "enable-stream", reason, *values)]
    if wanted is None:
        reason = f"disabling the {live.stream} stream of {at.title} cuts off its consumers"
        return [at.change(DESTRUCTIVE, "disable-stream", reason, *values)]
    reason = (
        f"changing the stream of {at.title} from {live.stream} to {wanted} gives it a new ARN: "
        "consumers must be re-pointed and changes made in between are not delivered"
    )
    return [at.change(DESTRUCTIVE, "replace-stream", reason, *values)]


def _diff_tags(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    # Only our own keys are managed: cost allocation and other tools may add theirs.
    wrong = {k: live.tags.get(k) for k, v in spec.tags if live.tags.get(k) != v}
    if not wrong:
        return []
    reason = f"tags of {at.title} differ (defined: {spec.tag_map}, live: {wrong})"
    return [at.change(UPDATE, "set-tags", reason, {"tags": spec.tag_map}, {"tags": wrong})]


def _index_desired(index: IndexSpec, spec: TableSpec) -> dict[str, Any]:
    names = {a.name for a in index.key.attributes}
    defs = [d for d in spec.attribute_definitions() if d["AttributeName"] in names]
    return {"index": index.request(), "attributes": defs}


def _diff_index(
    spec: TableSpec, index: IndexSpec, found: LiveIndex | None, at: _At
) -> list[Change]:
    desired = _index_desired(index, spec)
    if found is None:
        reason = f"{at.title} lacks GSI {index.name} ({index.describe()}) for: {index.purpose}"
        return [at.change(CREATE, "create-gsi", reason, desired, {}, index.name)]
    if _same_key(_spec_key(index), found.key) and found.projection == index.projection:
        return []
    reason = (
        f"GSI {index.name} of {at.title} is {_show(found.key)} projecting {found.projection}, "
        f"defined {index.describe()}: it is deleted and rebuilt, and queries on it fail "
        "until the backfill finishes"
    )
    current = {"key": _show(found.key), "projection": found.projection}
    return [at.change(DESTRUCTIVE, "replace-gsi", reason, desired, current, index.name)]


def _diff_indexes(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    changes = [c for i in spec.indexes for c in _diff_index(spec, i, live.indexes.get(i.name), at)]
    for name in sorted(set(live.indexes) - {i.name for i in spec.indexes}):
        reason = f"GSI {name} on {at.title} is not defined: deleting it breaks every query on it"
        values = ({"exists": False}, {"exists": True})
        changes.append(at.change(DESTRUCTIVE, "delete-gsi", reason, *values, index=name))
    return changes


_IN_PLACE: Final = (_diff_safety, _diff_billing, _diff_stream, _diff_tags, _diff_indexes)


def _diff_table(spec: TableSpec, live: LiveTable | None, at: _At) -> list[Change]:
    if live is None:
        return [_create_table(spec, at)]
    if not _same_key(_spec_key(spec), live.key):
        return [_replace_table(spec, live, at)]
    return [change for check in _IN_PLACE for change in check(spec, live, at)]


# --- targets, sessions and regions ----------------------------------------------------------


def definition_for(target: Target) -> SchemaDefinition:
    """The standard definition for a target; prod must name its DR region."""
    if target.env in DR_ENVIRONMENTS and not target.dr_region:
        raise TargetError(f"{target.env} needs a DR region for its DynamoDB copy")
    try:
        return standard_definition(target.env, target.dr_region)
    except ValueError as exc:
        raise TargetError(str(exc)) from exc


def _client(sess: boto3.session.Session, region: str) -> DynamoDBClient:
    return sess.client("dynamodb", region_name=region)


def _pairs(
    target: Target, definition: SchemaDefinition, sess: boto3.session.Session
) -> Iterator[tuple[_At, TableSpec | None, LiveTable | None]]:
    """(place, defined table, live table) for every table defined or named *-<env>."""
    if definition.env != target.env:
        raise TargetError(f"definition is for {definition.env}, target is {target.env}")
    if definition.dr_region == target.region:
        raise TargetError(f"DR region {definition.dr_region} is the primary region")
    places = [(target.region, False)]
    if definition.dr_region:
        places.append((definition.dr_region, True))
    for region, dr in places:
        live = _read_env_tables(_client(sess, region), definition.env)
        for spec in definition.tables:
            yield _At(region, spec.name, dr), spec, live.pop(spec.name, None)
        for name, table in sorted(live.items()):
            yield _At(region, name, dr), None, table


# --- public API: plan and drift -------------------------------------------------------------


def plan(
    target: Target,
    session: boto3.session.Session | None = None,
    definition: SchemaDefinition | None = None,
) -> list[Change]:
    """What apply would change to make the account match the definition."""
    definition = definition or definition_for(target)
    changes: list[Change] = []
    for at, spec, live in _pairs(target, definition, verified_session(target, session)):
        if spec is not None:
            changes.extend(_diff_table(spec, live, at))
        elif live is not None and _is_managed(live, definition.env):
            changes.append(_delete_table(live, at))
    return changes


def drift(target: Target, session: boto3.session.Session | None = None) -> list[Change]:
    """Differences made by hand on live tables, each with its defined and live value.

    Each entry is the change plan would propose to restore the definition (so its kind is
    what restoring costs), with a reason starting "drift:". Tables named like ours
    (``*-<env>``) that are neither defined nor tagged appear as "unmanaged-table": promote
    leaves them alone and apply refuses that action. A defined table that does not exist
    is not drift; plan proposes creating it.
    """
    definition = definition_for(target)
    found: list[Change] = []
    for at, spec, live in _pairs(target, definition, verified_session(target, session)):
        if live is None:
            continue
        if spec is not None:
            found.extend(_diff_table(spec, live, at))
        elif _is_managed(live, definition.env):
            found.append(_delete_table(live, at))
        else:
            reason = (
                f"{at.title} is named like a {MANAGED_BY} table but is neither defined nor "
                "tagged: promote leaves it alone; define and tag it, or remove it by hand"
            )
            values = ({"defined": False}, {"exists": True, "tags": dict(live.tags)})
            found.append(at.change(UPDATE, "unmanaged-table", reason, *values))
    return [dataclasses.replace(c, reason=f"drift: {c.reason}") for c in found]


# --- apply: one executor per action, each a no-op when the live state already matches ---------


def _idle(desc: TableDescriptionTypeDef) -> bool:
    indexes = desc.get("GlobalSecondaryIndexes", [])
    return desc["TableStatus"] == "ACTIVE" and all(i["IndexStatus"] == "ACTIVE" for i in indexes)


def _wait(client: DynamoDBClient, name: str, gone: bool = False) -> None:
    """Wait until the table and its GSIs are ACTIVE (UpdateTable fails otherwise), or gone."""
    for _ in range(WAIT_ATTEMPTS):
        desc = _describe(client, name)
        if (desc is None) if gone else (desc is not None and _idle(desc)):
            return
        time.sleep(POLL_SECONDS)
    raise StackError(f"{name} did not become {'deleted' if gone else 'ACTIVE'} in time")


def _set_pitr(client: DynamoDBClient, name: str, enabled: bool) -> None:
    for _ in range(WAIT_ATTEMPTS):
        try:
            client.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled},
            )
            return
        except ClientError as exc:
            # Right after CreateTable, AWS may answer that backups are not available yet.
            if exc.response["Error"]["Code"] != "ContinuousBackupsUnavailableException":
                raise
            time.sleep(POLL_SECONDS)
    raise StackError(f"could not set point-in-time recovery on {name}")


def _update(client: DynamoDBClient, name: str, **fields: Any) -> None:
    _wait(client, name)
    client.update_table(TableName=name, **fields)
    _wait(client, name)


def _create(client: DynamoDBClient, desired: Mapping[str, Any]) -> None:
    request = cast("CreateTableInputTypeDef", desired["request"])
    client.create_table(**request)
    _wait(client, request["TableName"])
    if desired["pitr"]:  # "PITR MUST be enabled before any data": first thing once ACTIVE
        _set_pitr(client, request["TableName"], True)


def _delete(client: DynamoDBClient, live: LiveTable) -> None:
    # Deletion is irreversible; a named on-demand backup outlives the table.
    _wait(client, live.name)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    client.create_backup(TableName=live.name, BackupName=f"{live.name}-pre-delete-{stamp}")
    if live.deletion_protection:
        _update(client, live.name, DeletionProtectionEnabled=False)
    client.delete_table(TableName=live.name)
    _wait(client, live.name, gone=True)


def _live(client: DynamoDBClient, change: Change) -> LiveTable | None:
    return _read_table(client, change.desired["table"])


def _exec_table(client: DynamoDBClient, change: Change) -> bool:
    """create-table, replace-table and delete-table."""
    live = _live(client, change)
    if change.action == "delete-table":
        if live is not None:
            _delete(client, live)
        return live is not None
    if live is not None:
        request = change.desired["request"]
        wanted = _key_of(request["KeySchema"], request["AttributeDefinitions"])
        if change.action == "create-table" or _same_key(wanted, live.key):
            return False
        _delete(client, live)
    _create(client, change.desired)
    return True


def _exec_pitr(client: DynamoDBClient, change: Change) -> bool:
    name, wanted = change.desired["table"], bool(change.desired["pitr"])
    if _describe(client, name) is None or _pitr(client, name) == wanted:
        return False
    _set_pitr(client, name, wanted)
    return True


def _stream_spec(view: str | None) -> dict[str, Any]:
    return {"StreamEnabled": True, "StreamViewType": view} if view else {"StreamEnabled": False}


# UpdateTable arguments per desired field; LiveTable has an attribute of the same name.
_SETTINGS: Final[Mapping[str, Callable[[Any], dict[str, Any]]]] = {
    "billing_mode": lambda mode: {"BillingMode": mode},
    "sse_kms": lambda kms: {"SSESpecification": sse_specification(kms)},
    "deletion_protection": lambda on: {"DeletionProtectionEnabled": on},
    "stream": lambda view: {"StreamSpecification": _stream_spec(view)},
}


def _exec_setting(client: DynamoDBClient, change: Change) -> bool:
    field = next(f for f in _SETTINGS if f in change.desired)
    live, wanted = _live(client, change), change.desired[field]
    if live is None or getattr(live, field) == wanted:
        return False
    if field == "stream" and live.stream and wanted:
        # A table has one stream: the old one must end before another view type starts.
        _update(client, live.name, StreamSpecification=_stream_spec(None))
    _update(client, live.name, **_SETTINGS[field](wanted))
    return True


def _exec_tags(client: DynamoDBClient, change: Change) -> bool:
    live = _live(client, change)
    if live is None:
        return False
    wanted: Mapping[str, str] = change.desired["tags"]
    wrong = [{"Key": k, "Value": v} for k, v in wanted.items() if live.tags.get(k) != v]
    if wrong:
        client.tag_resource(ResourceArn=live.arn, Tags=cast("list[TagTypeDef]", wrong))
    return bool(wrong)


def _attribute_definitions(live: LiveTable, change: Change) -> list[AttributeDefinitionTypeDef]:
    # AWS merges these with the table's, moto replaces them: send every attribute in use.
    keys = (live.key, *(i.key for i in live.indexes.values()))
    known = {name: kind for key in keys for name, kind in key if kind}
    known |= {d["AttributeName"]: d["AttributeType"] for d in change.desired["attributes"]}
    defs = [{"AttributeName": n, "AttributeType": t} for n, t in known.items()]
    return cast("list[AttributeDefinitionTypeDef]", defs)


def _index_done(found: LiveIndex | None, change: Change) -> bool:
    request = change.desired.get("index")
    if found is None or request is None:  # delete-gsi is done when the index is gone
        return found is None and request is None
    if change.action == "create-gsi":  # an index of another shape needs replace-gsi
        return True
    wanted = _key_of(request["KeySchema"], change.desired["attributes"])
    projection = request["Projection"]["ProjectionType"]
    return _same_key(wanted, found.key) and found.projection == projection


def _exec_gsi(client: DynamoDBClient, change: Change) -> bool:
    """create-gsi, replace-gsi and delete-gsi: one GSI per UpdateTable, waiting in between."""
    live, name = _live(client, change), change.desired["gsi"]
    if live is None or _index_done(live.indexes.get(name), change):
        return False
    if name in live.indexes:
        _update(client, live.name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": name}}])
        live = _live(client, change) or live
    if "index" in change.desired:
        create = cast("GlobalSecondaryIndexTypeDef", change.desired["index"])
        definitions = _attribute_definitions(live, change)
        updates: Any = [{"Create": create}]
        _update(
            client, live.name, AttributeDefinitions=definitions, GlobalSecondaryIndexUpdates=updates
        )
    return True


_EXECUTORS: Final[Mapping[str, _Executor]] = {
    **dict.fromkeys(("delete-table", "replace-table", "create-table"), _exec_table),
    **dict.fromkeys(("enable-pitr", "disable-pitr"), _exec_pitr),
    **dict.fromkeys(
        (
            "set-billing-mode",
            *(
                f"{v}-{f}"
                for v in ("enable", "disable")
                for f in ("sse-kms", "deletion-protection")
            ),
            *(f"{v}-stream" for v in ("enable", "disable", "replace")),
        ),
        _exec_setting,
    ),
    "set-tags": _exec_tags,
    **dict.fromkeys(("delete-gsi", "replace-gsi", "create-gsi"), _exec_gsi),
}
# Tables first; PITR next, before anything else touches the data; then settings (billing
# before GSIs: a PROVISIONED table needs throughput for a new GSI); GSIs last, deletes first.
_PHASE: Final = {"delete-table": 0, "replace-table": 1, "create-table": 1, "enable-pitr": 2}
_PHASE_SETTINGS, _PHASE_GSI_DELETE, _PHASE_GSI_CREATE = 3, 4, 5


def _phase(change: Change) -> int:
    if change.action.endswith("-gsi"):
        return _PHASE_GSI_DELETE if change.action == "delete-gsi" else _PHASE_GSI_CREATE
    return _PHASE.get(change.action, _PHASE_SETTINGS)


def _check_changes(target: Target, changes: Sequence[Change]) -> None:
    regions = {target.region, target.dr_region}
    for change in changes:
        if change.action not in _EXECUTORS:
            raise StackError(f"apply cannot execute {change.action!r} ({change.resource})")
        if change.desired.get("region") not in regions:
            raise TargetError(f"{change.resource} is not in a region of {target.env}")
        if not str(change.desired.get("table", "")).endswith(f"-{target.env}"):
            raise TargetError(f"{change.resource} does not belong to {target.env}")


# --- public API: apply ----------------------------------------------------------------------


def apply(
    target: Target,
    changes: Sequence[Change],
    allow_destructive: bool = False,
    session: boto3.session.Session | None = None,
) -> list[Change]:
    """Execute planned changes and return those that changed something.

    Refuses, before any call, when a change is destructive and ``allow_destructive`` is
    False. Every change re-reads the live state first, so applying twice is a no-op.
    """
    refuse_destructive(changes, allow_destructive)
    _check_changes(target, changes)
    sess = verified_session(target, session)
    clients: dict[str, DynamoDBClient] = {}
    applied: list[Change] = []
    for change in sorted(changes, key=_phase):
        region = change.desired["region"]
        if region not in clients:
            clients[region] = _client(sess, region)
        if _EXECUTORS[change.action](clients[region], change):
            applied.append(change)
    return applied


def apply_all(
    target: Target,
    allow_destructive: bool = False,
    session: boto3.session.Session | None = None,
) -> list[Change]:
    """plan + apply with the standard definition."""
    return apply(target, plan(target, session), allow_destructive, session)
