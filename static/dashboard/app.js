// Behaviour for the ticket list: the thread side panel, its place in the address and in the
// browser's history, and the keyboard. Everything works without this file; it only keeps the
// list and an open thread side by side.
(function () {
  "use strict";

  function panel() {
    return document.getElementById("thread-panel");
  }

  function isOpen() {
    return document.body.classList.contains("thread-open");
  }

  // The id (text) of the ticket whose thread the panel shows, or null.
  function openTicketId() {
    var thread = isOpen() && panel() ? panel().querySelector("[data-thread-id]") : null;
    return thread ? thread.getAttribute("data-thread-id") : null;
  }

  function rows() {
    return Array.prototype.slice.call(
      document.querySelectorAll("#ticket-rows > tr[data-ticket-id]")
    );
  }

  function rowOf(ticketId) {
    if (!ticketId) return null;
    var selector = '#ticket-rows > tr[data-ticket-id="' + CSS.escape(ticketId) + '"]';
    return document.querySelector(selector);
  }

  function subjectOf(row) {
    return row ? row.querySelector("a.subject") : null;
  }

  function selectRow(ticketId) {
    document.querySelectorAll("tr.is-selected").forEach(function (row) {
      row.classList.remove("is-selected");
    });
    var row = rowOf(ticketId);
    if (row) row.classList.add("is-selected");
  }

  function focusResults() {
    var results = document.getElementById("results");
    if (!results) return;
    results.setAttribute("tabindex", "-1");
    results.focus();
  }

  // --- The open thread in the address --------------------------------------------------------
  // A thread open beside the list is the list's URL with `ticket=<id>`, which the server
  // renders as that list with that thread open, so it can be shared, reloaded or opened in a
  // tab. Opening a thread pushes it; closing it, or Back, returns to the list's URL. Moving
  // between the two changes only the panel, in place: the list keeps every page loaded and
  // where it was scrolled, and no copy of the page is stored in the browser (htmx's history
  // cache stays off), as it would be for htmx to restore it.

  // `search` with its ticket parameter set to `ticketId`, or removed for null. The rest stays
  // exactly as the server spelled it: the list's part of the URL is still its bookmark.
  function withTicket(search, ticketId) {
    var parts = search
      .replace(/^\?/, "")
      .split("&")
      .filter(function (part) {
        return part && part.split("=")[0] !== "ticket";
      });
    if (ticketId) parts.push("ticket=" + encodeURIComponent(ticketId));
    return parts.length ? "?" + parts.join("&") : "";
  }

  function ticketInAddress() {
    return new URLSearchParams(location.search).get("ticket");
  }

  // The list the address names, whichever thread is open beside it.
  function listInAddress() {
    return location.pathname + withTicket(location.search, null);
  }

  var shownList = null; // the list this page holds, as listInAddress() named it

  var following = false; // the next thread follows j or k: it takes the open one's place

  // `scroll`: where the list was scrolled before the thread opened beside it.
  function showThreadInAddress(ticketId, scroll) {
    var wasFollowing = following;
    following = false;
    if (ticketInAddress() === ticketId) return; // opened from the address itself
    if (wasFollowing && ticketInAddress()) {
      // j and k through threads are one entry in the history, not one for each step.
      var state = Object.assign({}, history.state, { htmx: true, thread: ticketId });
      history.replaceState(state, "", location.pathname + withTicket(location.search, ticketId));
      return;
    }
    var fromList = !ticketInAddress();
    // As htmx does before it pushes, the entry left behind is marked as one htmx may restore
    // (should the list change in between); it also keeps where the list was scrolled.
    var leaving = Object.assign({}, history.state, { htmx: true, scroll: scroll });
    history.replaceState(leaving, "", location.href);
    history.pushState(
      { htmx: true, thread: ticketId, fromList: fromList },
      "",
      location.pathname + withTicket(location.search, ticketId)
    );
  }

  function showListInAddress() {
    if (!ticketInAddress()) return;
    if (history.state && history.state.fromList) {
      history.back(); // the entry before this one is the list itself; Forward reopens the thread
    } else {
      history.pushState({ htmx: true }, "", listInAddress());
    }
  }

  function openThread(ticketId) {
    var link = subjectOf(rowOf(ticketId));
    if (link) {
      link.click();
    } else if (window.htmx && panel()) {
      // A thread whose row is not in the list (any more): its URL is the panel's pattern.
      var url = panel().getAttribute("data-thread-url").replace(/\/1\/$/, "/" + ticketId + "/");
      window.htmx.ajax("GET", url + withTicket(location.search, null), {
        target: panel(),
        swap: "innerHTML",
      });
    }
  }

  // `how` is "history" when Back (or Forward) closed it: the address is already the list's.
  function closeThread(how) {
    var aside = panel();
    if (!aside || !isOpen()) return;
    var ticketId = openTicketId();
    var hadFocus = aside.contains(document.activeElement);
    document.body.classList.remove("thread-open");
    aside.replaceChildren();
    aside.setAttribute("aria-busy", "false");
    selectRow(null);
    syncTitle();
    if (how !== "history") showListInAddress();
    // The focus goes back where the thread came from: its row, which becomes the current one.
    var row = rowOf(ticketId);
    if (row) {
      setCurrent(row, { focus: hadFocus || how !== "history", scroll: how !== "history" });
    } else if (hadFocus) {
      focusResults();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    shownList = listInAddress();
    selectRow(openTicketId()); // a thread the server opened from the address
  });

  // --- The tab's title -----------------------------------------------------------------------
  // The server names the list in the title (a view's name, or its filters in words, with the
  // total when it is known exactly) and the open thread before it. Here it follows what the
  // page shows: other filters, a total counted later, a thread opened or closed.
  var SITE = document.title.slice(document.title.lastIndexOf(" · ") + 3);
  // A title has no markup to isolate a name or a subject in: the controls that reorder text
  // are taken out of it, as the server does (dashboard/bidi.py).
  var BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

  function threadTitle() {
    var ticketId = openTicketId();
    if (!ticketId) return "";
    var subject = panel().querySelector(".thread-subject");
    var words = subject ? subject.textContent.replace(/\s+/g, " ").trim() : "";
    if (words.length > 60) words = words.slice(0, 59) + "…";
    return "#" + ticketId + (words ? " " + words : "");
  }

  function syncTitle() {
    var results = document.getElementById("results");
    var name = results && results.getAttribute("data-list-name");
    if (!name) return;
    var total = document.querySelector("#list-total[data-total]");
    var title = name + (total ? " (" + total.getAttribute("data-total") + ")" : "");
    var thread = threadTitle();
    title = ((thread ? thread + " · " : "") + title + " · " + SITE).replace(BIDI_CONTROLS, "");
    if (document.title !== title) document.title = title;
  }

  document.addEventListener("DOMContentLoaded", syncTitle);
  document.addEventListener("htmx:afterSettle", syncTitle);
  ["htmx:pushedIntoHistory", "htmx:replacedInHistory"].forEach(function (name) {
    document.addEventListener(name, function () {
      shownList = listInAddress(); // the filter form swapped in another list
    });
  });

  // Back and Forward between this list with and without a thread: handled here, before htmx,
  // whose history would reload the whole page (its cache is off) and lose the loaded pages.
  // Any other entry (another list) is left to htmx.
  window.addEventListener(
    "popstate",
    function (event) {
      if (!panel() || listInAddress() !== shownList) return;
      event.stopImmediatePropagation();
      var ticketId = ticketInAddress();
      if (ticketId) {
        if (ticketId !== openTicketId()) openThread(ticketId);
      } else if (isOpen()) {
        closeThread("history");
        if (event.state && typeof event.state.scroll === "number") {
          window.scrollTo(0, event.state.scroll);
        }
      }
    },
    true // before htmx's own window.onpopstate
  );

  // Changing the filters keeps the open thread open, and in the address.
  document.addEventListener("htmx:configRequest", function (event) {
    var ticketId = openTicketId();
    if (ticketId && event.detail.elt && event.detail.elt.getAttribute("id") === "filters") {
      event.detail.parameters.ticket = ticketId;
    }
  });

  // The arrivals poller says what the list shows: each row's status, the total and the
  // number of new tickets announced, so that only what differs comes back.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.getAttribute("id") !== "arrivals-poll") return;
    var shown = rows().map(function (row) {
      var badge = row.querySelector(".col-status .badge.status");
      var found = badge ? /status-([a-z_]+)/.exec(badge.className) : null;
      return row.getAttribute("data-ticket-id") + ":" + (found ? found[1] : "");
    });
    var total = document.querySelector("#list-total[data-total]");
    var notice = document.querySelector("#arrivals [data-arrivals]");
    event.detail.parameters.shown = shown.join(",");
    event.detail.parameters.total = total ? total.getAttribute("data-total") : "";
    event.detail.parameters.seen = notice ? notice.getAttribute("data-arrivals") : "0";
  });

  // One thread at a time: a thread asked for while another is on its way replaces it (j held
  // down, say), so that the last one asked for is the one shown.
  var panelAsker = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!panel() || event.detail.target !== panel()) return;
    if (panelAsker && panelAsker !== event.detail.elt && window.htmx) {
      window.htmx.trigger(panelAsker, "htmx:abort");
    }
    panelAsker = event.detail.elt;
    panel().setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt === panelAsker) panelAsker = null;
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (panel() && event.detail.target === panel()) panel().setAttribute("aria-busy", "false");
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var aside = panel();
    if (!aside) return;
    if (event.detail.target !== aside) {
      if (isOpen()) selectRow(openTicketId()); // new rows: the open thread's stays marked
      return;
    }
    var scroll = window.scrollY; // before the list narrows beside the panel
    document.body.classList.add("thread-open");
    var ticketId = openTicketId();
    selectRow(ticketId);
    // A thread opened otherwise than by j or k: its row becomes the current one, where the
    // next j or k starts from.
    var row = following ? null : rowOf(ticketId);
    if (row) setCurrent(row, { focus: false, scroll: false });
    if (ticketId) showThreadInAddress(ticketId, scroll);
    aside.scrollTop = 0;
    // The panel is not a live region: its heading takes the focus, which announces it.
    var heading = aside.querySelector("h2");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  });

  // The density switch answers with its new state; the page's class follows it. So does the
  // thread's width (a class thread-w-<percent>).
  document.addEventListener("htmx:afterSwap", function () {
    var density = document.querySelector(".density-switch[data-density]");
    if (density) {
      document.body.classList.toggle("density-compact", density.dataset.density === "compact");
    }
    var width = document.querySelector(".width-switch[data-thread-width]");
    if (width) {
      var wanted = "thread-w-" + width.dataset.threadWidth;
      Array.prototype.slice.call(document.body.classList).forEach(function (name) {
        if (/^thread-w-\d+$/.test(name) && name !== wanted) document.body.classList.remove(name);
      });
      document.body.classList.add(wanted);
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
      closeThread("click");
    }
  });

  // "Copy link": the thread's URL to the clipboard. Without a clipboard it is a plain link to
  // that URL, to follow or to copy from the browser's own menu. A "Copy" button names the field
  // whose text it copies (`data-copy-link="#new-link-url"`, a display link's URL); it needs this
  // script, so it shows only with it (`.needs-js`), and without a clipboard (a page served over
  // plain HTTP has none) it selects that text for the person to copy.
  var copiedTimer = null;

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy-link]");
    if (!copy) return;
    var named = copy.getAttribute("data-copy-link");
    var field = named ? document.querySelector(named) : null;
    var status = copy.parentNode.querySelector("[data-copy-status]");
    function say(words) {
      if (!status) return;
      status.textContent = words;
      clearTimeout(copiedTimer);
      copiedTimer = setTimeout(function () {
        status.textContent = "";
      }, 4000);
    }
    function selectField() {
      field.focus();
      field.select();
      say("Not copied: the URL is selected, press Ctrl+C (⌘C on a Mac) to copy it");
    }
    if (!navigator.clipboard) {
      if (field) selectField();
      return;
    }
    event.preventDefault();
    // A field's text; for a thread, the address when it names this thread: it holds the list
    // as it is now.
    var url = field ? field.value : ticketInAddress() === openTicketId() ? location.href : copy.href;
    navigator.clipboard.writeText(url).then(
      function () {
        say("Copied");
      },
      function () {
        if (field) selectField();
        else say("Not copied: copy the link from its menu instead");
      }
    );
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
    // Newest first too, as the server reads a bounded number of ids.
    var waiting = Array.prototype.slice.call(document.querySelectorAll("[data-waiting]"));
    waiting.reverse().forEach(function (element) {
      var kind = element.hasAttribute("data-requester-id") ? "requester" : "product";
      var id = element.getAttribute("data-" + kind + "-id");
      // An open thread's names are looked up before any list's: the server is told which.
      var name = element.closest("[data-thread-id]") ? "thread_" + kind : kind;
      if (id && !seen[name + id]) {
        seen[name + id] = true;
        params.append(name, id);
      }
    });
    if (!params.toString()) return "";
    // The server looks up only what its pages vouched for: each page's signed reference. It
    // reads a bounded number of them, so the open thread's go first, then the list's pages
    // newest first: after many "Load more", the page just added is the one still waiting.
    var references = Array.prototype.slice.call(document.querySelectorAll("[data-names-ref]"));
    var inThread = function (element) { return Boolean(element.closest("[data-thread-id]")); };
    references
      .filter(inThread)
      .concat(references.filter(function (element) { return !inThread(element); }).reverse())
      .forEach(function (element) {
        var reference = element.getAttribute("data-names-ref");
        if (reference && !seen["ref " + reference]) {
          seen["ref " + reference] = true;
          params.append("ref", reference);
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

  // --- The keyboard -------------------------------------------------------------------------
  // j and k move the current row (none until the first key), Enter or o open its thread, Esc
  // closes the thread, / goes to the search box, ? lists these keys, x ticks the current row
  // (for a bulk change). None of them acts while the focus is in a field, or with Ctrl, Alt or
  // Meta held.

  function currentRow() {
    return document.querySelector('#ticket-rows > tr[aria-current="true"]');
  }

  // `options.focus`: the row's subject link takes the focus (it says which ticket it is, and
  // Enter on it opens the thread); `options.scroll`: the row is scrolled into view.
  function setCurrent(row, options) {
    rows().forEach(function (other) {
      if (other !== row) other.removeAttribute("aria-current");
    });
    row.setAttribute("aria-current", "true");
    var link = subjectOf(row);
    if (options.focus && link) link.focus({ preventScroll: true });
    if (options.scroll) row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var focused = document.activeElement || document.body;
    var from = currentRow() || focused.closest("#ticket-rows > tr[data-ticket-id]");
    from = from || rowOf(openTicketId());
    var index = from ? all.indexOf(from) + step : 0;
    var row = all[Math.max(0, Math.min(all.length - 1, index))];
    // While a thread is open the focus stays in it, and the thread follows the current row,
    // as a mail client's reading pane does.
    var open = isOpen();
    var inPanel = open && panel().contains(document.activeElement);
    setCurrent(row, { focus: !inPanel, scroll: true });
    if (open && row.getAttribute("data-ticket-id") !== openTicketId()) {
      following = true;
      openThread(row.getAttribute("data-ticket-id"));
    }
  }

  function openCurrent() {
    var link = subjectOf(currentRow());
    if (link) link.click();
    return Boolean(link);
  }

  function focusSearch() {
    var search = document.querySelector("#filters [name=filter_text]");
    if (search) search.focus();
  }

  var beforeShortcuts = null; // what had the focus when the shortcuts dialog opened

  function showShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog || dialog.open) return;
    beforeShortcuts = document.activeElement;
    dialog.showModal();
  }

  // Closing the dialog (its button, Esc) returns the focus where it was.
  document.addEventListener(
    "close",
    function (event) {
      if (!event.target || event.target.id !== "shortcuts") return;
      var back = beforeShortcuts;
      beforeShortcuts = null;
      if (back && back !== document.body && document.contains(back)) {
        back.focus({ preventScroll: true });
      } else {
        var row = currentRow();
        if (row) setCurrent(row, { focus: true, scroll: false });
      }
    },
    true // "close" does not bubble
  );

  var TYPED_INPUTS =
    /^(text|search|email|number|password|tel|url|date|datetime-local|month|week|time)$/;

  function typingIn(element) {
    if (!element || !element.tagName) return false;
    if (element.isContentEditable || /^(TEXTAREA|SELECT)$/.test(element.tagName)) return true;
    return element.tagName === "INPUT" && TYPED_INPUTS.test(element.type);
  }

  // Enter on a link or a button is theirs.
  function activates(element) {
    return Boolean(element.closest && element.closest("a[href], button, summary, input, select"));
  }

  var FOCUSABLE =
    'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]),' +
    ' select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

  function before(one, other) {
    return Boolean(one.compareDocumentPosition(other) & Node.DOCUMENT_POSITION_FOLLOWING);
  }

  // While a thread is open, Tab and Shift+Tab go round the panel's controls; Esc leaves it.
  function keepFocusInPanel(event) {
    var aside = panel();
    var active = document.activeElement;
    if (!isOpen() || !aside.contains(active)) return;
    var items = Array.prototype.filter.call(aside.querySelectorAll(FOCUSABLE), function (item) {
      return item.getClientRects().length > 0; // shown, not folded away
    });
    if (!items.length) {
      event.preventDefault();
      return;
    }
    var first = items[0];
    var last = items[items.length - 1];
    // At (or before) the first control going back, at (or after) the last going forward.
    var atStart = active === first || before(active, first);
    var atEnd = active === last || before(last, active);
    if (event.shiftKey ? atStart : atEnd) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    }
  }

  // A text box takes keys only when the person put the focus there. One that the page gave
  // the focus (a box focused as the page loaded, or while htmx swapped new content in) does
  // not: j, k, Enter and x there are the list's keys, and the box is left. A box the person
  // chose, swapped in anew with the same id (the filters after a search), stays chosen.
  var chosen = null; // the text box the person put the focus in
  var swapping = false;

  function textBox(element) {
    return typingIn(element) && element.tagName !== "SELECT";
  }

  var swapTimer = null;

  function swapped() {
    clearTimeout(swapTimer);
    swapTimer = setTimeout(function () {
      swapping = false;
    }, 0);
  }

  document.addEventListener("htmx:beforeSwap", function () {
    swapping = true;
    clearTimeout(swapTimer);
    swapTimer = setTimeout(swapped, 1000); // a swap that never settles (refused, failed)
  });
  document.addEventListener("htmx:afterSettle", swapped);
  document.addEventListener("focusin", function (event) {
    var field = event.target;
    if (!textBox(field)) return;
    var again = chosen && !document.contains(chosen) && chosen.id && chosen.id === field.id;
    if (!swapping || again) chosen = field;
  });
  // Clicking or tapping a box that has the focus already chooses it.
  document.addEventListener(
    "pointerdown",
    function (event) {
      if (textBox(event.target)) chosen = event.target;
    },
    true
  );

  // Forms whose fields keep every key: the open thread's triage form (its note among them)
  // and the bulk change's bar.
  function inOwnForm(element) {
    return Boolean(element.closest && element.closest("form.triage-form, form#bulk-form"));
  }

  // Leave a field for where the person was working: the open thread's heading when the field
  // is in the thread, else the current row (the list itself when there is none).
  function leaveField(field) {
    var aside = panel();
    if (aside && aside.contains(field)) {
      var heading = aside.querySelector("h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
        return;
      }
    }
    var row = currentRow() || rowOf(openTicketId());
    if (row && subjectOf(row)) {
      setCurrent(row, { focus: true, scroll: false });
    } else {
      field.blur();
      focusResults();
    }
  }

  var LIST_KEYS = /^(j|k|x|Enter)$/;

  document.addEventListener("keydown", function (event) {
    if (!panel() || event.defaultPrevented || event.isComposing) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Tab") return keepFocusInPanel(event);
    if (document.querySelector("dialog[open]")) return;
    var target = event.target;
    if (typingIn(target)) {
      // Esc leaves a field (a search box keeps its words: Esc does not clear it here).
      if (event.key === "Escape") {
        event.preventDefault();
        leaveField(target);
        return;
      }
      if (!textBox(target) || target === chosen || inOwnForm(target)) return;
      if (!LIST_KEYS.test(event.key)) return;
      leaveField(target); // a box the person did not put the focus in: the key is the list's
    } else if (inOwnForm(target)) {
      return;
    }
    var handled = true;
    if (event.key === "j") move(1);
    else if (event.key === "k") move(-1);
    else if (event.key === "o") handled = openCurrent();
    else if (event.key === "Enter") handled = !activates(event.target) && openCurrent();
    else if (event.key === "Escape" && isOpen()) closeThread("key");
    else if (event.key === "/") focusSearch();
    else if (event.key === "?") showShortcuts();
    else if (event.key === "x") handled = tickCurrent();
    else handled = false;
    if (handled) event.preventDefault();
  });

  // --- Ticking rows for a bulk change --------------------------------------------------------
  // For a person who may change tickets, each row has a box (`input.pick`, in the form
  // #bulk-form above the list, wherever the row is). x ticks or unticks the current row's;
  // Shift+click on a box gives every row from the box used last the same tick; the bar says
  // how many are ticked. Without this script the boxes and the form work as they are.
  var lastTicked = null;

  function tickBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("#ticket-rows input.pick"));
  }

  function countTicked() {
    var form = document.getElementById("bulk-form");
    var said = form ? form.querySelector("[data-bulk-ticked]") : null;
    if (!said) return;
    if (said.dataset.hint === undefined) said.dataset.hint = said.textContent;
    var ticked = tickBoxes().filter(function (box) {
      return box.checked;
    }).length;
    var most = Number(form.getAttribute("data-bulk-max")) || 0;
    var tooMany = most > 0 && ticked > most;
    var words = ticked ? ticked + " ticked" : said.dataset.hint;
    if (tooMany) words += ": at most " + most + " can be changed at once";
    said.classList.toggle("bulk-too-many", tooMany);
    if (said.textContent !== words) said.textContent = words;
  }

  function tickCurrent() {
    var focused = document.activeElement || document.body;
    var row = currentRow() || focused.closest("#ticket-rows > tr[data-ticket-id]");
    var box = row ? row.querySelector("input.pick") : null;
    if (!box) return false;
    box.checked = !box.checked;
    lastTicked = box;
    countTicked();
    return true;
  }

  document.addEventListener("click", function (event) {
    var box = event.target.closest && event.target.closest("#ticket-rows input.pick");
    if (!box) return;
    if (event.shiftKey && lastTicked && lastTicked !== box) {
      var boxes = tickBoxes();
      var from = boxes.indexOf(lastTicked);
      var to = boxes.indexOf(box);
      if (from >= 0 && to >= 0) {
        boxes.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (other) {
          other.checked = box.checked;
        });
      }
    }
    lastTicked = box;
    countTicked();
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("#ticket-rows input.pick")) countTicked();
  });

  // A finished bulk change unticks the rows it changed (or found already so): what stays
  // ticked is what the store refused, ready to try again.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || !/^bulk-(region|body)$/.test(target.id || "")) return;
    var done = target.querySelector("[data-bulk-state=done][data-bulk-settled]");
    if (done) {
      var settled = done.getAttribute("data-bulk-settled").split(" ");
      tickBoxes().forEach(function (box) {
        if (settled.indexOf(box.value) >= 0) box.checked = false;
      });
    }
    countTicked();
  });

  document.addEventListener("DOMContentLoaded", countTicked);
  document.addEventListener("htmx:afterSettle", countTicked);

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-show-shortcuts]")) showShortcuts();
    // "Skip to tickets" lands on the first ticket's link (the results, when there is none).
    if (event.target.closest("[data-skip-to-tickets]")) {
      var link = subjectOf(currentRow() || rows()[0]);
      if (!link) return; // the link's own #results
      event.preventDefault();
      link.focus();
    }
  });

  // --- The filters on a phone ------------------------------------------------------------------
  // Folded behind "Filters", which says how many are set (two statuses are one filter), counted
  // again as they change; "Show N tickets" below them says what the change found, and folds
  // them away for the results.
  function countFiltersSet() {
    var form = document.getElementById("filters");
    var said = document.querySelector("[data-filters-set]");
    if (!form || !said) return;
    var set = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.type === "hidden" || field.disabled) return;
      var checkable = field.type === "checkbox" || field.type === "radio";
      if (checkable ? field.checked : field.value.trim() !== "") set[field.name] = true;
    });
    var count = Object.keys(set).length;
    said.setAttribute("data-filters-set", String(count));
    var words = count ? count + " set" : "";
    if (said.textContent !== words) said.textContent = words;
  }

  function sayWhatShows() {
    var button = document.querySelector(".show-results");
    var shown = document.querySelector("[data-shown-count]");
    if (!button) return;
    var total = document.querySelector("#list-total[data-total]");
    var words = "Show the tickets";
    if (total) {
      var count = total.getAttribute("data-total");
      words = "Show " + count + " ticket" + (count === "1" ? "" : "s");
    } else if (shown && Number(shown.textContent) > 0) {
      words = "Show the first " + shown.textContent; // the total is still being counted
    }
    if (button.textContent !== words) button.textContent = words;
  }

  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#filters")) countFiltersSet();
  });
  document.addEventListener("DOMContentLoaded", sayWhatShows);
  document.addEventListener("htmx:afterSettle", function () {
    countFiltersSet();
    sayWhatShows();
  });
  document.addEventListener("click", function (event) {
    var show = event.target.closest && event.target.closest(".show-results");
    var menu = show && show.closest("details");
    if (menu) menu.open = false; // the link then goes to the results
  });

  // How many rows the list shows, counted again after each "Load more" (or any swap that
  // changes the rows): the server knows only the page it sent. The count is in a small
  // role="status", so screen readers hear "50 shown".
  function countShownRows() {
    var shown = document.querySelector("[data-shown-count]");
    var body = document.getElementById("ticket-rows");
    if (!shown || !body) return;
    var count = String(body.querySelectorAll("tr[data-ticket-id]").length);
    if (shown.textContent !== count) shown.textContent = count;
  }

  document.addEventListener("DOMContentLoaded", countShownRows);
  document.addEventListener("htmx:afterSettle", countShownRows);
  document.addEventListener("htmx:historyRestore", countShownRows);
})();
