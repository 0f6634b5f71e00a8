// Live updates: every few seconds, the part of the page marked data-live is fetched again from
// the same address (the server answers with that part alone) and swapped in place. Without
// JavaScript the page is complete; it just does not refresh.
(function () {
  "use strict";
  var every = 3000;
  function refresh() {
    var live = document.querySelector("[data-live]");
    if (!live) return;
    fetch(window.location.href, {
      headers: { "X-Drover-Fragment": "1" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (answer) {
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        var holder = document.createElement("template");
        holder.innerHTML = html;
        var next = holder.content.querySelector("[data-live]");
        if (next) live.replaceWith(next);
      })
      .catch(function () {})
      .then(function () {
        window.setTimeout(refresh, every);
      });
  }
  window.setTimeout(refresh, every);
})();
