"""The engine's real executor: checks, steps and smoke tests run in the target
environment's account through boto3 (:mod:`promote.engine.steps`).

Each environment is reached through its ``credentials.profile`` (as the runbooks'
``AWS_PROFILE=Tebogo-sit``); promoting into the sandbox is the same, with its profiles
selected by ``AWS_CONFIG_FILE`` and smoke tests connected to its gateway (``http_connect``)
trusting its CA, like ``curl --connect-to``. Outcomes leave here redacted: no secret input
reaches the journal or DBOS's checkpoints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import boto3

from promote.engine import steps
from promote.engine.ports import StepOutcome, Target
from promote.model import Check, Estate, SmokeTest, Step

SessionFactory = Callable[[str], boto3.Session]


class AwsExecutor:
    """An :class:`~promote.engine.ports.Executor` acting in the estate's accounts."""

    def __init__(
        self,
        estate: Estate,
        *,
        sessions: SessionFactory | None = None,
        http_connect: tuple[str, int] | None = None,
        ca_file: Path | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self._estate = estate
        self._sessions = sessions or self._profile_session
        self._http_connect = http_connect
        self._ca_file = ca_file
        self._secrets = frozenset(s for s in secrets if s)
        self._cache: dict[str, boto3.Session] = {}
        self._lock = threading.Lock()

    def check(self, target: Target, check: Check) -> StepOutcome:
        return _outcome(steps.run_check(self._target(target), check))

    def step(self, target: Target, step: Step) -> StepOutcome:
        return _outcome(steps.run_step(self._target(target), step))

    def smoke_test(self, target: Target, test: SmokeTest) -> StepOutcome:
        return _outcome(steps.run_smoke_test(self._target(target), test))

    def _target(self, target: Target) -> steps.Target:
        environment = self._estate.environment(target.environment)
        variables = dict(target.variables)
        if environment.credentials.profile:
            variables.setdefault("profile", environment.credentials.profile)
        return steps.Target(
            env=target.environment,
            account_id=target.account_id,
            region=target.region,
            session=self._session(target.environment),
            variables=variables,
            secrets=self._secrets,
            http_connect=self._http_connect,
            ca_file=self._ca_file,
        )

    def _session(self, env: str) -> boto3.Session:
        # boto3 sessions are not thread-safe while they make clients: one per environment,
        # made under a lock.
        with self._lock:
            if env not in self._cache:
                self._cache[env] = self._sessions(env)
            return self._cache[env]

    def _profile_session(self, env: str) -> boto3.Session:
        environment = self._estate.environment(env)
        return boto3.Session(
            profile_name=environment.credentials.profile, region_name=environment.region
        )


def _outcome(outcome: steps.Outcome) -> StepOutcome:
    return StepOutcome(
        passed=outcome.passed,
        summary=outcome.summary,
        evidence=outcome.evidence,
        outputs=dict(outcome.outputs),
    )
