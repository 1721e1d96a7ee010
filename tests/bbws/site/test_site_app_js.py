"""The portal script against a stub DOM and fetch, run by Node when it is installed."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from bbws.site import build

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# A stub of the few DOM and fetch features app.js uses; prints what the page ended up showing.
HARNESS = r"""
const fs = require("fs");
const [script, scenario] = [fs.readFileSync(process.argv[2], "utf8"), JSON.parse(process.argv[3])];
function element(tag) {
  return { tag, className: "", textContent: "", hidden: false, dataset: {}, children: [],
    appendChild(c) { this.children.push(c); }, replaceChildren(...cs) { this.children = cs; },
    addEventListener() {}, setAttribute() {}, getAttribute() { return null; } };
}
const sections = {};
for (const id of ["products", "campaigns"]) {
  const state = element("p"), cards = element("ul");
  sections[id] = { querySelector: (s) => (s === ".state" ? state : cards), state, cards };
}
let ready;
globalThis.window = {
  localStorage: { getItem: () => scenario.token }, location: { pathname: "/" } };
globalThis.document = {
  querySelector: () => ({ getAttribute: () => scenario.apiBase }),
  querySelectorAll: () => [],
  getElementById: (id) => sections[id],
  createElement: element,
  addEventListener: (_, fn) => { ready = fn; },
};
const calls = [];
globalThis.fetch = (url, init) => {
  calls.push({ url, headers: init.headers });
  const [status, body] = scenario.answers[url.split("/v1.0")[1]];
  return Promise.resolve({ ok: status < 400, status, json: () => Promise.resolve(body) });
};
eval(script);
ready();
setTimeout(() => {
  const shown = {};
  for (const [id, s] of Object.entries(sections)) {
    shown[id] = { state: s.state.hidden ? "list" : s.state.dataset.state,
      message: s.state.textContent, titles: s.cards.children.map((c) => c.children[0].textContent),
      listHidden: s.cards.hidden };
  }
  console.log(JSON.stringify({ calls, shown }));
}, 10);
"""


def run(tmp_path, answers, token="id-token-123"):
    manifest = build(tmp_path / "site", "https://api.sit.kimmyai.io")
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    scenario = {"apiBase": "https://api.sit.kimmyai.io", "token": token, "answers": answers}
    done = subprocess.run(
        [NODE, str(harness), str(manifest.path(manifest.assets["app.js"])), json.dumps(scenario)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def test_lists_products_and_says_when_there_are_no_campaigns(tmp_path):
    answers = {
        "/products": [200, [{"name": "Rooibos", "price": 42.5}]],
        "/campaigns": [200, {"campaigns": []}],
    }

    result = run(tmp_path, answers)

    assert result["shown"]["products"]["state"] == "list"
    assert result["shown"]["products"]["titles"] == ["Rooibos"]
    assert result["shown"]["campaigns"]["state"] == "empty"
    assert result["shown"]["campaigns"]["message"] == "There are no campaigns yet."
    assert {c["url"] for c in result["calls"]} == {
        "https://api.sit.kimmyai.io/v1.0/products",
        "https://api.sit.kimmyai.io/v1.0/campaigns",
    }
    assert all(c["headers"]["Authorization"] == "Bearer id-token-123" for c in result["calls"])


def test_shows_an_error_state_when_the_api_fails(tmp_path):
    answers = {"/products": [503, {}], "/campaigns": [200, {"items": [{"title": "Winter"}]}]}

    result = run(tmp_path, answers, token=None)

    products = result["shown"]["products"]
    assert products["state"] == "error"
    assert products["message"].startswith("Could not load products. The service answered 503.")
    assert products["listHidden"] is True
    assert result["shown"]["campaigns"]["titles"] == ["Winter"]
    assert all("Authorization" not in c["headers"] for c in result["calls"])
