// debug_page.hpp — GET /debug/contexts: the live context tree, as HTML and as JSON.
//
// The JSON is tether::registry::to_json(tether::registry::snapshot()) and nothing else;
// with the registry off it is {"contexts":[],"registry":"off"}.
//
// The HTML page (demo/web/contexts.html, .css, .js, embedded into the binary at build time)
// is rendered on the server with the snapshot taken for the request — so it shows the tree
// without JavaScript (curl, a test) — and then refreshes itself: its script fetches
// /debug/contexts.json every 500 ms and renders the same markup. Each tracked request is
// an element <section class="request" data-trace-id="<32 hex>"> holding its tree: for every
// context its kind, state, time left, cause, trace id, values, callbacks and children.
//
// Thread safety: pure functions of the registry's state; callable from any thread.
#pragma once

#include <string>
#include <vector>

#include "tether/registry.hpp"

namespace tether_demo {

/// The body of /debug/contexts.json.
std::string contexts_json(bool registry_on);

/// The body of /debug/contexts (text/html).
std::string contexts_html(bool registry_on);

/// The tree part of the page for `entries` (what the server renders into the page; the
/// script renders the same markup from JSON).
std::string render_entries_html(const std::vector<tether::registry::Entry>& entries);

}  // namespace tether_demo
