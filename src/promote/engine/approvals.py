"""Approvals: who must say yes before a project deploys, and who may. Pure.

A requirement is N distinct people holding a role (N of M). Each person counts once across
all of a project's approvals, so "Tech Lead and DevOps Lead" needs two people even when
one holds both roles. Under four eyes the person who started the run may not approve it.
``manual`` precondition checks, manual steps and success criteria become requirements with
an ``item``: a person attests it, and one person may attest several items (the runbooks'
checklists are signed by one DevOps Lead), each once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Requirement:
    role: str | None  # None: anyone the estate names in a role (a manual check without role)
    count: int
    title: str
    item: str | None = None  # the manual check's item, if this came from one

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "count": self.count, "title": self.title, "item": self.item}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Requirement:
        return cls(data["role"], data["count"], data["title"], data.get("item"))


class Tally:
    """The approvals a project has, and what it still waits for."""

    def __init__(
        self,
        requirements: Sequence[Requirement],
        roles: Mapping[str, Sequence[str]],
        started_by: str,
        four_eyes: bool,
    ) -> None:
        self.requirements = list(requirements)
        self.roles = roles
        self.started_by = started_by
        self.four_eyes = four_eyes
        self.granted: list[list[str]] = [[] for _ in self.requirements]

    @property
    def approvers(self) -> list[str]:
        people = [person for granted in self.granted for person in granted]
        return list(dict.fromkeys(people))

    def _approvals_by(self, person: str) -> bool:
        return any(
            person in granted
            for req, granted in zip(self.requirements, self.granted, strict=True)
            if req.item is None
        )

    @property
    def satisfied(self) -> bool:
        return all(len(g) >= r.count for r, g in zip(self.requirements, self.granted, strict=True))

    def refusal(self, person: str) -> str | None:
        """Why ``person`` may not approve now, or None if they may."""
        if not self._known(person):
            known = sorted({p for people in self.roles.values() for p in people})
            return f"unknown person `{person}`: the estate's roles name {', '.join(known)}"
        if self.four_eyes and person == self.started_by:
            return f"`{person}` started this run; four eyes: someone else must approve"
        if not self._slots_for(person):
            if self._approvals_by(person):
                return f"`{person}` has already approved; N of M needs distinct people"
            return f"`{person}` holds none of the roles still needed ({self.waiting_for()})"
        return None

    def grant(self, person: str) -> None:
        """One approval slot the person fills, and every open item they may attest."""
        slots = self._slots_for(person)
        if not slots or self.refusal(person) is not None:
            raise ValueError(f"{person} may not approve")  # callers ask refusal() first
        for slot in slots:
            self.granted[slot].append(person)

    def may_reject(self, person: str) -> str | None:
        """Anyone holding a required role may reject, except under four eyes the starter."""
        if self.four_eyes and person == self.started_by:
            return f"`{person}` started this run; four eyes: someone else must decide"
        if not any(self._holds(person, r) for r in self.requirements):
            return f"`{person}` holds none of the roles this project needs"
        return None

    def waiting_for(self) -> str:
        """``1 of Tech Lead, 2 of DBA``: how many more people of which roles."""
        parts = [
            r.title if r.item else f"{r.count - len(g)} of {r.title}"  # an item's title says who
            for r, g in zip(self.requirements, self.granted, strict=True)
            if len(g) < r.count
        ]
        return ", ".join(parts) or "nothing"

    def _known(self, person: str) -> bool:
        return any(person in people for people in self.roles.values())

    def _holds(self, person: str, requirement: Requirement) -> bool:
        if requirement.role is None:
            return self._known(person)
        return person in self.roles.get(requirement.role, ())

    def _slots_for(self, person: str) -> list[int]:
        slots: list[int] = []
        approval_taken = self._approvals_by(person)
        for index, (req, got) in enumerate(zip(self.requirements, self.granted, strict=True)):
            if len(got) >= req.count or person in got or not self._holds(person, req):
                continue
            if req.item is None:
                if approval_taken:
                    continue
                approval_taken = True
            slots.append(index)
        return slots
