#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "jobs/prompt_suite.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;

class PromptSuite : public testing::Test {
 protected:
  // Writes `bytes` to a file called `name` in a fresh folder for this test and returns its path.
  std::string suite(const std::string& name, const std::string& bytes) {
    const fs::path dir = fs::temp_directory_path() / ("evosearch-prompt-suite-test-" + std::to_string(::getpid())) /
                         testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir);
    const std::string path = (dir / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // The error message reading `path` gives; fails the test when reading succeeds.
  std::string error_of(const std::string& path) {
    auto read = read_prompt_suite(path);
    EXPECT_FALSE(read.ok()) << path << " was read without error";
    return read.ok() ? "" : read.status().message();
  }

  void TearDown() override {
    fs::remove_all(fs::temp_directory_path() / ("evosearch-prompt-suite-test-" + std::to_string(::getpid())));
  }
};

std::vector<std::string> texts(const std::vector<PromptEntry>& entries) {
  std::vector<std::string> out;
  for (const PromptEntry& e : entries) out.push_back(e.text);
  return out;
}

TEST_F(PromptSuite, TextSkipsBlanksAndComments) {
  const std::string path =
      suite("s.txt", "\xEF\xBB\xBF# fashion prompts\n  a dark sneaker  \n\n\t\n   # indented comment\r\na bag\r\n"
                     "a bag\nlast line without newline");
  auto read = read_prompt_suite(path);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(texts(*read), (std::vector<std::string>{"a dark sneaker", "a bag", "a bag", "last line without newline"}));
  EXPECT_EQ((*read)[0].line, 2);
  EXPECT_EQ((*read)[1].line, 6);
  EXPECT_EQ((*read)[2].line, 7);
  EXPECT_EQ((*read)[3].line, 8);
  EXPECT_EQ((*read)[0].category, "");
}

TEST_F(PromptSuite, TextWithNoPromptsIsAnError) {
  const std::string path = suite("empty.txt", "# only a comment\n\n");
  EXPECT_EQ(error_of(path), path + ": no prompts");
}

TEST_F(PromptSuite, CsvDrawBenchStyle) {
  const std::string path = suite("s.CSV",
                                 "\xEF\xBB\xBF"
                                 "Category,No.,prompts,Notes\r\n"
                                 "Colors,1,\"a dark sneaker, small\",x\r\n"
                                 "Text,2,\"a sign that says \"\"hello\"\"\",\r\n"
                                 "\r\n"
                                 "Misc,3,\"two\r\nlines\",\"note, with \"\"quotes\"\"\"\r\n"
                                 "  Size ,4,  a large bag  ,\r\n"
                                 "Size,5,a large bag,");
  auto read = read_prompt_suite(path);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(texts(*read), (std::vector<std::string>{"a dark sneaker, small", "a sign that says \"hello\"",
                                                    "two\nlines", "a large bag", "a large bag"}));
  EXPECT_EQ((*read)[0].category, "Colors");
  EXPECT_EQ((*read)[3].category, "Size");
  std::vector<int> lines;
  for (const PromptEntry& e : *read) lines.push_back(e.line);
  EXPECT_EQ(lines, (std::vector<int>{2, 3, 5, 7, 8}));
}

TEST_F(PromptSuite, CsvWithoutCategoryColumn) {
  auto read = read_prompt_suite(suite("s.csv", "Prompts\na coat\n"));
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(texts(*read), std::vector<std::string>{"a coat"});
  EXPECT_EQ((*read)[0].category, "");
}

TEST_F(PromptSuite, CsvErrorsNameFileAndLine) {
  std::string path = suite("suite.csv", "No.,Text,Category\n1,a bag,size\n");
  EXPECT_EQ(error_of(path), path + ":1: header has no \"Prompts\" column (found: No., Text, Category)");

  path = suite("unquoted.csv", "No.,Prompts,Category\n1,a bag,size\n2,a dark, small coat,size\n");
  EXPECT_EQ(error_of(path), path + ":3: row has 4 fields, the header has 3 (quote prompts that contain commas)");

  path = suite("short.csv", "No.,Prompts,Category\n1,a bag\n");
  EXPECT_EQ(error_of(path), path + ":2: row has 2 fields, the header has 3 (quote prompts that contain commas)");

  path = suite("empty-prompt.csv", "No.,Prompts,Category\n1,a bag,size\n2,\"  \",size\n");
  EXPECT_EQ(error_of(path), path + ":3: empty prompt");

  path = suite("open-quote.csv", "No.,Prompts,Category\n1,a bag,size\n2,\"a coat\nsize\n");
  EXPECT_EQ(error_of(path), path + ":3: quoted field is never closed");

  path = suite("stray-quote.csv", "No.,Prompts,Category\n1,a 12\" bag,size\n");
  EXPECT_EQ(error_of(path),
            path + ":2: '\"' inside an unquoted field (quote the whole field and double the quote)");

  path = suite("after-quote.csv", "No.,Prompts,Category\n1,\"a bag\"x,size\n");
  EXPECT_EQ(error_of(path), path + ":2: expected ',' or end of line after a closing quote");

  path = suite("two-prompts.csv", "Prompts,No.,PROMPTS\n");
  EXPECT_EQ(error_of(path), path + ":1: header has two \"PROMPTS\" columns");

  path = suite("header-only.csv", "No.,Prompts,Category\r\n");
  EXPECT_EQ(error_of(path), path + ": no prompts");

  path = suite("nothing.csv", "\xEF\xBB\xBF");
  EXPECT_EQ(error_of(path), path + ": no header row (expected e.g. No.,Prompts,Category)");
}

TEST_F(PromptSuite, JsonVBenchStyle) {
  const std::string path = suite("s.json", R"(
[
  {"prompt_en": "a dark sneaker", "dimension": ["brightness", "subject_consistency"]},
  {"prompt_en": " a small bag ", "dimension": "size", "auxiliary_info": {"x": 1}},
  {"prompt_en": "a coat"},
  {"prompt_en": "a coat", "dimension": []}
])");
  auto read = read_prompt_suite(path);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(texts(*read), (std::vector<std::string>{"a dark sneaker", "a small bag", "a coat", "a coat"}));
  EXPECT_EQ((*read)[0].category, "brightness,subject_consistency");
  EXPECT_EQ((*read)[1].category, "size");
  EXPECT_EQ((*read)[2].category, "");
  EXPECT_EQ((*read)[0].line, 0);
}

TEST_F(PromptSuite, JsonSkipsBom) {
  auto read = read_prompt_suite(suite("bom.json", "\xEF\xBB\xBF[{\"prompt_en\": \"a bag\"}]\r\n"));
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(texts(*read), std::vector<std::string>{"a bag"});
}

TEST_F(PromptSuite, JsonErrorsNameFileAndItem) {
  std::string path = suite("suite.json", R"([{"prompt_en": "a"}, {"prompt_en": "b"}, {"prompt_en": "c"},
                                             {"prompt": "d"}])");
  EXPECT_EQ(error_of(path), path + ": item 3 has no \"prompt_en\" string");

