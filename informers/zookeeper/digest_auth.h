#pragma once

// ZooKeeper digest authentication from `auth_file:` (SPEC sources[].zookeeper):
// the file holds `user:password`, the credential of znodes whose ACL is
// `digest:user:<base64 sha1>`. The file is re-read at every (re)connect so a
// rotated password is used from the next connection on; its content is
// never logged nor put in an error.
//
// The client library keeps every credential added to a handle and sends
// them again on each reconnect of that handle, so one handle gets a
// credential once, and again only when the file's content changes.
//
// Not thread-safe: the ZooKeeper source's informer thread owns it.

#include <zookeeper/zookeeper.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace promconf::zk {

// The `user:password` credential in `content` (one trailing line break
// allowed), or InvalidArgument naming `path` but none of its bytes.
absl::StatusOr<std::string> ParseDigestCredential(absl::string_view content,
                                                  const std::string& path);

// The credential in the file at `path`: FailedPrecondition when it cannot be
// read, InvalidArgument when it is not `user:password`.
absl::StatusOr<std::string> ReadDigestCredential(const std::string& path);

class DigestAuth {
 public:
  // `auth_file` empty: no authentication; Apply does nothing.
  explicit DigestAuth(std::string auth_file) : auth_file_(std::move(auth_file)) {}

  // Reads the file and adds its credential to `zh` (zoo_add_auth "digest")
  // unless `zh` already has that credential from an earlier call. Call once
  // the handle is connected (and again after each reconnect).
  absl::Status Apply(zhandle_t* zh);

 private:
  const std::string auth_file_;
  int64_t session_ = 0;  // the session (so the handle) `sent_` was added to
  std::string sent_;     // the last credential added
};

}  // namespace promconf::zk
