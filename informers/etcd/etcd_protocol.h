#pragma once

// The pure, unit-testable half of the etcd v3 source: request bodies and
// response decoding for etcd's JSON gateway (/v3/kv/range, /v3/watch,
// /v3/auth/authenticate), the watch stream's object framing, and the
// revision bookkeeping that makes resuming lossless (confd issue 671 lost
// events by re-watching from "now"). No I/O here. Thread-compatible.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace promconf::etcd {

// The range_end that selects every key starting with `prefix`: the prefix
// with its last byte below 0xff incremented and the rest dropped
// (clientv3.GetPrefixRangeEnd). "" and all-0xff prefixes give "\0", which
// etcd reads as "every key >= key".
std::string EtcdPrefixRangeEnd(absl::string_view prefix);

// Base64 as the gateway uses it for bytes fields (standard alphabet, padded).
std::string EtcdBase64Encode(absl::string_view raw);
absl::StatusOr<std::string> EtcdBase64Decode(absl::string_view encoded);

// POST /v3/kv/range. revision 0 means "current" (the first page).
std::string EtcdRangeRequestBody(absl::string_view key, absl::string_view range_end,
                                 int64_t limit, int64_t revision);
// POST /v3/watch: create_request with progress_notify on, prev_kv off.
std::string EtcdWatchRequestBody(absl::string_view key, absl::string_view range_end,
                                 int64_t start_revision);
// POST /v3/auth/authenticate.
std::string EtcdAuthRequestBody(absl::string_view name, absl::string_view password);

struct EtcdKeyValue {
  std::string key;    // decoded
  std::string value;  // decoded
  int64_t mod_revision = 0;
};

struct EtcdRangeResponse {
  int64_t header_revision = 0;
  std::vector<EtcdKeyValue> kvs;
  bool more = false;
};

// An error object the gateway returns instead of a result, for unary calls
// ({"error":"...","code":N,"message":"..."}) and inside watch streams
// ({"error":{"grpc_code":N,"http_code":N,"message":"..."}}).
struct EtcdGatewayError {
  int grpc_code = 0;
  std::string message;
};

// Parses a range response body. A gateway error object is returned as
// FailedPrecondition / Unauthenticated with its message (see EtcdErrorStatus).
absl::StatusOr<EtcdRangeResponse> ParseEtcdRangeResponse(absl::string_view body);

// Parses {"header":...,"token":"..."}.
absl::StatusOr<std::string> ParseEtcdAuthResponse(absl::string_view body);

// Maps a gateway error (HTTP status + body) to a status. Token problems
// (invalid/expired auth token, gRPC code 16) are kUnauthenticated so the
// caller re-authenticates; compaction is kOutOfRange; the rest kUnavailable
// (retry) or kPermissionDenied.
absl::Status EtcdErrorStatus(long http_status, absl::string_view body, absl::string_view what);

struct EtcdEvent {
  bool is_delete = false;  // PUT events omit "type"
  EtcdKeyValue kv;
};

struct EtcdWatchResponse {
  int64_t header_revision = 0;
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;
  std::string cancel_reason;
  std::vector<EtcdEvent> events;
  // Set when the stream carried an error object instead of a result.
  bool is_error = false;
  EtcdGatewayError error;

  // No events, not the creation ack, not a cancel: a progress notification.
  bool IsProgressNotify() const {
    return !is_error && !created && !canceled && events.empty() && compact_revision == 0;
  }
};

// Parses one object of the watch stream: {"result":{...}} or {"error":{...}}.
absl::StatusOr<EtcdWatchResponse> ParseEtcdWatchResponse(absl::string_view object);

// Splits the watch stream into objects. The gateway writes one JSON object
// per line, but chunk boundaries fall anywhere, so a partial line is kept
// until its newline arrives.
class WatchStreamDecoder {
 public:
  explicit WatchStreamDecoder(size_t max_object_bytes = 64 << 20)
      : max_object_bytes_(max_object_bytes) {}

  // Appends `chunk` and moves every complete (non-blank) object to *out.
  // ResourceExhausted if one object grows past max_object_bytes.
  absl::Status Feed(absl::string_view chunk, std::vector<std::string>* out);

  size_t buffered() const { return partial_.size(); }
  void Reset() { partial_.clear(); }

 private:
  size_t max_object_bytes_;
  std::string partial_;
};

// Where a resumed watch must start, and whether the server went back in time.
//
// Two numbers are kept apart on purpose:
//  - applied(): every change up to this revision has been applied. It moves
//    with a snapshot's revision, each event's mod_revision and a progress
//    notification's header.revision. Resuming at applied()+1 loses nothing.
//    It does NOT move with the header of a watch's "created" ack or of a
//    catching-up event batch: etcd stamps those with the store's current
//    revision while older events are still to be sent.
//  - highest_seen(): the largest header.revision any response carried. A
//    range or watch header below it means the server was restored from a
//    backup or lost its data dir: the caller re-lists.
class EtcdRevisionTracker {
 public:
  int64_t applied() const { return applied_; }
  int64_t highest_seen() const { return highest_seen_; }
  int64_t WatchStartRevision() const { return applied_ + 1; }

  // True when `header_revision` is below what this server already showed us.
  bool IsRegression(int64_t header_revision) const {
    return header_revision > 0 && header_revision < highest_seen_;
  }
  // A response header was seen (range, watch, progress).
  void ObserveHeader(int64_t header_revision);
  // A consistent snapshot at `revision` was applied (a re-list resets both
  // numbers: after a restore the old highest is meaningless).
  void ObserveSnapshot(int64_t revision);
  // Whether an event at `mod_revision` is new (not already applied before a
  // reconnect replayed it).
  bool IsNew(int64_t mod_revision) const { return mod_revision > applied_; }
  void ObserveEventApplied(int64_t mod_revision);
  void ObserveProgress(int64_t header_revision);

 private:
  int64_t applied_ = 0;
  int64_t highest_seen_ = 0;
};

}  // namespace promconf::etcd