  path = suite("number.json", R"([{"prompt_en": 7}])");
  EXPECT_EQ(error_of(path), path + ": item 0 has no \"prompt_en\" string");

  path = suite("empty-prompt.json", R"([{"prompt_en": "a"}, {"prompt_en": "   "}])");
  EXPECT_EQ(error_of(path), path + ": item 1 has an empty \"prompt_en\"");

  path = suite("not-object.json", R"([{"prompt_en": "a"}, "b"])");
  EXPECT_EQ(error_of(path), path + ": item 1 is not an object");

  path = suite("dimension.json", R"([{"prompt_en": "a", "dimension": ["size", 3]}])");
  EXPECT_EQ(error_of(path), path + ": item 0 has a \"dimension\" that is not a string or an array of strings");

  path = suite("empty.json", "[]");
  EXPECT_EQ(error_of(path), path + ": no prompts");

  path = suite("object.json", " \n{\"prompt_en\": \"a\"}");
  EXPECT_EQ(error_of(path), path + ": expected a JSON array of objects with \"prompt_en\" at the top level");

  path = suite("broken.json", R"([{"prompt_en": "a"},)");
  const std::string message = error_of(path);
  EXPECT_EQ(message.rfind(path + ": not valid JSON: ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST_F(PromptSuite, UnknownExtensionListsFormats) {
  const std::string path = suite("suite.yaml", "- a bag\n");
  const std::string message = error_of(path);
  EXPECT_EQ(message.rfind(path + ": unknown prompt suite format \".yaml\"", 0), 0u) << message;
  for (const char* format : {".txt", ".csv", ".json"}) EXPECT_NE(message.find(format), std::string::npos) << message;
}

TEST_F(PromptSuite, MissingFileIsNotFound) {
  const std::string path = suite("present.txt", "a bag\n") + ".missing.txt";
  auto read = read_prompt_suite(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status().message();
}

TEST_F(PromptSuite, BundledExamplesRead) {
  const fs::path examples = fs::path(EVOSEARCH_SOURCE_DIR) / "examples";
  const std::vector<std::pair<std::string, size_t>> expected = {
      {"fashion-suite.txt", 10}, {"fashion-holdout.txt", 12}, {"fashion-drawbench.csv", 12}, {"fashion-vbench.json", 12}};
  std::vector<std::string> tuning, holdout;
  for (const auto& [name, count] : expected) {
    auto read = read_prompt_suite((examples / name).string());
    ASSERT_TRUE(read.ok()) << read.status().to_string();
    EXPECT_EQ(read->size(), count) << name;
    const bool categorised = name.find(".txt") == std::string::npos;
    for (const PromptEntry& e : *read) {
      EXPECT_EQ(e.category.empty(), !categorised) << name << ": " << e.text;
      (name == "fashion-holdout.txt" ? holdout : tuning).push_back(e.text);
    }
  }
  for (const std::string& prompt : holdout) {
    EXPECT_EQ(std::count(tuning.begin(), tuning.end(), prompt), 0) << "held-out prompt also in a tuning suite: " << prompt;
  }
}

}  // namespace
}  // namespace evosearch
