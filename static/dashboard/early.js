// Runs in <head>, before the page is first painted: the page has script, so the controls that
// need it (`.needs-js`) show from the start instead of appearing later and moving the page.
document.documentElement.classList.add("js");
