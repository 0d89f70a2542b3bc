// The client end of a reward service (proto/reward_service.proto, models/BUNDLE.md "Reward
// services"): framed protobuf over a Unix socket, one request and reply per batch. Torch-free.
#pragma once

#include <string>

#include "common/status.h"
#include "evosearch/reward_service.pb.h"

namespace evosearch {

struct RewardSocketOptions {
  std::string path;               // the socket file
  std::string reward;             // the reward's name, for messages
  double timeout_seconds = 300;   // the longest wait for one reply
  int attempts = 5;               // tries per request before giving up (connection errors only)
  double first_backoff_seconds = 0.1;  // the wait before the second try; doubled before each next
};

class RewardSocket {
 public:
  explicit RewardSocket(RewardSocketOptions options) : options_(std::move(options)) {}
  ~RewardSocket();
  RewardSocket(const RewardSocket&) = delete;
  RewardSocket& operator=(const RewardSocket&) = delete;

  // Sends `request` and returns the service's reply. A connection that fails, closes or does not
  // answer in time is opened again and the request sent again, with backoff; after `attempts`
  // tries, kUnavailable naming the socket and the reward (running again later resumes). A reply
  // that is not a ScoreReply is DataLoss. The reply's own `error` is the caller's to read.
  StatusOr<proto::ScoreReply> call(const proto::ScoreRequest& request);

  const RewardSocketOptions& options() const { return options_; }

 private:
  Status connect();
  Status exchange(const std::string& frame, std::string& reply);
  void disconnect();
  std::string describe() const;

  const RewardSocketOptions options_;
  int fd_ = -1;  // the open connection, or -1; used by one thread at a time (the compute thread)
};

}  // namespace evosearch
