"""The dynamodb_schemas foundation stack: plan, apply and drift for the BBWS tables.

The desired state is ``dynamodb_definition.standard_definition``; the live state is read
with boto3 only, by ``_dynamodb_live``. This module diffs the two and holds the public API;
``_dynamodb_apply`` holds the executors apply runs. Entry points for the engine::

    plan(target, session=None, definition=None) -> list[Change]
    apply(target, changes, allow_destructive=False, session=None) -> list[Change]
    drift(target, session=None) -> list[Change]
    apply_all(target, allow_destructive=False, session=None) -> list[Change]

Safety: apply refuses destructive changes (replace or delete a table, delete or rebuild a
GSI, delete a replica, turn off PITR, SSE-KMS, deletion protection or a stream) unless
allowed, before any call; every table it deletes is first copied to an on-demand backup;
PITR is switched on as soon as a new table is ACTIVE, before anything else touches it; GSIs
change one per UpdateTable; credentials must belong to the target's account when the target
names one.

DR for prod: the runbooks ask for "cross-region replication for PROD DR". Every prod table
is a global table (version 2019.11.21) with a replica in the DR region: plan reads the
replicas from the primary's DescribeTable (``Table.Replicas``) and apply adds or removes one
with UpdateTable ``ReplicaUpdates``, all through the primary region. moto 5.2 ignores
ReplicaUpdates, so the tests run against moto plus ``tests/bbws/aws_doubles.py``'s
``DynamoDBReplicaDouble``. See docs/bbws/dynamodb.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import boto3

from bbws.schemas._dynamodb_apply import EXECUTORS, check_changes, phase
from bbws.schemas._dynamodb_live import (
    LiveIndex,
    LiveKey,
    LiveTable,
    is_managed,
    read_env_tables,
    same_key,
    show_key,
)
from bbws.schemas.common import (
    Change,
    ChangeKind,
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
    standard_definition,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CREATE, UPDATE, DESTRUCTIVE = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.DESTRUCTIVE


def _spec_key(owner: TableSpec | IndexSpec) -> LiveKey:
    return tuple((a.name, a.type) for a in owner.key.attributes)


# --- diffing: one table's definition against its live state -----------------------------------


@dataclass(frozen=True)
class _At:
    """Where a change happens: a table in the target's (primary) region."""

    region: str
    table: str

    def change(
        self,
        kind: ChangeKind,
        action: str,
        reason: str,
        desired: Mapping[str, Any],
        current: Mapping[str, Any],
        index: str | None = None,
        replica: str | None = None,
    ) -> Change:
        resource = f"dynamodb:table/{self.table}" + (f"/index/{index}" if index else "")
        resource += f"/replica/{replica}" if replica else ""
        where = {"region": self.region, "table": self.table} | ({"gsi": index} if index else {})
        return Change(kind, resource, action, reason, where | dict(desired), current)


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def _create_table(spec: TableSpec, at: _At) -> Change:
    reason = (
        f"{at.table} does not exist: create it with key {spec.key.describe()}, "
        f"{len(spec.indexes)} GSI(s), {spec.billing_mode}, SSE-KMS {_onoff(spec.sse_kms)}, "
        f"PITR {_onoff(spec.point_in_time_recovery)}, deletion protection "
        f"{_onoff(spec.deletion_protection)}, stream {spec.stream or 'none'}"
    )
    desired = {
        "request": spec.create_request(),
        "pitr": spec.point_in_time_recovery,
        "ttl": spec.ttl_attribute,
    }
    return at.change(CREATE, "create-table", reason, desired, {})


def _and_replicas(live: LiveTable) -> str:
    return f" and its replicas in {', '.join(sorted(live.replicas))}" if live.replicas else ""


def _replace_table(spec: TableSpec, live: LiveTable, at: _At) -> Change:
    reason = (
        f"replacing {at.table}{_and_replicas(live)} drops every item: key schema changes from "
        f"{show_key(live.key)} to {spec.key.describe()}; DynamoDB cannot change keys in place "
        "(an on-demand backup is taken before the delete)"
    )
    desired = {
        "request": spec.create_request(),
        "pitr": spec.point_in_time_recovery,
        "ttl": spec.ttl_attribute,
    }
    return at.change(DESTRUCTIVE, "replace-table", reason, desired, {"key": show_key(live.key)})


