// Riskscan console: progressive enhancement only; every page works without it.
// Loaded from this file (CSP: script-src 'self'), never inline.
"use strict";

function csrfToken(form) {
  const field = form.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

function say(message) {
  const live = document.getElementById("live");
  if (live) { live.textContent = message; }
}

// The scan form: a progress indicator while the service works, one submission at a time.
function enhanceScanForm(form) {
  form.addEventListener("submit", () => {
    const progress = form.querySelector(".progress");
    if (progress) { progress.hidden = false; }
    form.querySelectorAll("button[type=submit]").forEach((button) => {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    });
  });
}

// Drag and drop a file onto the drop zone: it becomes the file input's file.
function enhanceDropZone(zone) {
  const input = zone.querySelector('input[type="file"]');
  if (!input) { return; }
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => {
    zone.classList.remove("dragging");
  }));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      say(input.files.length === 1 ? "File chosen: " + input.files[0].name
        : input.files.length + " files chosen");
    }
  });
}

// A finding's category: saved by its Save, the page staying where it is. Nothing saves on
// input (WCAG 3.2.2): the keyboard on a closed select changes its value, not a decision.
function enhanceCorrection(form) {
  const select = form.querySelector("select");
  if (!select) { return; }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    try {
      const response = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(form) },
      });
      if (response.status === 204) {
        const mark = document.getElementById(form.dataset.mark);
        if (mark) { mark.dataset.category = select.value.split(":")[0]; }  // "none:later"
        const message = "Saved: " + select.options[select.selectedIndex].text;
        say(message);
        const item = form.closest("li[id]");
        refreshResult(message, select.id, item ? item.id : null);
      } else {
        let detail = "The correction was not saved.";
        try { detail = (await response.json()).detail || detail; } catch (error) { /* not JSON */ }
        say(detail);
        window.alert(detail);
      }
    } catch (error) {
      say("The correction was not saved: the service could not be reached.");
    }
  });
}

// Forms that destroy something ask first.
function enhanceConfirm(form) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
  });
}

// After a correction saved by the script, the result's counts and groups are the page's
// again: the page is asked for anew and its result put in place, with "Saved" shown
// beside the finding (``itemId``), which the new result holds in its new group.
async function refreshResult(message, focusId, itemId) {
  const result = document.querySelector(".result");
  if (!result) { showSaved(message, itemId); return; }
  try {
    const response = await fetch(window.location.pathname, { credentials: "same-origin" });
    if (!response.ok) { return; }
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const replacement = fresh.querySelector(".result");
    const meta = fresh.querySelector("main .meta");
    if (!replacement) { return; }
    result.replaceWith(replacement);
    const oldMeta = document.querySelector("main .meta");
    if (meta && oldMeta) { oldMeta.replaceWith(meta); }
    enhanceResult(replacement);
    showSaved(message, itemId);
    const focus = focusId && document.getElementById(focusId);
    if (focus) { focus.focus(); }
  } catch (error) { /* the saved answer stands; a reload shows it */ }
}

// A visible "Saved" message beside what it is about (the element ``itemId``, as the
// server's pages.flash_at places it); where the page has no such element, where the page's
// flashed messages go. The live region has said it already (say): this one is to be seen.
function showSaved(message, itemId) {
  const item = itemId ? document.getElementById(itemId) : null;
  if (item) {
    item.querySelectorAll(":scope > p.said").forEach((old) => old.remove());
    const said = document.createElement("p");
    said.className = "said";
    said.textContent = message;
    item.append(said);
    return;
  }
  let flash = document.querySelector("main .flash");
  if (!flash) {
    flash = document.createElement("div");
    flash.className = "flash";
    flash.setAttribute("role", "status");
    const heading = document.querySelector("main h1");
    if (heading) { heading.before(flash); } else { return; }
  }
  flash.replaceChildren();
  const line = document.createElement("p");
  line.textContent = message;
  flash.append(line);
}

// A job's page while the job runs: the page is asked for again every few seconds and its
// progress put in place (only when it changed, the focus kept); once the job has ended the
// page says so and stops asking. Without the script, "Check again" reloads it.
function followJob(region) {
  const seconds = Number(region.dataset.follow) || 3;
  window.setTimeout(async () => {
    let fresh = null;
    try {
      const response = await fetch(window.location.pathname, { credentials: "same-origin" });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        fresh = page.querySelector(".job-progress");
      }
    } catch (error) { /* the service could not be reached: ask again later */ }
    if (!fresh) { followJob(region); return; }
    if (fresh.textContent !== region.textContent) {  // not its forms' fresh CSRF tokens
      const focused = document.activeElement && region.contains(document.activeElement)
        ? document.activeElement.id : "";
      region.replaceWith(fresh);
      fresh.querySelectorAll("form[data-confirm]").forEach(enhanceConfirm);
      const again = focused && document.getElementById(focused);
      if (again) { again.focus(); }
    }
    if (fresh.dataset.follow === undefined) {
      const status = document.getElementById("job-status");
      if (status) { say(status.textContent.trim()); }
    } else {
      followJob(fresh);
    }
  }, seconds * 1000);
}

