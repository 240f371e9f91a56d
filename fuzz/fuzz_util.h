#pragma once

// Helpers shared by the libFuzzer targets in fuzz/ (each *_fuzz.cc is one
// executable; see fuzz/CMakeLists.txt and hack/fuzz.sh).

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "simdjson.h"

namespace promconf::fuzz {

// Fails the run with a message: libFuzzer saves the input as a crash.
// Control bytes in `detail` are shown as \xNN (inputs often hold NULs).
[[noreturn]] inline void Fail(absl::string_view what, absl::string_view detail = "") {
  std::string shown;
  for (char c : detail.substr(0, 4096)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n') {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", u);
      shown += buf;
    } else {
      shown += c;
    }
  }
  fprintf(stderr, "fuzz invariant broken: %.*s\n%s\n", static_cast<int>(what.size()), what.data(),
          shown.c_str());
  abort();
}

#define PROMCONF_FUZZ_CHECK(cond, detail) \
  do {                                    \
    if (!(cond)) ::promconf::fuzz::Fail(#cond, (detail)); \
  } while (0)

// Splits `data` into chunks whose sizes come from a small PRNG seeded by
// `seed`: the fuzzer explores chunk boundaries by mutating the seed.
inline std::vector<absl::string_view> Chunks(absl::string_view data, uint32_t seed) {
  std::vector<absl::string_view> out;
  uint32_t x = seed | 1;
  const uint32_t max_chunk = 1 + (seed >> 24) % 64;
  while (!data.empty()) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    size_t n = 1 + x % max_chunk;
    if (n > data.size()) n = data.size();
    out.push_back(data.substr(0, n));
    data.remove_prefix(n);
  }
  return out;
}

// A watch-stream target's input: a chunking seed, the decoder's object size
// limit (small ones too, so the size checks are exercised) and the stream.
struct StreamInput {
  uint32_t seed = 0;
  size_t limit = 0;
  std::string stream;
};
inline StreamInput ConsumeStreamInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  StreamInput out;
  out.seed = in.ConsumeIntegral<uint32_t>();
  out.limit = in.ConsumeBool() ? (64 << 20) : 1 + in.ConsumeIntegralInRange<size_t>(0, 512);
  out.stream = in.ConsumeRemainingBytesAsString();
  return out;
}

// The objects a stream decoder split off, and whether it accepted the stream.
struct Decoded {
  std::vector<std::string> objects;
  bool ok = true;
};

// Feeds `in.stream` to a fresh decoder (`make(limit)`) whole, and to another
// in fuzzer-chosen chunks; `feed(decoder, chunk, &objects)` returns the
// decoder's status. Both must split off the same objects and give the same
// verdict, wherever the chunk boundaries fall. Returns the whole-stream result.
template <typename Make, typename Feed>
Decoded CheckChunkingInvariant(const StreamInput& in, Make make, Feed feed) {
  auto decode = [&](const std::vector<absl::string_view>& chunks) {
    Decoded d;
    auto decoder = make(in.limit);
    for (absl::string_view chunk : chunks) {
      if (!feed(decoder, chunk, &d.objects).ok()) {
        d.ok = false;
        break;
      }
    }
    return d;
  };
  Decoded whole = decode({in.stream});
  Decoded chunked = decode(Chunks(in.stream, in.seed));
  PROMCONF_FUZZ_CHECK(whole.ok == chunked.ok, in.stream);
  PROMCONF_FUZZ_CHECK(whole.objects == chunked.objects, in.stream);
  return whole;
}

// Whether `json` is one well-formed JSON document (what promconf writes for
// file_sd must be).
inline bool IsValidJson(absl::string_view json) {
  static simdjson::dom::parser* parser = new simdjson::dom::parser();
  simdjson::padded_string padded(json.data(), json.size());
  return parser->parse(padded).error() == simdjson::SUCCESS;
}

// The same, but bytes outside ASCII are not checked for UTF-8: a tenant's
// invalid UTF-8 (a znode's host, a Consul tag) is still copied into file_sd
// JSON today. Prometheus' Go decoder reads it (as U+FFFD), so the file
// loads; the structure is what must never break. Use IsValidJson once the
// sources' UTF-8-safe JSON escaper has landed.
inline bool IsValidJsonStructure(absl::string_view json) {
  std::string ascii(json);
  for (char& c : ascii) {
    if (static_cast<unsigned char>(c) >= 0x80) c = 'x';
  }
  return IsValidJson(ascii);
}

}  // namespace promconf::fuzz
