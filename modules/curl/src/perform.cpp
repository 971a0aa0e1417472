// perform(): one transfer on the calling thread. The thread's multi handle waits on the
// transfer's sockets and the context's done descriptor together (curl_multi_poll with one
// extra fd); when the context wins, the easy handle is removed mid-transfer, which makes
// libcurl close that connection.
#include <curl/curl.h>

#include <system_error>

#include "handle.hpp"
#include "tether/curl.hpp"

namespace tether::curl {
namespace {

// One multi handle per thread: its connection cache lets consecutive perform() calls on a
// thread reuse connections, as curl_easy_perform does on one handle. Closed at thread exit.
class ThreadMulti {
 public:
  ThreadMulti() : multi_(curl_multi_init()) {}
  ~ThreadMulti() { curl_multi_cleanup(multi_); }
  ThreadMulti(const ThreadMulti&) = delete;
  ThreadMulti& operator=(const ThreadMulti&) = delete;
  CURLM* get() const noexcept { return multi_; }

 private:
  CURLM* multi_;
};

CURLM* thread_multi() {
  thread_local ThreadMulti multi;
  return multi.get();
}

// Keeps `easy` in `multi` for one scope; removing it mid-transfer closes its connection.
class Attached {
 public:
  Attached(CURLM* multi, CURL* easy) noexcept : multi_(multi), easy_(easy) {}
  ~Attached() { curl_multi_remove_handle(multi_, easy_); }
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;

 private:
  CURLM* multi_;
  CURL* easy_;
};

}  // namespace

std::error_code perform(const Context& ctx, CURL* easy, Options options) {
  internal::global_init();
  if (auto err = ctx.err()) return err;  // before anything else: no connection at all
  if (easy == nullptr) return make_error_code(CURLE_BAD_FUNCTION_ARGUMENT);
  CURLM* multi = thread_multi();
  if (multi == nullptr) return make_error_code(CURLM_OUT_OF_MEMORY);
  const auto done = ctx.done();
  const int done_fd = done.never() ? -1 : done.fd();

  internal::HandleOptions handle(easy, std::move(options));
  if (auto ec = handle.apply(ctx)) return ec;
  if (CURLMcode mc = curl_multi_add_handle(multi, easy); mc != CURLM_OK)
    return make_error_code(mc);  // CURLM_ADDED_ALREADY: the handle is busy elsewhere

  std::error_code result;
  {
    Attached attached(multi, easy);
    for (;;) {
      int running = 0;
      if (CURLMcode mc = curl_multi_perform(multi, &running); mc != CURLM_OK) {
        result = make_error_code(mc);
        break;
      }
      bool finished = false;
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
          finished = true;
          result = internal::transfer_result(ctx, msg->data.result);
        }
      }
      if (finished) break;
      if (auto err = ctx.err()) {
        result = err;
        break;
      }
      curl_waitfd extra{done_fd, CURL_WAIT_POLLIN, 0};
      // curl_multi_poll waits for the transfer's sockets, its own timers (capped by the
      // 1 s here) and the context's descriptor.
      CURLMcode mc = curl_multi_poll(multi, done_fd >= 0 ? &extra : nullptr, done_fd >= 0 ? 1u : 0u,
                                     1000, nullptr);
      if (mc != CURLM_OK) {
        result = make_error_code(mc);
        break;
      }
    }
  }  // the handle leaves the multi here
  handle.restore();
  if (auto exception = handle.body_error()) std::rethrow_exception(exception);
  return result;
}

}  // namespace tether::curl
