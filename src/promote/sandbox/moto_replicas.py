"""DynamoDB global-table replicas (version 2019.11.21), which moto 5.2 accepts but ignores.

BBWS gives each PROD table an eu-west-1 replica (``bbws.schemas.dynamodb``); with
:func:`serve_replicas`, moto answers ``UpdateTable ReplicaUpdates`` per account as DynamoDB:

* ``Create`` makes the table in that region (keys, attributes, GSIs, LSIs, billing,
  throughput, stream, TTL, items); a table without a stream first gets a
  ``NEW_AND_OLD_IMAGES`` one, as DynamoDB enables it. Refused: the table's own region, an
  unknown one, a replica's, one holding a table of that name. ``Update`` changes nothing.
* Each replica's description lists the *other* regions as ``Replicas`` (``ACTIVE`` at once)
  with ``GlobalTableVersion``. ``Delete``, or ``DeleteTable`` in any region, deletes that
  region's replica only.
* Item changes moto records in a replica's stream (PutItem, UpdateItem, DeleteItem,
  BatchWriteItem, PartiQL; TransactWriteItems once it succeeded) reach the other replicas,
  as DynamoDB replicates from the stream. The stream cannot be disabled; GSI, billing and
  throughput changes reach every replica.

Not emulated: per-replica KMS keys (but ``KMSMasterKeyId`` at create), throughput or class
overrides, the auto scaling a PROVISIONED global table needs. Tags, PITR and deletion
protection are per replica, as in DynamoDB. The regions are kept on moto's ``Table`` objects,
so moto's reset clears them. Installing is idempotent. This module imports moto.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any, Final

from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import GlobalSecondaryIndex, StreamShard, Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult

VERSION: Final = "2019.11.21"
_MARK: Final = "_promote_serves_replicas"
_REGIONS: Final = "_promote_replica_regions"  # on each replica's Table: all its regions
_INVALID: Final = "One or more parameter values were invalid: "
_STREAM: Final = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
_STREAM_OFF: Final = f"{_INVALID}Disabling Stream is not allowed for a Global Table replica."
_lock = threading.RLock()
_local = threading.local()  # replicating: bool; pending: changes of a running transaction
_moto: dict[str, Callable[..., Any]] = {}  # the methods replaced, by "Class.method"

# (account, table name, regions to reach, (old attributes, new attributes))
_Change = tuple[str, str, list[str], tuple[dict[str, Any] | None, dict[str, Any] | None]]


def serve_replicas() -> None:
    """Give moto's DynamoDB global-table replicas (UpdateTable ``ReplicaUpdates``)."""
    with _lock:
        if getattr(DynamoHandler, _MARK, False):
            return
        for cls, name, method in (
            (DynamoHandler, "update_table", _update_table),
            (Table, "describe", _describe),
            (StreamShard, "add", _stream_add),
            (DynamoDBBackend, "delete_table", _delete_table),
            (DynamoDBBackend, "update_table", _sync_schema),
            (DynamoDBBackend, "update_table_streams", _keep_stream),
            (DynamoDBBackend, "transact_write_items", _transact),
        ):
            _moto[f"{cls.__name__}.{name}"] = getattr(cls, name)
            setattr(cls, name, method)
        setattr(DynamoHandler, _MARK, True)


def regions_of(table: Any) -> list[str]:
    """Every region of the global table ``table`` belongs to; empty when it is not one."""
    return list(getattr(table, _REGIONS, None) or ())


def _backend(account_id: str, region: str) -> Any:
    return dynamodb_backends[account_id][region]


def _regroup(account_id: str, name: str, regions: list[str]) -> None:
    for region in regions:
        if (member := _backend(account_id, region).tables.get(name)) is not None:
            setattr(member, _REGIONS, list(regions) if len(regions) > 1 else None)


