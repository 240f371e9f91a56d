#pragma once

// Splits a Kubernetes watch body (a stream of JSON objects, one per line in
// practice) into complete objects, whatever the chunk boundaries: inside a
// multi-byte UTF-8 character, inside a JSON string, between a backslash and
// the character it escapes. Newlines are not relied on: the decoder tracks
// brace depth outside strings. Parsing an object is ParseWatchEvent's job
// (kube_objects.h). Thread-compatible.

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace promconf::kube {

class WatchStreamDecoder {
 public:
  // An object larger than this is an error (a ConfigMap is at most 1 MiB;
  // the JSON with escapes stays well below the default).
  explicit WatchStreamDecoder(size_t max_object_bytes = 64 << 20)
      : max_object_bytes_(max_object_bytes) {}

  // Called once per complete top-level object with its exact bytes ('{' to
  // '}'). The view is valid only during the call. Returning a non-OK status
  // stops Feed, which returns it.
  using ObjectFn = std::function<absl::Status(absl::string_view object)>;

  // Feeds the next chunk. Returns an error on bytes that cannot be part of an
  // object stream (anything but whitespace between objects, an unbalanced
  // '}', an object over the size limit); after an error the decoder must be
  // Reset() before reuse.
  absl::Status Feed(absl::string_view chunk, const ObjectFn& on_object);

  // True when no partial object is buffered (a clean place for a stream to end).
  bool idle() const { return depth_ == 0 && partial_.empty(); }
  // Bytes of the partial object held between chunks.
  size_t buffered() const { return partial_.size(); }

  void Reset();

 private:
  const size_t max_object_bytes_;
  std::string partial_;    // the unfinished object's bytes from earlier chunks
  int depth_ = 0;          // brace/bracket depth outside strings
  bool in_string_ = false;
  bool escape_ = false;    // the previous byte in the string was an unescaped '\'
};

}  // namespace promconf::kube
