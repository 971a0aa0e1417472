// tether::debug's page (contexts.html): the one renderer of the views. Every 500 ms it
// fetches contexts.json (tether::registry::to_json: the live trees) and renders them; it
// lists history.json (the finished requests, filtered by the form) and shows the one
// picked — its tree from the JSON, its timeline as the SVG the server draws. URLs are
// relative to the page, so any mount prefix works. No framework, no build step.
"use strict";

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function duration(ns) {
  if (ns === null || ns === undefined) return "";
  const ms = ns / 1e6;
  if (Math.abs(ms) >= 1000) return (ms / 1000).toFixed(2) + " s";
  return ms.toFixed(1) + " ms";
}

function valuesText(values) {
  return values.map((v) => esc(v.key) + "=" + esc(v.value)).join(" ");
}

// A live node. `parentTrace`: the trace id shown above; a node repeats it only if it differs.
function renderNode(n, parentTrace) {
  let line = '<span class="kind">' + esc(n.kind) + "</span>" +
    '<span class="state">' + esc(n.state) + "</span>";
  if (n.time_left_ns !== null && n.time_left_ns !== undefined)
    line += '<span class="left">left ' + esc(duration(n.time_left_ns)) + "</span>";
  if (n.cause) line += '<span class="cause">cause: ' + esc(n.cause) + "</span>";
  if (n.values && n.values.length) line += '<span class="values">' + valuesText(n.values) + "</span>";
  if (n.callbacks) line += '<span class="cb">callbacks ' + esc(n.callbacks) + "</span>";
  if (n.trace_id && n.trace_id !== parentTrace)
    line += '<span class="trace">trace ' + esc(n.trace_id) + "</span>";
  if (n.truncated) line += '<span class="cb">(truncated)</span>';
  let html = '<div class="node ' + esc(n.state) + '"><div class="line">' + line + "</div>";
  if (n.children && n.children.length)
    html += '<div class="children">' + n.children.map((c) => renderNode(c, n.trace_id)).join("") + "</div>";
  return html + "</div>";
}

function renderLive(contexts) {
  if (!contexts.length) return '<p class="empty">No request in flight.</p>';
  return contexts.map((e) =>
    '<section class="request" data-trace-id="' + esc(e.context.trace_id || "") +
    '" data-id="' + esc(e.id) + '"><h3>' + esc(e.label) +
    '<span class="age">age ' + esc(duration(e.age_ns)) + "</span></h3>" +
    renderNode(e.context, "") + "</section>").join("");
}

// How a finished context ended: "done", "canceled", "deadline_exceeded" or "alive", as the
// timeline colours it (debug/src/timeline.cpp): done is released, or cancelled without a
// cause — its owner's own cancel once the work was over (Go's defer cancel()).
function ending(c) {
  if (c.ended_ns === null) return "alive";
  if (c.released || c.state === "active") return "done";
  if (c.state === "canceled" && c.cause === "context canceled") return "done";
  return c.state;
}

// A finished tree: contexts[] lists parents before children (parent: an index, -1: root).
function renderFinishedNode(f, i, kids) {
  const c = f.contexts[i];
  const end = ending(c);
  let line = '<span class="kind">' + esc(c.kind) + '</span><span class="state">' + esc(end) + "</span>" +
    '<span class="when">' + esc(duration(c.created_ns)) + " → " +
    (c.ended_ns === null ? "still alive" : esc(duration(c.ended_ns))) + "</span>";
  if (c.deadline_ns !== null) line += '<span class="left">deadline ' + esc(duration(c.deadline_ns)) + "</span>";
  if (c.cause) line += '<span class="cause">cause: ' + esc(c.cause) + "</span>";
  if (c.values.length) line += '<span class="values">' + valuesText(c.values) + "</span>";
  if (c.callbacks) line += '<span class="cb">after_func ' + esc(c.callbacks) + "</span>";
  let html = '<div class="node ' + esc(end) + '"><div class="line">' + line + "</div>";
  if (kids[i].length)
    html += '<div class="children">' + kids[i].map((k) => renderFinishedNode(f, k, kids)).join("") + "</div>";
  return html + "</div>";
}

