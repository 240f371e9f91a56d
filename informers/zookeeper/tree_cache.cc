#include "informers/zookeeper/tree_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "informers/document.h"
#include "util/status_macros.h"

namespace promconf::zk {

ZnodeReader::ZnodeReader(zhandle_t* zh, size_t max_bytes) : zh_(zh), buf_(max_bytes + 1) {}

int ZnodeReader::Get(const std::string& path, ZNode* out) {
  int len = static_cast<int>(buf_.size());
  struct Stat stat;
  int rc = zoo_get(zh_, path.c_str(), 1, buf_.data(), &len, &stat);
  if (rc != ZOK) return rc;
  out->size = stat.dataLength;
  // Longer than the buffer: the client copied a truncated prefix; keep none.
  if (len > 0 && static_cast<size_t>(stat.dataLength) < buf_.size()) {
    out->data.assign(buf_.data(), len);
  } else {
    out->data.clear();
  }
  return ZOK;
}

int ZnodeReader::Children(const std::string& path, std::vector<std::string>* out) {
  struct String_vector names = {0, nullptr};
  int rc = zoo_get_children(zh_, path.c_str(), 1, &names);
  if (rc != ZOK) return rc;
  out->assign(names.data, names.data + names.count);
  deallocate_String_vector(&names);
  std::sort(out->begin(), out->end());
  return ZOK;
}

int ZnodeReader::Exists(const std::string& path) {
  struct Stat stat;
  return zoo_exists(zh_, path.c_str(), 1, &stat);
}

absl::Status ZookeeperError(int rc, absl::string_view op, absl::string_view path) {
  std::string msg = absl::StrCat("zookeeper ", op, " ", path, ": ", zerror(rc));
  switch (rc) {
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZSESSIONEXPIRED:
    case ZSESSIONMOVED:
    case ZINVALIDSTATE:
    case ZCLOSING:
      return absl::UnavailableError(msg);
    case ZNOAUTH:
      return absl::PermissionDeniedError(absl::StrCat(
          msg, " (the znode's ACL refuses this client: does auth_file hold a user:password it names?)"));
    case ZAUTHFAILED:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

TreeCache::TreeCache(std::string root, int max_depth, bool fragments_only)
    : root_(std::move(root)), max_depth_(max_depth), fragments_only_(fragments_only) {}

bool TreeCache::Contains(absl::string_view path) const {
  if (path == root_) return true;
  if (root_ == "/") return absl::StartsWith(path, "/");
  return path.size() > root_.size() && absl::StartsWith(path, root_) && path[root_.size()] == '/';
}

absl::string_view TreeCache::Relative(absl::string_view path) const {
  if (path.size() <= root_.size()) return "";
  return path.substr(root_ == "/" ? 1 : root_.size() + 1);
}

std::string TreeCache::ChildPath(const std::string& parent, const std::string& name) const {
  return parent == "/" ? absl::StrCat("/", name) : absl::StrCat(parent, "/", name);
}

int TreeCache::Depth(absl::string_view path) const {
  if (path == root_) return 0;
  absl::string_view rel = Relative(path);
  return 1 + static_cast<int>(std::count(rel.begin(), rel.end(), '/'));
}

absl::Status TreeCache::Load(ZnodeReader& reader) {
  nodes_.clear();
  std::vector<std::string> ignored;
  return LoadNode(reader, root_, 0, &ignored);
}

absl::Status TreeCache::Apply(ZnodeReader& r, int type, const std::string& path,
                              std::vector<std::string>* changed) {
  if (!Contains(path)) return absl::OkStatus();
  if (type == ZOO_CREATED_EVENT || (type == ZOO_DELETED_EVENT && path == root_)) {
    // Only the root has an exists watch; LoadNode re-arms whichever fits.
    return path == root_ ? LoadNode(r, root_, 0, changed) : absl::OkStatus();
  }
  if (nodes_.count(path) == 0) return absl::OkStatus();  // already gone
  if (type == ZOO_DELETED_EVENT) {
    Remove(path, changed);
    return absl::OkStatus();
  }
  if (type == ZOO_CHANGED_EVENT) return RefreshData(r, path, changed);
  if (type == ZOO_CHILD_EVENT) return RefreshChildren(r, path, Depth(path), false, changed);
  return absl::OkStatus();  // ZOO_NOTWATCHING_EVENT and future types
}

bool TreeCache::KeepsData(const std::string& path) const {
  return !fragments_only_ || path == root_ || IsFragmentName(Relative(path));
}

void TreeCache::Store(const std::string& path, ZNode fresh, std::vector<std::string>* changed) {
  if (!KeepsData(path)) fresh.data.clear();
  ZNode& node = nodes_[path];
  if (node.size != fresh.size || node.data != fresh.data) changed->push_back(path);
  node.size = fresh.size;
  node.data = std::move(fresh.data);
}

absl::Status TreeCache::LoadNode(ZnodeReader& r, const std::string& path, int depth,
                                 std::vector<std::string>* changed) {
  // The root may appear between a failed read and the exists watch meant to
  // catch its creation: read again, a bounded number of times.
  for (int attempt = 0;; ++attempt) {
    ZNode fresh;
    int rc = r.Get(path, &fresh);
    if (rc == ZNONODE) {
      Remove(path, changed);
      if (path != root_) return absl::OkStatus();  // the parent's watch covers it
      rc = r.Exists(root_);                        // fires ZOO_CREATED_EVENT when the root appears
      if (rc == ZNONODE) return absl::OkStatus();
      if (rc != ZOK) return ZookeeperError(rc, "exists", root_);
      if (attempt < 3) continue;
      return absl::UnavailableError(
          absl::StrCat("zookeeper: ", root_, " keeps being created and deleted"));
    }
    if (rc != ZOK) return ZookeeperError(rc, "get", path);
    Store(path, std::move(fresh), changed);
    break;
  }
  if (max_depth_ >= 0 && depth >= max_depth_) return absl::OkStatus();
  return RefreshChildren(r, path, depth, true, changed);
}

absl::Status TreeCache::RefreshData(ZnodeReader& r, const std::string& path,
                                    std::vector<std::string>* changed) {
  ZNode fresh;
  int rc = r.Get(path, &fresh);
  if (rc == ZNONODE) {
    if (path == root_) return LoadNode(r, root_, 0, changed);
    Remove(path, changed);
    return absl::OkStatus();
  }
  if (rc != ZOK) return ZookeeperError(rc, "get", path);
  Store(path, std::move(fresh), changed);
  return absl::OkStatus();
}

absl::Status TreeCache::RefreshChildren(ZnodeReader& r, const std::string& path, int depth,
                                        bool load_all, std::vector<std::string>* changed) {
  std::vector<std::string> now;
  int rc = r.Children(path, &now);
  if (rc == ZNONODE) {
    if (path == root_) return LoadNode(r, root_, 0, changed);
    Remove(path, changed);
    return absl::OkStatus();
  }
  if (rc != ZOK) return ZookeeperError(rc, "children", path);
  auto it = nodes_.find(path);
  if (it == nodes_.end()) return absl::OkStatus();
  std::vector<std::string> before = std::move(it->second.children);
  it->second.children = now;
  std::vector<std::string> gone;
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(),
                      std::back_inserter(gone));
  for (const std::string& name : gone) Remove(ChildPath(path, name), changed);
  for (const std::string& name : now) {
    if (!load_all && std::binary_search(before.begin(), before.end(), name)) continue;
    RETURN_IF_ERROR(LoadNode(r, ChildPath(path, name), depth + 1, changed));
  }
  return absl::OkStatus();
}

void TreeCache::Remove(const std::string& path, std::vector<std::string>* changed) {
  auto self = nodes_.find(path);
  if (self == nodes_.end()) return;
  nodes_.erase(self);
  changed->push_back(path);
  // Every descendant: the keys starting with "path/" are one sorted range.
  const std::string prefix = path == "/" ? "/" : path + "/";
  auto it = nodes_.lower_bound(prefix);
  while (it != nodes_.end() && absl::StartsWith(it->first, prefix)) {
    changed->push_back(it->first);
    it = nodes_.erase(it);
  }
  // And out of the parent's list, so that a node created again under the
  // same name is read when the parent's children watch fires.
  if (path == root_) return;
  size_t slash = path.rfind('/');
  std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  auto p = nodes_.find(parent);
  if (p == nodes_.end()) return;
  auto& kids = p->second.children;
  auto k = std::lower_bound(kids.begin(), kids.end(), path.substr(slash + 1));
  if (k != kids.end() && *k == path.substr(slash + 1)) kids.erase(k);
}

}  // namespace promconf::zk
