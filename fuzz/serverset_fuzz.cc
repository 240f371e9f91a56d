// ZooKeeper serverset and nerve members: hostile znode data through the
// member parser; the file_sd JSON written must be valid JSON (see
// IsValidJsonStructure for UTF-8).

#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "informers/zookeeper/serverset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const auto format = in.ConsumeBool() ? promconf::zk::ServersetFormat::kServerset
                                       : promconf::zk::ServersetFormat::kNerve;
  std::vector<promconf::zk::ServersetMember> members;
  const int n = in.ConsumeIntegralInRange<int>(1, 4);
  for (int i = 0; i < n; ++i) {
    promconf::zk::ServersetMember m;
    m.path = "/services/x/member_" + std::to_string(i);
    m.data = i + 1 == n ? in.ConsumeRemainingBytesAsString() : in.ConsumeRandomLengthString(4096);
    members.push_back(std::move(m));
  }
  int skipped = 0;
  std::string groups = promconf::zk::ServersetTargetGroups(format, members, &skipped);
  PROMCONF_FUZZ_CHECK(skipped >= 0 && skipped <= n, groups);
  PROMCONF_FUZZ_CHECK(promconf::fuzz::IsValidJsonStructure(groups), groups);
  return 0;
}
