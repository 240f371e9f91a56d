// Consul's HTTP API bodies: the KV list and health parsers on hostile JSON,
// and the file_sd JSON written from whatever parsed must be valid JSON (see
// IsValidJsonStructure for UTF-8).

#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "fuzz/fuzz_util.h"
#include "informers/consul/consul_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const uint64_t max_value = in.ConsumeIntegralInRange<uint64_t>(0, 1 << 20);
  const std::string body = in.ConsumeRemainingBytesAsString();

  auto kv = promconf::consul::ParseConsulKvList(body, max_value);
  if (kv.ok()) {
    for (const auto& e : *kv) PROMCONF_FUZZ_CHECK(e.value.size() <= max_value || e.value.empty(), body);
  }
  auto health = promconf::consul::ParseConsulHealth(body);
  if (health.ok()) {
    std::string groups = promconf::consul::ConsulTargetGroups(*health, "dc1");
    PROMCONF_FUZZ_CHECK(promconf::fuzz::IsValidJsonStructure(groups), groups);
  }
  return 0;
}
