// The error vocabulary: tether::errc and its category, Cause, ContextError and
// Context::throw_if_done. Go's TestDeadlineExceededSupportsTimeout (DeadlineExceeded is a
// net.Error with Timeout() == true) becomes: deadline_exceeded compares equal to the portable
// std::errc::timed_out condition, canceled to std::errc::operation_canceled.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <system_error>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/error.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using context_test::make_cause;

TEST(Errors, CategoryNameIsTether) { EXPECT_STREQ(tether::context_category().name(), "tether"); }

TEST(Errors, MessagesAreGosStrings) {
  EXPECT_EQ(tether::make_error_code(tether::errc::canceled).message(), "context canceled");
  EXPECT_EQ(tether::make_error_code(tether::errc::deadline_exceeded).message(),
            "context deadline exceeded");
}

TEST(Errors, ErrcConvertsImplicitlyToErrorCode) {
  const std::error_code ec = tether::errc::canceled;
  EXPECT_EQ(ec.category(), tether::context_category());
  EXPECT_EQ(ec.value(), 1);
  EXPECT_TRUE(ec) << "a done error is truthy; an empty error_code means not done";
}

TEST(Errors, CanceledEqualsOperationCanceled) {
  const std::error_code ec = tether::errc::canceled;
  EXPECT_TRUE(ec == std::errc::operation_canceled);
  EXPECT_FALSE(ec == std::errc::timed_out);
}

// Go's TestDeadlineExceededSupportsTimeout.
TEST(Errors, DeadlineExceededEqualsTimedOut) {
  const std::error_code ec = tether::errc::deadline_exceeded;
  EXPECT_TRUE(ec == std::errc::timed_out);
  EXPECT_FALSE(ec == std::errc::operation_canceled);
  EXPECT_FALSE(ec == tether::errc::canceled);
}

TEST(Errors, ErrOfACancelledContextIsTethersCanceled) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  const std::error_code ec = ctx.err();
  EXPECT_EQ(ec.category(), tether::context_category()) << "err() uses the same category object";
  EXPECT_EQ(ec, tether::make_error_code(tether::errc::canceled));
  EXPECT_TRUE(ec == std::errc::operation_canceled);
  EXPECT_EQ(ec.message(), "context canceled");
}

TEST(Errors, ErrOfAnExpiredContextIsTethersDeadlineExceeded) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), std::chrono::seconds(1));
  clock.advance(std::chrono::seconds(1));
  const std::error_code ec = ctx.err();
  EXPECT_EQ(ec, tether::make_error_code(tether::errc::deadline_exceeded));
  EXPECT_TRUE(ec == std::errc::timed_out);
  EXPECT_EQ(ec.message(), "context deadline exceeded");
}

// ---- Cause --------------------------------------------------------------------------------

TEST(Errors, EmptyCauseMeansNoCause) {
  tether::Cause c;
  EXPECT_FALSE(c);
  EXPECT_FALSE(c.code());
  EXPECT_EQ(c.exception(), nullptr);
  EXPECT_NO_THROW(c.rethrow());
}

TEST(Errors, CauseWithCodeAndMessage) {
  tether::Cause c(std::make_error_code(std::errc::connection_reset), "client disconnected");
  EXPECT_TRUE(c);
  EXPECT_EQ(c.code(), std::make_error_code(std::errc::connection_reset));
  EXPECT_TRUE(c == std::errc::connection_reset);
  EXPECT_EQ(c.message(), "client disconnected");
  EXPECT_EQ(c.exception(), nullptr);
}

TEST(Errors, CauseWithOnlyACodeUsesTheCodesMessage) {
  const std::error_code code = std::make_error_code(std::errc::broken_pipe);
  tether::Cause c(code);
  EXPECT_EQ(c.code(), code);
  EXPECT_EQ(c.message(), code.message());
}

TEST(Errors, CauseFromATetherErrc) {
  tether::Cause c(tether::errc::deadline_exceeded, "upstream budget");
  EXPECT_TRUE(c == tether::errc::deadline_exceeded);
  EXPECT_TRUE(c == std::errc::timed_out);
  EXPECT_EQ(c.message(), "upstream budget");
}

TEST(Errors, MessageOnlyCause) {
  tether::Cause c("server shutdown");
  EXPECT_TRUE(c);
  EXPECT_FALSE(c.code()) << "no code was given";
  EXPECT_EQ(c.message(), "server shutdown");
  tether::Cause from_view{std::string_view("from a view")};
  EXPECT_EQ(from_view.message(), "from a view");
}

