"""The executors behind ``dynamodb.apply``: one per planned action, and the order they run in.

Each executor re-reads the live table first and returns False when it already matches the
change, so applying a plan twice changes nothing. DynamoDB accepts an UpdateTable only
while the table and its GSIs are ACTIVE (and no replica is being added or removed), so every
update waits before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import ClientError

from bbws.schemas._dynamodb_live import (
    LiveIndex,
    LiveTable,
    describe_table,
    key_of,
    read_pitr,
    read_table,
    read_ttl,
    replicas_of,
    same_key,
)
from bbws.schemas.common import Change, StackError, Target, TargetError
from bbws.schemas.dynamodb_definition import sse_specification

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

_Executor = Callable[["DynamoDBClient", Change], bool]
# ReplicaStatus values of a replica still being created, changed or removed.
_REPLICA_BUSY: Final = frozenset({"CREATING", "UPDATING", "DELETING"})


# --- waiting and the calls every executor builds on ----------------------------------------


def _idle(desc: TableDescriptionTypeDef) -> bool:
    indexes = desc.get("GlobalSecondaryIndexes", [])
    return (
        desc["TableStatus"] == "ACTIVE"
        and all(i["IndexStatus"] == "ACTIVE" for i in indexes)
        and not _REPLICA_BUSY.intersection(replicas_of(desc).values())
    )


def _wait(client: DynamoDBClient, name: str, gone: bool = False) -> None:
    """Wait until the table, its GSIs and its replicas are settled (UpdateTable fails
    otherwise), or until the table is gone."""
    for _ in range(WAIT_ATTEMPTS):
        desc = describe_table(client, name)
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
    if desired.get("ttl"):
        _set_ttl(client, request["TableName"], desired["ttl"], None)


def _delete(client: DynamoDBClient, live: LiveTable) -> None:
    # Deletion is irreversible; a named on-demand backup outlives the table.
    _wait(client, live.name)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    client.create_backup(TableName=live.name, BackupName=f"{live.name}-pre-delete-{stamp}")
    for region in sorted(live.replicas):  # a global table sheds its replicas first
        _update(client, live.name, ReplicaUpdates=[{"Delete": {"RegionName": region}}])
    if live.deletion_protection:
        _update(client, live.name, DeletionProtectionEnabled=False)
    client.delete_table(TableName=live.name)
    _wait(client, live.name, gone=True)


def _live(client: DynamoDBClient, change: Change) -> LiveTable | None:
    return read_table(client, change.desired["table"])


# --- one executor per action, each a no-op when the live state already matches --------------


def _exec_table(client: DynamoDBClient, change: Change) -> bool:
    """create-table, replace-table and delete-table."""
    live = _live(client, change)
    if change.action == "delete-table":
        if live is not None:
            _delete(client, live)
        return live is not None
    if live is not None:
        request = change.desired["request"]
        wanted = key_of(request["KeySchema"], request["AttributeDefinitions"])
        if change.action == "create-table" or same_key(wanted, live.key):
            return False
        _delete(client, live)
    _create(client, change.desired)
    return True


def _set_ttl(client: DynamoDBClient, name: str, wanted: str | None, live: str | None) -> None:
    # One attribute at a time: switching attributes means off, then on.
    if live is not None:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": live}
        )
    if wanted is not None:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": wanted}
        )


def _exec_ttl(client: DynamoDBClient, change: Change) -> bool:
    name, wanted = change.desired["table"], change.desired["ttl"]
    if describe_table(client, name) is None:
        return False
    live = read_ttl(client, name)
    if live == wanted:
        return False
    _set_ttl(client, name, wanted, live)
    return True


def _exec_pitr(client: DynamoDBClient, change: Change) -> bool:
    name, wanted = change.desired["table"], bool(change.desired["pitr"])
    if describe_table(client, name) is None or read_pitr(client, name) == wanted:
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
    wanted = key_of(request["KeySchema"], change.desired["attributes"])
    projection = request["Projection"]["ProjectionType"]
    return same_key(wanted, found.key) and found.projection == projection


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


def _exec_replica(client: DynamoDBClient, change: Change) -> bool:
    """create-replica and delete-replica: one region per UpdateTable (global tables 2019.11.21).

    A replica already listed (in any state, CREATING included) is not created again, and one
    no longer listed is not deleted again.
    """
    name, region = change.desired["table"], change.desired["replica"]
    create = change.action == "create-replica"
    if describe_table(client, name) is None:
        return False
    _wait(client, name)  # also lets a replica that is being added or removed settle
    desc = describe_table(client, name)
    if desc is None or (region in replicas_of(desc)) == create:
        return False
    if create and not desc.get("StreamSpecification", {}).get("StreamEnabled"):
        # Replication reads the table's stream. DynamoDB would enable one by itself; enabling
        # it first, with the view type the definition declares, keeps plan and live equal.
        _update(client, name, StreamSpecification=_stream_spec("NEW_AND_OLD_IMAGES"))
    verb = "Create" if create else "Delete"
    _update(client, name, ReplicaUpdates=[{verb: {"RegionName": region}}])
    status = replicas_of(describe_table(client, name) or desc).get(region)
    if create and status != "ACTIVE":  # e.g. CREATION_FAILED: a table of that name is there
        raise StackError(f"the {region} replica of {name} is {status or 'missing'}, not ACTIVE")
    return True


# --- which executor runs a change, and when --------------------------------------------------


EXECUTORS: Final[Mapping[str, _Executor]] = {
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
    "set-ttl": _exec_ttl,
    **dict.fromkeys(("delete-gsi", "replace-gsi", "create-gsi"), _exec_gsi),
    **dict.fromkeys(("delete-replica", "create-replica"), _exec_replica),
}
# Tables first; PITR next, before anything else touches the data; then settings (billing
# before GSIs: a PROVISIONED table needs throughput for a new GSI; the stream before any
# replica); GSIs, deletes first; replicas last, so a new replica starts from a table whose
# schema and settings are complete.
_PHASE: Final = {"delete-table": 0, "replace-table": 1, "create-table": 1, "enable-pitr": 2}
_PHASE_SETTINGS, _PHASE_GSI_DELETE, _PHASE_GSI_CREATE, _PHASE_REPLICA = 3, 4, 5, 6


def phase(change: Change) -> int:
    """The sort key that puts a plan in apply order."""
    if change.action.endswith("-gsi"):
        return _PHASE_GSI_DELETE if change.action == "delete-gsi" else _PHASE_GSI_CREATE
    if change.action.endswith("-replica"):
        return _PHASE_REPLICA
    return _PHASE.get(change.action, _PHASE_SETTINGS)


def check_changes(target: Target, changes: Sequence[Change]) -> None:
    """Refuse, before any call, a change no executor knows or one outside the target."""
    for change in changes:
        if change.action not in EXECUTORS:
            raise StackError(f"apply cannot execute {change.action!r} ({change.resource})")
        if change.desired.get("region") != target.region:
            raise TargetError(f"{change.resource} is not in the region of {target.env}")
        if change.action == "create-replica" and change.desired["replica"] != target.dr_region:
            raise TargetError(f"{change.resource}: {target.env} replicates to its DR region only")
        if not str(change.desired.get("table", "")).endswith(f"-{target.env}"):
            raise TargetError(f"{change.resource} does not belong to {target.env}")
