"""The data plane moto lacks, wired together for one estate.

Moto emulates the control planes; it runs no function code and ignores alias weights. The
sandbox adds, in this order of start (stop is the reverse):

1. fixes to moto's in-process models the data plane relies on (CloudFront's edge function
   associations; SQS no longer invoking Lambda itself, which needs Docker; Lambda's Invoke
   API served by the runtime below);
2. :class:`~promote.sandbox.telemetry.Telemetry`: EMF and per-version Lambda metrics to
   CloudWatch, logs to CloudWatch Logs;
3. :class:`~promote.sandbox.runtime.LambdaRuntime`: the functions, in worker processes;
4. :class:`~promote.sandbox.event_sources.SqsEventSources`: SQS event source mappings;
5. :class:`~promote.sandbox.gateway.Gateway`: API Gateway and CloudFront on 127.0.0.1, with
   the token issuers' discovery documents (:class:`~promote.sandbox.tokens.Issuers`).

Functions trust the sandbox's CA as real ones trust the public CAs: every worker gets
``SSL_CERT_FILE`` (and ``REQUESTS_CA_BUNDLE``) naming ``ca-bundle.pem``, this machine's CAs
plus the sandbox's. So a function fetches its issuer's JWKS over https from the gateway.
"""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path
from typing import Any

from promote.model import Estate
from promote.sandbox.event_sources import SqsEventSources, detach_moto_sqs_triggers
from promote.sandbox.gateway import Gateway, keep_edge_config, routes_for
from promote.sandbox.runtime import LambdaRuntime, moto_invoke
from promote.sandbox.telemetry import Telemetry
from promote.sandbox.tokens import Issuers


class Services:
    def __init__(
        self,
        estate: Estate,
        endpoint: str,
        state_dir: Path,
        http_port: int,
        https_port: int | None,
    ) -> None:
        self.estate = estate
        self.endpoint = endpoint
        self.state_dir = state_dir
        self.telemetry = Telemetry(endpoint)
        self._worker_environment: dict[str, str] = {}  # filled once the CA exists
        self.runtime = LambdaRuntime(
            endpoint,
            state_dir / "lambda",
            listeners=[self.telemetry],
            environment=self._worker_environment,
        )
        self.sources = SqsEventSources(self.runtime, endpoint, _places(estate))
        # Filled once the gateway has its port: the issuer URLs name it, and the gateway
        # reads this mapping on every request.
        self._jwks: dict[str, Any] = {}
        self.gateway = Gateway(
            self.runtime,
            routes_for(estate),
            endpoint,
            state_dir,
            http_port=http_port,
            https_port=https_port,
            oidc=self._jwks,
        )
        self.issuers: Issuers | None = None
        self._started: list[Any] = []

    def start(self) -> None:
        keep_edge_config()
        detach_moto_sqs_triggers()
        moto_invoke.attach(self.runtime)
        try:
            for part in (self.telemetry, self.sources, self.gateway):
                part.start()
                self._started.append(part)
            base_url = self.gateway.issuer_base
            self.issuers = Issuers(self.state_dir, list(self.estate.spec.environments), base_url)
            self._jwks.update(self.issuers.jwks_by_env())
            if self.gateway.ca_file.exists():
                bundle = _ca_bundle(self.gateway.ca_file, self.state_dir / "ca-bundle.pem")
                self._worker_environment.update(
                    SSL_CERT_FILE=str(bundle), REQUESTS_CA_BUNDLE=str(bundle)
                )
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        # The gateway and event sources call the runtime; telemetry hears from it.
        for part in (self.gateway, self.sources):
            if part in self._started:
                part.stop()
        moto_invoke.detach()
        self.runtime.close()
        if self.telemetry in self._started:
            self.telemetry.stop()
        self._started.clear()

    def issuer_urls(self) -> dict[str, str]:
        if self.issuers is None:
            return {}
        return {env: self.issuers.issuer(env) for env in self.issuers.environments}


def _places(estate: Estate) -> list[tuple[str, str]]:
    """Every (account, region) functions may live in: each environment's home and DR
    regions, and its edge region (Lambda@Edge)."""
    places: list[tuple[str, str]] = []
    for env in estate.spec.environments.values():
        for region in (env.region, env.dr_region, env.edge_region):
            if region and (env.account_id, region) not in places:
                places.append((env.account_id, region))
    return places


def _ca_bundle(ca_file: Path, bundle: Path) -> Path:
    """This machine's trusted CAs followed by the sandbox's."""
    system = ssl.get_default_verify_paths().openssl_cafile
    parts = []
    # Without a system bundle, the sandbox's CA alone still serves the sandbox's hosts.
    with contextlib.suppress(OSError):
        parts.append(Path(system).read_text())
    parts.append(ca_file.read_text())
    bundle.write_text("\n".join(parts))
    return bundle
