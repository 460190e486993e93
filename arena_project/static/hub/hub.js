// Live parts of hub pages. An element with data-poll-url is replaced by that URL's HTML every
// data-poll-interval ms, without reloading the page. Polling ends when the fragment contains
// [data-poll-stop] (a debate that finished) or when the server refuses (signed out): the page
// then says live updates are paused. The server escapes everything in the fragment.
(function () {
  "use strict";

  function poll(el) {
    var url = el.getAttribute("data-poll-url");
    var every = parseInt(el.getAttribute("data-poll-interval") || "3000", 10);

    function stop() {
      el.classList.add("poll-stopped");
    }

    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok || response.redirected) {
            throw new Error("status " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          el.innerHTML = html;
          el.setAttribute("data-polled-at", String(Date.now()));
          if (el.querySelector("[data-poll-stop]")) {
            el.removeAttribute("data-poll-url");
            return;
          }
          window.setTimeout(tick, every);
        })
        .catch(stop);
    }

    window.setTimeout(tick, every);
  }

  // A JSON twin polled for progress: each [data-field] inside the element shows that field of the
  // answer (as text: never parsed as HTML); a <progress data-field> gets its value. Once the answer
  // says "finished", the element named by data-poll-done-target is replaced by data-poll-done-url's
  // HTML (the server-rendered results) and polling ends.
  var FORMATS = {
    percent: function (v) { return Math.round(v * 100) + "%"; },
    money: function (v) {
      var n = parseFloat(v);
      if (isNaN(n)) { return "—"; }
      return "$" + (Math.abs(n) >= 0.01 || n === 0 ? n.toFixed(2) : n.toPrecision(2));
    },
    text: function (v) { return String(v); }
  };

  function render(el, data) {
    var fields = el.querySelectorAll("[data-field]");
    for (var i = 0; i < fields.length; i++) {
      var node = fields[i];
      var value = data[node.getAttribute("data-field")];
      if (node.tagName === "PROGRESS") {
        node.value = value || 0;
        continue;
      }
      var format = FORMATS[node.getAttribute("data-format") || "text"] || FORMATS.text;
      node.textContent = value === null || value === undefined || value === "" ? "—" : format(value);
      if (node.hasAttribute("data-status-badge")) {
        node.className = "badge status-" + value;
      }
    }
  }

  function pollJson(el) {
    var url = el.getAttribute("data-poll-json");
    var every = parseInt(el.getAttribute("data-poll-interval") || "3000", 10);

    function stop() {
      el.classList.add("poll-stopped");
    }

    function finish() {
      var target = document.querySelector(el.getAttribute("data-poll-done-target"));
      var doneUrl = el.getAttribute("data-poll-done-url");
      if (!target || !doneUrl) { return; }
      fetch(doneUrl, { credentials: "same-origin", cache: "no-store", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok || response.redirected) { throw new Error("status " + response.status); }
          return response.text();
        })
        .then(function (html) {
          target.innerHTML = html;
          target.setAttribute("data-polled-at", String(Date.now()));
        })
        .catch(stop);
    }

    function tick() {
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok || response.redirected) { throw new Error("status " + response.status); }
          return response.json();
        })
        .then(function (data) {
          render(el, data);
          el.setAttribute("data-polled-at", String(Date.now()));
          if (data.finished) {
            el.removeAttribute("data-poll-json");
            finish();
            return;
          }
          window.setTimeout(tick, every);
        })
        .catch(stop);
    }

    window.setTimeout(tick, every);
  }

  function start() {
    var live = document.querySelectorAll("[data-poll-url]");
    for (var i = 0; i < live.length; i++) {
      poll(live[i]);
    }
    var progress = document.querySelectorAll("[data-poll-json]");
    for (var j = 0; j < progress.length; j++) {
      pollJson(progress[j]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
