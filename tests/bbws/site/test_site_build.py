"""The portal build: hashed, deterministic, and fit for CSP default-src 'self'."""

from __future__ import annotations

import hashlib
import re

import pytest

from bbws.site import build

SIT_API = "https://api.sit.kimmyai.io"


def test_writes_index_and_hashed_assets(tmp_path):
    manifest = build(tmp_path, SIT_API)

    assert manifest.keys[0] == "index.html"
    assert set(manifest.assets) == {"app.js", "app.css", "logo.svg"}
    for source, key in manifest.assets.items():
        stem, suffix = source.split(".")
        assert re.fullmatch(rf"assets/{stem}\.[0-9a-f]{{8}}\.{suffix}", key)
        content = manifest.path(key).read_bytes()
        assert key.split(".")[1] == hashlib.sha256(content).hexdigest()[:8]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*")) == sorted(
        manifest.keys
    )


def test_index_references_the_hashed_names_only(tmp_path):
    manifest = build(tmp_path, SIT_API)
    index = manifest.path("index.html").read_text()

    for source, key in manifest.assets.items():
        assert f'"/{key}"' in index
        assert f"/assets/{source}" not in index
    assert f'<meta name="bbws-api-base" content="{SIT_API}">' in index


def test_same_input_same_hashes(tmp_path):
    first = build(tmp_path / "a", SIT_API)
    second = build(tmp_path / "b", SIT_API)

    assert dict(first.assets) == dict(second.assets)
    assert all(first.path(k).read_bytes() == second.path(k).read_bytes() for k in first.keys)


def test_assets_are_the_same_in_every_environment(tmp_path):
    sit = build(tmp_path / "sit", SIT_API)
    prod = build(tmp_path / "prod", "https://api.kimmyai.io/")

    assert dict(sit.assets) == dict(prod.assets)
    assert 'content="https://api.kimmyai.io"' in prod.path("index.html").read_text()


def test_rebuild_leaves_no_stale_assets(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.deadbeef.js").write_text("old")

    manifest = build(tmp_path, SIT_API)

    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == sorted(
        key.removeprefix("assets/") for key in manifest.assets.values()
    )


@pytest.mark.parametrize(
    "url", ["http://api.sit.kimmyai.io", "api.sit.kimmyai.io", "https://x/?a=1"]
)
def test_refuses_a_non_https_api_base(tmp_path, url):
    with pytest.raises(ValueError, match="https"):
        build(tmp_path, url)


def test_page_has_nothing_inline_that_csp_default_src_self_blocks(tmp_path):
    index = build(tmp_path, SIT_API).path("index.html").read_text()

    assert re.findall(r"<script(?![^>]*\bsrc=)", index) == []
    assert " style=" not in index
    assert "<style" not in index
    assert "javascript:" not in index


def test_app_calls_the_v1_api_with_the_stored_bearer_token(tmp_path):
    manifest = build(tmp_path, SIT_API)
    script = manifest.path(manifest.assets["app.js"]).read_text()

    assert '"/v1.0/products"' in script
    assert '"/v1.0/campaigns"' in script
    assert "localStorage.getItem(TOKEN_KEY)" in script
    assert '"Bearer " + token' in script
    assert "innerHTML" not in script  # API data is rendered as text only
