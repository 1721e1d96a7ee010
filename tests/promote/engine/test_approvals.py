"""The approval tally, pure: who may approve, and what is still wanted."""

from __future__ import annotations

from promote.engine.approvals import Requirement, Tally

ROLES = {"tech_lead": ["ann", "bob"], "devops_lead": ["ann", "dan"], "dba": ["dee"]}


def tally(*needs: Requirement, four_eyes: bool = True) -> Tally:
    return Tally(list(needs), ROLES, "starter", four_eyes)


def test_approvals_need_distinct_people_even_when_one_holds_both_roles() -> None:
    t = tally(Requirement("tech_lead", 1, "Tech Lead"), Requirement("devops_lead", 1, "DevOps"))
    t.grant("ann")
    assert not t.satisfied and t.waiting_for() == "1 of DevOps"
    assert t.refusal("ann") == "`ann` has already approved; N of M needs distinct people"
    t.grant("dan")
    assert t.satisfied and t.approvers == ["ann", "dan"]


def test_one_person_attests_every_item_of_their_role_with_one_approval() -> None:
    t = tally(
        Requirement("tech_lead", 1, "Tech Lead"),
        Requirement("devops_lead", 1, "DevOps Lead for `backups`", "backups"),
        Requirement("devops_lead", 1, "DevOps Lead for `runbook`", "runbook"),
        Requirement("dba", 1, "DBA for `restore`", "restore"),
    )
    t.grant("ann")  # Tech Lead approval and both DevOps Lead items
    assert t.waiting_for() == "DBA for `restore`"
    assert t.refusal("ann") == "`ann` has already approved; N of M needs distinct people"
    assert t.refusal("dan") is not None  # nothing left that dan may attest
    t.grant("dee")
    assert t.satisfied and t.approvers == ["ann", "dee"]


def test_four_eyes_refuses_the_starter_and_unknown_people() -> None:
    t = Tally([Requirement(None, 1, "anyone", "item")], {"r": ["starter"]}, "starter", True)
    assert "four eyes" in (t.refusal("starter") or "")
    assert "unknown person" in (t.refusal("mallory") or "")
    assert (
        Tally([Requirement(None, 1, "x", "i")], {"r": ["starter"]}, "starter", False).refusal(
            "starter"
        )
        is None
    )
