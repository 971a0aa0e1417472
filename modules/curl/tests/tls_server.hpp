// A one-connection-at-a-time HTTPS test server on 127.0.0.1 with a self-signed certificate
// made at start (OpenSSL: P-256 key, subjectAltName IP:127.0.0.1). The certificate is
// written as PEM to a fresh temporary directory, for CURLOPT_CAINFO. Every request gets
// 200 "hello tls" and the connection is closed.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace tether_test {

class TlsServer {
 public:
  TlsServer();
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }
  /// The PEM file of the server's certificate (its own CA).
  const std::string& ca_file() const { return ca_file_; }
  int handshakes_ok() const { return ok_.load(); }
  int handshakes_failed() const { return failed_.load(); }

 private:
  void loop();

  void* ctx_ = nullptr;  // SSL_CTX*
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::string dir_;
  std::string ca_file_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

}  // namespace tether_test
