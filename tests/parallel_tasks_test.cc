// parallel_tasks really uses the intra-op threads. ATen's at::parallel_for ran every task on the
// calling thread in worker code compiled without OpenMP, and the keyed noise drew on one core
// while its comment said two; the bit-for-bit noise tests could not see it.
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "worker/parallel_tasks.h"
#include "worker/runtime.h"

namespace evosearch {
namespace {

struct Runs {
  explicit Runs(int64_t tasks) : count(tasks), thread(tasks) {}
  std::vector<std::atomic<int>> count;
  std::vector<std::thread::id> thread;
  void operator()(int64_t task) {
    count[task].fetch_add(1);
    thread[task] = std::this_thread::get_id();
  }
  std::set<std::thread::id> threads() const { return {thread.begin(), thread.end()}; }
};

TEST(ParallelTasks, EveryTaskRunsOnceOverTheIntraOpThreads) {
  for (int threads : {2, 3}) {
    ScopedComputeThreads scope(threads);
    Runs runs(64);
    parallel_tasks(64, [&](int64_t task) { runs(task); });
    for (int64_t task = 0; task < 64; ++task) EXPECT_EQ(runs.count[task].load(), 1) << "task " << task;
    EXPECT_EQ(runs.threads().size(), static_cast<size_t>(threads)) << "with " << threads << " intra-op threads";
  }
}

TEST(ParallelTasks, NoMoreThreadsThanTasks) {
  ScopedComputeThreads scope(3);
  Runs runs(2);
  parallel_tasks(2, [&](int64_t task) { runs(task); });
  EXPECT_EQ(runs.count[0].load() + runs.count[1].load(), 2);
  EXPECT_EQ(runs.threads().size(), 2u);
}

TEST(ParallelTasks, OneThreadOrOneTaskRunsOnTheCaller) {
  {
    ScopedComputeThreads scope(1);
    Runs runs(10);
    parallel_tasks(10, [&](int64_t task) { runs(task); });
    EXPECT_EQ(runs.threads(), std::set<std::thread::id>{std::this_thread::get_id()});
  }
  ScopedComputeThreads scope(2);
  Runs one(1);
  parallel_tasks(1, [&](int64_t task) { one(task); });
  EXPECT_EQ(one.thread[0], std::this_thread::get_id());
  parallel_tasks(0, [&](int64_t) { ADD_FAILURE() << "no task to run"; });
}

}  // namespace
}  // namespace evosearch
