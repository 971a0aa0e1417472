// tether::grpc against raw gRPC, in one run (docs/performance.md, "gRPC"):
//   1. unary calls/s: tether::grpc (Dispatcher::unary + tether::grpc::call, under a context
//      with a deadline and a trace) vs raw gRPC doing the same job by hand (callback reactor
//      handing work to a pool, client with a deadline and a traceparent header: the same
//      bytes on the wire; the server reading the header into the work's span) — the judged
//      pair; and, for reference, raw gRPC without the trace header, and raw gRPC finishing
//      inline on gRPC's thread vs Dispatcher::unary_inline;
//   2. cancel latency: raw TryCancel → OnCancel, and → work waiting on a condvar woken by
//      OnCancel, vs tether cancel() → the server context's after_func, and → work waiting on
//      the server context woken (the judged pair: work woken, on both sides). Each call is held 1
//      ms (kHeld) before its cancel, on new, equally warmed servers.
//   3. a two-hop chain (client → Relay → Hold): cancel → the second hop's context done.
//   4. (--instructions VARIANT N) N sequential unary calls of one variant on one client
//      thread, counted under Callgrind (`valgrind --tool=callgrind --collect-atstart=no
//      tether_grpc_bench --instructions adapter 2000`): instructions per call, client and
//      server together, stable on a busy machine where wall-clock figures are not; with
//      THREADS, the N calls are spread over that many client threads (for counting futex
//      calls and context switches per call under load: counts, not times).
//   5. (--cancel-matrix N) where a cancel's time goes: raw and tether clients against raw
//      and tether servers, all four pairings, N cancels each (not part of bench/grpc/run.sh).
// Loopback only. Usage: tether_grpc_bench [seconds per throughput round, default 1]
//                       tether_grpc_bench --instructions VARIANT N [THREADS]
//                       tether_grpc_bench --cancel-matrix N
//   VARIANT: raw (pool), adapter (Dispatcher::unary), inline (raw, on gRPC's thread),
//            adapter-inline (Dispatcher::unary_inline), raw-traceparent (raw, the client
//            sending a fixed traceparent: what gRPC itself spends carrying the header)
#include <grpcpp/grpcpp.h>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else  // no valgrind headers: --instructions counts nothing
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "probe.grpc.pb.h"
#include "probe_service.hpp"
#include "tether/grpc.hpp"
#include "tether/propagation.hpp"

using namespace std::chrono_literals;
using tether::test::Reply;
using tether::test::Request;
using Clock = std::chrono::steady_clock;

