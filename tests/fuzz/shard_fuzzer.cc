// Checkpoint shard files through read_shard. The first byte picks the prompt, the second how
// many states the shard's record lists (bits 1-7) and whether its checksum matches (bit 0); the
// rest is the file. With a matching checksum the bytes reach the protobuf parse and the record checks.
//
// Checks: a refused shard is DataLoss naming the file; an accepted one holds the prompt's states,
// as many as its record lists.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "common/checksum.h"
#include "common/shard_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace evosearch;
  if (size < 2) return 0;
  const uint32_t prompt = data[0] % 4;
  const int listed = data[1] >> 1;
  const bool matching = (data[1] & 1) == 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::string relative = "state/shards/prompt-00000-g001-t1-r0.shard";
  fuzz::write_bytes(fuzz::Scratch::dir() / relative, bytes);

  proto::ShardRef ref;
  ref.set_path(relative);
  ref.set_sha256(matching ? sha256_hex(bytes) : std::string(64, '0'));
  ref.set_bytes(static_cast<int64_t>(bytes.size()));
  for (int i = 0; i < listed; ++i) ref.add_states()->set_candidate(static_cast<uint32_t>(i));
  auto shard = read_shard(fuzz::Scratch::dir().string(), ref, prompt);
  if (!shard.ok()) {
    fuzz::expect(shard.status().code() == StatusCode::kDataLoss, "a damaged shard is DataLoss: " + shard.status().to_string());
    fuzz::expect(shard.status().message().find(relative) != std::string::npos, "a damaged shard is named: " + shard.status().message());
    return 0;
  }
  fuzz::expect(matching, "a shard whose checksum does not match was accepted");
  fuzz::expect(shard->prompt() == prompt && shard->states_size() == listed, "an accepted shard holds the states its record lists");
  return 0;
}
