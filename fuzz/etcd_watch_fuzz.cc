// etcd's JSON gateway: the watch-stream splitter fed whole and in
// fuzzer-chosen chunks must agree; every object goes through the watch
// response parser, the whole input through the range and auth parsers.

#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "fuzz/fuzz_util.h"
#include "informers/etcd/etcd_protocol.h"

namespace {

struct Decoded {
  std::vector<std::string> objects;
  bool ok = true;
};

Decoded Decode(const std::vector<absl::string_view>& chunks, size_t limit) {
  Decoded d;
  promconf::etcd::WatchStreamDecoder decoder(limit);
  for (absl::string_view chunk : chunks) {
    if (!decoder.Feed(chunk, &d.objects).ok()) {
      d.ok = false;
      break;
    }
  }
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const uint32_t seed = in.ConsumeIntegral<uint32_t>();
  const size_t limit = in.ConsumeBool() ? (64 << 20) : 1 + in.ConsumeIntegralInRange<size_t>(0, 512);
  const std::string stream = in.ConsumeRemainingBytesAsString();

  Decoded whole = Decode({stream}, limit);
  Decoded chunked = Decode(promconf::fuzz::Chunks(stream, seed), limit);
  PROMCONF_FUZZ_CHECK(whole.ok == chunked.ok, stream);
  PROMCONF_FUZZ_CHECK(whole.objects == chunked.objects, stream);

  for (const std::string& object : whole.objects) {
    auto watch = promconf::etcd::ParseEtcdWatchResponse(object);
    if (watch.ok()) (void)watch->IsProgressNotify();
  }
  auto range = promconf::etcd::ParseEtcdRangeResponse(stream);
  (void)range;
  (void)promconf::etcd::ParseEtcdAuthResponse(stream);
  (void)promconf::etcd::EtcdErrorStatus(400, stream, "fuzz");
  // base64 round trip: what we encode, we decode to the same bytes.
  auto decoded = promconf::etcd::EtcdBase64Decode(stream);
  if (decoded.ok()) (void)promconf::etcd::EtcdBase64Encode(*decoded);
  auto back = promconf::etcd::EtcdBase64Decode(promconf::etcd::EtcdBase64Encode(stream));
  PROMCONF_FUZZ_CHECK(back.ok() && *back == stream, stream);
  return 0;
}
