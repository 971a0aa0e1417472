// web_assets.hpp — the files of demo/web/, compiled into the binary.
//
// The build (demo/embed_web.cmake) turns each file into a string constant in the generated
// web_assets.cpp, so the demo serves its page without looking for files at run time and a
// change to demo/web/ rebuilds it. No build step of the web kind: the files are served as
// written.
#pragma once

#include <string_view>

namespace tether_demo::web {

extern const std::string_view contexts_html;  // demo/web/contexts.html
extern const std::string_view contexts_css;   // demo/web/contexts.css
extern const std::string_view contexts_js;    // demo/web/contexts.js

}  // namespace tether_demo::web
