#include "reconcile/yaml_tree.h"

#include "util/json.h"

#include <algorithm>
#include <exception>
#include <new>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "reconcile/yaml_document_counter.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/exceptions.h"
#include "yaml-cpp/mark.h"
#include "yaml-cpp/parser.h"
#include "util/utf8.h"

namespace promconf {
namespace {

using Node = YamlSubsetNode;
using Kind = YamlSubsetNode::Kind;

constexpr uint64_t kNodeCost = 16;
constexpr uint64_t kCostPerInputByte = 16;
constexpr uint64_t kCostSlack = 64 * 1024;
// Upper bounds on what the text can make yaml-cpp's recursive-descent parser
// nest (see TextNestingTooDeep); the tree's own limit (max_depth) is far
// lower and checked exactly on the events.
constexpr int kMaxTextBlockNesting = 512;
constexpr int kMaxTextFlowNesting = 256;

int MarkLine(const YAML::Mark& m) { return m.line >= 0 ? m.line + 1 : 0; }

// YAML 1.1's printable set, as go-yaml v2 checks it (the BOM is not).
bool YamlPrintable(uint32_t cp) {
  if (cp < 0x80) return cp == '\t' || cp == '\n' || cp == '\r' || (cp >= 0x20 && cp < 0x7f);
  return cp == 0x85 || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) ||
         (cp >= 0x10000 && cp <= 0x10ffff);
}

bool CheckText(absl::string_view text, YamlParseError* err) {
  int line = 1;
  size_t i = 0;
  if (text.substr(0, 3) == "\xef\xbb\xbf") i = 3;  // a leading byte order mark
  while (i < text.size()) {
    uint32_t cp = 0;
    int len = DecodeUtf8(text.substr(i), &cp);
    if (len == 0) {
      *err = {line, "", "invalid UTF-8"};
      return false;
    }
    if (!YamlPrintable(cp)) {
      *err = {line, "", absl::StrFormat("character U+%04X is not allowed in YAML", cp)};
      return false;
    }
    if (cp == '\n') ++line;
    i += static_cast<size_t>(len);
  }
  return true;
}

// An upper bound, from the text alone, on how deep yaml-cpp's parser will
// recurse: block collections nest only through more indentation or through
// indicators ("- ", "? ", ": ") on one line, flow collections only through
// brackets. Brackets inside quoted scalars and lines of block scalars count
// too: the bound is loose, never low.
bool TextNestingTooDeep(absl::string_view text, int* line_out) {
  std::vector<int> indents;
  int flow = 0;
  int line = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == absl::string_view::npos) end = text.size();
    absl::string_view l = text.substr(start, end - start);
    ++line;
    size_t col = l.find_first_not_of(' ');
    if (col != absl::string_view::npos && l[col] != '#') {
      const int c = static_cast<int>(col);
      while (!indents.empty() && indents.back() > c) indents.pop_back();
      if (indents.empty() || indents.back() < c) indents.push_back(c);
      int indicators = 0;
      for (size_t i = col; i < l.size(); ++i) {
        char ch = l[i];
        if ((ch == '-' || ch == '?' || ch == ':') && (i + 1 == l.size() || l[i + 1] == ' ')) ++indicators;
      }
      const int flow_at_start = flow;
      for (size_t i = col; i < l.size(); ++i) {
        char ch = l[i];
        if (ch == '[' || ch == '{') {
          if (++flow > kMaxTextFlowNesting) {
            *line_out = line;
            return true;
          }
        } else if ((ch == ']' || ch == '}') && flow > 0) {
          --flow;
        }
      }
      if (2 * static_cast<int>(indents.size()) + indicators + 2 + flow_at_start > kMaxTextBlockNesting) {
        *line_out = line;
        return true;
      }
    }
    if (end == text.size()) break;
    start = end + 1;
  }
  return false;
}

