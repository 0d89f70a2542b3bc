// Prompt suites: the lists of prompts a benchmark or a batch job runs, read from the formats
// people already keep them in (plain text, DrawBench CSV, VBench JSON).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace evosearch {

struct PromptEntry {
  std::string text;      // the prompt, surrounding whitespace trimmed; never empty
  std::string category;  // DrawBench "Category" or VBench dimension(s) joined by ","; may be empty
  int line = 0;          // 1-based line where the prompt starts in the file; 0 for JSON
};

// Reads a suite; the format follows the extension (case-insensitive), and a UTF-8 BOM at the
// start is skipped in all of them:
//   .txt   one prompt per line; blank lines and lines starting with '#' are skipped.
//   .csv   DrawBench: a header row naming a "Prompts" column and optionally a "Category"
//          column (any order, any case; other columns ignored), RFC 4180 quoting. Blank lines
//          are skipped; a row with a different number of fields than the header is an error
//          (most often an unquoted comma inside a prompt).
//   .json  VBench: a top-level array of objects with "prompt_en" (a string) and optionally
//          "dimension" (a string or an array of strings). Items are numbered from 0 in errors.
// Duplicates are kept in order. Errors name the file and the line or item: InvalidArgument for
// malformed content, NotFound for a missing file.
StatusOr<std::vector<PromptEntry>> read_prompt_suite(const std::string& path);

}  // namespace evosearch
