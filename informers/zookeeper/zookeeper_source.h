#pragma once

// The ZooKeeper source (SPEC sources[].zookeeper) over libzookeeper-mt.
//
// Shape: Prometheus' treecache, not confd's goroutine per node. One session,
// one informer thread, one cache per configured path:
//  - `paths`: every znode below the path, recursively. A znode with data is
//    a document named by its path below the watched path; a znode without
//    data is only a folder.
//  - `serversets`: the path's direct children are members; their data
//    becomes one target document for the set's job (informers/zookeeper/
//    serverset.h). A missing path is a job with no targets.
// Watches are one-shot: the read that fetches a node's data or children
// re-arms its watch, so a change between the event and the re-arm is seen
// by that read. ZooKeeper keeps at most one watch per (path, kind) per
// session, and a node's watches fire (and go) when it is deleted, so the
// number of watches is bounded by the size of the watched trees: nothing
// leaks, whatever the churn (confd issue 550 leaked a goroutine and a watch
// per node per cycle).
//
// Watcher callbacks run on the client library's thread and only enqueue;
// every read happens on the informer thread. A lost connection is reported
// (OnError) and waited out: the library reconnects, the session and its
// watches survive, and the server fires the watches of nodes that changed
// meanwhile. An expired session lost every watch: the handle is closed, a
// new session opened and every tree read again (OnSnapshot). A read that
// fails half-way (connection lost) marks the state dirty, and the next
// connected moment re-reads everything.
//
// Progress: while the session is connected the library's pings succeed, so
// the source reports progress once per tick; a connection down for longer
// than progress_deadline() turns /healthz red.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "informers/source.h"
#include "informers/source_config.h"

namespace promconf::zk {

absl::StatusOr<std::unique_ptr<Source>> NewZookeeperSource(const SourceContext& context,
                                                           const ZookeeperSourceConfig& config);

// Test hooks on the concrete source (NewZookeeperSource's result is one).
class ZookeeperSourceTestHooks {
 public:
  virtual ~ZookeeperSourceTestHooks() = default;
  // The current session's id and password (ZooKeeperServer::ExpireSession
  // needs both); id 0 while no session is established.
  virtual int64_t SessionIdForTesting() const = 0;
  virtual std::string SessionPasswordForTesting() const = 0;
  // Sessions opened so far (1 + the number of expiries handled).
  virtual int SessionsForTesting() const = 0;
};

}  // namespace promconf::zk
