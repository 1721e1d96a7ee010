"""Errors the engine raises to its callers; each carries a stable code.

::

    PromoteError                 PRM000
    ├── UsageError               PRM001
    │   ├── UnknownRun           PRM040  no run with that id
    │   ├── UnknownProject       PRM041  the run does not promote that project
    │   ├── ApprovalRefused      PRM042  see the class
    │   └── PromotionRefused     PRM044  a release has not succeeded in the environment before
    └── JournalBroken            PRM043  a run's journal fails its hash chain (exit 1)

``ArtifactError`` (PRM045, :mod:`promote.engine.artifacts`) is a PromoteError too.
"""

from __future__ import annotations

from promote.errors import PromoteError, UsageError


class UnknownRun(UsageError):
    code = "PRM040"


class UnknownProject(UsageError):
    code = "PRM041"


class ApprovalRefused(UsageError):
    """Unknown person, a person without a required role, four eyes, or a repeat approval."""

    code = "PRM042"


class JournalBroken(PromoteError):
    """A line of the journal was edited, removed or reordered after it was written."""

    code = "PRM043"


class PromotionRefused(UsageError):
    """``promotion_path``: a release enters an environment only after it succeeded in the one
    before (build once, promote everywhere)."""

    code = "PRM044"
