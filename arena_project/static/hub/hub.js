// Live parts of hub pages: an element with data-poll-url is replaced by that URL's HTML every
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

  function start() {
    var live = document.querySelectorAll("[data-poll-url]");
    for (var i = 0; i < live.length; i++) {
      poll(live[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
