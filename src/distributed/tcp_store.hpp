#pragma once
// The rendezvous behind a process group: a key-value store that rank 0 serves over TCP and
// every rank (rank 0 too) uses as Gloo's rendezvous::Store, to exchange the addresses Gloo's
// connections need. A `get` waits until the key is set or the timeout passes. It carries only
// this small exchange; the collectives themselves are Gloo's.
#include <gloo/rendezvous/store.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ct::distributed {

/// The server: started by rank 0, stopped when destroyed.
class StoreServer {
 public:
  /// Listens on `port` (all interfaces); DistributedError if it cannot.
  explicit StoreServer(int port);
  ~StoreServer();

 private:
  void serve(int connection);

  int listener_ = -1;
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<char>> values_;
  std::vector<std::thread> connections_;
  std::vector<int> sockets_;
  bool stopping_ = false;
};

/// A client connection to the server, retried until `timeout` while the server starts.
class TcpStore final : public gloo::rendezvous::Store {
 public:
  TcpStore(const std::string& address, int port, std::chrono::milliseconds timeout);
  ~TcpStore() override;

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

 private:
  std::mutex mutex_;
  int socket_ = -1;
  std::chrono::milliseconds timeout_;
};

}  // namespace ct::distributed
