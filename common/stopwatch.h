// Adds the seconds between its construction and its destruction to a running total: a double,
// or a std::atomic<double> written by one thread and read by others.
#pragma once

#include <chrono>

namespace evosearch {

template <typename Total>
class Stopwatch {
 public:
  explicit Stopwatch(Total& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() { total_ = total_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  Stopwatch(const Stopwatch&) = delete;
  Stopwatch& operator=(const Stopwatch&) = delete;

 private:
  Total& total_;
  const std::chrono::steady_clock::time_point start_;
};

}  // namespace evosearch
