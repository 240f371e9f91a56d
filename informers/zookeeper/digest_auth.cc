#include "informers/zookeeper/digest_auth.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "util/file.h"

namespace promconf::zk {
namespace {

constexpr size_t kMaxCredentialBytes = 4096;

// Runs on the client library's thread. A digest credential is never
// refused when it is added (the server only records the identity); a wrong
// password shows up as ZNOAUTH on the reads, which the source reports.
void IgnoreAuthResult(int /*rc*/, const void* /*data*/) {}

}  // namespace

absl::StatusOr<std::string> ParseDigestCredential(absl::string_view content,
                                                  const std::string& path) {
  // Secrets mounted from Kubernetes or written by `echo` end in a newline.
  if (!absl::ConsumeSuffix(&content, "\r\n")) absl::ConsumeSuffix(&content, "\n");
  const size_t colon = content.find(':');
  if (content.size() > kMaxCredentialBytes) {
    return absl::InvalidArgumentError(absl::StrCat("zookeeper auth_file ", path, ": longer than ",
                                                   kMaxCredentialBytes, " bytes"));
  }
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("zookeeper auth_file ", path, ": must hold user:password"));
  }
  for (char c : content) {
    if (c == '\n' || c == '\r' || c == '\0') {
      return absl::InvalidArgumentError(absl::StrCat(
          "zookeeper auth_file ", path, ": must hold one line user:password (line break or NUL)"));
    }
  }
  return std::string(content);
}

absl::StatusOr<std::string> ReadDigestCredential(const std::string& path) {
  absl::StatusOr<std::string> content = ReadSmallFile(path, "auth_file", "zookeeper: ");
  if (!content.ok()) return content.status();
  return ParseDigestCredential(*content, path);
}

absl::Status DigestAuth::Apply(zhandle_t* zh) {
  if (auth_file_.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> credential = ReadDigestCredential(auth_file_);
  if (!credential.ok()) return credential.status();
  // A new handle always has a new session: the session id tells a
  // reconnect (credential already held) from a new handle (none yet).
  const int64_t session = zoo_client_id(zh)->client_id;
  if (session != 0 && session == session_ && *credential == sent_) return absl::OkStatus();
  const int rc = zoo_add_auth(zh, "digest", credential->data(),
                              static_cast<int>(credential->size()), &IgnoreAuthResult, nullptr);
  if (rc != ZOK) {
    return absl::UnavailableError(
        absl::StrCat("zookeeper: adding the auth_file credential failed: ", zerror(rc)));
  }
  session_ = session;
  sent_ = *std::move(credential);
  return absl::OkStatus();
}

}  // namespace promconf::zk
