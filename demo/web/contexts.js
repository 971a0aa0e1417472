// The live context tree (contexts.html): every 500 ms, fetch /debug/contexts.json — the
// JSON of tether::registry::to_json — and render the same markup the server rendered
// (demo/src/debug_page.cpp, render_entries_html). No framework, no build step.
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

// `parentTrace`: the trace id shown above; a node repeats it only when it differs.
function renderNode(n, parentTrace) {
  let line = '<span class="kind">' + esc(n.kind) + "</span>" +
    '<span class="state">' + esc(n.state) + "</span>";
  if (n.time_left_ns !== null && n.time_left_ns !== undefined)
    line += '<span class="left">left ' + esc(duration(n.time_left_ns)) + "</span>";
  if (n.cause) line += '<span class="cause">cause: ' + esc(n.cause) + "</span>";
  if (n.values && n.values.length)
    line += '<span class="values">' +
      n.values.map((v) => esc(v.key) + "=" + esc(v.value)).join(" ") + "</span>";
  if (n.callbacks) line += '<span class="cb">callbacks ' + esc(n.callbacks) + "</span>";
  if (n.trace_id && n.trace_id !== parentTrace)
    line += '<span class="trace">trace ' + esc(n.trace_id) + "</span>";
  if (n.truncated) line += '<span class="cb">(truncated)</span>';
  let html = '<div class="node ' + esc(n.state) + '"><div class="line">' + line + "</div>";
  if (n.children && n.children.length)
    html += '<div class="children">' + n.children.map((c) => renderNode(c, n.trace_id)).join("") + "</div>";
  return html + "</div>";
}

function renderEntries(contexts) {
  if (!contexts.length) return '<p class="empty">No request in flight.</p>';
  return contexts.map((e) =>
    '<section class="request" data-trace-id="' + esc(e.context.trace_id || "") +
    '" data-id="' + esc(e.id) + '"><h2>' + esc(e.label) +
    '<span class="age">age ' + esc(duration(e.age_ns)) + "</span></h2>" +
    renderNode(e.context, "") + "</section>").join("");
}

async function refresh() {
  try {
    const r = await fetch("/debug/contexts.json", { cache: "no-store" });
    const data = await r.json();
    document.getElementById("tree").innerHTML = renderEntries(data.contexts);
    document.getElementById("registry").textContent =
      data.registry === "off" ? "registry off (--registry off)" : "registry on";
    document.getElementById("count").textContent = data.contexts.length + " tracked";
    document.getElementById("updated").textContent =
      "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("updated").textContent = "refresh failed: " + e;
  }
}

setInterval(refresh, 500);
