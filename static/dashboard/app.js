// Behaviour for the ticket list: the thread side panel. Everything works without this file;
// it only keeps the list and an open thread side by side.
(function () {
  "use strict";

  function panel() {
    return document.getElementById("thread-panel");
  }

  function selectRow(ticketId) {
    document.querySelectorAll("tr.is-selected").forEach(function (row) {
      row.classList.remove("is-selected");
    });
    if (!ticketId) return;
    var row = document.querySelector('tr[data-ticket-id="' + CSS.escape(ticketId) + '"]');
    if (row) row.classList.add("is-selected");
  }

  function closeThread() {
    var aside = panel();
    if (!aside) return;
    document.body.classList.remove("thread-open");
    aside.replaceChildren();
    selectRow(null);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var aside = panel();
    if (aside && event.detail.target === aside) {
      document.body.classList.add("thread-open");
      var thread = aside.querySelector("[data-ticket-id]");
      selectRow(thread ? thread.getAttribute("data-ticket-id") : null);
      aside.scrollTop = 0;
      var heading = aside.querySelector("h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
    }
  });

  // Field errors come back with the filters when the input is still wrong; a new attempt
  // starts clean.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    // (Not `form.id`: that is the form's "Ticket id" field, an input named "id".)
    if (!form || !form.getAttribute || form.getAttribute("id") !== "filters") return;
    form.querySelectorAll(".field-error").forEach(function (error) {
      error.remove();
    });
    form.querySelectorAll(".has-error").forEach(function (field) {
      field.classList.remove("has-error");
    });
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close-thread]");
    if (close && panel() && panel().contains(close)) {
      event.preventDefault();
      closeThread();
    }
  });

  // Names the page shows by email or id while the server looks them up (customers, product
  // titles): asked for again every couple of seconds, a few times, until none is missing.
  // Each comes back out of band, in place of every element that waits for it.
  var NAME_TRIES = 8;
  var NAME_PAUSE = 2000;
  var nameTimer = null;
  var nameTries = 0;

  function waitingNames() {
    var params = new URLSearchParams();
    var seen = {};
    document.querySelectorAll("[data-waiting]").forEach(function (element) {
      var kind = element.hasAttribute("data-requester-id") ? "requester" : "product";
      var id = element.getAttribute("data-" + kind + "-id");
      if (id && !seen[kind + id]) {
        seen[kind + id] = true;
        params.append(kind, id);
      }
    });
    return params.toString();
  }

  function askForNames() {
    nameTimer = null;
    var url = document.body.dataset.namesUrl;
    var waiting = waitingNames();
    if (!url || !window.htmx || !waiting || nameTries >= NAME_TRIES) return;
    nameTries += 1;
    window.htmx
      .ajax("GET", url + "?" + waiting, { target: document.body, swap: "none" })
      .then(laterNames, laterNames);
  }

  function laterNames() {
    if (!nameTimer) nameTimer = setTimeout(askForNames, NAME_PAUSE);
  }

  document.addEventListener("DOMContentLoaded", laterNames);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target === document.body) return; // a names answer itself
    nameTries = 0; // new rows or a thread: their names get their own tries
    laterNames();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("thread-open")) {
      closeThread();
    }
  });
})();
