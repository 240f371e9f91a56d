// etcd's JSON gateway: the watch-stream splitter fed whole and in
// fuzzer-chosen chunks must agree; every object goes through the watch
// response parser, the whole input through the range and auth parsers.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "fuzz/fuzz_util.h"
#include "informers/etcd/etcd_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const promconf::fuzz::StreamInput in = promconf::fuzz::ConsumeStreamInput(data, size);
  const std::string& stream = in.stream;
  promconf::fuzz::Decoded whole = promconf::fuzz::CheckChunkingInvariant(
      in, [](size_t limit) { return promconf::etcd::WatchStreamDecoder(limit); },
      [](promconf::etcd::WatchStreamDecoder& decoder, absl::string_view chunk,
         std::vector<std::string>* objects) { return decoder.Feed(chunk, objects); });

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
