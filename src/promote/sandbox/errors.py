"""The sandbox's errors: one branch of :mod:`promote.errors`' tree.

::

    PromoteError                 PRM000
    └── SandboxError             PRM020  the sandbox could not start, stop or be found
"""

from __future__ import annotations

from promote.errors import PromoteError


class SandboxError(PromoteError):
    code = "PRM020"
