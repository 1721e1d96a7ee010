"""Build once, promote along ``promotion_path`` on a real DBOS with a fake executor: a release
enters SIT only after it succeeded in DEV, and SIT runs exactly what DEV ran."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from promote.engine.artifacts import ArtifactError, build_zip
from promote.engine.errors import PromotionRefused
from promote.engine.phases import ProjectPhase, RunPhase
from promote.engine.runs import Engine
from promote.model import Estate

from . import Make, build, events, project, shell

PATH = ["dev", "sit"]


def shop(tables_command: str = "echo tables") -> Estate:
    """Two projects without artifacts (released as revisions), independent so that one
    layer runs them."""
    tables = {"kind": "shell", "name": "tables-deploy", "command": tables_command}
    return build(
        [
            project("tables", "infra", steps=[tables]),
            project("api", "infra", steps=[shell("api-deploy")]),
        ],
        promotion_path=PATH,
    )


def promote(engine: Engine, estate: Estate, env: str, **options: Any) -> str:
    run_id = engine.start_run(estate, env, started_by="ann", **options)
    status = engine.wait(run_id, timeout=30)
    assert status.phase.is_final, status
    return run_id


def test_a_release_enters_sit_only_after_it_succeeded_in_dev(make: Make) -> None:
    engine, fake = make()

    with pytest.raises(PromotionRefused) as refused:
        engine.start_run(shop(), "sit", started_by="ann")
    assert refused.value.code == "PRM044"
    assert "`tables` has not succeeded in dev" in str(refused.value)
    assert "`api` has not succeeded in dev" in str(refused.value)
    assert fake.calls == []

    dev = promote(engine, shop(), "dev")
    sit = promote(engine, shop(), "sit")

    assert engine.status(sit).phase is RunPhase.SUCCEEDED
    current = engine.ledger.current()
    for name in ("tables", "api"):
        there, here = current[("dev", name)], current[("sit", name)]
        assert (there.run_id, here.run_id) == (dev, sit)
        assert here.sha256 == there.sha256 and here.artifact["kind"] == "revision"
    for run_id, env in ((dev, "dev"), (sit, "sit")):
        updated = events(engine, run_id, "ledger.updated")
        assert sorted((e["environment"], e["project"]) for e in updated) == [
            (env, "api"),
            (env, "tables"),
        ]
    assert engine.ledger.verify().ok


def test_a_refusal_carries_its_code_once(make: Make) -> None:
    engine, _ = make()

    with pytest.raises(PromotionRefused) as refused:
        engine.start_run(shop(), "sit", ["api"], started_by="ann")

    assert str(refused.value) == "PRM044 not promotable to sit: `api` has not succeeded in dev"


def test_a_failure_or_a_change_since_dev_keeps_a_project_out_of_sit(make: Make) -> None:
    engine, _ = make(fail={"api-deploy"})
    dev = promote(engine, shop(), "dev")
    assert engine.status(dev).projects["api"].phase is ProjectPhase.FAILED
    assert engine.status(dev).projects["tables"].phase is ProjectPhase.SUCCEEDED

    with pytest.raises(PromotionRefused) as refused:
        engine.start_run(shop(), "sit", started_by="ann")
    assert "`api` has not succeeded in dev" in str(refused.value)
    assert "tables" not in str(refused.value)  # it succeeded there

    changed = shop(tables_command="echo tables v2")
    with pytest.raises(PromotionRefused, match="`tables` changed since it succeeded in dev"):
        engine.start_run(changed, "sit", ["tables"], started_by="ann")
    assert ("sit", "tables") not in engine.ledger.current()


def test_a_zip_is_built_once_in_dev_and_sit_promotes_the_same_bytes(
    make: Make, tmp_path: Path
) -> None:
    source = tmp_path / "functions" / "orders"
    source.mkdir(parents=True)
    (source / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    orders = project(
        "orders",
        "apps",
        steps=[shell("orders-deploy")],
        artifact={"source": "functions/orders"},
    )
    estate = build([orders], promotion_path=PATH)
    engine, fake = make()

    dev = promote(engine, estate, "dev", estate_dir=tmp_path)
    zips = sorted(engine.artifacts.root.glob("*.zip"))
    assert len(zips) == 1
    built = hashlib.sha256(zips[0].read_bytes()).hexdigest()
    assert zips[0].name == f"{built}.zip"
    assert fake.targets["orders-deploy"].artifact == engine.artifacts.get(built).to_json()

    # An edit after DEV makes another zip, but SIT takes the one DEV ran.
    (source / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    rebuilt = hashlib.sha256(build_zip(source, ["**/*"], [])).hexdigest()
    assert rebuilt != built
    sit = promote(engine, estate, "sit", estate_dir=tmp_path)

    assert engine.status(sit).phase is RunPhase.SUCCEEDED
    assert sorted(engine.artifacts.root.glob("*.zip")) == zips
    current = engine.ledger.current()
    assert current[("dev", "orders")].sha256 == current[("sit", "orders")].sha256 == built
    assert current[("dev", "orders")].run_id == dev
    assert fake.targets["orders-deploy"].artifact["sha256"] == built  # sit's call
    assert [e["sha256"] for e in events(engine, sit, "artifact", "orders")] == [built]


def test_a_zip_that_left_the_store_is_not_promoted(make: Make, tmp_path: Path) -> None:
    source = tmp_path / "functions" / "orders"
    source.mkdir(parents=True)
    (source / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    orders = project(
        "orders", "apps", steps=[shell("orders-deploy")], artifact={"source": "functions/orders"}
    )
    estate = build([orders], promotion_path=PATH)
    engine, fake = make()
    promote(engine, estate, "dev", estate_dir=tmp_path)
    (zipped,) = engine.artifacts.root.glob("*.zip")
    zipped.unlink()  # its record stays

    with pytest.raises((ArtifactError, PromotionRefused), match=zipped.stem):
        engine.start_run(estate, "sit", started_by="ann", estate_dir=tmp_path)
    assert fake.calls == ["orders-deploy"]  # dev's only


def three_environments(**policies: Any) -> Estate:
    """dev -> sit -> prod, with the estate's promotion policies."""
    from . import SPEC

    prod = {**SPEC["environments"]["sit"], "account_id": "333333333333", "domain": "shop.test"}
    prod["api_domain"] = "api.shop.test"
    return build(
        [project("tables", "infra", steps=[shell("tables-deploy")])],
        environments={**SPEC["environments"], "prod": prod},
        promotion_path=["dev", "sit", "prod"],
        promotion_policies=policies,
    )


