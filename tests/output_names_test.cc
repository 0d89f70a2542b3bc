#include <string>

#include <gtest/gtest.h>

#include "media/output_names.h"

namespace evosearch {
namespace {

// The promises every stem keeps, whatever the prompt.
void expect_safe(const std::string& stem, size_t max_length = 80) {
  EXPECT_FALSE(stem.empty());
  EXPECT_LE(stem.size(), max_length) << stem;
  EXPECT_EQ(stem.find('/'), std::string::npos) << stem;
  EXPECT_EQ(stem.find(".."), std::string::npos) << stem;
  EXPECT_NE(stem.front(), '.') << stem;
  EXPECT_NE(stem.back(), '-') << stem;
  EXPECT_EQ(stem.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"), std::string::npos) << stem;
}

TEST(SafeFileStem, IndexThenSlug) {
  EXPECT_EQ(safe_file_stem("A dark sneaker!", 3), "0003-a-dark-sneaker");
  EXPECT_EQ(safe_file_stem("  T-shirt/top,   LARGE  ", 0), "0000-t-shirt-top-large");
  EXPECT_EQ(safe_file_stem("ankle boot 2", 42), "0042-ankle-boot-2");
}

TEST(SafeFileStem, PaddingGrowsPastFourDigits) {
  EXPECT_EQ(safe_file_stem("bag", 9999), "9999-bag");
  EXPECT_EQ(safe_file_stem("bag", 10000), "10000-bag");
  EXPECT_EQ(safe_file_stem("bag", 1234567), "1234567-bag");
}

TEST(SafeFileStem, EmptySlugBecomesPrompt) {
  EXPECT_EQ(safe_file_stem("", 3), "0003-prompt");
  EXPECT_EQ(safe_file_stem("!!! ... ///", 3), "0003-prompt");
  EXPECT_EQ(safe_file_stem("\xE2\x9C\xA8\xF0\x9F\x91\x9F", 3), "0003-prompt");  // only emoji
}

TEST(SafeFileStem, PathTraversalCannotEscape) {
  for (const std::string prompt : {"../../etc/passwd", "/abs/path", "..", ".hidden", "a/../../b", "C:\\Windows\\x",
                                   "-leading-dash-"}) {
    expect_safe(safe_file_stem(prompt, 7));
  }
  EXPECT_EQ(safe_file_stem("../../etc/passwd", 1), "0001-etc-passwd");
  EXPECT_EQ(safe_file_stem("/abs", 1), "0001-abs");
  EXPECT_EQ(safe_file_stem(".hidden", 1), "0001-hidden");
}

TEST(SafeFileStem, NonAsciiBytesAreSeparators) {
  const std::string stem = safe_file_stem("caf\xC3\xA9 sandal \xE6\x97\xA5\xE6\x9C\xAC bag", 5);
  EXPECT_EQ(stem, "0005-caf-sandal-bag");
  expect_safe(stem);
}

TEST(SafeFileStem, LongPromptsAreCut) {
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "a large bright patterned coat ";
  const std::string stem = safe_file_stem(prompt, 12);
  expect_safe(stem);
  EXPECT_EQ(stem.rfind("0012-a-large-bright-patterned-coat-a-large", 0), 0u) << stem;
  // Cut at a word boundary when one is near.
  EXPECT_EQ(safe_file_stem("small dark sneaker", 0, 16), "0000-small-dark");
  // A single long word is cut mid-word rather than lost.
  EXPECT_EQ(safe_file_stem(std::string(300, 'x'), 0, 20), "0000-" + std::string(15, 'x'));
  // No room for a slug: the index alone, never cut.
  EXPECT_EQ(safe_file_stem("bag", 123, 5), "0123");
  EXPECT_EQ(safe_file_stem("bag", 123456, 3), "123456");
  for (size_t max_length = 6; max_length < 40; ++max_length) expect_safe(safe_file_stem(prompt, 3, max_length), max_length);
}

}  // namespace
}  // namespace evosearch
