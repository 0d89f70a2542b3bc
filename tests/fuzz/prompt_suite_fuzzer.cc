// Prompt suites: the first byte picks the format (.txt, DrawBench .csv, VBench .json), the rest
// is the file, read by read_prompt_suite from a scratch file (the reader takes a path; the file
// is what a user hands the program). Also derives every prompt's output file name.
//
// Checks the reader's promises (jobs/prompt_suite.h, media/output_names.h): errors name the file;
// prompts are non-empty and trimmed; lines are 1-based for text formats; file stems hold only
// [a-z0-9-], start with a digit and stay within their bound.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "media/output_names.h"
#include "jobs/prompt_suite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace evosearch;
  if (size == 0) return 0;
  static const char* const kExtensions[] = {".txt", ".csv", ".json"};
  const std::string extension = kExtensions[data[0] % 3];
  const std::string path = (fuzz::Scratch::dir() / ("suite" + extension)).string();
  fuzz::write_bytes(path, std::string(reinterpret_cast<const char*>(data) + 1, size - 1));

  auto suite = read_prompt_suite(path);
  if (!suite.ok()) {
    fuzz::expect(suite.status().message().rfind(path, 0) == 0, "a refused suite is named: " + suite.status().message());
    return 0;
  }
  fuzz::expect(!suite->empty(), "an accepted suite has prompts");
  for (size_t i = 0; i < suite->size(); ++i) {
    const PromptEntry& entry = (*suite)[i];
    const std::string where = "prompt " + std::to_string(i) + " of a " + extension + " suite: ";
    fuzz::expect(!entry.text.empty(), where + "empty");
    fuzz::expect(!std::isspace(static_cast<unsigned char>(entry.text.front())) &&
                     !std::isspace(static_cast<unsigned char>(entry.text.back())),
                 where + "not trimmed");
    fuzz::expect(extension == ".json" ? entry.line == 0 : entry.line >= 1, where + "line " + std::to_string(entry.line));
    const std::string stem = safe_file_stem(entry.text, i);
    fuzz::expect(!stem.empty() && stem.size() <= 80 && std::isdigit(static_cast<unsigned char>(stem.front())),
                 where + "file stem '" + stem + "'");
    for (char c : stem) {
      fuzz::expect((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-', where + "file stem '" + stem + "'");
    }
  }
  return 0;
}