def _parse(table: Any, updates: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(verb, region, spec) per update; refuses the whole request before anything changes."""
    group = regions_of(table) or [table.region_name]
    known = dynamodb_backends[table.account_id].regions
    parsed: list[tuple[str, str, dict[str, Any]]] = []
    for update in updates:
        verb = next(iter(update), "")
        spec = update.get(verb) or {}
        region, create = str(spec.get("RegionName") or ""), verb == "Create"
        for failed, message in (
            (len(update) != 1 or verb not in ("Create", "Update", "Delete") or not region,
             f"{_INVALID}a replica update needs one of Create, Update or Delete with a RegionName"),
            (region == table.region_name or region in [r for _, r, _ in parsed],
             f"{_INVALID}{region} is the table's own region or is updated twice"),
            (region not in known, f"{_INVALID}{region} is not a valid region"),
            (not create and region not in group,
             "Replica specified in the Replica Update or Replica Delete action of the request "
             "was not found."),
            (create and region in group, f"{_INVALID}{table.name} has a replica in {region}"),
            (create and region in known and table.name in _backend(table.account_id, region).tables,
             f"Failed to create a the new replica of table with name: '{table.name}' because "
             "one or more replicas already existed as tables."),
        ):  # fmt: skip
            if failed:
                raise MockValidationException(message)
        parsed.append((verb, region, spec))
    return parsed


def _update_table(self: Any) -> Any:  # DynamoHandler.update_table
    if not (updates := self.body.get("ReplicaUpdates")):
        return _moto["DynamoHandler.update_table"](self)
    with _lock:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        parsed = _parse(table, updates)
        if set(self.body) - {"TableName", "ReplicaUpdates"}:
            _moto["DynamoHandler.update_table"](self)  # the rest of the request, as moto does it
        for verb, region, spec in parsed:
            if verb == "Create":
                _create_replica(table, region, spec)
            elif verb == "Delete":
                _backend(table.account_id, region).delete_table(table.name)
        return DynamoResult(table.describe())


def _index(index: Any, billing_mode: str) -> dict[str, Any]:
    """What GlobalSecondaryIndex.create takes, from an index of the table."""
    dropped = {"IndexStatus", "ProvisionedThroughput" if billing_mode == "PAY_PER_REQUEST" else ""}
    return {k: copy.deepcopy(v) for k, v in index.describe().items() if k not in dropped}


def _create_replica(table: Any, region: str, spec: dict[str, Any]) -> None:
    if not (table.stream_specification or {}).get("StreamEnabled"):
        table.set_stream_specification(dict(_STREAM))
    sse = None  # with a key of the replica's region: the one given, else DynamoDB's
    if (table.sse_specification or {}).get("Enabled"):
        key = {"KMSMasterKeyId": spec["KMSMasterKeyId"]} if "KMSMasterKeyId" in spec else {}
        sse = {"Enabled": True, "SSEType": "KMS", **key}
    mode, throughput = table.billing_mode, table.throughput
    provisioned = {k: throughput[k] for k in ("ReadCapacityUnits", "WriteCapacityUnits")}
    replica = _backend(table.account_id, region).create_table(
        table.name,
        schema=copy.deepcopy(table.schema),
        throughput=None if mode == "PAY_PER_REQUEST" else provisioned,
        attr=copy.deepcopy(table.attr),
        global_indexes=[_index(i, mode) for i in table.global_indexes],
        indexes=[copy.deepcopy(i.describe()) for i in table.indexes],
        streams=copy.deepcopy(table.stream_specification),
        billing_mode=mode,
        sse_specification=sse,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    replica.ttl = copy.deepcopy(table.ttl)
    for item in table.all_items():
        _replicate((table.account_id, table.name, [region], (None, _attrs(item))))
    _regroup(table.account_id, table.name, [*(regions_of(table) or [table.region_name]), region])


def _describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:  # Table
    described: dict[str, Any] = _moto["Table.describe"](self, base_key=base_key)
    if others := [r for r in regions_of(self) if r != self.region_name]:
        replicas = [{"RegionName": r, "ReplicaStatus": "ACTIVE"} for r in others]
        described[base_key] |= {"Replicas": replicas, "GlobalTableVersion": VERSION}
    return described


def _delete_table(self: Any, name: str) -> Any:  # DynamoDBBackend
    with _lock:
        table = _moto["DynamoDBBackend.delete_table"](self, name)
        if regions := regions_of(table):  # only this replica goes; the others forget it
            _regroup(self.account_id, table.name, [r for r in regions if r != self.region_name])
            setattr(table, _REGIONS, None)
        return table


def _keep_stream(self: Any, table: Any, specification: dict[str, Any]) -> None:
    if regions_of(table) and not specification.get("StreamEnabled"):
        raise MockValidationException(_STREAM_OFF)
    _moto["DynamoDBBackend.update_table_streams"](self, table, specification)


def _sync_schema(self: Any, *args: Any, **kwargs: Any) -> Any:  # DynamoDBBackend.update_table
    """GSIs, attribute definitions, billing mode and throughput are those of every replica."""
    with _lock:
        table = _moto["DynamoDBBackend.update_table"](self, *args, **kwargs)
        for region in regions_of(table):
            member = _backend(table.account_id, region).tables.get(table.name)
            if member is None or member is table:
                continue
            member.attr = copy.deepcopy(table.attr)
            member.billing_mode = table.billing_mode
            member.throughput = copy.deepcopy(table.throughput)
            member.global_indexes = [
                GlobalSecondaryIndex.create(_index(i, table.billing_mode), table.table_key_attrs)
                for i in table.global_indexes
            ]
        return table


def _attrs(item: Any) -> dict[str, Any] | None:
    return None if item is None else dict(copy.deepcopy(item.attrs))


def _stream_add(self: Any, old: Any, new: Any) -> None:  # StreamShard.add
    _moto["StreamShard.add"](self, old, new)
    table = self.table
    others = [r for r in regions_of(table) if r != table.region_name]
    if not others or getattr(_local, "replicating", False):
        return  # not a global table, or a change that is itself replicated
    change = (table.account_id, table.name, others, (_attrs(old), _attrs(new)))
    if (pending := getattr(_local, "pending", None)) is not None:
        pending.append(change)  # in a transaction: replicated once it succeeds
    else:
        _replicate(change)


def _replicate(change: _Change) -> None:
    """Apply one item change to the replicas it names, without replicating it again."""
    account_id, name, regions, (old, new) = change
    with _lock:
        _local.replicating = True
        try:
            for region in regions:
                if (member := _backend(account_id, region).tables.get(name)) is None:
                    continue
                if new is not None:
                    member.put_item(copy.deepcopy(new), overwrite=True)
                elif old is not None:
                    keys = [DynamoType(old[k]) for k in member.table_key_attrs]
                    member.delete_item(keys[0], keys[1] if len(keys) > 1 else None)
        finally:
            _local.replicating = False


def _transact(self: Any, items: Any) -> None:  # DynamoDBBackend.transact_write_items
    _local.pending = pending = list[_Change]()
    try:
        _moto["DynamoDBBackend.transact_write_items"](self, items)
    finally:
        _local.pending = None
    for change in pending:
        _replicate(change)
