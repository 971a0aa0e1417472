// tether::http::Client's URLs and names: IPv6 literals, case-insensitive schemes, what is
// sent as target and Host, the URLs it refuses; host names resolved, and a lookup that
// hangs in DNS ends with the context.
//
// The hanging lookup: the test makes a network namespace (root, `ip netns`) whose
// /etc/resolv.conf (bind-mounted by `ip netns exec` from /etc/netns/<ns>/resolv.conf) names
// 127.0.0.1 as the only DNS server, with a 30 s timeout, and reruns this binary inside it.
// There a UDP socket on 127.0.0.1:53 receives the query and never answers — a resolver
// that is up but silent, with no packet leaving the machine and no dependence on the
// internet. Once the query has arrived, the test cancels the call's context; the call
// must return canceled while getaddrinfo is still waiting. Skipped, saying why, when not
// root or when namespaces cannot be made.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "tether/context.hpp"
#include "tether/http.hpp"

namespace {

using namespace std::chrono_literals;
using tether::http::Client;
using tether::http::Request;
using tether::http::Response;
using tether::http::Server;

// Echoes what the server received: "<target> <Host header>".
void route_echo(Server& s) {
  s.route("GET", "/echo", [](const tether::Context&, const Request& r) {
    const std::string* host = r.headers.find("host");
    return Response::text(200, r.target + " " + (host ? *host : "-"));
  });
}

tether::http::ServerOptions quiet(std::string address = "127.0.0.1") {
  return {.address = std::move(address), .access_log = [](const auto&) {}};
}

TEST(HttpClientUrl, Ipv6LiteralsWork) {
  Server server(tether::background(), quiet("::1"));
  route_echo(server);
  try {
    server.start();
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  const std::string port = std::to_string(server.port());
  auto r = Client().get(tether::background(), "http://[::1]:" + port + "/echo?x=1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "/echo?x=1 [::1]:" + port);
}

TEST(HttpClientUrl, SchemesAreCaseInsensitiveAndTheFragmentIsNotSent) {
  Server server(tether::background(), quiet());
  route_echo(server);
  server.start();
  const std::string port = std::to_string(server.port());
  Client client;
  for (const char* scheme : {"HTTP", "Http", "http"}) {
    auto r = client.get(tether::background(),
                        std::string(scheme) + "://127.0.0.1:" + port + "/echo?q=a%20b#frag");
    ASSERT_TRUE(r.ok()) << scheme << ": " << r.error().message;
    EXPECT_EQ(r->body, "/echo?q=a%20b 127.0.0.1:" + port) << scheme;
  }
}

TEST(HttpClientUrl, HostNamesAreResolved) {
  Server server(tether::background(), quiet());
  route_echo(server);
  server.start();
  const std::string port = std::to_string(server.port());
  // localhost may resolve to ::1 first: the client tries every address it gets.
  auto r = Client().get(tether::background(), "http://LocalHost:" + port + "/echo");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "/echo LocalHost:" + port);
}

TEST(HttpClientUrl, UrlsTheClientDoesNotTakeAreInvalidArguments) {
  Client client;
  for (const char* url : {"ftp://x/", "https://127.0.0.1/", "http://:80/", "http://user@h/",
                          "http:/x", "http://[::1/", "http://h:99999/", "http://h:0/", "/x", ""}) {
    auto r = client.get(tether::background(), url);
    EXPECT_EQ(r.error().code, std::errc::invalid_argument) << url;
    EXPECT_FALSE(r.error().response) << url;
  }
}

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

TEST(HttpClientResolve, ALookupThatHangsInDnsEndsWithTheContext) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a network namespace (ip netns)";
  if (access("/usr/sbin/ip", X_OK) != 0) GTEST_SKIP() << "needs iproute2 (/usr/sbin/ip)";
  const std::string ns = "tether_dns" + std::to_string(getpid());
  const std::filesystem::path etc = "/etc/netns/" + ns;
  if (sh("ip netns add " + ns) != 0) GTEST_SKIP() << "cannot make a network namespace here";
  std::filesystem::create_directories(etc);
  std::ofstream(etc / "resolv.conf") << "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n";
  const bool up = sh("ip -n " + ns + " link set lo up") == 0;
  std::string output;
  int status = -1;
  if (up) {
    const std::string self = std::filesystem::read_symlink("/proc/self/exe");
    const std::string cmd = "TETHER_HTTP_DNS_CHILD=1 ip netns exec " + ns + " " + self +
                            " --gtest_filter=HttpClientResolveChild.* 2>&1";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      std::array<char, 512> buf;
      while (std::fgets(buf.data(), buf.size(), p)) output += buf.data();
      status = ::pclose(p);
    }
  }
  sh("ip netns del " + ns);
  std::filesystem::remove_all(etc);
  ASSERT_TRUE(up) << "cannot bring up lo in the namespace";
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("dns-child: cancelled while the lookup was pending"), std::string::npos)
      << output;
}

// Inside the namespace (run by the test above; skipped otherwise).
TEST(HttpClientResolveChild, CancelDuringLookup) {
  if (!std::getenv("TETHER_HTTP_DNS_CHILD")) GTEST_SKIP() << "run by HttpClientResolve";
  // The silent DNS server: receives, never answers.
  const int dns = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(53);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(dns, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

  Client client;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto call = std::async(std::launch::async, [&, c = ctx] {
    return client.get(c, "http://tether-dns-test.example:8080/");
  });
  pollfd p{dns, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "no DNS query arrived";  // the lookup is pending
  cancel();
  ASSERT_EQ(call.wait_for(10s), std::future_status::ready)  // far below the resolver's 30 s
      << "the call waited for the resolver";
  auto r = call.get();
  EXPECT_EQ(r.error().code, tether::errc::canceled);
  std::printf("dns-child: cancelled while the lookup was pending\n");
  ::close(dns);
}

}  // namespace