namespace {

// The raw side's worker pool: what a careful raw-gRPC service does (handlers must not block
// gRPC's threads), the same shape as the Dispatcher's.
class Pool {
 public:
  explicit Pool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(std::function<void()> f) {
    {
      std::lock_guard l(mu_);
      q_.push_back(std::move(f));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock l(mu_);
        cv_.wait(l, [&] { return stop_ || !q_.empty(); });
        if (q_.empty()) return;
        f = std::move(q_.front());
        q_.pop_front();
      }
      f();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

std::atomic<Clock::time_point::rep> raw_cancel_seen{0};
std::atomic<bool> raw_hold_started{false};
std::atomic<Clock::time_point::rep> raw_wake_seen{0};

// The trace a raw gRPC service that carries traces gives a call's work: the caller's
// `traceparent` header, parsed, as the parent of a new span (a new root without one) —
// what tether::grpc's ServerCall does on every call. Until 2026-11-30 the raw side sent
// the header and never read it, so the adapter's server paid for a job the baseline
// skipped: gRPC building client_metadata() (two allocations), the lookup, the parse and
// the span id, about 0.9k instructions per call.
tether::TraceContext incoming_trace(const grpc::CallbackServerContext& sc) {
  const auto& metadata = sc.client_metadata();
  if (auto it = metadata.find("traceparent"); it != metadata.end())
    if (auto parent =
            tether::parse_traceparent(std::string_view(it->second.data(), it->second.size())))
      return parent->child();
  return tether::TraceContext::new_root();
}

// Raw gRPC: Echo on the pool (or inline), Hold until OnCancel.
class RawProbe final : public tether::test::Probe::CallbackService {
 public:
  RawProbe(Pool& pool, bool inline_echo) : pool_(pool), inline_(inline_echo) {}
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* sc, const Request* req,
                                 Reply* reply) override {
    if (inline_) {
      auto* r = sc->DefaultReactor();
      const tether::TraceContext trace = incoming_trace(*sc);  // the work's span
      reply->set_text(req->text());
      r->Finish(grpc::Status::OK);
      (void)trace;
      return r;
    }
    struct R final : grpc::ServerUnaryReactor {
      void OnDone() override { delete this; }
      tether::TraceContext trace;  // the work's span
    };
    auto* r = new R;
    r->trace = incoming_trace(*sc);
    pool_.submit([r, req, reply] {
      reply->set_text(req->text());
      r->Finish(grpc::Status::OK);
    });
    return r;
  }
  // Hold until cancelled: OnCancel records its time and wakes the work waiting on the pool,
  // which records its own and finishes — the raw equivalent of work waiting on a context.
  grpc::ServerUnaryReactor* Hold(grpc::CallbackServerContext*, const Request*, Reply*) override {
    struct R final : grpc::ServerUnaryReactor {
      void OnCancel() override {
        raw_cancel_seen = Clock::now().time_since_epoch().count();
        {
          std::lock_guard l(mu);
          cancelled = true;
        }
        cv.notify_one();
      }
      void OnDone() override { delete this; }
      std::mutex mu;
      std::condition_variable cv;
      bool cancelled = false;
    };
    auto* r = new R;
    pool_.submit([r] {
      {
        std::unique_lock l(r->mu);
        raw_hold_started = true;  // the work is waiting (tether's records its call when running)
        r->cv.wait(l, [r] { return r->cancelled; });
      }
      raw_wake_seen = Clock::now().time_since_epoch().count();
      r->Finish(grpc::Status::CANCELLED);
    });
    return r;
  }

 private:
  Pool& pool_;
  bool inline_;
};

struct RawServer {
  RawServer(bool inline_echo) : pool(4), service(pool, inline_echo) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service);
    server = b.BuildAndStart();
  }
  ~RawServer() { server->Shutdown(std::chrono::system_clock::now() + 1s); }
  Pool pool;
  RawProbe service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

std::unique_ptr<tether::test::Probe::Stub> stub_for(int port) {
  auto ch =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  ch->WaitForConnected(std::chrono::system_clock::now() + 10s);
  return tether::test::Probe::NewStub(ch);
}

// One unary Echo as a raw gRPC client does the adapter's job by hand: a deadline 10 s out
// and, when one is given, a traceparent header.
bool raw_echo(tether::test::Probe::Stub& s, const Request& req,
              const std::string& traceparent = {}) {
  grpc::ClientContext cc;
  cc.set_deadline(std::chrono::system_clock::now() + 10s);
  if (!traceparent.empty()) cc.AddMetadata("traceparent", traceparent);
  Reply r;
  return s.Echo(&cc, req, &r).ok();
}

// Calls/s of `call` from `threads` client threads over `seconds`.
double throughput(int threads, double seconds, const std::function<bool()>& call) {
  std::atomic<bool> stop{false};
  std::atomic<long> n{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i)
    ts.emplace_back([&] {
      long k = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!call()) std::abort();
        ++k;
      }
      n += k;
    });
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  return static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - t0).count();
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// The median of the paired differences a[i] - b[i] (sample i of each side, taken back to
// back) and its 95 % bootstrap interval (2 000 resamples, a fixed seed): how far apart the
// two sides are, and how sure the run is of it. Two p50s compared alone flip sign from run
// to run when the sides are equal; an interval that contains 0 says the run cannot tell
// them apart.
struct PairedDifference {
  double median, low, high;
};
PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  std::mt19937 rng(1);
  std::uniform_int_distribution<std::size_t> pick(0, d.size() - 1);
  std::vector<double> medians, resample(d.size());
  for (int r = 0; r < 2000; ++r) {
    for (double& x : resample) x = d[pick(rng)];
    medians.push_back(pct(resample, 0.5));
  }
  return {pct(d, 0.5), pct(medians, 0.025), pct(medians, 0.975)};
}

