// The wall runs unattended for weeks: keep the clock ticking, pause polling while hidden, keep
// the last good board through any failed refresh (marked stale), and reload on a schedule
// only when the server answers, so the screen never blanks.
(function () {
  "use strict";

  function board() {
    return document.getElementById("board");
  }

  function hhmm(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  }

  function tickClock() {
    var clock = document.getElementById("wall-clock");
    if (clock) clock.textContent = hhmm(new Date());
  }

  function markStale(reason) {
    var el = board();
    if (!el || el.hasAttribute("data-gone")) return;
    if (!el.dataset.stale) el.dataset.stale = new Date().toISOString();
    el.classList.add("is-stale");
    var note = el.querySelector(".stale-note");
    if (!note) return;
    var since = new Date(el.dataset.stale);
    var updated = el.dataset.updated ? " · showing data from " + hhmm(new Date(el.dataset.updated)) : "";
    note.textContent = "Not up to date · no fresh data since " + hhmm(since) + updated + " · " + reason;
    note.hidden = false;
  }

  function isBoardRequest(event) {
    var el = board();
    return el && event.detail && (event.detail.elt === el || event.detail.target === el);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (isBoardRequest(event) && document.hidden) event.preventDefault();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!isBoardRequest(event)) return;
    var status = event.detail.xhr.status;
    if (status === 404 || status === 410) {
      event.detail.shouldSwap = true; // the link is gone: say so instead of old data
    } else if (status < 200 || status >= 300) {
      event.detail.shouldSwap = false;
      markStale("the dashboard answered " + status);
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    if (isBoardRequest(event)) markStale("the dashboard cannot be reached");
  });
  document.addEventListener("htmx:timeout", function (event) {
    if (isBoardRequest(event)) markStale("the dashboard did not answer in time");
  });

  document.addEventListener("visibilitychange", function () {
    var el = board();
    if (!document.hidden && el && window.htmx) window.htmx.trigger(el, "refresh");
  });

  // A full reload now and then clears whatever a browser leaks over weeks, but only once the
  // server answers: reloading into an error page would blank the screen.
  function scheduleReload() {
    var wall = document.querySelector(".wall");
    var hours = wall ? parseFloat(wall.dataset.reloadHours) : 0;
    if (!hours) return;
    setTimeout(function tryReload() {
      fetch(window.location.href, { method: "GET", cache: "no-store", credentials: "same-origin" })
        .then(function (response) {
          if (response.ok) window.location.reload();
          else setTimeout(tryReload, 5 * 60 * 1000);
        })
        .catch(function () {
          setTimeout(tryReload, 5 * 60 * 1000);
        });
    }, hours * 3600 * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tickClock();
    setInterval(tickClock, 1000);
    scheduleReload();
  });
})();
