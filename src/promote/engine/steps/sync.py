"""``s3.sync``: a local directory to a bucket, skipping objects whose MD5 already matches."""

from __future__ import annotations

import hashlib
import mimetypes
from fnmatch import fnmatch
from typing import Any

from promote.engine.steps.port import Outcome, StepErrored, Target
from promote.model.steps import CacheRule, S3Sync

SHOWN = 50  # keys listed in the evidence per action; the counts are always complete


def sync(target: Target, step: S3Sync, region: str) -> Outcome:
    source = target.path(step.source)
    if not source.is_dir():
        raise StepErrored(f"s3.sync: the source {source} is not a directory")
    client = target.session.client("s3", region_name=region)
    prefix = step.prefix.strip("/") + "/" if step.prefix.strip("/") else ""
    remote = _remote_etags(client, step.bucket, prefix)
    uploaded: list[str] = []
    unchanged: list[str] = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(source).as_posix()
        data = path.read_bytes()
        # A single-part upload's ETag is the MD5 of its content.
        if remote.get(key) == hashlib.md5(data, usedforsecurity=False).hexdigest():
            unchanged.append(key)
            continue
        client.put_object(
            Bucket=step.bucket, Key=key, Body=data, **_headers(key, step.cache_control)
        )
        uploaded.append(key)
    kept = set(uploaded) | set(unchanged)
    deleted = sorted(set(remote) - kept) if step.delete else []
    for start in range(0, len(deleted), 1000):  # DeleteObjects takes at most 1000 keys
        batch: list[Any] = [{"Key": key} for key in deleted[start : start + 1000]]
        client.delete_objects(Bucket=step.bucket, Delete={"Objects": batch, "Quiet": True})
    where = f"s3://{step.bucket}/{prefix}"
    evidence = {
        "destination": where,
        "counts": {"uploaded": len(uploaded), "unchanged": len(unchanged), "deleted": len(deleted)},
        "uploaded": uploaded[:SHOWN],
        "deleted": deleted[:SHOWN],
    }
    summary = (
        f"{where}: {len(uploaded)} uploaded, {len(unchanged)} unchanged, {len(deleted)} deleted"
    )
    return Outcome(True, summary, evidence, {"uploaded": str(len(uploaded))})


def _remote_etags(client: Any, bucket: str, prefix: str) -> dict[str, str]:
    etags: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            etags[item["Key"]] = item["ETag"].strip('"')
    return etags


def _headers(key: str, rules: list[CacheRule]) -> dict[str, Any]:
    """Content type from the name, and the first cache rule whose glob matches the key."""
    headers: dict[str, Any] = {
        "ContentType": mimetypes.guess_type(key)[0] or "application/octet-stream"
    }
    rule = next((r for r in rules if fnmatch(key, r.pattern)), None)
    if rule is not None:
        headers["CacheControl"] = rule.cache_control
    return headers
