"""The promotion engine: durable runs on DBOS, per-project phases, approvals and the journal.

``promote.engine.runs`` holds the entry points (Engine, RunControl). This package imports
nothing heavy, so ``promote.engine.steps`` can be used without DBOS being loaded.
"""

from promote.engine.phases import ProjectPhase, RunPhase

__all__ = ["ProjectPhase", "RunPhase"]
