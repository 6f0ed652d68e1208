#pragma once
// A loopback HTTPS server with a throw-away self-signed certificate whose
// subjectAltName a test chooses ("IP:127.0.0.1", "DNS:other.example"): how
// host-name and address verification are proved. It answers every request
// with 200 "{}" and records the SNI name each handshake carried. Plain
// POSIX sockets and OpenSSL, so the test does not share the client's code.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/loopback.hpp"

namespace gantry::registry::testing {

class TlsServer {
 public:
  explicit TlsServer(const std::string& subject_alt_name) {
    ::signal(SIGPIPE, SIG_IGN);  // a client that refuses the certificate closes mid-handshake
    make_certificate(subject_alt_name);
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (!ctx_ || SSL_CTX_use_certificate(ctx_.get(), cert_.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx_.get(), key_.get()) != 1) {
      throw std::runtime_error("server TLS context");
    }
    const gantry::testing::LoopbackListener listener = gantry::testing::listen_on_loopback(16);
    listen_fd_ = listener.fd;
    port_ = listener.port;
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  ~TlsServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::filesystem::remove_all(dir_);
  }

  [[nodiscard]] int port() const { return port_; }
  // The certificate as a PEM file: the CA a client must trust (it signs itself).
  [[nodiscard]] std::string ca_file() const { return (dir_ / "cert.pem").string(); }
  // The SNI name of every completed handshake ("" when none was sent).
  [[nodiscard]] std::vector<std::string> server_names() const {
    std::lock_guard lock(mutex_);
    return server_names_;
  }

 private:
  struct Free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
    void operator()(SSL* p) const { SSL_free(p); }
  };

  void make_certificate(const std::string& subject_alt_name) {
    key_.reset(EVP_EC_gen("P-256"));
    cert_.reset(X509_new());
    X509* cert = cert_.get();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key_.get());
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("gantry test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, subject_alt_name.c_str()},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
      if (ext == nullptr) throw std::runtime_error("certificate extension");
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    if (X509_sign(cert, key_.get(), EVP_sha256()) == 0) throw std::runtime_error("sign certificate");
    char pattern[] = "/tmp/gantry-tls-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    FILE* file = std::fopen(ca_file().c_str(), "w");
    if (file == nullptr) throw std::runtime_error("write certificate");
    PEM_write_X509(file, cert);
    std::fclose(file);
  }

  void accept_loop() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;
      }
      serve(fd);  // one connection at a time is all these tests need
      ::close(fd);
    }
  }

  void serve(int fd) {
    std::unique_ptr<SSL, Free> ssl(SSL_new(ctx_.get()));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) != 1) {  // the client refused the certificate
      ERR_clear_error();
      return;
    }
    const char* sni = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
    {
      std::lock_guard lock(mutex_);
      server_names_.emplace_back(sni == nullptr ? "" : sni);
    }
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      int n = SSL_read(ssl.get(), buffer, sizeof buffer);
      if (n <= 0) return;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    static constexpr char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    SSL_write(ssl.get(), kAnswer, sizeof kAnswer - 1);
    SSL_shutdown(ssl.get());
  }

  std::unique_ptr<EVP_PKEY, Free> key_;
  std::unique_ptr<X509, Free> cert_;
  std::unique_ptr<SSL_CTX, Free> ctx_;
  std::filesystem::path dir_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::string> server_names_;
};

}  // namespace gantry::registry::testing
