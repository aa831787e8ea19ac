// Continuum coordinator console: progressive enhancement only. Every page and form works without this
// script. With it, the page listens to /events (server-sent events from WatchReferrals) and, when a
// referral shown here changes, marks its row stale, disables its actions, and refreshes the live region
// of the page in place, so nobody acts on a stale row.
(function () {
  "use strict";
  var live = document.querySelector("[data-live]");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) return;

  var since = live.getAttribute("data-since") || "";
  var pending = null;
  var source = new EventSource("/events?since=" + encodeURIComponent(since));

  function say(text) {
    var status = document.querySelector("[data-live] .live-status");
    if (status) status.textContent = text;
  }

  function refresh() {
    pending = null;
    // The element that had focus, to put it back after the swap when it still exists.
    var focusedId = document.activeElement && document.activeElement.id;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("[data-live]");
        var current = document.querySelector("[data-live]");
        if (!fresh || !current) return;
        current.replaceWith(document.importNode(fresh, true));
        if (focusedId) {
          var again = document.getElementById(focusedId);
          if (again) again.focus();
        }
        say("Updated at " + new Date().toLocaleTimeString() + " after a change by someone else.");
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {
        say("Something changed: reload the page to see the current state.");
      });
  }

  source.addEventListener("referral", function (ev) {
    var data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    var id = data.referral_id;
    var rows = document.querySelectorAll('[data-referral-id="' + (window.CSS && CSS.escape ? CSS.escape(id) : id) + '"]');
    rows.forEach(function (row) {
      row.classList.add("stale");
      row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    });
    if (rows.length) say("A referral on this page changed (" + data.action.replace(/_/g, " ") + "): refreshing…");
    if (!pending) pending = window.setTimeout(refresh, 600);
  });
  document.body.setAttribute("data-live-connected", "pending");
  source.addEventListener("open", function () { document.body.setAttribute("data-live-connected", "yes"); });
})();
