// Error category, Cause and ContextError.
#include <atomic>
#include <string>

#include "internal/cause_rep.hpp"
#include "tether/context.hpp"
#include "tether/error.hpp"

namespace tether {
namespace internal {

const char* ContextCategory::name() const noexcept { return "tether"; }

std::string ContextCategory::message(int code) const {
  switch (static_cast<errc>(code)) {
    case errc::canceled:
      return "context canceled";
    case errc::deadline_exceeded:
      return "context deadline exceeded";
  }
  return "unknown tether error " + std::to_string(code);
}

std::error_condition ContextCategory::default_error_condition(int code) const noexcept {
  switch (static_cast<errc>(code)) {
    case errc::canceled:
      return std::errc::operation_canceled;
    case errc::deadline_exceeded:
      return std::errc::timed_out;
  }
  return {code, *this};
}

constinit const ContextCategory kContextCategory;

// The two causes every context can report without anyone having given one. Static: never
// counted, never freed, so cause(ctx) on a plainly cancelled context allocates nothing.
CauseRep canceled_cause{{}, true, {static_cast<int>(errc::canceled), kContextCategory}, {}, {}};
CauseRep deadline_cause{
    {}, true, {static_cast<int>(errc::deadline_exceeded), kContextCategory}, {}, {}};

void release(CauseRep* rep) noexcept {
  if (rep != nullptr && !rep->is_static && rep->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    delete rep;
  }
}

CauseRep* retain(CauseRep* rep) noexcept {
  if (rep != nullptr && !rep->is_static) rep->refs.fetch_add(1, std::memory_order_relaxed);
  return rep;
}

CauseRep* cause_for(std::uint32_t code) noexcept {
  return code == static_cast<std::uint32_t>(errc::deadline_exceeded) ? &deadline_cause
                                                                     : &canceled_cause;
}

}  // namespace internal

const std::error_category& context_category() noexcept { return internal::kContextCategory; }

namespace {
internal::CauseRep* make_rep(std::error_code code, std::string message, std::exception_ptr ex) {
  auto* rep = new internal::CauseRep{{1}, false, code, std::move(message), std::move(ex)};
  return rep;
}
}  // namespace

Cause::Cause(std::error_code code, std::string_view message) {
  bool builtin = code.category() == internal::kContextCategory &&
                 (code == errc::canceled || code == errc::deadline_exceeded);
  rep_ = builtin && message.empty() ? internal::cause_for(static_cast<std::uint32_t>(code.value()))
                                    : make_rep(code, std::string(message), nullptr);
}

Cause::Cause(std::string_view message) : rep_(make_rep({}, std::string(message), nullptr)) {}

Cause::Cause(std::exception_ptr exception) {
  std::error_code code;
  std::string message;
  try {
    if (exception) std::rethrow_exception(exception);
  } catch (const std::system_error& e) {
    code = e.code();
    message = e.what();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown exception";
  }
  if (exception) rep_ = make_rep(code, std::move(message), std::move(exception));
}

Cause::Cause(const Cause& other) noexcept : rep_(internal::retain(other.rep_)) {}

Cause& Cause::operator=(const Cause& other) noexcept {
  internal::CauseRep* old = rep_;
  rep_ = internal::retain(other.rep_);
  internal::release(old);
  return *this;
}

Cause& Cause::operator=(Cause&& other) noexcept {
  if (this != &other) {
    internal::release(rep_);
    rep_ = std::exchange(other.rep_, nullptr);
  }
  return *this;
}

Cause::~Cause() { internal::release(rep_); }

std::error_code Cause::code() const noexcept { return rep_ ? rep_->code : std::error_code(); }

std::string Cause::message() const {
  if (rep_ == nullptr) return {};
  if (!rep_->message.empty()) return rep_->message;
  return rep_->code ? rep_->code.message() : std::string();
}

std::exception_ptr Cause::exception() const noexcept { return rep_ ? rep_->exception : nullptr; }

void Cause::rethrow() const {
  if (rep_ == nullptr) return;
  if (rep_->exception) std::rethrow_exception(rep_->exception);
  throw std::system_error(rep_->code, rep_->message);
}

ContextError::ContextError(std::error_code code, Cause cause)
    : std::system_error(code, cause && cause.code() != code ? cause.message() : std::string()),
      cause_(std::move(cause)) {}

}  // namespace tether
