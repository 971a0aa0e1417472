// error.hpp — the demo's one error vocabulary: tether_demo::errc codes in the category
// "tether-demo", and Result<T> = tether::Result<T, Error> for calls whose failure also
// carries a message for a person (the 400 answer, the startup error).
//
//   tether_demo::Result<RequestKnobs> knobs = resolve_knobs(query, options);
//   if (!knobs) return json_response(400, {{"error", knobs.error().message}});
//   if (knobs.error().code == tether_demo::errc::bad_query) ...  // codes compare with ==
//
// The codes of the libraries underneath (tether::errc, tether::pg, tether::sqlite,
// tether::http::errc) pass through unchanged in Error::code: the demo adds codes only for
// what it decides itself. Thread safety: values; category() is safe from any thread.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

#include "tether/result.hpp"

namespace tether_demo {

/// What the demo itself decides has failed.
enum class errc {
  bad_query = 1,      ///< a query parameter with a value the endpoint does not take (400)
  profile_not_found,  ///< the critical profile source has no such user (404)
  profile_failed,     ///< the critical profile source answered with an error (503)
  startup_failed,     ///< a dependency the service needs could not be started
};

/// Category "tether-demo"; the messages are short phrases ("profile: source failed"), the
/// causes the fan-out gives the siblings of a failed critical source.
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// A failure with its code and the text shown to a person (logs, a 400 body). Match on
/// `code`, never on `message`.
struct Error {
  std::error_code code;
  std::string message;
};

/// A value, or the Error that prevented it.
template <class T>
using Result = tether::Result<T, Error>;

}  // namespace tether_demo

template <>
struct std::is_error_code_enum<tether_demo::errc> : std::true_type {};
