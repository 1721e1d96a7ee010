"""promote: promotion-as-code for multi-service, multi-account AWS estates.

The public API is re-exported here so that internals can move::

    from promote import load_estate, validate, make_plan
"""

__version__ = "0.1.0"

from promote.diagnostics import Diagnostic, Severity
from promote.errors import EstateInvalid, PromoteError, UnknownEnvironment, UsageError
from promote.loader import LoadResult, load_estate
from promote.model import Estate, EstateSpec, Project
from promote.planning import EnvironmentPlan, make_plan
from promote.rules import RULES, validate

__all__ = [
    "RULES",
    "Diagnostic",
    "EnvironmentPlan",
    "Estate",
    "EstateInvalid",
    "EstateSpec",
    "LoadResult",
    "Project",
    "PromoteError",
    "Severity",
    "UnknownEnvironment",
    "UsageError",
    "__version__",
    "load_estate",
    "make_plan",
    "validate",
]
