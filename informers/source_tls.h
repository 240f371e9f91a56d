#pragma once

// A source config's `tls:` block (etcd, Consul: the same keys, parsed once
// by controller/config.cc) as the HTTP client's options, and the check that
// its files can be read, so a typo is a config error, not a retry loop.

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "informers/source_config.h"
#include "util/file.h"
#include "util/http_client.h"

namespace promconf {

inline TlsOptions ToTlsOptions(const TlsConfig& c) {
  TlsOptions t;
  t.ca_file = c.ca_file;
  t.cert_file = c.cert_file;
  t.key_file = c.key_file;
  t.insecure_skip_verify = c.insecure_skip_verify;
  return t;
}

// InvalidArgument "<where>: <backend>: cannot read tls.<field> <path>" for
// the first file that cannot be read.
inline absl::Status CheckTlsFiles(const TlsConfig& c, const std::string& where,
                                  const std::string& backend) {
  const std::pair<const char*, const std::string*> files[] = {
      {"ca_file", &c.ca_file}, {"cert_file", &c.cert_file}, {"key_file", &c.key_file}};
  for (const auto& [field, path] : files) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> content =
        ReadSmallFile(*path, absl::StrCat("tls.", field), absl::StrCat(backend, ": "));
    if (!content.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", content.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace promconf
