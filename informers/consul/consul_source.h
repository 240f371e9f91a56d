#pragma once

// The Consul source (SPEC sources[].consul) over Consul's HTTP API.
//
// One blocking-query loop per dependency: the KV prefix (fragments: each
// key below the prefix is a document) and each configured service (targets:
// the healthy instances become the job's target document). Each loop owns
// one keep-alive connection for its whole life, so the number of
// connections is the number of dependencies, never more (consul-template
// opened one per dependency per template and leaked them: issues 830, 1086,
// 1346).
//
// A blocking query's return does not mean a change (timeouts and unrelated
// writes wake it): promconf compares with what it holds and reports only
// what changed (consul-template re-rendered endlessly: issues 569, 1057).
// The index rules are ConsulIndex's: backwards resets to 0, never a loop on
// 0; requests are rate-limited per loop. Errors (5xx, 429, a dead peer that
// never answers, caught by the request deadline) are reported and retried
// with backoff, and the documents stay: promconf never renders an empty
// result because the server blinked (consul-template issues 1131, 1713). A
// 404 on the KV prefix is an empty prefix, not an error.
//
// The source reports its first snapshot once every loop has its first
// answer; after that, changes go out one by one.

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "informers/source.h"
#include "informers/source_config.h"
#include "util/backoff.h"

namespace promconf::consul {

struct ConsulSourceTuning {
  // Blocking queries' wait. Consul caps it at 10 min and adds up to wait/16.
  // One minute, not Consul's 5: after a snapshot restore (or a new leader
  // with other state) the index goes backwards, and a query sent with the
  // old index between the restore and our next answer blocks until the wait
  // runs out, blind to every change meanwhile (the server wakes it only for
  // an index above the old one). The wait bounds that blindness; an idle
  // dependency costs one request a minute.
  absl::Duration wait = absl::Minutes(1);
  // Beyond wait + wait/16: a request without an answer by then is stalled.
  absl::Duration request_margin = absl::Seconds(15);
  // At least this long between two requests of one loop.
  absl::Duration min_request_interval = absl::Milliseconds(100);
  BackoffPolicy backoff = {.initial = absl::Milliseconds(500), .max = absl::Seconds(30)};
  absl::Duration connect_timeout = absl::Seconds(5);
  // token_file is re-read at most this often (rotation without a restart).
  absl::Duration token_reread = absl::Minutes(1);
};

absl::StatusOr<std::unique_ptr<Source>> NewConsulSource(const SourceContext& context,
                                                        const ConsulSourceConfig& config,
                                                        ConsulSourceTuning tuning = {});

}  // namespace promconf::consul
