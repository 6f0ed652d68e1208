#pragma once
// A loopback HTTP/1.1 server whose every answer a test writes by hand: the
// registry client's network behaviour (resume after a cut, retries, stalls,
// auth challenges, redirects, framing) is proved against exact bytes on
// the wire. One thread per connection; plain POSIX sockets, so the test
// does not share the client's HTTP code.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/loopback.hpp"

namespace gantry::registry::testing {

struct HttpRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lowercase names

  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  [[nodiscard]] bool has(const std::string& name) const { return headers.contains(name); }
};

// "HTTP/1.1 STATUS Reason\r\nheaders\r\nContent-Length: N\r\n\r\nbody".
inline std::string http_response(int status, const std::vector<std::pair<std::string, std::string>>& headers = {},
                                 std::string_view body = {}, bool content_length = true) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " Scripted\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (content_length) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

// One accepted connection, as the handler sees it.
class Exchange {
 public:
  explicit Exchange(int fd) : fd_(fd) {}

  // The next request on this connection; nullopt once the client closed it.
  std::optional<HttpRequest> next() {
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      char buffer[4096];
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return std::nullopt;
      pending_.append(buffer, static_cast<std::size_t>(n));
    }
    std::string head = pending_.substr(0, end);
    pending_.erase(0, end + 4);
    HttpRequest request;
    std::size_t line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = line.find(' ', sp1 + 1);
    request.method = line.substr(0, sp1);
    request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t at = line_end == std::string::npos ? head.size() : line_end + 2;
    while (at < head.size()) {
      std::size_t eol = head.find("\r\n", at);
      if (eol == std::string::npos) eol = head.size();
      std::string field = head.substr(at, eol - at);
      std::size_t colon = field.find(':');
      std::string name = field.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::size_t value = field.find_first_not_of(' ', colon + 1);
      request.headers[name] = value == std::string::npos ? "" : field.substr(value);
      at = eol + 2;
    }
    return request;
  }

  // Sends all of `bytes`; false once the client has gone.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Blocks until the client closes the connection (or the server stops):
  // how a handler plays a stalled server.
  void wait_for_close() {
    char buffer[4096];
    while (::recv(fd_, buffer, sizeof buffer, 0) > 0) {
    }
  }

 private:
  int fd_;
  std::string pending_;
};

class ScriptedServer {
 public:
  // Called once per connection, on that connection's thread; the
  // connection is closed when it returns. Requests are recorded before the
  // handler sees them.
  using Handler = std::function<void(Exchange&, ScriptedServer&)>;

  explicit ScriptedServer(Handler handler) : handler_(std::move(handler)) {
    const gantry::testing::LoopbackListener listener = gantry::testing::listen_on_loopback(64);
    listen_fd_ = listener.fd;
    port_ = listener.port;
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : workers_) t.join();
  }

  [[nodiscard]] std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int connections() const { return connections_; }

  // Every request seen so far, in arrival order.
  [[nodiscard]] std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  [[nodiscard]] std::vector<HttpRequest> requests_to(std::string_view prefix) const {
    std::vector<HttpRequest> out;
    for (HttpRequest& r : requests()) {
      if (r.target.starts_with(prefix)) out.push_back(std::move(r));
    }
    return out;
  }

  // For handlers: next request on `exchange`, recorded.
  std::optional<HttpRequest> next(Exchange& exchange) {
    std::optional<HttpRequest> request = exchange.next();
    if (request) {
      std::lock_guard lock(mutex_);
      requests_.push_back(*request);
    }
    return request;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++connections_;
      std::lock_guard lock(mutex_);
      open_fds_.push_back(fd);
      workers_.emplace_back([this, fd] {
        Exchange exchange(fd);
        handler_(exchange, *this);
        ::shutdown(fd, SHUT_WR);
        std::lock_guard guard(mutex_);
        std::erase(open_fds_, fd);
        ::close(fd);
      });
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<HttpRequest> requests_;
  std::vector<int> open_fds_;
  std::vector<std::thread> workers_;
};

}  // namespace gantry::registry::testing
