"""boto3 clients for the gateway's reads from the emulator, made once and shared.

Making a client costs milliseconds (it loads the service model), far more than the request
it would serve, so each (account, region, service) gets one. Clients are thread-safe; the
sessions that make them are not, hence the lock.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.config import Config

from promote.sandbox.invocation import account_session

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_s3 import S3Client

# CloudFront is global: its API lives in us-east-1.
CLOUDFRONT_REGION: Final = "us-east-1"

_CONFIG: Final = Config(
    # The gateway serves many requests at once; each may read through the same client.
    max_pool_connections=64,
    connect_timeout=5,
    read_timeout=30,
    retries={"mode": "standard", "max_attempts": 2},
)


class Clients:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def cloudfront(self, account_id: str) -> CloudFrontClient:
        return cast("CloudFrontClient", self.get(account_id, CLOUDFRONT_REGION, "cloudfront"))

    def s3(self, account_id: str, region: str) -> S3Client:
        return cast("S3Client", self.get(account_id, region, "s3"))

    def get(self, account_id: str, region: str, service: str) -> Any:
        key = (account_id, region, service)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            if key not in self._clients:
                # Any: the service is chosen at run time, past the stubs' overloads.
                session: Any = account_session(self.endpoint, account_id, region)
                self._clients[key] = session.client(
                    service, endpoint_url=self.endpoint, config=_CONFIG
                )
            return self._clients[key]
