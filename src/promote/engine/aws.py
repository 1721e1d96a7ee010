"""The engine's real executor: checks, steps and smoke tests run in the target
environment's account through boto3 (:mod:`promote.engine.steps`).

Each environment is reached through its ``credentials.profile`` (as the runbooks'
``AWS_PROFILE=Tebogo-sit``), assuming its ``credentials.role_arn`` when it names one.
Promoting into the sandbox is the same with the sandbox's profiles (``profiles``, selected
by ``AWS_CONFIG_FILE``), and every request goes to its gateway (``http_connect`` for https,
``plain_http_connect`` for http), trusting its CA, like ``curl --connect-to``; none goes
to a real host. Evidence leaves here redacted as the journal redacts it (secret values and
credential-like fields), so DBOS's checkpoints hold none either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import boto3

from promote.analysis.cloudwatch import CloudWatchMetrics
from promote.analysis.evaluate import CachedSource
from promote.analysis.observations import MetricSource
from promote.engine import steps
from promote.engine.artifacts import ArtifactError, ArtifactStore
from promote.engine.journal import Redactor
from promote.engine.ports import AliasShift, StepOutcome, Target
from promote.model import Check, Estate, SmokeTest, Step
from promote.model.steps import TerraformStep

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
        profiles: Mapping[str, str] | None = None,
        plain_http_connect: tuple[str, int] | None = None,
        workdir: Path | None = None,
        state_dir: Path | None = None,
        inputs: Mapping[str, str] | None = None,
        overrides: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._estate = estate
        self._sessions = sessions or self._profile_session
        self._http_connect = http_connect
        self._plain_http_connect = plain_http_connect
        self._ca_file = ca_file
        self._secrets = frozenset(s for s in secrets if s)
        self._redactor = Redactor(self._secrets)
        # Environment -> profile name, when not the estate's own (the sandbox's).
        self._profiles = dict(profiles or {})
        # Secret run inputs (``${token}``): only ever here, in this process's memory.
        self._inputs = dict(inputs or {})
        # Environment -> variables that win over the estate's: the sandbox's token issuer.
        self._overrides = {env: dict(values) for env, values in (overrides or {}).items()}
        self._secrets = self._secrets | frozenset(v for v in self._inputs.values() if v)
        self._redactor = Redactor(self._secrets)
        self._workdir = workdir
        self._state_dir = state_dir
        self._local = threading.local()
        self._lock = threading.Lock()

    def check(self, target: Target, check: Check) -> StepOutcome:
        return self._outcome(steps.run_check(self._target(target), check))

    def step(self, target: Target, step: Step) -> StepOutcome:
        return self._outcome(steps.run_step(self._target(target), step))

    def smoke_test(self, target: Target, test: SmokeTest) -> StepOutcome:
        return self._outcome(steps.run_smoke_test(self._target(target), test))

    def shift(self, target: Target, alias: AliasShift) -> StepOutcome:
        where = self._target(target)
        return self._outcome(
            steps.shift_traffic(
                where, alias.function, alias.alias, alias.version, alias.previous, alias.weight
            )
        )

    def terraform_apply(self, target: Target, step: Step, plan_file: str) -> StepOutcome:
        if not isinstance(step, TerraformStep):
            raise TypeError(f"terraform_apply needs a terraform step, not {step.kind}")
        return self._outcome(steps.apply_terraform(self._target(target), step, plan_file))

    def metrics(self, target: Target) -> MetricSource:
        """CloudWatch in the target's account and region, remembering settled seconds (one
        source per thread and place: a canary is evaluated every second)."""
        sources: dict[tuple[str, str], MetricSource] | None = getattr(self._local, "metrics", None)
        if sources is None:
            sources = self._local.metrics = {}
        place = (target.environment, target.region)
        if place not in sources:
            client = self._session(target.environment).client(
                "cloudwatch", region_name=target.region
            )
            sources[place] = CachedSource(CloudWatchMetrics(client))
        return sources[place]

    def _outcome(self, outcome: steps.Outcome) -> StepOutcome:
        # Outputs stay whole: later steps use them (a captured id); the journal redacts
        # what it records of them.
        return StepOutcome(
            passed=outcome.passed,
            summary=self._redactor(outcome.summary),
            evidence=self._redactor(outcome.evidence),
            outputs=dict(outcome.outputs),
        )

    def _target(self, target: Target) -> steps.Target:
        environment = self._estate.environment(target.environment)
        overrides = self._overrides.get(target.environment, {})
        variables = {**target.variables, **overrides, **self._inputs}
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
            plain_http_connect=self._plain_http_connect,
            workdir=self._workdir,
            artifact=target.artifact,
            read_artifact=self._read_artifact,
            scratch=self._scratch(target.run_id, target.project),
        )

    def _read_artifact(self, sha256: str) -> bytes:
        if self._state_dir is None:
            raise ArtifactError("this executor has no state directory to read artifacts from")
        return ArtifactStore(self._state_dir / "artifacts").read(sha256)

    def _scratch(self, run_id: str, project: str) -> Path | None:
        if self._state_dir is None:
            return None
        return self._state_dir / "runs" / run_id / "work" / project

    def _session(self, env: str) -> boto3.Session:
        # boto3 sessions are not thread-safe while they make clients, and the projects of a
        # layer run in threads of their own: one session per thread and environment.
        cache: dict[str, boto3.Session] | None = getattr(self._local, "sessions", None)
        if cache is None:
            cache = self._local.sessions = {}
        if env not in cache:
            with self._lock:  # reading the shared config files: one at a time
                cache[env] = self._sessions(env)
        return cache[env]

    def _profile_session(self, env: str) -> boto3.Session:
        environment = self._estate.environment(env)
        credentials = environment.credentials
        profile = self._profiles.get(env, credentials.profile)
        session = boto3.Session(profile_name=profile, region_name=environment.region)
        if env in self._profiles or not credentials.role_arn:
            return session  # the sandbox's profiles assume their role themselves
        assumed = session.client("sts").assume_role(
            RoleArn=credentials.role_arn, RoleSessionName=f"promote-{env}"
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
            region_name=environment.region,
        )
