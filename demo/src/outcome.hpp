// outcome.hpp — the names shared by the sources, the log and the metrics: which source,
// and how one call to it ended.
#pragma once

#include <cstddef>

namespace tether_demo {

/// The three data sources of GET /users/{id}.
enum class Source { profile, preferences, activity };
inline constexpr std::size_t kSourceCount = 3;

/// How one source call ended:
///   ok                 the data came back;
///   not_found          the source has no such user;
///   failed             the source answered with an error (an injected failure, a broken
///                      database, a 5xx from the activity service);
///   interrupted        its context was cancelled: the client left, a critical sibling
///                      failed, or the server is shutting down;
///   deadline_exceeded  its deadline passed (the request's, or the reserve-shortened one of
///                      a non-critical source), or the activity service's propagated one.
enum class Outcome { ok, not_found, failed, interrupted, deadline_exceeded };
inline constexpr std::size_t kOutcomeCount = 5;

constexpr const char* to_string(Source s) noexcept {
  switch (s) {
    case Source::profile:
      return "profile";
    case Source::preferences:
      return "preferences";
    case Source::activity:
      return "activity";
  }
  return "?";
}

constexpr const char* to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::ok:
      return "ok";
    case Outcome::not_found:
      return "not_found";
    case Outcome::failed:
      return "failed";
    case Outcome::interrupted:
      return "interrupted";
    case Outcome::deadline_exceeded:
      return "deadline_exceeded";
  }
  return "?";
}

}  // namespace tether_demo
