// BBWS customer portal: lists products and campaigns from the BBWS API.
// No framework and no inline script, so the page runs under CSP default-src 'self'.
"use strict";

(function () {
  var TOKEN_KEY = "id_token";
  var apiBase = document
    .querySelector('meta[name="bbws-api-base"]')
    .getAttribute("content")
    .replace(/\/+$/, "");

  // localStorage throws in some private modes; the API then sees an anonymous caller.
  function bearerHeaders() {
    var headers = { Accept: "application/json" };
    try {
      var token = window.localStorage.getItem(TOKEN_KEY);
      if (token) headers.Authorization = "Bearer " + token;
    } catch (ignored) {}
    return headers;
  }

  // The services answer either a bare list or a list wrapped under a named key.
  function itemsOf(body, key) {
    if (Array.isArray(body)) return body;
    if (body && Array.isArray(body[key])) return body[key];
    if (body && Array.isArray(body.items)) return body.items;
    return [];
  }

  function fetchList(path, key) {
    return fetch(apiBase + path, { headers: bearerHeaders() }).then(function (response) {
      if (!response.ok) throw new Error("The service answered " + response.status + ".");
      return response.json().then(function (body) {
        return itemsOf(body, key);
      });
    });
  }

  function text(tag, className, value) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    node.textContent = value == null ? "" : String(value);
    return node;
  }

  function price(item) {
    if (item.price == null) return "";
    var amount = Number(item.price);
    if (!isFinite(amount)) return String(item.price);
    return (item.currency || "ZAR") + " " + amount.toFixed(2);
  }

  function describeProduct(item) {
    return { title: item.name || item.title || item.id, meta: price(item), body: item.description };
  }

  function describeCampaign(item) {
    var meta = item.discount != null ? item.discount + "% off" : item.status || "";
    var body = item.description || [item.startDate, item.endDate].filter(Boolean).join(" – ");
    return { title: item.name || item.title || item.id, meta: meta, body: body };
  }

  function card(view) {
    var li = text("li", "card", "");
    li.appendChild(text("h2", "", view.title));
    if (view.meta) li.appendChild(text("p", "meta", view.meta));
    if (view.body) li.appendChild(text("p", "", view.body));
    return li;
  }

  function showState(section, state, message, retry) {
    var status = section.querySelector(".state");
    status.dataset.state = state;
    status.textContent = message;
    status.hidden = false;
    section.querySelector(".cards").hidden = true;
    if (retry) {
      var button = text("button", "", "Try again");
      button.type = "button";
      button.addEventListener("click", retry);
      status.appendChild(button);
    }
  }

  function showItems(section, items, describe) {
    var list = section.querySelector(".cards");
    list.replaceChildren.apply(list, items.map(function (item) {
      return card(describe(item));
    }));
    list.hidden = false;
    section.querySelector(".state").hidden = true;
  }

  function load(id, path, key, describe, noun) {
    var section = document.getElementById(id);
    showState(section, "loading", "Loading " + noun + "…");
    fetchList(path, key)
      .then(function (items) {
        if (items.length === 0) showState(section, "empty", "There are no " + noun + " yet.");
        else showItems(section, items, describe);
      })
      .catch(function (error) {
        var reason = error && error.message ? " " + error.message : "";
        showState(section, "error", "Could not load " + noun + "." + reason, function () {
          load(id, path, key, describe, noun);
        });
      });
  }

  function markCurrentRoute() {
    var links = document.querySelectorAll("nav a");
    for (var i = 0; i < links.length; i++) {
      var href = links[i].getAttribute("href");
      if (window.location.pathname.indexOf(href) === 0) links[i].setAttribute("aria-current", "page");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    markCurrentRoute();
    load("products", "/v1.0/products", "products", describeProduct, "products");
    load("campaigns", "/v1.0/campaigns", "campaigns", describeCampaign, "campaigns");
  });
})();
