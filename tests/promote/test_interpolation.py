from __future__ import annotations

import pytest

from promote.interpolation import (
    UndefinedVariable,
    environment_variables,
    interpolate,
    project_variables,
    variables_in,
)
from promote.model import Environment


def test_substitutes_and_keeps_shell_syntax() -> None:
    text = "aws lambda update-alias --function-name ${fn} --function-version $LATEST $${HOME}"
    assert interpolate(text, {"fn": "product-handler-sit"}) == (
        "aws lambda update-alias --function-name product-handler-sit --function-version $LATEST "
        "${HOME}"
    )
    assert variables_in(text) == ["fn"]


def test_undefined_raises_unless_kept() -> None:
    with pytest.raises(UndefinedVariable) as caught:
        interpolate("Bearer ${token}", {})
    assert caught.value.name == "token"
    assert interpolate("Bearer ${token}", {}, keep={"token"}) == "Bearer ${token}"


def test_environment_and_project_variables() -> None:
    env = Environment.model_validate(
        {
            "account_id": "815856636111",
            "region": "eu-west-1",
            "domain": "sit.kimmyai.io",
            "api_domain": "api.sit.kimmyai.io",
            "credentials": {"profile": "Tebogo-sit"},
            "variables": {"stage": "sit"},
        }
    )
    base = environment_variables("sit", env)
    assert base["profile"] == "Tebogo-sit" and base["edge_region"] == "us-east-1"
    assert "dr_region" not in base and base["stage"] == "sit"
    values = project_variables(
        base,
        {"function": "product-handler-${env}", "url": "https://${api_domain}/v1.0/${function}"},
    )
    assert values["url"] == "https://api.sit.kimmyai.io/v1.0/product-handler-sit"
