// Across hosts: the caller and the callee run as two hosts in network namespaces the test
// makes itself (root, `ip netns`, a veth pair on 10.201.0.0/24 — traffic never leaves the
// namespaces), and the test cuts the link mid-call (`ip link set … down`: packets are
// dropped, nobody sends a reset). Then:
//   * a call with a deadline ends at its deadline (DEADLINE_EXCEEDED), nothing hangs;
//   * a call without a deadline, on a channel with HTTP/2 keepalive, fails UNAVAILABLE when
//     the client's keepalive notices the dead peer;
//   * the callee's contexts end when the server's keepalive notices the dead peer.
// Keepalive settings (both sides): ping after 300 ms without activity, give up 300 ms later.
// Skipped, saying why, when not root or when network namespaces cannot be made.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "probe_service.hpp"
#include "tether/grpc.hpp"
#include "tether/harness/process.hpp"

namespace tether_test {
namespace {

using namespace std::chrono_literals;
using tether::harness::ChildProcess;

using tether::test::Reply;
using tether::test::Request;

constexpr int kKeepaliveMs = 300;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// Two namespaces joined by a veth pair; removed (with the pair) when destroyed.
struct TwoHosts {
  std::string a = "tg_a" + std::to_string(getpid()), b = "tg_b" + std::to_string(getpid());
  std::string va = "tgva" + std::to_string(getpid() % 100000);
  bool ok = false;
  TwoHosts() {
    if (sh("ip netns add " + a) != 0) return;
    if (sh("ip netns add " + b) != 0) return;
    ok = sh("ip link add " + va + " netns " + a + " type veth peer name eth0 netns " + b) == 0 &&
         sh("ip -n " + a + " addr add 10.201.0.1/24 dev " + va) == 0 &&
         sh("ip -n " + b + " addr add 10.201.0.2/24 dev eth0") == 0 &&
         sh("ip -n " + a + " link set " + va + " up") == 0 &&
         sh("ip -n " + b + " link set eth0 up") == 0 && sh("ip -n " + a + " link set lo up") == 0 &&
         sh("ip -n " + b + " link set lo up") == 0;
  }
  ~TwoHosts() {
    sh("ip netns del " + a);
    sh("ip netns del " + b);
  }
  // Drops every packet both ways (a pfifo queue of length 0 on each end), the link stays up:
  // like a cable cut far away — no reset, no "network unreachable", only silence.
  // (`ip link set … down` would make the local kernel fail sends at once instead; and
  // tc's netem is not available on every kernel.)
  bool cut() const {
    return sh("ip netns exec " + a + " tc qdisc add dev " + va + " root pfifo limit 0") == 0 &&
           sh("ip netns exec " + b + " tc qdisc add dev eth0 root pfifo limit 0") == 0;
  }
};

void keepalive(::grpc::ChannelArguments& args) {
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
}

TEST(GrpcAcrossHosts, CutLinkMidCallDeadlineEndsCallKeepaliveEndsCalleeContext) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make network namespaces (ip netns)";
  if (access("/usr/sbin/ip", X_OK) != 0) GTEST_SKIP() << "needs iproute2 (/usr/sbin/ip)";
  TwoHosts hosts;
  if (!hosts.ok) GTEST_SKIP() << "cannot make network namespaces and a veth pair here";

  const std::string self = std::filesystem::read_symlink("/proc/self/exe");  // not ip's own
  auto server = ChildProcess::start({"/usr/sbin/ip", "netns", "exec", hosts.b, self,
                                     "--gtest_filter=GrpcAcrossHostsChild.Server"},
                                    {"TETHER_GRPC_NETNS_ROLE=server"});
  auto listening = server.line_with("listening", 30s);
  ASSERT_TRUE(listening) << "the callee did not start";
  const std::string port = listening->substr(listening->rfind(' ') + 1);
  auto client = ChildProcess::start(
      {"/usr/sbin/ip", "netns", "exec", hosts.a, self,
       "--gtest_filter=GrpcAcrossHostsChild.Client"},
      {"TETHER_GRPC_NETNS_ROLE=client", "TETHER_GRPC_NETNS_ADDR=10.201.0.2:" + port});
  ASSERT_TRUE(server.line_with("hold start", 30s));
  ASSERT_TRUE(server.line_with("hold start", 30s));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(hosts.cut()) << "tc could not install the dropping queue";

