"""Verdicts and the evidence behind them. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"  # enough data, and it is on the good side
    FAIL = "fail"  # the data shows, beyond the test's error rate, that the release is bad
    INCONCLUSIVE = "inconclusive"  # too little data, or not yet enough evidence either way


@dataclass(frozen=True)
class Judgement:
    """One judge's verdict with what it saw: ``statistic`` against ``threshold`` (their
    meaning is in ``measure``), the sample sizes and the inputs, so a reader can redo it."""

    judge: str
    verdict: Verdict
    reason: str
    measure: str  # what ``statistic`` is, e.g. "error rate" or "log Bayes factor"
    statistic: float
    threshold: float
    samples: Mapping[str, int] = field(default_factory=dict)  # requests per version role
    inputs: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Judgement:
        return cls(**{**data, "verdict": Verdict(data["verdict"])})


def combine(judgements: Iterable[Judgement]) -> Verdict:
    """Any Fail fails; otherwise any Inconclusive is Inconclusive; no judges at all Pass (a
    policy without analysis is a timed bake)."""
    verdicts = {j.verdict for j in judgements}
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def failures(judgements: Iterable[Judgement]) -> list[Judgement]:
    return [j for j in judgements if j.verdict is Verdict.FAIL]
