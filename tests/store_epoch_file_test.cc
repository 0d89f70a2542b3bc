// The epoch checks (jobs/store_epoch.h) in this process, over the file store whose own files are
// put back to an earlier copy (as a store going back in time), the marks left as they are: a
// reopen, and a claim that hands out a used token or a finished prompt, stop with DataLoss; a
// store that lost the job is named as such; --restart starts a new epoch. Label unit.
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "jobs/job_store.h"
#include "jobs/store_epoch.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

proto::JobRecord record() {
  proto::JobRecord r;
  r.set_name("epoch");
  r.mutable_spec()->set_seed(7);
  r.mutable_spec()->mutable_search()->set_method("evosearch");
  (*r.mutable_input_digests())["prompts"] = std::string(64, 'a');
  return r;
}

const std::vector<std::string> kTexts = {"prompt 0", "prompt 1", "prompt 2"};

proto::PromptOutcome outcome(uint32_t prompt) {
  proto::PromptOutcome o;
  o.set_index(prompt);
  o.set_prompt(kTexts[prompt]);
  o.set_nfe(90);
  (*o.mutable_scores())["reward"] = 0.5;
  o.set_image("images/" + std::to_string(prompt) + ".png");
  return o;
}

// The epoch checks' own files in state/, which a store going back in time keeps.
bool checks_file(const fs::path& path) {
  const std::string name = path.filename().string();
  return name == "store-epoch" || name == "store-marks";
}

class StoreEpochFile : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = testing_support::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/out";
    fs::create_directories(out_ + "/state");
  }

  std::unique_ptr<JobStore> checked() { return with_epoch_checks(make_file_job_store(out_), out_); }

  // The file store's own files as they are now, or (restore) put back as they were then.
  void save_store(const std::string& to) {
    fs::create_directories(to);
    for (const auto& entry : fs::directory_iterator(out_ + "/state")) {
      if (!checks_file(entry.path())) fs::copy(entry.path(), fs::path(to) / entry.path().filename(), fs::copy_options::recursive);
    }
  }
  void restore_store(const std::string& from) {
    for (const auto& entry : fs::directory_iterator(out_ + "/state")) {
      if (!checks_file(entry.path())) fs::remove_all(entry.path());
    }
    for (const auto& entry : fs::directory_iterator(from)) {
      fs::copy(entry.path(), fs::path(out_) / "state" / entry.path().filename(), fs::copy_options::recursive);
    }
  }

  std::string out_;
};

TEST_F(StoreEpochFile, AStoreThatWentBackIsCaughtAtOpenAndAtClaim) {
  {
    auto store = checked();
    ASSERT_TRUE(store->open(record(), kTexts, false).ok());
    save_store(out_ + "/../opened");
    auto leases = store->claim("a", 2, 600);
    ASSERT_TRUE(leases.ok()) << leases.status().to_string();
    ASSERT_EQ(leases->size(), 2u);
    ASSERT_TRUE(store->save_outcome((*leases)[0], outcome(0)).ok());
  }
  EXPECT_TRUE(fs::exists(out_ + "/state/store-epoch"));
  restore_store(out_ + "/../opened");  // prompt 0's outcome and both claims forgotten

  auto reopened = checked();
  const Status refused = reopened->open(record(), kTexts, false);
  EXPECT_EQ(refused.code(), StatusCode::kDataLoss) << refused.to_string();
  EXPECT_NE(refused.message().find("went back in time"), std::string::npos) << refused.to_string();
  EXPECT_NE(refused.message().find("the outcomes of prompts 0"), std::string::npos) << refused.to_string();
  EXPECT_NE(refused.message().find("prompt 1 (token 1 used, the store's is 0)"), std::string::npos)
      << refused.to_string();
  EXPECT_NE(refused.message().find("--restart"), std::string::npos) << refused.to_string();

  // A store that never opens the job (the lease keeper's) checks its claims: prompt 0 comes back
  // with token 1, used and finished.
  auto claiming = checked();
  auto claim = claiming->claim("b", 1, 600);
  EXPECT_EQ(claim.status().code(), StatusCode::kDataLoss) << claim.status().to_string();
  EXPECT_NE(claim.status().message().find("handed out prompt 0 with token 1 again, whose outcome it had saved"),
            std::string::npos)
      << claim.status().to_string();

  // --restart: a new epoch, whose tokens start again.
  auto restarted = checked();
  ASSERT_TRUE(restarted->open(record(), kTexts, true).ok());
  auto fresh = restarted->claim("c", 3, 600);
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
  EXPECT_EQ(fresh->size(), 3u);
}

TEST_F(StoreEpochFile, AUsedTokenHandedOutAgainIsCaught) {
  {
    auto store = checked();
    ASSERT_TRUE(store->open(record(), kTexts, false).ok());
    save_store(out_ + "/../opened");
    ASSERT_TRUE(store->claim("a", 1, 600).ok());
  }
  restore_store(out_ + "/../opened");
  auto claiming = checked();
  auto claim = claiming->claim("b", 1, 600);
  EXPECT_EQ(claim.status().code(), StatusCode::kDataLoss) << claim.status().to_string();
  EXPECT_NE(claim.status().message().find("handed out prompt 0 with token 1, a token already used (by a)"),
            std::string::npos)
      << claim.status().to_string();
}

TEST_F(StoreEpochFile, AStoreThatLostTheJobIsNamed) {
  save_store(out_ + "/../empty");
  {
    auto store = checked();
    ASSERT_TRUE(store->open(record(), kTexts, false).ok());
    auto leases = store->claim("a", 1, 600);
    ASSERT_TRUE(leases.ok());
    ASSERT_TRUE(store->save_outcome((*leases)[0], outcome(0)).ok());
  }
  restore_store(out_ + "/../empty");
  auto reopened = checked();
  const Status refused = reopened->open(record(), kTexts, false);
  EXPECT_EQ(refused.code(), StatusCode::kDataLoss) << refused.to_string();
  EXPECT_NE(refused.message().find("holds no job"), std::string::npos) << refused.to_string();
  EXPECT_NE(refused.message().find("marked 1 prompt finished and 1 prompt claimed"), std::string::npos)
      << refused.to_string();
  EXPECT_FALSE(fs::exists(out_ + "/state/job.json")) << "the refused open created the job anew";
}

TEST_F(StoreEpochFile, AnIntactStoreReopensAndClaimsOn) {
  {
    auto store = checked();
    ASSERT_TRUE(store->open(record(), kTexts, false).ok());
    auto leases = store->claim("a", 1, 600);
    ASSERT_TRUE(leases.ok());
    ASSERT_TRUE(store->save_outcome((*leases)[0], outcome(0)).ok());
    ASSERT_TRUE(store->claim("a", 1, 600).ok());  // prompt 1, left running
  }
  auto reopened = checked();
  ASSERT_TRUE(reopened->open(record(), kTexts, false).ok());
  auto leases = reopened->claim("b", 2, 600);
  ASSERT_TRUE(leases.ok()) << leases.status().to_string();
  ASSERT_EQ(leases->size(), 1u);
  EXPECT_EQ((*leases)[0].prompt(), 2u);
}

}  // namespace
}  // namespace evosearch
