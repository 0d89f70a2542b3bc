#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/atomic_file.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

fs::path test_root() {
  return fs::temp_directory_path() / ("evosearch-atomic-file-test-" + std::to_string(::getpid()));
}

// A fresh empty folder for one test, under the temp dir and named after this process.
fs::path fresh_dir(const std::string& name) {
  const fs::path dir = test_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

class AtomicFile : public testing::Test {
 protected:
  void TearDown() override { fs::remove_all(test_root()); }
};

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(AtomicFile, WritesAndReadsBack) {
  const fs::path dir = fresh_dir("round-trip");
  const std::string path = (dir / "a.bin").string();
  const std::string bytes = std::string("line\n\0binary\xff", 13) + std::string(200000, 'z');
  ASSERT_TRUE(write_file_atomic(path, bytes).ok());
  auto back = read_file(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, bytes);
  ASSERT_TRUE(write_file_atomic(path, "").ok());
  EXPECT_EQ(read_file(path).value(), "");
}

TEST_F(AtomicFile, ReplacesExistingFileAndLeavesNoTemp) {
  const fs::path dir = fresh_dir("replace");
  const std::string path = (dir / "report.json").string();
  std::ofstream(path) << "old contents, longer than the new ones";
  ASSERT_TRUE(write_file_atomic(path, "new").ok());
  EXPECT_EQ(read_file(path).value(), "new");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"report.json"});
}

TEST_F(AtomicFile, CreatesMissingFolders) {
  const fs::path dir = fresh_dir("missing");
  const std::string path = (dir / "x" / "y" / "z.txt").string();
  ASSERT_TRUE(write_file_atomic(path, "deep").ok());
  EXPECT_EQ(read_file(path).value(), "deep");
  EXPECT_EQ(names_in(dir / "x" / "y"), std::vector<std::string>{"z.txt"});
}

TEST_F(AtomicFile, RelativePathInCurrentFolder) {
  const fs::path dir = fresh_dir("relative");
  const fs::path previous = fs::current_path();
  fs::current_path(dir);
  const Status status = write_file_atomic("plain.txt", "here");
  fs::current_path(previous);
  ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_EQ(read_file((dir / "plain.txt").string()).value(), "here");
}

TEST_F(AtomicFile, PathUnderARegularFileFailsAndLeavesNothing) {
  const fs::path dir = fresh_dir("under-file");
  std::ofstream(dir / "blocker") << "a file, not a folder";
  const std::string path = (dir / "blocker" / "sub" / "out.txt").string();
  const Status status = write_file_atomic(path, "never written");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("Not a directory"), std::string::npos) << status.message();
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"blocker"});
}

TEST_F(AtomicFile, RenameOverAFolderFailsAndRemovesTemp) {
  const fs::path dir = fresh_dir("over-folder");
  fs::create_directories(dir / "taken" / "inner");
  const std::string path = (dir / "taken").string();
  const Status status = write_file_atomic(path, "bytes");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("directory"), std::string::npos) << status.message();
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"taken"});
}

TEST_F(AtomicFile, ReadMissingFileIsNotFound) {
  const fs::path dir = fresh_dir("read-missing");
  const std::string path = (dir / "nope.txt").string();
  auto missing = read_file(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
  auto folder = read_file(dir.string());
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.status().message().find("Is a directory"), std::string::npos) << folder.status().message();
}

}  // namespace
}  // namespace evosearch
