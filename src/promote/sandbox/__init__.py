"""The sandbox: the estate's accounts emulated on this machine (moto's server).

Part 1 of the sandbox issue: one emulated account per environment, reached through AWS
profiles named as the estate's ``credentials.profile``. See docs/sandbox.md.
"""

from __future__ import annotations

from promote.sandbox.errors import SandboxError
from promote.sandbox.profiles import SandboxAccount, accounts_for, render_config
from promote.sandbox.server import Running, Sandbox, running, stop_running

__all__ = [
    "Running",
    "Sandbox",
    "SandboxAccount",
    "SandboxError",
    "accounts_for",
    "render_config",
    "running",
    "stop_running",
]
