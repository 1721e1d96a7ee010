"""The estate model: pure pydantic data, no I/O and no clock."""

from promote.model.base import Condition, Duration, Metric, StrictModel, format_duration
from promote.model.checks import Check
from promote.model.environment import EDGE_REGION, Credentials, Environment, Input, Role, Wave
from promote.model.estate import ESTATE_FILE, Estate, EstateSpec
from promote.model.policies import (
    Alarm,
    ApprovalRequirement,
    CanaryStep,
    PromotionPolicy,
    RollbackTrigger,
    Soak,
    SuccessCriterion,
    TrafficPolicy,
)
from promote.model.project import ApiRoute, ArtifactSource, Dependency, Project, ProjectKind
from promote.model.steps import HttpRequest, SmokeTest, Step

__all__ = [
    "EDGE_REGION",
    "ESTATE_FILE",
    "Alarm",
    "ApiRoute",
    "ApprovalRequirement",
    "ArtifactSource",
    "CanaryStep",
    "Check",
    "Condition",
    "Credentials",
    "Dependency",
    "Duration",
    "Environment",
    "Estate",
    "EstateSpec",
    "HttpRequest",
    "Input",
    "Metric",
    "Project",
    "ProjectKind",
    "PromotionPolicy",
    "Role",
    "RollbackTrigger",
    "SmokeTest",
    "Soak",
    "Step",
    "StrictModel",
    "SuccessCriterion",
    "TrafficPolicy",
    "Wave",
    "format_duration",
]