TEST(Errors, ExceptionCauseTakesWhatAsMessage) {
  tether::Cause c(std::make_exception_ptr(std::runtime_error("disk on fire")));
  EXPECT_TRUE(c);
  EXPECT_NE(c.exception(), nullptr);
  EXPECT_EQ(c.message(), "disk on fire");
  EXPECT_FALSE(c.code()) << "a runtime_error has no code";
  EXPECT_THROW(c.rethrow(), std::runtime_error);
}

TEST(Errors, SystemErrorExceptionCauseTakesItsCode) {
  const std::error_code code = std::make_error_code(std::errc::host_unreachable);
  tether::Cause c(std::make_exception_ptr(std::system_error(code, "dial")));
  EXPECT_EQ(c.code(), code);
  EXPECT_NE(c.message().find("dial"), std::string::npos) << c.message();
  EXPECT_THROW(c.rethrow(), std::system_error);
}

TEST(Errors, NonStandardExceptionCauseIsKeptAndRethrown) {
  tether::Cause c(std::make_exception_ptr(42));
  EXPECT_TRUE(c);
  EXPECT_NE(c.exception(), nullptr);
  EXPECT_THROW(c.rethrow(), int);
}

TEST(Errors, RethrowOfACodeCauseThrowsSystemErrorWithTheCode) {
  tether::Cause c(std::make_error_code(std::errc::connection_reset), "client disconnected");
  try {
    c.rethrow();
    FAIL() << "rethrow() did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::make_error_code(std::errc::connection_reset));
    EXPECT_NE(std::string(e.what()).find("client disconnected"), std::string::npos) << e.what();
  }
}

TEST(Errors, CauseCopiesShareTheSameValue) {
  tether::Cause a = make_cause(std::errc::io_error, "shared");
  tether::Cause b = a;
  tether::Cause c;
  c = b;
  EXPECT_EQ(tether::internal::Access::rep(b), tether::internal::Access::rep(a))
      << "copying shares, never deep-copies";
  EXPECT_EQ(c.message(), "shared");
  tether::Cause moved = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(moved.message(), "shared");
}

// ---- ContextError and throw_if_done --------------------------------------------------------

TEST(Errors, ThrowIfDoneDoesNothingWhileAlive) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  EXPECT_NO_THROW(ctx.throw_if_done());
  EXPECT_NO_THROW(tether::background().throw_if_done());
}

TEST(Errors, ThrowIfDoneThrowsContextErrorWithCodeAndCause) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  cancel(make_cause(std::errc::connection_reset, "client disconnected"));
  try {
    ctx.throw_if_done();
    FAIL() << "throw_if_done() did not throw";
  } catch (const tether::ContextError& e) {
    EXPECT_EQ(e.code(), tether::make_error_code(tether::errc::canceled));
    EXPECT_TRUE(e.cause() == std::errc::connection_reset);
    EXPECT_EQ(e.cause().message(), "client disconnected");
    EXPECT_NE(std::string(e.what()).find("context canceled"), std::string::npos) << e.what();
  }
}

TEST(Errors, ContextErrorIsASystemError) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  EXPECT_THROW(ctx.throw_if_done(), std::system_error);
  try {
    ctx.throw_if_done();
  } catch (const std::system_error& e) {
    EXPECT_TRUE(e.code() == std::errc::operation_canceled);
  }
}

TEST(Errors, ThrowIfDoneAfterExpiryCarriesDeadlineExceeded) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout_cause(tether::background(), std::chrono::seconds(1),
                                                  tether::Cause("tooSlow"));
  clock.advance(std::chrono::seconds(1));
  try {
    ctx.throw_if_done();
    FAIL() << "throw_if_done() did not throw";
  } catch (const tether::ContextError& e) {
    EXPECT_EQ(e.code(), tether::make_error_code(tether::errc::deadline_exceeded));
    EXPECT_TRUE(e.code() == std::errc::timed_out);
    EXPECT_EQ(e.cause().message(), "tooSlow");
  }
}

TEST(Errors, ThrowIfDoneWithoutAGivenCauseCarriesErrAsCause) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  try {
    ctx.throw_if_done();
    FAIL() << "throw_if_done() did not throw";
  } catch (const tether::ContextError& e) {
    EXPECT_TRUE(e.cause() == tether::errc::canceled);
  }
}

TEST(Errors, ContextErrorCanBeBuiltDirectly) {
  tether::ContextError e(tether::errc::canceled, tether::Cause("why"));
  EXPECT_EQ(e.code(), tether::make_error_code(tether::errc::canceled));
  EXPECT_EQ(e.cause().message(), "why");
}

}  // namespace
