// assets.hpp — the files of debug/web/, compiled into the library.
//
// The build (debug/embed.cmake) turns each file into a string constant of the generated
// assets.cpp, so the module serves its page without looking for files at run time. No
// build step of the web kind: the files are served as written.
#pragma once

#include <string_view>

namespace tether::debug::assets {

extern const std::string_view contexts_html;  // debug/web/contexts.html
extern const std::string_view contexts_css;   // debug/web/contexts.css
extern const std::string_view contexts_js;    // debug/web/contexts.js

}  // namespace tether::debug::assets
