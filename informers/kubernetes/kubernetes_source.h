#pragma once

// promconf's Kubernetes source: ConfigMap (and optionally Secret) informers
// that behave like client-go's reflector (PROTOCOLS.md "Kubernetes API").
//
// Per namespace (or once across all namespaces when `namespaces` is empty)
// and per resource, one thread lists (limit/continue paging; resourceVersion=0
// the first time, a consistent read after a 410) and then watches from the
// list's resourceVersion with bookmarks, a random timeoutSeconds and a
// read-idle deadline. A clean end of stream re-watches from the last
// resourceVersion; 410 Gone (HTTP or ERROR event) re-lists; errors back off
// with jitter and are reported through OnError; 429 honours Retry-After;
// 401/403 retry slowly. Nothing is fatal once started.
//
// Documents:
//   ConfigMap data / binaryData key  ->  "<namespace>/<configmap>/<key>"
//   Secret data key                  ->  "<namespace>/secret:<secret>/<key>"
// Secrets always carry the "secret:" marker: ':' cannot occur in an object
// name, so a Secret's documents never collide with a ConfigMap's of the same
// name, and a document's name does not depend on which resources are
// configured. binaryData and Secret values are base64-decoded. A value over
// max_document_bytes is reported with oversized_bytes set and no data.
//
// Snapshots: all-namespace mode reports OnSnapshot("", ...); per-namespace
// mode reports OnSnapshot("<ns>/", ...) per namespace (SyncPrefixes()). When
// both ConfigMaps and Secrets are watched, a namespace's first snapshot waits
// for both lists, and later re-lists of one resource are reported as the
// upserts/deletes that differ from what was known (a snapshot of one resource
// would delete the other's documents).
//
// Thread-safety: Start/Stop from one thread; callbacks are serialized.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "informers/kubernetes/kube_client.h"
#include "informers/source.h"
#include "informers/source_config.h"
#include "util/backoff.h"

namespace promconf::kube {

// Knobs that production leaves at client-go's values and tests shorten.
struct KubernetesSourceTuning {
  // Watch timeoutSeconds is drawn from [min, max) (client-go: 5-10 min) so
  // that clients do not reconnect in lockstep.
  absl::Duration watch_timeout_min = absl::Minutes(5);
  absl::Duration watch_timeout_max = absl::Minutes(10);
  // No byte (event or bookmark) on a watch for this long means the
  // connection died silently: OnError and reconnect. The API server sends a
  // bookmark about once a minute to watches that ask for them.
  absl::Duration idle_timeout = absl::Minutes(2);
  // Error backoff, client-go's: 800 ms doubling to 30 s, +20% jitter, back
  // to 800 ms after 2 min without a backoff.
  BackoffPolicy backoff = {.initial = absl::Milliseconds(800),
                           .max = absl::Seconds(30),
                           .reset_after = absl::Minutes(2),
                           .jitter = 0.2};
  // 401/403 are retried no faster than this (a fix needs a human or a token
  // rotation).
  absl::Duration auth_retry = absl::Seconds(10);
  // The token file (in-cluster, or kubeconfig tokenFile) is re-read this
  // often: bound service account tokens rotate.
  absl::Duration token_refresh = absl::Minutes(1);
  int list_limit = 500;
  absl::Duration list_timeout = absl::Seconds(60);
  // /healthz deadline; zero means idle_timeout + backoff.max.
  absl::Duration progress_deadline = absl::ZeroDuration();
  // Where the in-cluster service account lives.
  InClusterPaths in_cluster;
  // Seeds the jitter and timeoutSeconds draws; 0 = random.
  uint64_t seed = 0;
};

// The credentials a kubernetes source block names (its kubeconfig, or the
// in-cluster service account), for other clients of that cluster (Events).
absl::StatusOr<std::shared_ptr<KubeCredentials>> KubeCredentialsFor(
    const KubernetesSourceConfig& config, const KubernetesSourceTuning& tuning = {},
    Clock* clock = Clock::Real());

absl::StatusOr<std::unique_ptr<Source>> NewKubernetesSource(const SourceContext& context,
                                                            const KubernetesSourceConfig& config,
                                                            KubernetesSourceTuning tuning = {});

}  // namespace promconf::kube
