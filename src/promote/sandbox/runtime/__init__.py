"""The sandbox's Lambda data plane: functions deployed to moto, run in worker processes.

::

    with LambdaRuntime(sandbox.endpoint, work_dir) as runtime:
        invocation = runtime.invoke(FunctionRef(account, region, "orders", "live"), event)
"""

from __future__ import annotations

from promote.sandbox.runtime.functions import FunctionNotFound, InvalidCode
from promote.sandbox.runtime.runtime import LambdaRuntime

__all__ = ["FunctionNotFound", "InvalidCode", "LambdaRuntime"]
