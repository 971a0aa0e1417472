// The live context tree in a real browser: Debian's headless Chromium opens tether-demo's
// /debug/contexts while a slow request is in flight, and the page shows that request's
// context tree (found by its data-trace-id); a screenshot of it is kept as a test artifact
// (<build>/test-artifacts/debug-contexts.png).
//
// Every wait is bounded: the service start, the request reaching its sources (polled in
// /debug/contexts.json), and Chromium (killed with its helpers after kChromiumBound).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "demo_service.hpp"
#include "raw_http.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace tether::demo_tour;
using Json = nlohmann::json;

constexpr auto kChromiumBound = 90s;  // a cold headless start takes ~10 s on a busy machine
constexpr auto kSourcesBound = 10s;

// Cancellable contexts beneath a snapshot node (the node itself excluded).
std::size_t descendants(const Json& node) {
  std::size_t n = 0;
  if (node.contains("children") && node["children"].is_array()) {
    for (const auto& child : node["children"]) n += 1 + descendants(child);
  }
  return n;
}

// The tracked entry of /debug/contexts.json whose context carries `trace_id`, or null.
Json tracked_entry(std::uint16_t port, const std::string& trace_id) {
  Fetched f = fetch(port, "/debug/contexts.json", 5s);
  if (!f.result || f.status() != 200) return nullptr;
  Json j = Json::parse(f.body(), nullptr, false);
  if (!j.is_object() || !j.contains("contexts")) return nullptr;
  for (const auto& e : j["contexts"]) {
    if (e.value("context", Json::object()).value("trace_id", std::string()) == trace_id) return e;
  }
  return nullptr;
}

// A temporary directory, removed at the end of the scope.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "tether-chromium-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

CapturedRun run_chromium(const std::vector<std::string>& extra, const std::string& url,
                         const std::string& stderr_path) {
  TempDir profile;
  std::vector<std::string> args{"--headless",
                                "--no-sandbox",
                                "--disable-gpu",
                                "--disable-quic",
                                "--no-first-run",
                                "--disable-background-networking",
                                "--disable-component-update",
                                "--disable-sync",
                                "--disable-dev-shm-usage",
                                "--user-data-dir=" + profile.path.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(url);
  return run_captured(TETHER_CHROMIUM, args, stderr_path,
                      std::chrono::duration_cast<std::chrono::milliseconds>(kChromiumBound));
}

// One service per test, with one slow request in flight whose three sources are all
// running. Each source would take 120 s (the request's deadline is 150 s): longer than
// Chromium may take (kChromiumBound), so the request is still in flight when the page is
// rendered, however slow the machine; TearDown hangs up, which ends it at once.
class DebugContextsPage : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    work_ = fs::path(TETHER_DEMO_TEST_WORK_DIR) / ("browser-" + name);
    fs::create_directories(work_);
    service_ = std::make_unique<DemoService>(DemoServiceOptions{
        .program = TETHER_DEMO_EXECUTABLE,
        .args = {"--data-dir", (work_ / "data").string(), "--users", "1000", "--timeout", "150000"},
        .log_path = (work_ / "service.log").string(),
        .stderr_path = (work_ / "service.stderr").string(),
        .start_timeout = 120s});
    trace_ = tether::TraceContext::new_root();
    slow_ = RawConnection::connect(service_->port());
    slow_->send_all(format_get(
        "/users/7?profile_latency=120000&preferences_latency=120000&activity_latency=120000",
        {{"traceparent", traceparent_of(trace_)}}));
    // Wait until the request's tree has its source contexts (profile, preferences,
    // activity): the page must show more than the root.
    const auto until = std::chrono::steady_clock::now() + kSourcesBound;
    while (std::chrono::steady_clock::now() < until) {
      entry_ = tracked_entry(service_->port(), trace_.trace_id_hex());
      if (entry_.is_object() && descendants(entry_["context"]) >= 3) break;
      std::this_thread::sleep_for(20ms);
    }
  }

  void TearDown() override {
    if (slow_) slow_->close();  // the client leaves: the request and its sources stop
    if (service_) {
      service_->process().signal(SIGTERM);
      if (!service_->process().wait_exit(10s)) service_->process().kill_and_reap();
    }
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(service_->port()) + "/debug/contexts";
  }

  fs::path work_;
  std::unique_ptr<DemoService> service_;
  tether::TraceContext trace_;
  std::optional<RawConnection> slow_;
  Json entry_;  // the request's entry in /debug/contexts.json, once its sources run
};

