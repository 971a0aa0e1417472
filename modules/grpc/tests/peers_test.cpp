// 23. Interop with real peers, both directions: Python (python3-grpcio, via /usr/bin/python3)
// and Go (Debian's grpc-go 1.33, built offline in GOPATH mode by CMake). Each is skipped,
// saying why, when its packages are absent (scripts/setup.sh test installs them).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "probe_service.hpp"
#include "tether/grpc.hpp"
#include "tether/harness/process.hpp"
#include "tether/propagation.hpp"

namespace tether_test {
namespace {

using namespace std::chrono_literals;
using tether::harness::ChildProcess;

using tether::test::Reply;
using tether::test::Request;
namespace tg = tether::grpc;

constexpr auto kSoon = 5s;
const std::string kPeerTrace = "0af7651916cd43dd8448eb211c80319c";  // the peers' traceparent

std::optional<std::string> python_missing() {
  if (access("/usr/bin/python3", X_OK) != 0) return "no /usr/bin/python3";
  if (std::system("/usr/bin/python3 -c 'import grpc' 2>/dev/null") != 0)
    return "python3-grpcio is not installed (scripts/setup.sh test installs it)";
  return std::nullopt;
}

std::string go_peer() { return std::string(TETHER_PEERS_BUILD_DIR) + "/go-peer"; }

std::optional<std::string> go_missing() {
  if (access(go_peer().c_str(), X_OK) != 0)
    return "the Go peer was not built (needs golang-go and golang-google-grpc-dev; "
           "scripts/setup.sh test installs them, then reconfigure)";
  return std::nullopt;
}

std::vector<std::string> peer_cmd(bool python, std::vector<std::string> args) {
  std::vector<std::string> cmd;
  if (python) {
    cmd = {"/usr/bin/python3", std::string(TETHER_PEERS_DIR) + "/peer.py"};
  } else {
    cmd = {go_peer()};
  }
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

// ---- a peer's client → tether::grpc server ----------------------------------------------

void peer_client_to_tether_server(bool python) {
  TestServer server;
  const std::string addr = server.address();
  {  // hello: the trace id of the peer's traceparent reaches the handler's context
    auto p = ChildProcess::start(peer_cmd(python, {"client", addr, "hello"}));
    ASSERT_TRUE(p.line_with("status=OK"));
    auto seen = server.rec.wait_call(0);
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->ctx.value(tether::trace_key)->trace_id_hex(), kPeerTrace);
  }
  {  // the peer's deadline: the handler's context ends as a deadline
    auto p = ChildProcess::start(peer_cmd(python, {"client", addr, "timeout", "150"}));
    auto seen = server.rec.wait_call(1);
    ASSERT_TRUE(seen);
    EXPECT_TRUE(seen->left && *seen->left <= 160ms);
    ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
    EXPECT_TRUE(tether::cause(seen->ctx) == std::errc::timed_out)
        << tether::cause(seen->ctx).message();
    EXPECT_TRUE(p.line_with(python ? "status=DEADLINE_EXCEEDED" : "status=DeadlineExceeded"));
  }
  {  // the peer cancels: "client cancelled"
    auto p = ChildProcess::start(peer_cmd(python, {"client", addr, "cancel", "100"}));
    auto seen = server.rec.wait_call(2);
    ASSERT_TRUE(seen);
    ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
    EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
    EXPECT_TRUE(p.line_with(python ? "status=CANCELLED" : "status=Canceled"));
  }
  if (python) {  // the peer's process dies mid-call
    auto p = ChildProcess::start(peer_cmd(python, {"client", addr, "kill", "100"}));
    auto seen = server.rec.wait_call(3);
    ASSERT_TRUE(seen);
    ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
    EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
  }
}

TEST(GrpcPeers, PythonClientToTetherServerDeadlineCancelKillTrace) {
  if (auto why = python_missing()) GTEST_SKIP() << *why;
  peer_client_to_tether_server(true);
}

TEST(GrpcPeers, GoClientToTetherServerDeadlineCancelTrace) {
  if (auto why = go_missing()) GTEST_SKIP() << *why;
  peer_client_to_tether_server(false);
}

// ---- tether::grpc client → a peer's server ----------------------------------------------

void tether_client_to_peer_server(bool python) {
  auto server = ChildProcess::start(peer_cmd(python, {"server"}));
  auto listening = server.line_with("listening", 30s);
  ASSERT_TRUE(listening) << "the peer server did not start";
  const std::string addr = "127.0.0.1:" + listening->substr(listening->rfind(' ') + 1);
  auto stub = tether::test::Probe::NewStub(
      ::grpc::CreateChannel(addr, ::grpc::InsecureChannelCredentials()));
  {  // traceparent and deadline reach the peer
    const auto root = tether::TraceContext::new_root();
    auto traced = tether::with_value(tether::background(), tether::trace_key, root);
    auto [ctx, cancel] = tether::with_timeout(traced, 2s);
    Reply reply;
    auto st =
        tg::call(ctx, [&](::grpc::ClientContext* cc) { return stub->Echo(cc, Request(), &reply); });
    ASSERT_TRUE(st.ok()) << st.error_message();
    auto tp = tether::parse_traceparent(reply.traceparent());
    ASSERT_TRUE(tp) << reply.traceparent();
    EXPECT_EQ(tp->trace_id, root.trace_id);
    EXPECT_LE(std::chrono::microseconds(reply.deadline_left_us()), 2s);
    EXPECT_GT(std::chrono::microseconds(reply.deadline_left_us()), 1s);
  }
  {  // the context's deadline: DEADLINE_EXCEEDED here, the peer's handler context ends
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 150ms);
    Reply reply;
    auto st =
        tg::call(ctx, [&](::grpc::ClientContext* cc) { return stub->Hold(cc, Request(), &reply); });
    EXPECT_EQ(st.error_code(), ::grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
    auto end = server.line_with("hold end");
    ASSERT_TRUE(end);
    EXPECT_NE(end->find(python ? "callback=True" : "err=context"), std::string::npos) << *end;
  }
  {  // the context is cancelled mid-call: CANCELLED here, the peer's handler context ends
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    std::thread canceller([&, c = cancel.func()] {
      server.line_with("hold start");
      c();
    });
    Reply reply;
    auto st =
        tg::call(ctx, [&](::grpc::ClientContext* cc) { return stub->Hold(cc, Request(), &reply); });
    canceller.join();
    EXPECT_EQ(st.error_code(), ::grpc::StatusCode::CANCELLED) << st.error_message();
    auto end = server.line_with("hold end");
    ASSERT_TRUE(end);
    EXPECT_NE(end->find(python ? "callback=True" : "err=context canceled"), std::string::npos)
        << *end;
  }
}

TEST(GrpcPeers, TetherClientToPythonServerDeadlineCancelTrace) {
  if (auto why = python_missing()) GTEST_SKIP() << *why;
  tether_client_to_peer_server(true);
}

TEST(GrpcPeers, TetherClientToGoServerDeadlineCancelTrace) {
  if (auto why = go_missing()) GTEST_SKIP() << *why;
  tether_client_to_peer_server(false);
}

}  // namespace
}  // namespace tether_test