def _delete_table(live: LiveTable, at: _At) -> Change:
    reason = (
        f"{at.table} carries managed-by={MANAGED_BY} but is no longer defined: deleting it"
        f"{_and_replicas(live)} drops every item (an on-demand backup is taken first)"
    )
    current = {"exists": True, "key": show_key(live.key)}
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
            f"{name} is off on {at.table} {values}; switching it on is in place"
            if wanted
            else f"turning {name} off on {at.table} loses {loses} {values}"
        )
        kind = UPDATE if wanted else DESTRUCTIVE
        action = f"{verb}-{field.replace('_', '-')}"
        changes.append(at.change(kind, action, reason, {field: wanted}, {field: found}))
    return changes


def _diff_billing(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    if spec.billing_mode == live.billing_mode:
        return []
    reason = (
        f"billing mode of {at.table} is {live.billing_mode}, defined {spec.billing_mode}: "
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
        reason = f"{at.table} has no stream (defined: {wanted}, live: none)"
        return [at.change(CREATE, "enable-stream", reason, *values)]
    if wanted is None:
        reason = f"disabling the {live.stream} stream of {at.table} cuts off its consumers"
        return [at.change(DESTRUCTIVE, "disable-stream", reason, *values)]
    reason = (
        f"changing the stream of {at.table} from {live.stream} to {wanted} gives it a new ARN: "
        "consumers must be re-pointed and changes made in between are not delivered"
    )
    return [at.change(DESTRUCTIVE, "replace-stream", reason, *values)]


def _diff_tags(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    # Only our own keys are managed: cost allocation and other tools may add theirs.
    wrong = {k: live.tags.get(k) for k, v in spec.tags if live.tags.get(k) != v}
    if not wrong:
        return []
    reason = f"tags of {at.table} differ (defined: {spec.tag_map}, live: {wrong})"
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
        reason = f"{at.table} lacks GSI {index.name} ({index.describe()}) for: {index.purpose}"
        return [at.change(CREATE, "create-gsi", reason, desired, {}, index.name)]
    if same_key(_spec_key(index), found.key) and found.projection == index.projection:
        return []
    reason = (
        f"GSI {index.name} of {at.table} is {show_key(found.key)} projecting {found.projection}, "
        f"defined {index.describe()}: it is deleted and rebuilt, and queries on it fail "
        "until the backfill finishes"
    )
    current = {"key": show_key(found.key), "projection": found.projection}
    return [at.change(DESTRUCTIVE, "replace-gsi", reason, desired, current, index.name)]


def _diff_indexes(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    changes = [c for i in spec.indexes for c in _diff_index(spec, i, live.indexes.get(i.name), at)]
    for name in sorted(set(live.indexes) - {i.name for i in spec.indexes}):
        reason = f"GSI {name} on {at.table} is not defined: deleting it breaks every query on it"
        values = ({"exists": False}, {"exists": True})
        changes.append(at.change(DESTRUCTIVE, "delete-gsi", reason, *values, index=name))
    return changes


def _diff_ttl(spec: TableSpec, live: LiveTable, at: _At) -> list[Change]:
    if spec.ttl_attribute == live.ttl_attribute:
        return []
    values = f"(defined: {spec.ttl_attribute or 'off'}, live: {live.ttl_attribute or 'off'})"
    if spec.ttl_attribute:
        # In place, but not harmless: items whose attribute is already in the past go.
        reason = (
            f"turn TTL on {at.table} to `{spec.ttl_attribute}`: DynamoDB then deletes items "
            f"whose `{spec.ttl_attribute}` has passed {values}"
        )
    else:
        reason = f"turn TTL off on {at.table}: expired items are kept {values}"
    return [
        at.change(
            UPDATE, "set-ttl", reason, {"ttl": spec.ttl_attribute}, {"ttl": live.ttl_attribute}
        )
    ]


def _diff_replicas(spec: TableSpec, live: LiveTable | None, at: _At) -> list[Change]:
    """Global-table replicas, read and changed through the primary region's table."""
    found = live.replicas if live is not None else {}
    changes: list[Change] = []
    desired: dict[str, Any]
    current: dict[str, Any]
    for region in spec.replica_regions:
        if region not in found:
            reason = f"replicate {at.table} to {region} for PROD DR (global table)"
            desired, current = {"replica": region, "exists": True}, {"exists": False}
            changes.append(
                at.change(CREATE, "create-replica", reason, desired, current, replica=region)
            )
    for region in sorted(set(found) - set(spec.replica_regions)):
        reason = (
            f"deleting the {region} replica drops that region's copy of every item "
            f"({at.table} is not defined with a replica there)"
        )
        desired = {"replica": region, "exists": False}
        current = {"exists": True, "status": found[region]}
        changes.append(
            at.change(DESTRUCTIVE, "delete-replica", reason, desired, current, replica=region)
        )
    return changes


_IN_PLACE: Final = (
    _diff_safety,
    _diff_billing,
    _diff_stream,
    _diff_ttl,
    _diff_tags,
    _diff_indexes,
    _diff_replicas,
)


def _diff_table(spec: TableSpec, live: LiveTable | None, at: _At) -> list[Change]:
    # A new or replaced table has no replicas yet: apply adds them once it is set up.
    if live is None:
        return [_create_table(spec, at), *_diff_replicas(spec, None, at)]
    if not same_key(_spec_key(spec), live.key):
        return [_replace_table(spec, live, at), *_diff_replicas(spec, None, at)]
    return [change for check in _IN_PLACE for change in check(spec, live, at)]


# --- targets, sessions and regions ----------------------------------------------------------


def definition_for(target: Target) -> SchemaDefinition:
    """The standard definition for a target; prod must name its DR region."""
    if target.env in DR_ENVIRONMENTS and not target.dr_region:
        raise TargetError(f"{target.env} needs a DR region for its DynamoDB replicas")
    try:
        return standard_definition(target.env, target.dr_region)
    except ValueError as exc:
        raise TargetError(str(exc)) from exc


def _client(sess: boto3.session.Session, region: str) -> DynamoDBClient:
    return sess.client("dynamodb", region_name=region)


def _pairs(
    target: Target, definition: SchemaDefinition, sess: boto3.session.Session
) -> Iterator[tuple[_At, TableSpec | None, LiveTable | None]]:
    """(place, defined table, live table) for every table defined or named *-<env>.

    Only the primary region is read: replicas are listed in its DescribeTable.
    """
    if definition.env != target.env:
        raise TargetError(f"definition is for {definition.env}, target is {target.env}")
    if any(target.region in spec.replica_regions for spec in definition.tables):
        raise TargetError(f"replica region {target.region} is the primary region")
    live = read_env_tables(_client(sess, target.region), definition.env)
    for spec in definition.tables:
        yield _At(target.region, spec.name), spec, live.pop(spec.name, None)
    for name, table in sorted(live.items()):
        yield _At(target.region, name), None, table


# --- public API: plan and drift -------------------------------------------------------------


def plan(
    target: Target,
    session: boto3.session.Session | None = None,
    definition: SchemaDefinition | None = None,
) -> list[Change]:
    """What apply would change to make the account match the definition, in apply order."""
    definition = definition or definition_for(target)
    changes: list[Change] = []
    for at, spec, live in _pairs(target, definition, verified_session(target, session)):
        if spec is not None:
            changes.extend(_diff_table(spec, live, at))
        elif live is not None and is_managed(live, definition.env):
            changes.append(_delete_table(live, at))
    return sorted(changes, key=phase)


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
        elif is_managed(live, definition.env):
            found.append(_delete_table(live, at))
        else:
            reason = (
                f"{at.table} is named like a {MANAGED_BY} table but is neither defined nor "
                "tagged: promote leaves it alone; define and tag it, or remove it by hand"
            )
            values = ({"defined": False}, {"exists": True, "tags": dict(live.tags)})
            found.append(at.change(UPDATE, "unmanaged-table", reason, *values))
    return [dataclasses.replace(c, reason=f"drift: {c.reason}") for c in found]


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
    check_changes(target, changes)
    client = _client(verified_session(target, session), target.region)
    return [c for c in sorted(changes, key=phase) if EXECUTORS[c.action](client, c)]


def apply_all(
    target: Target,
    allow_destructive: bool = False,
    session: boto3.session.Session | None = None,
) -> list[Change]:
    """plan + apply with the standard definition."""
    return apply(target, plan(target, session), allow_destructive, session)