TEST_F(DebugContextsPage, ShowsTheSlowRequestsContextTreeInHeadlessChromium) {
  ASSERT_TRUE(entry_.is_object()) << "the slow request never appeared in /debug/contexts.json";
  const std::size_t children = descendants(entry_["context"]);
  ASSERT_GE(children, 3u) << "its source contexts never appeared: " << entry_.dump();

  CapturedRun run = run_chromium({"--dump-dom"}, url(), (work_ / "chromium.stderr").string());
  ASSERT_TRUE(run.status.has_value()) << "chromium did not finish within 90 s";
  ASSERT_TRUE(exited_cleanly(*run.status)) << describe_wait_status(*run.status);
  const std::string& dom = run.out;
  std::ofstream(work_ / "debug-contexts.dom.html") << dom;

  const std::string root = "data-trace-id=\"" + trace_.trace_id_hex() + "\"";
  const auto at = dom.find(root);
  ASSERT_NE(at, std::string::npos) << "no element with " << root << " in the DOM (saved in "
                                   << (work_ / "debug-contexts.dom.html") << ")";
  EXPECT_EQ(dom.find(root, at + 1), std::string::npos) << "the request's tree is shown twice";
  // The request's element (<section class="request" data-trace-id=…>) holds its tree: one
  // <div class="node …"> for the request context and one per context beneath it.
  const auto end = dom.find("</section>", at);
  const std::string tree = dom.substr(at, end == std::string::npos ? std::string::npos : end - at);
  std::size_t nodes = 0;
  for (auto p = tree.find("class=\"node"); p != std::string::npos;
       p = tree.find("class=\"node", p + 1)) {
    ++nodes;
  }
  EXPECT_GE(nodes, 1 + children) << "the page shows fewer contexts for the request than "
                                    "/debug/contexts.json lists: "
                                 << entry_.dump();
  // Each data source's context is labelled by the value the service derives it with.
  for (const char* source : {"profile", "preferences", "activity"}) {
    EXPECT_NE(tree.find(std::string("source=") + source), std::string::npos)
        << "no context of the " << source << " source under the request";
  }
}

TEST_F(DebugContextsPage, ScreenshotOfTheTreeIsSavedAsATestArtifact) {
  ASSERT_TRUE(entry_.is_object()) << "the slow request never appeared in /debug/contexts.json";
  const fs::path artifacts(TETHER_TEST_ARTIFACTS_DIR);
  fs::create_directories(artifacts);
  const fs::path png = artifacts / "debug-contexts.png";
  std::error_code ec;
  fs::remove(png, ec);

  CapturedRun run = run_chromium({"--screenshot=" + png.string(), "--window-size=1280,900"}, url(),
                                 (work_ / "chromium.stderr").string());
  ASSERT_TRUE(run.status.has_value()) << "chromium did not finish within 90 s";
  ASSERT_TRUE(exited_cleanly(*run.status)) << describe_wait_status(*run.status);

  ASSERT_TRUE(fs::exists(png)) << png << " was not written";
  ASSERT_GT(fs::file_size(png), 1000u) << png << " is (nearly) empty";
  std::ifstream in(png, std::ios::binary);
  std::string magic(8, '\0');
  in.read(magic.data(), 8);
  EXPECT_EQ(magic, std::string("\x89PNG\r\n\x1a\n", 8)) << png << " is not a PNG";
}

}  // namespace
