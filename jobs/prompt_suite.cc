#include "jobs/prompt_suite.h"

#include <algorithm>
#include <cstdio>
#include <cctype>
#include <filesystem>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "common/atomic_file.h"

namespace evosearch {
namespace {

std::string trimmed(const std::string& text) {
  const auto is_space = [](unsigned char c) { return std::isspace(c) != 0; };
  auto begin = std::find_if_not(text.begin(), text.end(), is_space);
  auto end = std::find_if_not(text.rbegin(), std::string::const_reverse_iterator(begin), is_space).base();
  return std::string(begin, end);
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string joined(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

std::string without_bom(std::string bytes) {
  if (bytes.compare(0, 3, "\xEF\xBB\xBF") == 0) bytes.erase(0, 3);
  return bytes;
}

std::vector<PromptEntry> parse_txt(const std::string& bytes) {
  std::vector<PromptEntry> entries;
  int line_number = 0;
  size_t start = 0;
  while (start < bytes.size()) {
    size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    ++line_number;
    const std::string line = trimmed(bytes.substr(start, end - start));
    if (!line.empty() && line[0] != '#') entries.push_back({line, "", line_number});
    start = end + 1;
  }
  return entries;
}

struct CsvRecord {
  std::vector<std::string> fields;
  int line = 0;  // where the record starts
};

// RFC 4180: fields separated by ',', records by CRLF or LF; a quoted field may hold commas,
// line breaks and doubled quotes. Records that are one empty field (blank lines) are skipped.
StatusOr<std::vector<CsvRecord>> split_csv(const std::string& bytes, const std::string& path) {
  std::vector<CsvRecord> records;
  CsvRecord record;
  std::string field;
  int line = 1;
  record.line = line;
  size_t i = 0;
  const auto end_record = [&] {
    record.fields.push_back(std::move(field));
    field.clear();
    if (!(record.fields.size() == 1 && trimmed(record.fields[0]).empty())) records.push_back(std::move(record));
    record = CsvRecord();
  };
  while (i < bytes.size()) {
    const char c = bytes[i];
    if (c == '"' && trimmed(field).empty()) {
      // A quoted field runs to the next quote that is not doubled.
      const int opened_at = line;
      field.clear();
      ++i;
      for (;;) {
        if (i >= bytes.size()) {
          return InvalidArgument(path + ":" + std::to_string(opened_at) + ": quoted field is never closed");
        }
        if (bytes[i] == '"') {
          if (i + 1 < bytes.size() && bytes[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (bytes[i] == '\n') ++line;
        if (!(bytes[i] == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n')) field += bytes[i];
        ++i;
      }
      while (i < bytes.size() && (bytes[i] == ' ' || bytes[i] == '\t')) ++i;
      if (i < bytes.size() && bytes[i] != ',' && bytes[i] != '\n' && bytes[i] != '\r') {
        return InvalidArgument(path + ":" + std::to_string(line) +
                               ": expected ',' or end of line after a closing quote");
      }
      continue;
    }
    if (c == '"') {
      return InvalidArgument(path + ":" + std::to_string(line) +
                             ": '\"' inside an unquoted field (quote the whole field and double the quote)");
    }
    if (c == ',') {
      record.fields.push_back(std::move(field));
      field.clear();
      ++i;
    } else if (c == '\n' || c == '\r') {
      i += (c == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n') ? 2 : 1;
      end_record();
      record.line = ++line;
    } else {
      field += c;
      ++i;
    }
  }
  if (!field.empty() || !record.fields.empty()) end_record();
  return records;
}

StatusOr<std::vector<PromptEntry>> parse_csv(const std::string& bytes, const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<CsvRecord> records, split_csv(bytes, path));
  if (records.empty()) return InvalidArgument(path + ": no header row (expected e.g. No.,Prompts,Category)");
  const CsvRecord& header = records[0];
  const std::string at_header = path + ":" + std::to_string(header.line) + ": ";
  int prompts = -1, category = -1;
  std::vector<std::string> names;
  for (size_t c = 0; c < header.fields.size(); ++c) {
    const std::string name = trimmed(header.fields[c]);
    names.push_back(name);
    for (auto [wanted, column] : {std::pair<const char*, int*>{"prompts", &prompts}, {"category", &category}}) {
      if (lower(name) != wanted) continue;
      if (*column >= 0) return InvalidArgument(at_header + "header has two \"" + name + "\" columns");
      *column = static_cast<int>(c);
    }
  }
  if (prompts < 0) {
    // The first few names: a header can have any number of columns.
    const size_t shown = std::min<size_t>(names.size(), 10);
    const std::string found = joined(std::vector<std::string>(names.begin(), names.begin() + shown), ", ") +
                              (names.size() > shown ? " and " + std::to_string(names.size() - shown) + " more" : "");
    return InvalidArgument(at_header + "header has no \"Prompts\" column (found: " + found + ")");
  }
  std::vector<PromptEntry> entries;
  for (size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& row = records[r];
    const std::string at_row = path + ":" + std::to_string(row.line) + ": ";
    if (row.fields.size() != header.fields.size()) {
      return InvalidArgument(at_row + "row has " + std::to_string(row.fields.size()) + " fields, the header has " +
                             std::to_string(header.fields.size()) + " (quote prompts that contain commas)");
    }
    PromptEntry entry{trimmed(row.fields[prompts]), category >= 0 ? trimmed(row.fields[category]) : "", row.line};
    if (entry.text.empty()) return InvalidArgument(at_row + "empty prompt");
    entries.push_back(std::move(entry));
  }
  return entries;
}

StatusOr<std::vector<PromptEntry>> parse_json(const std::string& bytes, const std::string& path) {
  using google::protobuf::Value;
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || bytes[first] != '[') {
    return InvalidArgument(path + ": expected a JSON array of objects with \"prompt_en\" at the top level");
  }
  google::protobuf::ListValue items;
  const auto parsed = google::protobuf::util::JsonStringToMessage(bytes, &items);
  if (!parsed.ok()) {
    // The parser's first line says what is wrong; the lines after it quote the input.
    const std::string reason(parsed.message());
    return InvalidArgument(path + ": not valid JSON: " + reason.substr(0, reason.find('\n')));
  }
  std::vector<PromptEntry> entries;
  for (int i = 0; i < items.values_size(); ++i) {
    const std::string at_item = path + ": item " + std::to_string(i) + " ";
    const Value& item = items.values(i);
    if (item.kind_case() != Value::kStructValue) return InvalidArgument(at_item + "is not an object");
    const auto& fields = item.struct_value().fields();
    const auto prompt = fields.find("prompt_en");
    if (prompt == fields.end() || prompt->second.kind_case() != Value::kStringValue) {
      return InvalidArgument(at_item + "has no \"prompt_en\" string");
    }
    PromptEntry entry{trimmed(prompt->second.string_value()), "", 0};
    if (entry.text.empty()) return InvalidArgument(at_item + "has an empty \"prompt_en\"");
    const auto dimension = fields.find("dimension");
    if (dimension != fields.end()) {
      const Value& value = dimension->second;
      std::vector<std::string> dimensions;
      bool valid = value.kind_case() == Value::kStringValue || value.kind_case() == Value::kListValue;
      if (value.kind_case() == Value::kStringValue) dimensions.push_back(value.string_value());
      if (value.kind_case() == Value::kListValue) {
        for (const Value& d : value.list_value().values()) {
          valid = valid && d.kind_case() == Value::kStringValue;
          dimensions.push_back(d.string_value());
        }
      }
      if (!valid) return InvalidArgument(at_item + "has a \"dimension\" that is not a string or an array of strings");
      entry.category = joined(dimensions, ",");
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

// The offset of the first byte that makes `text` other than UTF-8 text without control
// characters (tabs, and the line breaks a quoted CSV field may hold, allowed), or npos. Records and results store prompts as JSON strings, which
// cannot hold either faithfully: the prompt searched and the prompt reported would differ.
size_t first_non_text_byte(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return i;
      ++i;
      continue;
    }
    const size_t length = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (length == 0 || i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return i;
    }
    i += length;
  }
  return std::string::npos;
}

}  // namespace

StatusOr<std::vector<PromptEntry>> read_prompt_suite(const std::string& path) {
  const std::string extension = lower(std::filesystem::path(path).extension().string());
  if (extension != ".txt" && extension != ".csv" && extension != ".json") {
    return InvalidArgument(path + ": unknown prompt suite format \"" + extension +
                           "\" (expected .txt: one prompt per line, .csv: DrawBench with a Prompts column, "
                           ".json: VBench array of {\"prompt_en\", \"dimension\"})");
  }
  ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  bytes = without_bom(std::move(bytes));
  std::vector<PromptEntry> entries;
  if (extension == ".txt") {
    entries = parse_txt(bytes);
  } else if (extension == ".csv") {
    ASSIGN_OR_RETURN(entries, parse_csv(bytes, path));
  } else {
    ASSIGN_OR_RETURN(entries, parse_json(bytes, path));
  }
  if (entries.empty()) return InvalidArgument(path + ": no prompts");
  for (size_t i = 0; i < entries.size(); ++i) {
    const size_t bad = first_non_text_byte(entries[i].text);
    if (bad == std::string::npos) continue;
    const std::string where = entries[i].line > 0 ? path + ":" + std::to_string(entries[i].line) : path + ": prompt " + std::to_string(i + 1);
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(entries[i].text[bad]));
    return InvalidArgument(where + ": prompt is not UTF-8 text (byte " + byte + " at offset " + std::to_string(bad) +
                           "); expected text without control characters");
  }
  return entries;
}

}  // namespace evosearch
