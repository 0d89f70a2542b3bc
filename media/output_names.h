// File names a person recognises, derived from prompts, that are safe on any file system.
#pragma once

#include <cstddef>
#include <string>

namespace evosearch {

// "<index>-<slug>": the index zero-padded to 4 digits (more digits from 10000 on, never cut,
// so stems stay unique and sort in prompt order), then the prompt lower-cased with every run
// of characters outside [a-z0-9] (non-ASCII bytes included) replaced by one '-', trimmed of
// '-'. The stem is at most `max_length` bytes; the slug is cut at a '-' when one is near the
// cut. An empty slug becomes "prompt". (3, "A dark sneaker!") -> "0003-a-dark-sneaker".
// The result holds only [a-z0-9-] and starts with a digit: no '/', no "..", no leading '.'.
std::string safe_file_stem(const std::string& prompt, size_t index, size_t max_length = 80);

}  // namespace evosearch