// Builds the tree from yaml-cpp's events, with an explicit stack (no
// recursion on the input's depth), charging every node to the cost budget
// as it is created and every alias before it is copied. After the first
// error it ignores the remaining events.
class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(uint64_t max_cost, int max_depth) : max_cost_(max_cost), max_depth_(max_depth) {}

  bool failed() const { return failed_; }
  const YamlParseError& error() const { return error_; }
  bool has_root() const { return has_root_; }
  Node TakeRoot() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (failed_) return;
    Node n;
    n.line = MarkLine(mark);
    Complete(std::move(n), anchor, 0);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (failed_) return;
    if (anchor == 0 || anchor >= anchors_.size() || !anchors_[anchor].complete) {
      Fail(MarkLine(mark), "", "alias to an anchor that is not complete (an alias inside its own anchor?)");
      return;
    }
    const Anchored& a = anchors_[anchor];
    const int depth = Depth();
    if (depth + a.height > max_depth_) {
      Fail(MarkLine(mark), "", absl::StrCat("alias nests collections deeper than ", max_depth_));
      return;
    }
    // Charged before the copy is made.
    if (!Charge(a.rel_cost + 2 * static_cast<uint64_t>(depth) * a.count, MarkLine(mark))) return;
    Sub sub{a.rel_cost + 2 * static_cast<uint64_t>(depth) * a.count, a.count, a.height};
    Place(Node(a.node), sub);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (failed_) return;
    Node n;
    n.kind = Kind::kScalar;
    n.line = MarkLine(mark);
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "!!str") {
      n.quoted = true;
    } else if (!tag.empty() && tag != "?") {
      Fail(n.line, "", absl::StrCat("YAML tag \"", absl::CHexEscape(tag.substr(0, 64)), "\" is not supported"));
      return;
    }
    if (!IsValidUtf8(value)) {
      Fail(n.line, "", "a scalar is not valid UTF-8 (an escaped surrogate?)");
      return;
    }
    n.scalar = value;
    Complete(std::move(n), anchor, value.size());
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Start(mark, tag, anchor, Kind::kSeq);
  }
  void OnSequenceEnd() override { End(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Start(mark, tag, anchor, Kind::kMap);
  }
  void OnMapEnd() override { End(); }

 private:
  // Cost, node count and collection height of a finished subtree.
  struct Sub {
    uint64_t cost = 0;  // as charged, at its depth
    uint64_t count = 0;
    int height = 0;
  };
  struct Anchored {
    bool complete = false;
    Node node;
    uint64_t rel_cost = 0;  // cost as if placed at depth 0
    uint64_t count = 0;
    int height = 0;
  };
  struct Frame {
    Node node;
    YAML::anchor_t anchor = 0;
    Sub sub;  // own cost plus the finished children's
    // kMap: the key whose value comes next.
    bool have_key = false;
    std::string key;
    int key_line = 0;
    bool key_is_merge = false;
    // kMap: the value of a "<<" entry and where its entries go.
    std::optional<Node> merge;
    size_t merge_pos = 0;
    int merge_line = 0;
  };

  // Depth of a node created now (the root: 0).
  int Depth() const { return static_cast<int>(stack_.size()); }

  bool Charge(uint64_t cost, int line) {
    cost_ += cost;
    if (cost_ <= max_cost_) return true;
    Fail(line, "",
         absl::StrCat("document expands to more than ", max_cost_,
                      " bytes (the budget is 16 bytes per input byte + 64 KiB; aliases?)"));
    return false;
  }

  void Fail(int line, absl::string_view last_key, std::string reason) {
    if (failed_) return;
    failed_ = true;
    error_.line = line;
    error_.key = Path(last_key);
    error_.reason = std::move(reason);
  }

  // The key path of the node being read, built only for an error.
  std::string Path(absl::string_view last_key) const {
    std::string path;
    for (const Frame& f : stack_) {
      if (f.node.IsSeq()) {
        absl::StrAppend(&path, "[", f.node.seq.size(), "]");
      } else if (f.have_key) {
        absl::StrAppend(&path, path.empty() ? "" : ".", f.key);
      }
    }
    if (!last_key.empty()) absl::StrAppend(&path, path.empty() ? "" : ".", last_key);
    return path;
  }

  bool CheckCollectionTag(const std::string& tag, int line) {
    if (tag.empty() || tag == "?" || tag == "!") return true;
    Fail(line, "", absl::StrCat("YAML tag \"", absl::CHexEscape(tag.substr(0, 64)), "\" is not supported"));
    return false;
  }

  void Start(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, Kind kind) {
    if (failed_) return;
    const int line = MarkLine(mark);
    if (!CheckCollectionTag(tag, line)) return;
    if (!stack_.empty() && stack_.back().node.IsMap() && !stack_.back().have_key) {
      Fail(line, "", "mapping keys must be strings");
      return;
    }
    if (Depth() + 1 > max_depth_) {
      Fail(line, "", absl::StrCat("collections nest deeper than ", max_depth_));
      return;
    }
    const uint64_t own = kNodeCost + 2 * static_cast<uint64_t>(Depth());
    if (!Charge(own, line)) return;
    if (anchor != 0) RegisterAnchor(anchor);
    Frame f;
    f.node.kind = kind;
    f.node.line = line;
    f.anchor = anchor;
    f.sub = {own, 1, 1};
    stack_.push_back(std::move(f));
  }

  void RegisterAnchor(YAML::anchor_t anchor) {
    if (anchor >= anchors_.size()) anchors_.resize(anchor + 1);
    anchors_[anchor].complete = false;
  }

  // A scalar or null with `bytes` of text.
  void Complete(Node n, YAML::anchor_t anchor, size_t bytes) {
    const uint64_t cost = kNodeCost + 2 * static_cast<uint64_t>(Depth()) + bytes;
    if (!Charge(cost, n.line)) return;
    Sub sub{cost, 1, 0};
    if (anchor != 0) {
      RegisterAnchor(anchor);
      if (!Remember(anchor, n, sub)) return;
    }
    Place(std::move(n), sub);
  }

  bool Remember(YAML::anchor_t anchor, const Node& n, const Sub& sub) {
    // The copy kept for aliases is charged too: nested anchors would
    // otherwise copy the same subtree once per level.
    const uint64_t rel = sub.cost - 2 * static_cast<uint64_t>(Depth()) * sub.count;
    if (!Charge(rel, n.line)) return false;
    Anchored& a = anchors_[anchor];
    a.node = n;
    a.rel_cost = rel;
    a.count = sub.count;
    a.height = sub.height;
    a.complete = true;
    return true;
  }

  void End() {
    if (failed_ || stack_.empty()) return;
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.node.IsMap()) {
      if (f.have_key) {  // cannot happen with a well-formed event stream
        Fail(f.node.line, "", "mapping key without a value");
        return;
      }
      if (!FinishMap(&f)) return;
    }
    if (f.anchor != 0 && !Remember(f.anchor, f.node, f.sub)) return;
    Place(std::move(f.node), f.sub);
  }

  // Duplicate keys, then merge keys.
  bool FinishMap(Frame* f) {
    std::vector<YamlSubsetEntry>& map = f->node.map;
    auto duplicate = [&](const YamlSubsetEntry& e) {
      Fail(e.value.key_line, e.key, "duplicate key");
      return false;
    };
    if (map.size() <= 8) {
      for (size_t i = 0; i < map.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          if (map[i].key == map[j].key) return duplicate(map[i]);
        }
      }
    } else {
      absl::flat_hash_set<absl::string_view> seen;
      seen.reserve(map.size());
      for (const YamlSubsetEntry& e : map) {
        if (!seen.insert(e.key).second) return duplicate(e);
      }
    }
    if (!f->merge.has_value()) return true;

    // Sources in precedence order: a mapping, or the mappings of a list.
    std::vector<Node*> sources;
    Node& m = *f->merge;
    if (m.IsMap()) {
      sources.push_back(&m);
    } else if (m.IsSeq()) {
      for (Node& item : m.seq) {
        if (!item.IsMap()) {
          sources.clear();
          break;
        }
        sources.push_back(&item);
      }
      if (sources.size() != m.seq.size()) sources.clear();
    }
    if (sources.empty() && !(m.IsSeq() && m.seq.empty())) {
      Fail(f->merge_line, "<<", "a merge key takes a mapping or a list of mappings");
      return false;
    }
    absl::flat_hash_set<absl::string_view> present;
    for (const YamlSubsetEntry& e : map) present.insert(e.key);
    std::vector<YamlSubsetEntry*> merged;
    for (Node* s : sources) {
      for (YamlSubsetEntry& e : s->map) {
        if (present.insert(e.key).second) merged.push_back(&e);
      }
    }
    // Lookups done: now the keys may move.
    std::vector<YamlSubsetEntry> result;
    result.reserve(map.size() + merged.size());
    const size_t pos = std::min(f->merge_pos, map.size());
    for (size_t i = 0; i < pos; ++i) result.push_back(std::move(map[i]));
    for (YamlSubsetEntry* e : merged) result.push_back(std::move(*e));
    for (size_t i = pos; i < map.size(); ++i) result.push_back(std::move(map[i]));
    map = std::move(result);
    f->merge.reset();
    return true;
  }

  // A finished node goes into its parent (or becomes the root).
  void Place(Node n, const Sub& sub) {
    if (stack_.empty()) {
      root_ = std::move(n);
      has_root_ = true;
      return;
    }
    Frame& p = stack_.back();
    p.sub.cost += sub.cost;
    p.sub.count += sub.count;
    p.sub.height = std::max(p.sub.height, sub.height + 1);
    if (p.node.IsSeq()) {
      p.node.seq.push_back(std::move(n));
      return;
    }
    if (!p.have_key) {
      if (!n.IsScalar()) {
        Fail(n.line, "", "mapping keys must be strings");
        return;
      }
      p.have_key = true;
      p.key = std::move(n.scalar);
      p.key_line = n.line;
      p.key_is_merge = !n.quoted && p.key == "<<";
      return;
    }
    p.have_key = false;
    n.key_line = p.key_line;
    if (n.IsNull()) n.line = p.key_line;
    if (p.key_is_merge) {
      if (p.merge.has_value()) {
        p.have_key = true;  // for the path
        Fail(p.key_line, "", "duplicate key");
        return;
      }
      p.merge = std::move(n);
      p.merge_pos = p.node.map.size();
      p.merge_line = p.key_line;
      return;
    }
    p.node.map.push_back(YamlSubsetEntry{std::move(p.key), std::move(n)});
    p.key.clear();
  }

  const uint64_t max_cost_;
  const int max_depth_;
  uint64_t cost_ = 0;
  std::vector<Frame> stack_;
  std::vector<Anchored> anchors_;  // by yaml-cpp's anchor id
  Node root_;
  bool has_root_ = false;
  bool failed_ = false;
  YamlParseError error_;
};

