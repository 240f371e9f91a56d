// The promconf config file (--config.file): hostile YAML must give a
// status, never a crash or an exception.

#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  auto config = promconf::ParseConfig(yaml, "fuzz.yml");
  (void)config;
  return 0;
}
