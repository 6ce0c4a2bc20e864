#include "tcp_store.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "cotangent/core/error.hpp"

namespace ct::distributed {

namespace {

// Requests: 'S' key value (reply 'K'), 'G' key (reply: value once set). Strings and values
// are a 32-bit length, then the bytes. Lengths are bounded, so a stray client cannot make the
// server allocate without limit.
constexpr std::uint32_t kMaxKey = 4096, kMaxValue = 64 << 20;

bool send_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t sent = ::send(fd, p, n, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    p += sent, n -= std::size_t(sent);
  }
  return true;
}

bool receive_all(int fd, void* data, std::size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t got = ::recv(fd, p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got, n -= std::size_t(got);
  }
  return true;
}

bool send_bytes(int fd, const char* data, std::uint32_t n) {
  return send_all(fd, &n, sizeof n) && send_all(fd, data, n);
}

bool receive_bytes(int fd, std::vector<char>& out, std::uint32_t limit) {
  std::uint32_t n = 0;
  if (!receive_all(fd, &n, sizeof n) || n > limit) return false;
  out.resize(n);
  return receive_all(fd, out.data(), n);
}

}  // namespace

StoreServer::StoreServer(int port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CT_CHECK_AS(DistributedError, listener_ >= 0, "rendezvous: socket: {}", std::strerror(errno));
  int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(std::uint16_t(port));
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 128) != 0) {
    int error = errno;
    ::close(listener_);
    throw DistributedError(detail::format(
        "rendezvous: rank 0 cannot listen on port {}: {} (another run on this port? set "
        "MASTER_PORT)",
        port, std::strerror(error)));
  }
  acceptor_ = std::thread([this] {
    for (;;) {
      int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) {
        if (errno == EINTR) continue;
        return;  // the listener was shut down
      }
      std::lock_guard lock(mutex_);
      if (stopping_) {
        ::close(connection);
        return;
      }
      sockets_.push_back(connection);
      connections_.emplace_back([this, connection] { serve(connection); });
    }
  });
}

StoreServer::~StoreServer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (int s : sockets_) ::shutdown(s, SHUT_RDWR);
  }
  changed_.notify_all();
  ::shutdown(listener_, SHUT_RDWR);
  ::close(listener_);
  acceptor_.join();
  for (std::thread& t : connections_) t.join();
  for (int s : sockets_) ::close(s);
}

void StoreServer::serve(int connection) {
  for (;;) {
    char request = 0;
    std::vector<char> key, value;
    if (!receive_all(connection, &request, 1) || !receive_bytes(connection, key, kMaxKey)) return;
    std::string name(key.begin(), key.end());
    if (request == 'S') {
      if (!receive_bytes(connection, value, kMaxValue)) return;
      {
        std::lock_guard lock(mutex_);
        values_[name] = std::move(value);
      }
      changed_.notify_all();
      if (!send_all(connection, "K", 1)) return;
    } else if (request == 'G') {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || values_.contains(name); });
      if (stopping_) return;
      std::vector<char> found = values_[name];
      lock.unlock();
      if (!send_bytes(connection, found.data(), std::uint32_t(found.size()))) return;
    } else {
      return;
    }
  }
}

TcpStore::TcpStore(const std::string& address, int port, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int status = ::getaddrinfo(address.c_str(), std::to_string(port).c_str(), &hints, &found);
  CT_CHECK_AS(DistributedError, status == 0, "rendezvous: MASTER_ADDR {}: {}", address,
              ::gai_strerror(status));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(found, ::freeaddrinfo);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_error;
  for (;;) {
    socket_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CT_CHECK_AS(DistributedError, socket_ >= 0, "rendezvous: socket: {}", std::strerror(errno));
    if (::connect(socket_, found->ai_addr, found->ai_addrlen) == 0) break;
    last_error = std::strerror(errno);
    ::close(socket_);
    socket_ = -1;
    CT_CHECK_AS(DistributedError, std::chrono::steady_clock::now() < deadline,
                "rendezvous: no rank 0 at {}:{} within {} s ({})", address, port,
                timeout.count() / 1000.0, last_error);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // rank 0 may still be starting
  }
  int one = 1;
  ::setsockopt(socket_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

TcpStore::~TcpStore() {
  if (socket_ >= 0) ::close(socket_);
}

void TcpStore::set(const std::string& key, const std::vector<char>& data) {
  std::lock_guard lock(mutex_);
  char reply = 0;
  bool ok = send_all(socket_, "S", 1) &&
            send_bytes(socket_, key.data(), std::uint32_t(key.size())) &&
            send_bytes(socket_, data.data(), std::uint32_t(data.size())) &&
            receive_all(socket_, &reply, 1) && reply == 'K';
  CT_CHECK_AS(DistributedError, ok, "rendezvous: lost rank 0 while setting {}", key);
}

std::vector<char> TcpStore::get(const std::string& key) {
  std::lock_guard lock(mutex_);
  CT_CHECK_AS(
      DistributedError,
      send_all(socket_, "G", 1) && send_bytes(socket_, key.data(), std::uint32_t(key.size())),
      "rendezvous: lost rank 0 while asking for {}", key);
  pollfd ready{socket_, POLLIN, 0};
  int waited = ::poll(&ready, 1, int(timeout_.count()));
  CT_CHECK_AS(DistributedError, waited > 0,
              "rendezvous: the other ranks did not all arrive within {} s (waiting for {})",
              timeout_.count() / 1000.0, key);
  std::vector<char> value;
  CT_CHECK_AS(DistributedError, receive_bytes(socket_, value, kMaxValue),
              "rendezvous: lost rank 0 while waiting for {}", key);
  return value;
}

void TcpStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

void TcpStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds&) {
  for (const std::string& key : keys) get(key);
}

}  // namespace ct::distributed