// Clicking a sentence of the document chooses it in the "Mark as risk" form.
function enhanceMarkable(text) {
  const select = document.getElementById("mark-sentence");
  if (!select) { return; }
  text.classList.add("markable");
  text.addEventListener("click", (event) => {
    const sentence = event.target.closest(".sentence");
    if (!sentence) { return; }
    select.value = sentence.dataset.sentence;
    text.querySelectorAll(".sentence.chosen").forEach((other) => other.classList.remove("chosen"));
    sentence.classList.add("chosen");
    say("Chosen to mark as a risk: " + sentence.textContent);
    const category = document.getElementById("mark-category");
    if (category) { category.focus(); }
  });
}

// Review: an answer (a row's Save, Confirm, Not a risk, or a key) saved by fetch; the row
// then says the answer in place and offers no action that would undo it silently (Confirm
// goes once answered, "Not a risk" once not a risk). The select saves only with its Save.
async function answerReview(row, form, category) {
  const body = new URLSearchParams(new FormData(form));
  if (category !== undefined) { body.set("category", category); }
  body.set("row", "1");  // the answer's words back, for the row
  const said = row.querySelector(".review-said");
  let message;
  try {
    const response = await fetch(form.action, {
      method: "POST", body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(form) },
    });
    let answer = {};
    try { answer = await response.json(); } catch (error) { /* not JSON */ }
    if (response.ok) {
      message = answer.said;
      row.querySelector(".review-answer").textContent = answer.answer;
      const mark = row.querySelector(".review-mark");
      if (mark) { mark.dataset.category = answer.category; }
      const select = row.querySelector(".review-form select");
      if (select) { select.value = answer.category; }
      row.querySelectorAll(".confirm-form").forEach((other) => other.remove());
      if (answer.category === "none") {
        row.querySelectorAll(".dismiss-form").forEach((other) => other.remove());
      }
    } else {
      message = answer.detail || "The answer was not saved.";
    }
  } catch (error) {
    message = "The answer was not saved: the service could not be reached.";
  }
  if (said) { said.textContent = message; said.hidden = false; }
  say(message);
  if (!row.contains(document.activeElement)) {
    const link = row.querySelector(".review-mark a");
    if (link) { link.focus(); }
  }
}

// The keys of the page's "Keys" list: a digit per category, n not a risk, c confirm; on
// the row that holds the focus, never while a field has it (typing, choosing).
function enhanceReview(table) {
  const keys = {};
  document.querySelectorAll(".review-keys [data-key]").forEach((item) => {
    keys[item.dataset.key] = item.dataset.category;
  });
  table.querySelectorAll("form.review-answer-form").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      answerReview(form.closest("tr"), form);
    });
  });
  table.addEventListener("keydown", async (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) { return; }
    if (event.target.closest("input, select, textarea, [contenteditable]")) { return; }
    const row = event.target.closest("tr.review-row");
    const key = event.key.toLowerCase();
    if (!row || !(key in keys)) { return; }
    event.preventDefault();
    const form = row.querySelector(".review-form");
    if (!form) { say("Read only: only the project's editors and owners answer."); return; }
    let category = keys[key];
    if (key === "c") {
      if (!row.querySelector(".confirm-form")) {
        say("Already answered: choose a category to change it.");
        return;
      }
      category = row.dataset.model;
    }
    await answerReview(row, form, category);
    const next = row.nextElementSibling && row.nextElementSibling.querySelector(".review-mark a");
    if (next) { next.focus(); }
  });
}

function enhanceResult(root) {
  root.querySelectorAll("form.correct-form").forEach(enhanceCorrection);
  root.querySelectorAll(".document .text").forEach(enhanceMarkable);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form.scan-form, form.job-form").forEach(enhanceScanForm);
  document.querySelectorAll(".drop-zone").forEach(enhanceDropZone);
  document.querySelectorAll("form.correct-form").forEach(enhanceCorrection);
  document.querySelectorAll(".document .text").forEach(enhanceMarkable);
  document.querySelectorAll("table.review-table").forEach(enhanceReview);
  document.querySelectorAll("form[data-confirm]").forEach(enhanceConfirm);
  document.querySelectorAll(".job-progress[data-follow]").forEach(followJob);
});
