#pragma once

// One watched ZooKeeper path, mirrored in memory (Prometheus' treecache):
// the data of every znode below it, down to `max_depth` levels, with a data
// watch on each node and a children watch on each node above max_depth.
// Events re-read only the node they name; the read re-arms the watch.
//
// Not thread-safe: the ZooKeeper source's informer thread owns it.

#include <zookeeper/zookeeper.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace promconf::zk {

struct ZNode {
  std::string data;                   // empty when larger than the read buffer (see size)
  int64_t size = -1;                  // the znode's data length; -1 before the first read
  std::vector<std::string> children;  // sorted names; empty at max_depth
};

// Synchronous reads that arm the default watcher. Returns ZOK, ZNONODE or
// the client's error code.
class ZnodeReader {
 public:
  // `max_bytes`: data longer than this is not copied (ZNode::size says how
  // long it is).
  ZnodeReader(zhandle_t* zh, size_t max_bytes);
  int Get(const std::string& path, ZNode* out);
  int Children(const std::string& path, std::vector<std::string>* out);
  int Exists(const std::string& path);

 private:
  zhandle_t* const zh_;
  std::vector<char> buf_;
};

// An error for client code `rc` from `op` on `path`: Unavailable for a lost
// connection or session, PermissionDenied for ZNOAUTH, Internal otherwise.
absl::Status ZookeeperError(int rc, absl::string_view op, absl::string_view path);

class TreeCache {
 public:
  // max_depth < 0: the whole subtree. `fragments_only`: the data of a znode
  // whose path below the root is not a fragment's name (informers/document.h)
  // is dropped as soon as it is read, never held (its size is kept).
  TreeCache(std::string root, int max_depth, bool fragments_only = false);

  const std::string& root() const { return root_; }
  // `path` is the root or below it.
  bool Contains(absl::string_view path) const;
  // The path below the root ("a/b" for root "/x" and path "/x/a/b").
  absl::string_view Relative(absl::string_view path) const;

  // Forgets everything and reads the whole tree again, arming every watch.
  absl::Status Load(ZnodeReader& reader);
  // Applies one watch event (ZOO_CREATED_EVENT, ...). Appends to `changed`
  // every path whose data appeared, changed or went away.
  absl::Status Apply(ZnodeReader& reader, int type, const std::string& path,
                     std::vector<std::string>* changed);

  // Path -> node, the root included while it exists.
  const std::map<std::string, ZNode>& nodes() const { return nodes_; }

 private:
  std::string ChildPath(const std::string& parent, const std::string& name) const;
  int Depth(absl::string_view path) const;
  bool KeepsData(const std::string& path) const;
  // Records the data and size just read for `path` (its children stay),
  // appending `path` to `changed` when either differs from what was held.
  void Store(const std::string& path, ZNode fresh, std::vector<std::string>* changed);
  absl::Status LoadNode(ZnodeReader& r, const std::string& path, int depth,
                        std::vector<std::string>* changed);
  absl::Status RefreshData(ZnodeReader& r, const std::string& path,
                           std::vector<std::string>* changed);
  absl::Status RefreshChildren(ZnodeReader& r, const std::string& path, int depth, bool load_all,
                               std::vector<std::string>* changed);
  void Remove(const std::string& path, std::vector<std::string>* changed);

  const std::string root_;
  const int max_depth_;
  const bool fragments_only_;
  std::map<std::string, ZNode> nodes_;
};

}  // namespace promconf::zk