void print_latency(const char* what, const std::vector<double>& v) {
  std::printf("| %s | %.3f | %.3f | %.3f | %.3f |\n", what, pct(v, 0), pct(v, 0.5), pct(v, 0.9),
              pct(v, 1));
}

// Mode 4: N calls of one variant, the only ones Callgrind counts: sequential on one client
// thread, or spread over `threads` client threads (then `perf stat -e context-switches,
// syscalls:sys_enter_futex` counts the wake-ups per call under the throughput rounds' load).
int instructions(const std::string& variant, long n, int threads) {
  RawServer raw(variant == "inline");
  tether_test::TestServer adapter;
  adapter.service.record_echo = false;
  const bool tethered = variant.starts_with("adapter");
  adapter.service.inline_echo = variant == "adapter-inline";
  auto stub = stub_for(tethered ? adapter.port() : raw.port);
  Request req;
  req.set_text("x");
  const auto root =
      tether::with_value(tether::background(), tether::trace_key, tether::TraceContext::new_root());
  const bool with_trace = variant == "raw-traceparent";
  const std::string traceparent = tether::format_traceparent(tether::TraceContext::new_root());
  const std::string no_header;
  std::function<bool()> call = [&] {
    return raw_echo(*stub, req, with_trace ? traceparent : no_header);
  };
  if (tethered)
    call = [&] {
      auto [ctx, cancel] = tether::with_timeout(root, 10s);
      Reply r;
      return tether::grpc::call(ctx,
                                [&](grpc::ClientContext* cc) { return stub->Echo(cc, req, &r); })
          .ok();
    };
  if (!tethered && variant != "raw" && variant != "inline" && !with_trace) return 2;
  for (int i = 0; i < 200; ++i)  // warm-up: connections, arenas, thread pools
    if (!call()) return 1;
  std::atomic<bool> failed{false};
  CALLGRIND_START_INSTRUMENTATION;
  if (threads <= 1) {
    for (long i = 0; i < n; ++i)
      if (!call()) failed = true;
  } else {  // n calls in all, spread over `threads` client threads (the throughput rounds' shape)
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (long i = t; i < n; i += threads)
          if (!call()) failed = true;
      });
    for (auto& t : ts) t.join();
  }
  CALLGRIND_STOP_INSTRUMENTATION;
  if (failed) return 1;
  std::printf("%s: %ld calls counted (%d client threads)\n", variant.c_str(), n, threads);
  adapter.shutdown();
  return 0;
}

// How long a held call waits before its cancel: the cancel then finds both servers idle,
// their work asleep, as a real cancel does. Until 2026-12-01 each side cancelled as soon as
// it saw its call started, and the two sides saw that at different points: raw's handler
// flagged it before its pool thread had even woken, tether's work recorded it once running.
// The raw server was then still busy (its CPUs not yet idle) when its cancel arrived, and
// gRPC called OnCancel 1-5 us sooner on the raw server than on tether's, before any of
// tether's code ran (--cancel-matrix, with a probe timing OnCancel on both servers, since removed).
// Held 1 ms, the pairings agree within the run's 95 % interval.
constexpr auto kHeld = 1ms;

// Before the cancel samples, each side's server and channel get the same number of unary
// calls, interleaved: until 2026-12-01 the raw side cancelled on a channel and server the
// throughput rounds had warmed, tether's on new ones.
void warm_up(tether::test::Probe::Stub& a, tether::test::Probe::Stub& b, const Request& req) {
  auto calls = [&](tether::test::Probe::Stub& s) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&] {
        for (int i = 0; i < 2500; ++i)
          if (!raw_echo(s, req)) std::abort();
      });
    for (auto& t : ts) t.join();
  };
  for (int round = 0; round < 2; ++round) {
    calls(round == 0 ? a : b);
    calls(round == 0 ? b : a);
  }
}