absl::Status Reject(YamlParseError e, YamlParseError* error) {
  std::string msg;
  if (e.line > 0) absl::StrAppend(&msg, "line ", e.line, ": ");
  if (!e.key.empty()) absl::StrAppend(&msg, "key \"", e.key, "\": ");
  absl::StrAppend(&msg, e.reason);
  if (error != nullptr) *error = std::move(e);
  return absl::InvalidArgumentError(msg);
}

}  // namespace


uint64_t YamlTreeCost(const YamlSubsetNode& node, int depth) {
  uint64_t cost = kNodeCost + 2 * static_cast<uint64_t>(depth) + node.scalar.size();
  for (const YamlSubsetEntry& e : node.map) {
    cost += kNodeCost + 2 * static_cast<uint64_t>(depth + 1) + e.key.size();
    cost += YamlTreeCost(e.value, depth + 1);
  }
  for (const YamlSubsetNode& item : node.seq) cost += YamlTreeCost(item, depth + 1);
  return cost;
}

int YamlTreeDepth(const YamlSubsetNode& node) {
  int d = 0;
  for (const YamlSubsetEntry& e : node.map) d = std::max(d, YamlTreeDepth(e.value));
  for (const YamlSubsetNode& item : node.seq) d = std::max(d, YamlTreeDepth(item));
  return node.IsMap() || node.IsSeq() ? d + 1 : 0;
}

