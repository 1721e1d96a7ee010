"""Accounts and config files from the estate: pure, no emulator."""

from __future__ import annotations

import configparser
from typing import Any

import pytest

from promote.sandbox import SandboxError, accounts_for, render_config
from promote.sandbox.profiles import BASE_PROFILE, DEPLOY_ROLE, render_credentials

from ..conftest import build


def test_one_account_per_environment_named_as_its_profile(spec: dict[str, Any]) -> None:
    accounts = accounts_for(build(spec))
    assert [(a.environment, a.profile, a.account_id, a.region) for a in accounts] == [
        ("dev", "shop-dev", "111111111111", "eu-west-1"),
        ("prod", "shop-prod", "222222222222", "af-south-1"),
    ]
    assert accounts[0].role_arn == f"arn:aws:iam::111111111111:role/{DEPLOY_ROLE}"


def test_the_estates_role_is_used_only_inside_its_own_account(spec: dict[str, Any]) -> None:
    spec["environments"]["dev"]["credentials"]["role_arn"] = "arn:aws:iam::111111111111:role/ci"
    spec["environments"]["prod"]["credentials"]["role_arn"] = "arn:aws:iam::999999999999:role/x"
    dev, prod = accounts_for(build(spec))
    assert (dev.role_arn, dev.role_name) == ("arn:aws:iam::111111111111:role/ci", "ci")
    assert prod.role_arn == f"arn:aws:iam::222222222222:role/{DEPLOY_ROLE}"


def test_an_environment_without_a_profile_gets_one(spec: dict[str, Any]) -> None:
    spec["environments"]["dev"]["credentials"] = {"role_arn": "arn:aws:iam::111111111111:role/ci"}
    assert accounts_for(build(spec))[0].profile == f"{BASE_PROFILE}-dev"


def test_two_environments_may_not_share_a_profile(spec: dict[str, Any]) -> None:
    spec["environments"]["prod"]["credentials"]["profile"] = "shop-dev"
    with pytest.raises(SandboxError, match="`dev` and `prod` would share the profile") as caught:
        accounts_for(build(spec))
    assert str(caught.value).startswith("PRM020 ")


def test_config_assumes_a_role_per_profile_through_the_endpoint(spec: dict[str, Any]) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(render_config(accounts_for(build(spec)), 4599))
    prod = parser["profile shop-prod"]
    assert dict(prod) == {
        "region": "af-south-1",
        "endpoint_url": "http://127.0.0.1:4599",
        "role_arn": f"arn:aws:iam::222222222222:role/{DEPLOY_ROLE}",
        "source_profile": BASE_PROFILE,
        "role_session_name": "promote-sandbox",
    }
    assert parser[f"profile {BASE_PROFILE}"]["endpoint_url"] == "http://127.0.0.1:4599"
    credentials = configparser.ConfigParser()
    credentials.read_string(render_credentials())
    assert set(credentials[BASE_PROFILE]) == {"aws_access_key_id", "aws_secret_access_key"}