// Mode 5 (--cancel-matrix N): where a cancel's time goes. Each of the four pairings of a
// client (raw TryCancel; tether cancel() through tether::grpc::ClientCall) and a server
// (raw reactor waking work on a pool; tether Dispatcher) cancels N held calls, the four in
// a random order in each round; the figure is cancel → the server's work woken, and the
// paired differences isolate the client's share and the server's.
int cancel_matrix(int samples) {
  RawServer raw(false);
  tether_test::TestServer lat;
  lat.service.record_echo = false;
  auto s_raw = stub_for(raw.port), s_lat = stub_for(lat.port());
  Request req;
  req.set_text("x");
  warm_up(*s_raw, *s_lat, req);
  std::size_t lat_calls = 0;
  std::vector<double> woken_ms[2][2];  // [tether client][tether server]
  auto sample = [&](bool tether_client, bool tether_server) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    std::optional<tether::grpc::ClientCall> call;
    std::optional<grpc::ClientContext> raw_cc;
    grpc::ClientContext* cc =
        tether_client ? &call.emplace(ctx).client_context() : &raw_cc.emplace();
    if (!tether_client)  // the same bytes on the wire as the adapter's
      cc->AddMetadata("traceparent", tether::format_traceparent(tether::TraceContext::new_root()));
    Reply r;
    std::promise<void> done;
    raw_wake_seen = 0;
    raw_hold_started = false;
    (tether_server ? *s_lat : *s_raw).async()->Hold(cc, &req, &r, [&](grpc::Status) {
      done.set_value();
    });
    std::shared_ptr<tether_test::Seen> seen;
    if (tether_server) {
      while (lat.rec.count() <= lat_calls) std::this_thread::yield();
      if (!(seen = lat.rec.wait_call(lat_calls++))) std::abort();
    } else {
      while (!raw_hold_started.load()) std::this_thread::yield();
    }
    std::this_thread::sleep_for(kHeld);
    const auto t0 = Clock::now();
    if (tether_client)
      cancel();
    else
      cc->TryCancel();
    done.get_future().wait();
    auto woken = [&] { return tether_server ? seen->woken.load() : raw_wake_seen.load(); };
    while (woken() == 0) std::this_thread::yield();
    woken_ms[tether_client][tether_server].push_back(
        std::chrono::duration<double, std::milli>(Clock::time_point(Clock::duration(woken())) - t0)
            .count());
  };
  std::mt19937 rng(7);
  for (int i = 0; i < samples; ++i) {
    // A fixed order would favour whichever pairing follows a call on the same channel.
    int order[4] = {0, 1, 2, 3};
    std::shuffle(order, order + 4, rng);
    for (int v : order) sample(v & 1, v & 2);
  }
  auto diff = [&](const char* what, const std::vector<double>& a, const std::vector<double>& b) {
    const PairedDifference d = paired_difference(a, b);
    std::printf("%s: median %+.4f ms, 95 %% interval [%+.4f, %+.4f]\n", what, d.median, d.low,
                d.high);
  };
  std::printf(
      "| cancel → work woken, %d calls each (ms) | min | p50 | p90 | max |\n"
      "|---|---|---|---|---|\n",
      samples);
  print_latency("raw client → raw server", woken_ms[0][0]);
  print_latency("tether client → raw server", woken_ms[1][0]);
  print_latency("raw client → tether server", woken_ms[0][1]);
  print_latency("tether client → tether server", woken_ms[1][1]);
  diff("tether client - raw client, raw server", woken_ms[1][0], woken_ms[0][0]);
  diff("tether client - raw client, tether server", woken_ms[1][1], woken_ms[0][1]);
  diff("tether server - raw server, raw client", woken_ms[0][1], woken_ms[0][0]);
  diff("tether server - raw server, tether client", woken_ms[1][1], woken_ms[1][0]);
  diff("tether both - raw both", woken_ms[1][1], woken_ms[0][0]);
  lat.shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--cancel-matrix")
    return cancel_matrix(std::atoi(argv[2]));
  if ((argc == 4 || argc == 5) && std::string(argv[1]) == "--instructions")
    return instructions(argv[2], std::atol(argv[3]), argc == 5 ? std::atoi(argv[4]) : 1);
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const int threads = 4, rounds = 15, samples = 401;
  std::printf("tether::grpc vs raw gRPC 1.51, loopback; %d client threads, %d rounds of %.1f s\n",
              threads, rounds, seconds);
  double load[3] = {0, 0, 0};
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    std::fclose(f);
  }
  std::printf("load average at start: %.2f %.2f %.2f\n\n", load[0], load[1], load[2]);

  // ---- 1. unary throughput --------------------------------------------------------------
  RawServer raw_pool(false), raw_inline(true);
  tether_test::TestServer adapter, adapter_inline;
  adapter.service.record_echo = false;  // the test service's bookkeeping is not the adapter's
  adapter_inline.service.record_echo = false;
  adapter_inline.service.inline_echo = true;  // Dispatcher::unary_inline
  auto s_pool = stub_for(raw_pool.port), s_inline = stub_for(raw_inline.port),
       s_adapter = stub_for(adapter.port()), s_adapter_inline = stub_for(adapter_inline.port());
  Request req;
  req.set_text("x");
  // Raw gRPC doing the adapter's job by hand: a deadline and, optionally, a traceparent (a
  // fresh child span per call, as the adapter sends).
  const auto raw_trace = tether::TraceContext::new_root();
  auto raw_call = [&](tether::test::Probe::Stub& s, bool with_trace = false) {
    return with_trace ? raw_echo(s, req, tether::format_traceparent(raw_trace.child()))
                      : raw_echo(s, req);
  };
  const auto root =
      tether::with_value(tether::background(), tether::trace_key, tether::TraceContext::new_root());
  auto tether_call_to = [&](tether::test::Probe::Stub& s) {
    auto [ctx, cancel] = tether::with_timeout(root, 10s);
    Reply r;
    return tether::grpc::call(ctx, [&](grpc::ClientContext* cc) { return s.Echo(cc, req, &r); })
        .ok();
  };
  auto tether_call = [&] { return tether_call_to(*s_adapter); };
  std::vector<double> r_pool, r_pool_trace, r_inline, r_adapter, r_adapter_inline;
  throughput(threads, 0.5, [&] { return raw_call(*s_pool); });  // warm-up
  throughput(threads, 0.5, tether_call);
  // A compared pair in one round: A B B A (B A A B in odd rounds), half a round each, so
  // that a host speeding up or slowing down during the round, and whichever side runs
  // first after another server, weigh on both sides alike. Each side's figure is the mean
  // of its two halves.
  auto abba = [&](int round, auto a, auto b, std::vector<double>& ra, std::vector<double>& rb) {
    const double half = seconds / 2;
    double a1, a2, b1, b2;
    if (round % 2 == 0) {
      a1 = throughput(threads, half, a), b1 = throughput(threads, half, b);
      b2 = throughput(threads, half, b), a2 = throughput(threads, half, a);
    } else {
      b1 = throughput(threads, half, b), a1 = throughput(threads, half, a);
      a2 = throughput(threads, half, a), b2 = throughput(threads, half, b);
    }
    ra.push_back((a1 + a2) / 2);
    rb.push_back((b1 + b2) / 2);
  };
  for (int i = 0; i < rounds; ++i) {  // interleaved, so load changes hit all alike
    abba(
        i, [&] { return raw_call(*s_pool, true); }, tether_call, r_pool_trace, r_adapter);
    r_pool.push_back(throughput(threads, seconds, [&] { return raw_call(*s_pool); }));
    abba(
        i, [&] { return raw_call(*s_inline); }, [&] { return tether_call_to(*s_adapter_inline); },
        r_inline, r_adapter_inline);
  }
  auto med = [](std::vector<double> v) { return pct(std::move(v), 0.5); };
  std::printf("| unary Echo | calls/s (median of %d rounds) | min | max |\n|---|---|---|---|\n",
              rounds);
  auto row = [&](const char* what, const std::vector<double>& v) {
    std::printf("| %s | %.0f | %.0f | %.0f |\n", what, med(v), pct(v, 0), pct(v, 1));
  };
  row("raw gRPC, work on a pool, deadline + traceparent by hand (baseline)", r_pool_trace);
  row("tether::grpc (Dispatcher::unary + grpc::call)", r_adapter);
  row("raw gRPC, work on a pool, deadline only (no trace header)", r_pool);
  row("raw gRPC, finished inline on gRPC's thread", r_inline);
  row("tether::grpc inline (Dispatcher::unary_inline + grpc::call)", r_adapter_inline);
  auto compare = [&](const char* what, const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> ratio;
    for (int i = 0; i < rounds; ++i) ratio.push_back(a[i] / b[i]);
    std::printf("%s: %+.1f %% calls/s (medians); median of per-round ratios %+.1f %%\n", what,
                (med(a) / med(b) - 1) * 100, (med(ratio) - 1) * 100);
    return med(ratio);
  };
  std::printf("\n");
  const double ratio_pool = compare("adapter vs baseline (the same job)", r_adapter, r_pool_trace);
  const double ratio_no_trace =
      compare("adapter vs raw without the trace header", r_adapter, r_pool);
  const double ratio_inline = compare("inline adapter vs raw inline", r_adapter_inline, r_inline);
  std::printf("\n");
  // For bench/grpc/run.sh: "result <name> <value>" lines.
  std::vector<std::string> results;
  auto result = [&](const char* name, double v) {
    char line[128];
    std::snprintf(line, sizeof line, "result %s %.4f", name, v);
    results.emplace_back(line);
  };
  result("calls_raw_pool_traceparent", med(r_pool_trace));
  result("calls_raw_pool", med(r_pool));
  result("calls_adapter", med(r_adapter));
  result("calls_raw_inline", med(r_inline));
  result("calls_adapter_inline", med(r_adapter_inline));
  result("ratio_adapter_raw", ratio_pool);  // medians of the per-round ratios
  result("ratio_adapter_raw_no_trace", ratio_no_trace);
  result("ratio_adapter_inline_raw_inline", ratio_inline);

  // ---- 2. cancel latency ----------------------------------------------------------------
  std::vector<double> raw_lat, raw_wake_lat, tether_lat, tether_wake_lat, hop2_lat;
  // New servers and channels for both sides, equally warmed (warm_up).
  RawServer raw_cancel(false);
  tether_test::TestServer lat;
  lat.service.record_echo = false;
  auto s_raw_cancel = stub_for(raw_cancel.port), s_lat = stub_for(lat.port());
  warm_up(*s_raw_cancel, *s_lat, req);
  auto raw_sample = [&] {  // raw: TryCancel → OnCancel
    raw_cancel_seen = 0;
    raw_wake_seen = 0;
    raw_hold_started = false;
    grpc::ClientContext cc;
    cc.AddMetadata("traceparent", tether::format_traceparent(raw_trace.child()));  // as sent
    Reply r;
    std::promise<void> done;
    s_raw_cancel->async()->Hold(&cc, &req, &r, [&](grpc::Status) { done.set_value(); });
    while (!raw_hold_started.load()) std::this_thread::yield();  // the work is waiting
    std::this_thread::sleep_for(kHeld);
    const auto t0 = Clock::now();
    cc.TryCancel();
    done.get_future().wait();
    while (raw_cancel_seen.load() == 0 || raw_wake_seen.load() == 0) std::this_thread::yield();
    raw_lat.push_back(std::chrono::duration<double, std::milli>(
                          Clock::time_point(Clock::duration(raw_cancel_seen.load())) - t0)
                          .count());
    raw_wake_lat.push_back(std::chrono::duration<double, std::milli>(
                               Clock::time_point(Clock::duration(raw_wake_seen.load())) - t0)
                               .count());
  };
  auto tether_sample = [&](std::size_t i) {  // tether: cancel() → server ctx done
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    tether::grpc::ClientCall call(ctx);
    Reply r;
    std::promise<void> done;
    s_lat->async()->Hold(&call.client_context(), &req, &r, [&](grpc::Status) { done.set_value(); });
    while (lat.rec.count() <= i) std::this_thread::yield();  // as the raw side waits
    auto seen = lat.rec.wait_call(i);
    if (!seen) std::abort();
    std::atomic<Clock::time_point::rep> at{0};
    auto reg = tether::after_func(seen->ctx, [&] { at = Clock::now().time_since_epoch().count(); });
    std::this_thread::sleep_for(kHeld);
    const auto t0 = Clock::now();
    cancel();
    done.get_future().wait();
    // Waits as the raw side does, spinning: this thread must not sleep on the server
    // context (it did until 2026-11-30: a second waiter for the cancel to wake, and an
    // idle CPU for the woken work to be scheduled on, which the raw side never had).
    while (at.load() == 0 || seen->woken.load() == 0) std::this_thread::yield();
    if (!(tether::cause(seen->ctx) == tether::grpc::errc::client_cancelled)) std::abort();
    tether_lat.push_back(std::chrono::duration<double, std::milli>(
                             Clock::time_point(Clock::duration(at.load())) - t0)
                             .count());
    tether_wake_lat.push_back(std::chrono::duration<double, std::milli>(
                                  Clock::time_point(Clock::duration(seen->woken.load())) - t0)
                                  .count());
    reg.stop_and_wait();
  };
  for (int i = 0; i < samples; ++i) {  // interleaved, each side first every other time
    if (i % 2 == 0) raw_sample();
    tether_sample(static_cast<std::size_t>(i));
    if (i % 2 == 1) raw_sample();
  }
  {  // two hops: client → Relay (upstream) → Hold (downstream)
    tether_test::TestServer downstream, upstream;
    upstream.service.set_downstream(downstream.channel());
    auto s_up = stub_for(upstream.port());
    for (int i = 0; i < samples; ++i) {
      auto [ctx, cancel] = tether::with_cancel(tether::background());
      tether::grpc::ClientCall call(ctx);
      Reply r;
      std::promise<void> done;
      s_up->async()->Relay(&call.client_context(), &req, &r,
                           [&](grpc::Status) { done.set_value(); });
      auto hop2 = downstream.rec.wait_call(static_cast<std::size_t>(i));
      if (!hop2) std::abort();
      std::atomic<Clock::time_point::rep> at{0};
      auto reg =
          tether::after_func(hop2->ctx, [&] { at = Clock::now().time_since_epoch().count(); });
      std::this_thread::sleep_for(kHeld);
      const auto t0 = Clock::now();
      cancel();
      done.get_future().wait();
      while (at.load() == 0) std::this_thread::yield();  // spinning, as the rows above
      hop2_lat.push_back(std::chrono::duration<double, std::milli>(
                             Clock::time_point(Clock::duration(at.load())) - t0)
                             .count());
      reg.stop_and_wait();
    }
  }
  std::printf(
      "| cancel latency, %d calls each (ms) | min | p50 | p90 | max |\n|---|---|---|---|---|\n",
      samples);
  print_latency("raw gRPC: TryCancel → OnCancel", raw_lat);
  print_latency("raw gRPC: TryCancel → work waiting on a condvar woken by OnCancel", raw_wake_lat);
  print_latency("tether::grpc: ctx cancel() → server ctx done (its after_func)", tether_lat);
  print_latency("tether::grpc: ctx cancel() → work waiting on the ctx woken", tether_wake_lat);
  print_latency("two hops: ctx cancel() → 2nd hop's ctx done", hop2_lat);
  result("cancel_p50_ms_raw_oncancel", pct(raw_lat, 0.5));
  result("cancel_p50_ms_raw_woken", pct(raw_wake_lat, 0.5));
  result("cancel_p50_ms_tether_after_func", pct(tether_lat, 0.5));
  result("cancel_p50_ms_tether_woken", pct(tether_wake_lat, 0.5));
  result("cancel_p50_ms_two_hops", pct(hop2_lat, 0.5));
  const PairedDifference woken = paired_difference(tether_wake_lat, raw_wake_lat);
  std::printf(
      "work woken, tether - raw, paired by sample: median %+.4f ms, 95 %% interval [%+.4f, "
      "%+.4f] ms\n",
      woken.median, woken.low, woken.high);
  result("cancel_woken_diff_ms", woken.median);
  result("cancel_woken_diff_low_ms", woken.low);
  result("cancel_woken_diff_high_ms", woken.high);
  std::printf("\n");
  for (const auto& line : results) std::printf("%s\n", line.c_str());
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    std::fclose(f);
  }
  std::printf("\nload average at end: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
  adapter.shutdown();
}