function renderFinishedTree(f) {
  const kids = f.contexts.map(() => []);
  f.contexts.forEach((c, i) => { if (c.parent >= 0) kids[c.parent].push(i); });
  return f.contexts.length ? renderFinishedNode(f, 0, kids) : "";
}

function renderRow(f) {
  return '<tr class="row" data-id="' + esc(f.id) + '" data-trace-id="' + esc(f.trace_id) + '">' +
    "<td>" + esc(f.id) + "</td><td>" + esc(f.label) + '</td><td class="result">' + esc(f.result) +
    "</td><td>" + esc(duration(f.duration_ns)) + "</td><td>" +
    esc(new Date(f.started_unix_ns / 1e6 + f.duration_ns / 1e6).toLocaleTimeString()) +
    '</td><td class="cause">' + esc(f.cause) + "</td><td>" + esc(f.contexts.length) +
    "</td><td>" + esc(f.trace_id) + "</td></tr>";
}

let finished = [];

async function showDetail(id) {
  const f = finished.find((x) => String(x.id) === String(id));
  const detail = document.getElementById("detail");
  if (!f) { detail.hidden = true; return; }
  document.querySelectorAll("#finished tr").forEach((tr) =>
    tr.classList.toggle("selected", tr.dataset.id === String(id)));
  let svg = "";
  try {
    const r = await fetch("timeline.svg?id=" + encodeURIComponent(id), { cache: "no-store" });
    svg = r.ok ? await r.text() : '<p class="empty">timeline gone (no longer in the history)</p>';
  } catch (e) {
    svg = '<p class="empty">timeline failed: ' + esc(e) + "</p>";
  }
  detail.innerHTML = '<h3 data-id="' + esc(f.id) + '">' + esc(f.label) + " · " + esc(f.result || "no status") +
    " · " + esc(duration(f.duration_ns)) + (f.cause ? " · " + esc(f.cause) : "") + "</h3>" +
    renderFinishedTree(f) + svg;
  detail.hidden = false;
}

async function loadHistory() {
  const form = new FormData(document.getElementById("filters"));
  const query = new URLSearchParams();
  for (const [k, v] of form.entries()) if (v) query.set(k, v.trim());
  try {
    const r = await fetch("history.json?" + query.toString(), { cache: "no-store" });
    finished = (await r.json()).finished;
    document.getElementById("finished").innerHTML = finished.length
      ? finished.map(renderRow).join("")
      : '<tr><td colspan="8" class="empty">No finished request matches.</td></tr>';
    // A trace id names one request: show it at once.
    if (query.get("trace_id") && finished.length) showDetail(finished[0].id);
  } catch (e) {
    document.getElementById("updated").textContent = "history failed: " + e;
  }
}

async function refreshLive() {
  try {
    const r = await fetch("contexts.json", { cache: "no-store" });
    const data = await r.json();
    document.getElementById("tree").innerHTML = renderLive(data.contexts);
    document.getElementById("registry").textContent =
      data.registry === "off" ? "tracking off" : "tracking on";
    document.getElementById("count").textContent = data.contexts.length + " in flight";
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("updated").textContent = "refresh failed: " + e;
  }
}

document.getElementById("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadHistory();
});
document.getElementById("finished").addEventListener("click", (ev) => {
  const row = ev.target.closest("tr.row");
  if (row) showDetail(row.dataset.id);
});
// ?trace_id=… in the page's own URL fills the filter: a link from a log line.
const wanted = new URLSearchParams(location.search).get("trace_id");
if (wanted) document.querySelector('#filters [name="trace_id"]').value = wanted;
refreshLive();
loadHistory();
setInterval(refreshLive, 500);
setInterval(() => { if (document.getElementById("detail").hidden) loadHistory(); }, 2000);