def test_a_policy_may_name_another_way_in(make: Make) -> None:
    engine, _ = make()
    estate = three_environments(hotfix={"environment": "prod", "after": "dev"})
    promote(engine, estate, "dev")

    with pytest.raises(PromotionRefused, match="`tables` has not succeeded in sit"):
        engine.start_run(estate, "prod", started_by="ann")
    run_id = promote(engine, estate, "prod", policy="hotfix")  # straight from dev
    assert engine.status(run_id).phase is RunPhase.SUCCEEDED
    assert engine.ledger.deployed("prod", "tables") is not None

    with pytest.raises(PromotionRefused, match="policy `hotfix` is for prod, not sit"):
        engine.start_run(estate, "sit", started_by="ann", policy="hotfix")
    with pytest.raises(PromotionRefused, match="no promotion policy `nope` \\(hotfix\\)"):
        engine.start_run(estate, "prod", started_by="ann", policy="nope")


def test_an_immediate_prod_policy_waits_for_a_passed_soak_of_that_release(make: Make) -> None:
    engine, _ = make()
    policy = {"environment": "prod", "after": "sit", "soak": True}
    estate = three_environments(immediate_prod=policy)
    promote(engine, estate, "dev")
    sit = promote(engine, estate, "sit")
    release = engine.ledger.deployed("sit", "tables")
    assert release is not None

    def soak(status: str, sha256: str) -> None:
        entry = {"environment": "sit", "project": "tables", "run_id": sit, "status": status}
        engine.ledger.append(f"soak:{status}:{sha256}", {**entry, "artifact": {"sha256": sha256}})

    refusal = "`tables` has no passed soak of .* in sit \\(policy `immediate_prod`\\)"
    with pytest.raises(PromotionRefused, match=refusal):
        engine.start_run(estate, "prod", started_by="ann", policy="immediate_prod")
    soak("soak_passed", "another release")  # a soak of something else does not count
    soak("soak_failed", release.sha256)
    with pytest.raises(PromotionRefused, match=refusal):
        engine.start_run(estate, "prod", started_by="ann", policy="immediate_prod")

    soak("soak_passed", release.sha256)
    run_id = promote(engine, estate, "prod", policy="immediate_prod")
    assert engine.status(run_id).phase is RunPhase.SUCCEEDED
    assert engine.ledger.deployed("sit", "tables") == release  # soaks are not deployments


def test_a_production_environment_off_the_path_is_refused_without_a_policy(make: Make) -> None:
    engine, _ = make()
    estate = three_environments(hotfix={"environment": "prod", "after": "sit"})
    spec = estate.spec.model_copy(update={"promotion_path": ["dev", "sit"]})
    spec.environments["prod"] = spec.environments["prod"].model_copy(update={"production": True})
    off_path = type(estate)(spec=spec, projects=estate.projects)
    promote(engine, off_path, "dev")
    promote(engine, off_path, "sit")
    with pytest.raises(PromotionRefused, match="prod is a production environment off"):
        engine.start_run(off_path, "prod", started_by="ann")
    assert engine.status(promote(engine, off_path, "prod", policy="hotfix")).phase is (
        RunPhase.SUCCEEDED
    )


def test_only_the_newest_run_is_rolled_back_and_a_rollback_is_not(make: Make) -> None:
    engine, _ = make()
    estate = shop()
    first = promote(engine, estate, "dev")
    second = promote(engine, shop("echo tables, changed"), "dev")
    with pytest.raises(PromotionRefused, match="no longer what dev runs"):
        engine.start_rollback(first)
    undo = engine.start_rollback(second)
    assert engine.wait(undo, timeout=30).phase is RunPhase.SUCCEEDED
    assert engine.ledger.deployed("dev", "tables").status == "rolled_back"  # type: ignore[union-attr]
    with pytest.raises(PromotionRefused, match="is itself a rollback"):
        engine.start_rollback(undo)
