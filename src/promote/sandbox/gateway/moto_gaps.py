"""What moto 5.2's CloudFront forgets, and the CDN front needs: kept by wrapping its models.

Moto stores a distribution but answers ``LambdaFunctionAssociations`` as empty and drops
``S3OriginConfig``; without the associations the CDN front could run no edge function. The
wrap keeps what was sent. It works on the in-process server (the sandbox runs moto in its
own process), applies to distributions created or updated after it, and is idempotent.

Moto has no origin access identities at all, which an S3 origin reads through: the same call
adds them (:mod:`promote.sandbox.moto_oai`).
"""

from __future__ import annotations

import threading
from typing import Any, Final

_MARK: Final = "_promote_keeps_edge_config"
_lock = threading.Lock()


def keep_edge_config() -> None:
    """Make moto's CloudFront keep edge function associations and S3 origin settings, and
    serve origin access identities. Call it before the server answers CloudFront requests."""
    from moto.cloudfront import models

    from promote.sandbox.moto_oai import serve_origin_access_identities
    from promote.sandbox.moto_replicas import serve_replicas  # DynamoDB global tables

    serve_origin_access_identities()
    serve_replicas()

    with _lock:
        if getattr(models.DefaultCacheBehaviour.__init__, _MARK, False):
            return
        keep_behaviour = models.DefaultCacheBehaviour.__init__
        keep_origin = models.Origin.__init__

        def behaviour(self: Any, config: dict[str, Any]) -> None:
            keep_behaviour(self, config)
            given = config.get("LambdaFunctionAssociations")
            self.lambda_function_associations = given or {"Quantity": 0}

        def origin(self: Any, config: dict[str, Any]) -> None:
            keep_origin(self, config)
            if "S3OriginConfig" in config:
                self.s3_origin_config = config["S3OriginConfig"]

        # CacheBehaviour.__init__ calls DefaultCacheBehaviour.__init__: both keep them.
        setattr(behaviour, _MARK, True)
        setattr(models.DefaultCacheBehaviour, "__init__", behaviour)  # noqa: B010
        setattr(models.Origin, "__init__", origin)  # noqa: B010