  std::string deadline_call, keepalive_call;
  for (int i = 0; i < 2; ++i) {
    auto line = client.line_with("-call ", 20s);
    ASSERT_TRUE(line) << "a call hung";
    (line->rfind("deadline-call", 0) == 0 ? deadline_call : keepalive_call) = *line;
  }
  EXPECT_NE(deadline_call.find("status=4 "), std::string::npos)
      << deadline_call;  // DEADLINE_EXCEEDED
  EXPECT_NE(keepalive_call.find("status=14 "), std::string::npos) << keepalive_call;  // UNAVAILABLE
  // On time: the deadline (1.5 s, less the 4 % margin) bounds the call, however dead the link.
  const double elapsed = std::stod(deadline_call.substr(deadline_call.find("elapsed_ms=") + 11));
  EXPECT_LT(elapsed, 1500 + 1000) << deadline_call;
  for (int i = 0; i < 2; ++i) {
    auto end = server.line_with("hold end", 20s);
    ASSERT_TRUE(end) << "a callee context never ended";
  }
  std::printf("link cut -> all done: %.0f ms\n", ms(std::chrono::steady_clock::now() - t0));
}

std::mutex out_mu;
void say(const std::string& line) {
  std::lock_guard lock(out_mu);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// The callee host: the Probe service on 10.201.0.2 with keepalive; one line per event.
TEST(GrpcAcrossHostsChild, Server) {
  const char* role = std::getenv("TETHER_GRPC_NETNS_ROLE");
  if (!role || std::string(role) != "server") GTEST_SKIP() << "helper process (callee host)";
  TestServer server({}, tether::background(), "10.201.0.2", [](::grpc::ServerBuilder& b) {
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveMs);
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 100);
    b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  });
  say("listening " + std::to_string(server.port()));
  std::vector<std::thread> watchers;
  for (std::size_t n = 0; n < 2; ++n) {
    auto seen = server.rec.wait_call(n, 60s);
    if (!seen) break;
    say("hold start " + std::to_string(n));
    watchers.emplace_back([seen, n] {
      seen->ctx.done().wait();
      say("hold end " + std::to_string(n) + " cause=\"" + tether::cause(seen->ctx).message() +
          "\" after_ms=" + std::to_string(ms(std::chrono::steady_clock::now() - seen->started)));
    });
  }
  for (auto& w : watchers) w.join();
  std::this_thread::sleep_for(60s);  // until the test kills us
}

// The caller host: one call with a 1.5 s deadline on a plain channel, one without a
// deadline on a channel with keepalive.
TEST(GrpcAcrossHostsChild, Client) {
  const char* role = std::getenv("TETHER_GRPC_NETNS_ROLE");
  if (!role || std::string(role) != "client") GTEST_SKIP() << "helper process (caller host)";
  const std::string addr = std::getenv("TETHER_GRPC_NETNS_ADDR");
  auto plain = tether::test::Probe::NewStub(
      ::grpc::CreateChannel(addr, ::grpc::InsecureChannelCredentials()));
  ::grpc::ChannelArguments args;
  keepalive(args);
  auto kept = tether::test::Probe::NewStub(
      ::grpc::CreateCustomChannel(addr, ::grpc::InsecureChannelCredentials(), args));
  auto run = [](const tether::Context& ctx, const char* name, tether::test::Probe::Stub& stub) {
    const auto t0 = std::chrono::steady_clock::now();
    Reply reply;
    auto st = tether::grpc::call(
        ctx, [&](::grpc::ClientContext* cc) { return stub.Hold(cc, Request(), &reply); });
    say(std::string(name) + " status=" + std::to_string(st.error_code()) + " elapsed_ms=" +
        std::to_string(ms(std::chrono::steady_clock::now() - t0)) + " " + st.error_message());
  };
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1500ms);
  std::thread a([&, c = ctx] { run(c, "deadline-call", *plain); });
  std::thread b([&] { run(tether::background(), "keepalive-call", *kept); });
  a.join();
  b.join();
  std::this_thread::sleep_for(60s);  // until the test kills us
}

}  // namespace
}  // namespace tether_test