absl::StatusOr<YamlSubsetNode> ParseYaml(absl::string_view text, const YamlParseOptions& options,
                                         YamlParseError* error) {
  const uint64_t max_cost =
      options.max_cost != 0 ? options.max_cost : kCostPerInputByte * text.size() + kCostSlack;
  YamlParseError err;
  if (!CheckText(text, &err)) return Reject(std::move(err), error);
  if (options.fast_path) {
    // No aliases on the fast path: its tree costs what its text does, but
    // the limits are the same for both paths.
    std::optional<YamlSubsetNode> tree = ParseYamlSubset(text);
    if (tree.has_value() && YamlTreeDepth(*tree) <= options.max_depth &&
        YamlTreeCost(*tree) <= max_cost) {
      return *std::move(tree);
    }
  }
  int line = 0;
  if (TextNestingTooDeep(text, &line)) {
    return Reject({line, "", "collections nest too deep for the YAML parser"}, error);
  }
  try {
    std::istringstream stream{std::string(text)};
    YAML::Parser parser(stream);
    TreeBuilder builder(max_cost, options.max_depth);
    parser.HandleNextDocument(builder);
    if (builder.failed()) return Reject(builder.error(), error);
    // One more document at most is looked at: yaml-cpp 0.7 keeps finding
    // empty documents after a stray ',' (upstream issue 1040).
    YamlDocumentCounter counter;
    if (parser.HandleNextDocument(counter) && counter.documents > 0) {
      return Reject({counter.first_line, "", "more than one YAML document in the stream"}, error);
    }
    return builder.has_root() ? builder.TakeRoot() : YamlSubsetNode();
  } catch (const YAML::Exception& e) {
    return Reject({MarkLine(e.mark), "", absl::StrCat("invalid YAML: ", e.msg)}, error);
  } catch (const std::bad_alloc&) {
    return Reject({0, "", "out of memory while reading YAML"}, error);
  } catch (const std::exception& e) {
    return Reject({0, "", absl::StrCat("invalid YAML: ", e.what())}, error);
  }
}

}  // namespace promconf
