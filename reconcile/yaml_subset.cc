#include "reconcile/yaml_subset.h"

#include <algorithm>
#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "util/utf8.h"

namespace promconf {
namespace {

constexpr int kMaxDepth = 64;

using Node = YamlSubsetNode;
using Kind = YamlSubsetNode::Kind;

struct Line {
  int indent = 0;          // leading spaces
  absl::string_view text;  // after the indent
  int number = 0;          // 1-based
  bool blank = false;      // empty or only a comment
};

// Whole-text checks: outside the subset are tabs, CRs, control characters, a
// byte order mark and invalid UTF-8.
bool TextInSubset(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
      ++i;
      continue;
    }
    int len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = c & (0x7f >> len);
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates, beyond Unicode, the BOM, C1 controls.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp == 0xfeff ||
        (cp >= 0x80 && cp <= 0x9f)) {
      return false;
    }
    i += len;
  }
  return true;
}

bool IsSpaceOnly(absl::string_view s) { return s.find_first_not_of(' ') == absl::string_view::npos; }

// "" or " ... # comment" (spaces, then optionally a comment).
bool IsTrailer(absl::string_view s) {
  size_t i = s.find_first_not_of(' ');
  if (i == absl::string_view::npos) return true;
  return s[i] == '#' && i > 0;
}

bool IsSeqEntry(absl::string_view t) { return t == "-" || (t.size() > 1 && t[0] == '-' && t[1] == ' '); }

bool IsPlainNull(absl::string_view s) { return s == "~" || s == "null" || s == "Null" || s == "NULL"; }

// A quoted scalar starting at s[*pos] (a quote) and ending on this line.
bool ParseQuoted(absl::string_view s, size_t* pos, std::string* out) {
  const char q = s[*pos];
  size_t i = *pos + 1;
  out->clear();
  while (i < s.size()) {
    char c = s[i];
    if (q == '\'') {
      if (c == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          out->push_back('\'');
          i += 2;
          continue;
        }
        *pos = i + 1;
        return true;
      }
      out->push_back(c);
      ++i;
      continue;
    }
    if (c == '"') {
      *pos = i + 1;
      return true;
    }
    if (c != '\\') {
      out->push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return false;  // a line continuation
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case '\\': out->push_back('\\'); break;
      case '"': out->push_back('"'); break;
      case '/': out->push_back('/'); break;
      case 'n': out->push_back('\n'); break;
      case 't': out->push_back('\t'); break;
      case 'r': out->push_back('\r'); break;
      case 'u': {
        if (i + 4 > s.size()) return false;
        uint32_t cp = 0;
        for (int k = 0; k < 4; ++k) {
          char h = s[i + k];
          if (!absl::ascii_isxdigit(static_cast<unsigned char>(h))) return false;
          cp = cp * 16 + static_cast<uint32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        AppendUtf8(cp, out);
        i += 4;
        break;
      }
      default:
        return false;
    }
  }
  return false;  // continues on the next line
}

// Characters that may not start a plain scalar in this subset.
bool BadPlainStart(absl::string_view s) {
  switch (s[0]) {
    case '[': case ']': case '{': case '}': case ',': case '#': case '&': case '*': case '!':
    case '|': case '>': case '\'': case '"': case '%': case '@': case '`': case '?': case ':':
      return true;
    case '-':
      return s.size() == 1 || s[1] == ' ';
    default:
      return false;
  }
}

enum class KeyScan { kNotKey, kKey, kUnsure };

// Whether `t` starts "key:" followed by a space or the end; on kKey sets *key
// and *after (the index just past the ':').
KeyScan ScanKey(absl::string_view t, std::string* key, size_t* after) {
  if (t.empty()) return KeyScan::kNotKey;
  if (t[0] == '"' || t[0] == '\'') {
    size_t pos = 0;
    if (!ParseQuoted(t, &pos, key)) return KeyScan::kUnsure;
    while (pos < t.size() && t[pos] == ' ') ++pos;
    if (pos < t.size() && t[pos] == ':' && (pos + 1 == t.size() || t[pos + 1] == ' ')) {
      *after = pos + 1;
      return KeyScan::kKey;
    }
    return KeyScan::kNotKey;
  }
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '#' && i > 0 && t[i - 1] == ' ') return KeyScan::kNotKey;  // a comment
    if (c == ':' && (i + 1 == t.size() || t[i + 1] == ' ')) {
      absl::string_view k = absl::StripTrailingAsciiWhitespace(t.substr(0, i));
      // "<<" is YAML 1.1's merge key: the full parser expands it.
      if (k.empty() || BadPlainStart(k) || IsPlainNull(k) || k == "<<" ||
          k.find_first_of("[]{},") != absl::string_view::npos) {
        return KeyScan::kUnsure;
      }
      key->assign(k.data(), k.size());
      *after = i + 1;
      return KeyScan::kKey;
    }
  }
  return KeyScan::kNotKey;
}

// Duplicate keys are outside the subset (yaml-cpp keeps both; ParseYaml
// rejects them). Checked once per finished map: a hash set for large maps
// keeps it linear.
bool HasDuplicateKey(const Node& map) {
  const auto& m = map.map;
  if (m.size() <= 8) {
    for (size_t i = 0; i < m.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (m[i].key == m[j].key) return true;
      }
    }
    return false;
  }
  absl::flat_hash_set<absl::string_view> seen;
  seen.reserve(m.size());
  for (const YamlSubsetEntry& e : m) {
    if (!seen.insert(e.key).second) return true;
  }
  return false;
}

class Parser {
 public:
  explicit Parser(absl::string_view text)
      : no_final_newline_(!text.empty() && text.back() != '\n') {
    int number = 0;
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == absl::string_view::npos) end = text.size();
      Line l;
      l.number = ++number;
      absl::string_view raw = text.substr(start, end - start);
      size_t indent = raw.find_first_not_of(' ');
      l.indent = static_cast<int>(indent == absl::string_view::npos ? raw.size() : indent);
      l.text = raw.substr(static_cast<size_t>(l.indent));
      l.blank = l.text.empty() || l.text[0] == '#';
      lines_.push_back(l);
      raws_.push_back(raw);
      if (end == text.size()) break;
      start = end + 1;
    }
  }

  bool Parse(Node* root) {
    // Document markers and directives: one leading "---" only.
    bool content_seen = false;
    for (Line& l : lines_) {
      if (l.blank) continue;
      if (l.indent != 0) {
        content_seen = true;
        continue;
      }
      absl::string_view t = l.text;
      if (t[0] == '%') return false;
      bool marker = (t.substr(0, 3) == "---" || t.substr(0, 3) == "...") &&
                    (t.size() == 3 || t[3] == ' ');
      if (marker) {
        if (content_seen || t[0] == '.' || !IsTrailer(t.substr(3))) return false;
        l.blank = true;
      }
      content_seen = true;
    }
    size_t li = 0;
    if (!ParseNode(&li, -1, 0, root)) return false;
    return NextContent(li) == lines_.size();
  }

 private:
  size_t NextContent(size_t i) const {
    while (i < lines_.size() && lines_[i].blank) ++i;
    return i;
  }

  // A node more indented than `parent`, starting at the next content line
  // from *li; null when that line is not more indented.
  bool ParseNode(size_t* li, int parent, int depth, Node* out) {
    if (depth > kMaxDepth) return false;
    size_t i = NextContent(*li);
    if (i == lines_.size() || lines_[i].indent <= parent) {
      out->kind = Kind::kNull;
      return true;
    }
    *li = i;
    const Line& l = lines_[i];
    if (IsSeqEntry(l.text)) return ParseSeq(li, l.indent, depth, out);
    std::string key;
    size_t after = 0;
    switch (ScanKey(l.text, &key, &after)) {
      case KeyScan::kKey: return ParseMap(li, l.indent, depth, out);
      case KeyScan::kUnsure: return false;
      case KeyScan::kNotKey: break;
    }
    // A scalar or flow collection on its own line; a block scalar header
    // alone on a line is outside the subset.
    if (l.text[0] == '|' || l.text[0] == '>') return false;
    return ParseInlineValue(li, l.text, parent, depth, out);
  }

  bool ParseMap(size_t* li, int indent, int depth, Node* out) {
    if (depth > kMaxDepth) return false;
    out->kind = Kind::kMap;
    out->line = lines_[*li].number;
    while (true) {
      size_t i = NextContent(*li);
      if (i == lines_.size() || lines_[i].indent < indent) break;
      if (lines_[i].indent > indent) return false;
      const Line& l = lines_[i];
      std::string key;
      size_t after = 0;
      if (ScanKey(l.text, &key, &after) != KeyScan::kKey) {
        // A sequence at the map's indent ends a compact sequence value one
        // level up; anything else here is not ours to judge.
        return false;
      }
      Node value;
      value.line = l.number;
      value.key_line = l.number;
      absl::string_view rest = l.text.substr(after);
      size_t skip = rest.find_first_not_of(' ');
      rest = skip == absl::string_view::npos ? absl::string_view() : rest.substr(skip);
      if (!rest.empty() && rest[0] == '#') rest = {};
      if (rest.empty()) {
        size_t j = NextContent(i + 1);
        if (j < lines_.size() && lines_[j].indent == indent && IsSeqEntry(lines_[j].text)) {
          *li = j;
          if (!ParseSeq(li, indent, depth + 1, &value)) return false;
        } else {
          *li = i + 1;
          if (!ParseNode(li, indent, depth + 1, &value)) return false;
          if (value.IsNull()) *li = i + 1;
        }
      } else {
        *li = i;
        if (!ParseInlineValue(li, rest, indent, depth + 1, &value)) return false;
      }
      out->map.push_back(YamlSubsetEntry{std::move(key), std::move(value)});
    }
    return !HasDuplicateKey(*out);
  }

  bool ParseSeq(size_t* li, int indent, int depth, Node* out) {
    if (depth > kMaxDepth) return false;
    out->kind = Kind::kSeq;
    out->line = lines_[*li].number;
    while (true) {
      size_t i = NextContent(*li);
      if (i == lines_.size() || lines_[i].indent < indent) break;
      if (lines_[i].indent > indent) return false;
      // A non-entry at this indent ends a compact sequence (the map one
      // level up goes on) or is an error the caller finds.
      if (!IsSeqEntry(lines_[i].text)) break;
      Line& l = lines_[i];
      Node item;
      item.line = l.number;
      absl::string_view rest = l.text.substr(1);
      size_t skip = rest.find_first_not_of(' ');
      rest = skip == absl::string_view::npos ? absl::string_view() : rest.substr(skip);
      if (rest.empty() || rest[0] == '#') {
        *li = i + 1;
        if (!ParseNode(li, indent, depth + 1, &item)) return false;
        if (item.IsNull()) *li = i + 1;
      } else {
        // "- key: v" and "- - x": the "- " counts as indentation of the
        // nested collection, whose later lines line up with it.
        const int nested = indent + static_cast<int>(rest.data() - l.text.data());
        std::string key;
        size_t after = 0;
        KeyScan scan = IsSeqEntry(rest) ? KeyScan::kNotKey : ScanKey(rest, &key, &after);
        if (scan == KeyScan::kUnsure) return false;
        *li = i;
        if (IsSeqEntry(rest) || scan == KeyScan::kKey) {
          l.indent = nested;
          l.text = rest;
          bool ok = IsSeqEntry(rest) ? ParseSeq(li, nested, depth + 1, &item)
                                     : ParseMap(li, nested, depth + 1, &item);
          if (!ok) return false;
        } else if (!ParseInlineValue(li, rest, indent, depth + 1, &item)) {
          return false;
        }
      }
      out->seq.push_back(std::move(item));
    }
    return true;
  }

  // A value starting at `rest` (inside lines_[*li].text, not empty, not a
  // comment) whose continuation lines must be indented more than `parent`.
  // Leaves *li after the last line consumed.
  bool ParseInlineValue(size_t* li, absl::string_view rest, int parent, int depth, Node* out) {
    if (depth > kMaxDepth) return false;
    const size_t i = *li;
    out->line = lines_[i].number;
    const char c = rest[0];
    if (c == '"' || c == '\'') {
      size_t pos = 0;
      if (!ParseQuoted(rest, &pos, &out->scalar) || !IsTrailer(rest.substr(pos))) return false;
      out->kind = Kind::kScalar;
      out->quoted = true;
      *li = i + 1;
      return true;
    }
    if (c == '[' || c == '{') {
      size_t pos = 0;
      if (!ParseFlow(rest, &pos, depth, out) || !IsTrailer(rest.substr(pos))) return false;
      *li = i + 1;
      return true;
    }
    if (c == '|' || c == '>') return ParseBlockScalar(li, rest, parent, out);
    if (BadPlainStart(rest)) return false;

    // A plain scalar, maybe continued on more indented lines.
    absl::string_view first;
    bool comment = false;
    if (!PlainLine(rest, &first, &comment)) return false;
    std::string value(first);
    size_t j = i + 1;
    // Continuation lines (not after a comment: that ends the scalar, and a
    // more indented line after it is an error the caller finds). Any first
    // character but '#' continues a plain scalar; "- " and ": " stay out.
    while (!comment && j < lines_.size()) {
      const Line& next = lines_[j];
      if (next.blank || next.indent <= parent) break;
      absl::string_view more;
      if (next.text[0] == '-' || (next.text[0] == '?' && (next.text.size() == 1 || next.text[1] == ' ')) ||
          !PlainLine(next.text, &more, &comment)) {
        return false;
      }
      if (next.indent == 0 && (next.text.substr(0, 3) == "---" || next.text.substr(0, 3) == "...")) {
        return false;
      }
      value.push_back(' ');
      value.append(more.data(), more.size());
      ++j;
    }
    *li = j;
    if (IsPlainNull(value)) {
      out->kind = Kind::kNull;
      return true;
    }
    out->kind = Kind::kScalar;
    out->scalar = std::move(value);
    return true;
  }

  // One line of a plain scalar in block context: ends at " #"; a ": " or a
  // final ':' (a mapping where none may start) is outside the subset.
  static bool PlainLine(absl::string_view t, absl::string_view* out, bool* comment) {
    size_t end = t.size();
    for (size_t k = 0; k < t.size(); ++k) {
      if (t[k] == '#' && k > 0 && t[k - 1] == ' ') {
        end = k;
        *comment = true;
        break;
      }
      if (t[k] == ':' && (k + 1 == t.size() || t[k + 1] == ' ')) return false;
    }
    *out = absl::StripTrailingAsciiWhitespace(t.substr(0, end));
    return !out->empty();
  }

  // "|" or ">" with an optional chomping indicator, then the content lines
  // indented more than `parent`.
  bool ParseBlockScalar(size_t* li, absl::string_view header, int parent, Node* out) {
    const bool folded = header[0] == '>';
    char chomp = ' ';
    size_t pos = 1;
    if (pos < header.size() && (header[pos] == '-' || header[pos] == '+')) chomp = header[pos++];
    if (!IsTrailer(header.substr(pos))) return false;  // explicit indentation and the like
    if (chomp == '+') return false;

    std::vector<absl::string_view> parts;
    size_t j = *li + 1;
    int content_indent = -1;
    size_t longest_leading_blank = 0;
    for (; j < lines_.size(); ++j) {
      absl::string_view raw = raws_[j];
      if (IsSpaceOnly(raw)) {
        if (content_indent < 0) {
          longest_leading_blank = std::max(longest_leading_blank, raw.size());
        } else if (raw.size() > static_cast<size_t>(content_indent)) {
          return false;  // spaces that would be content
        }
        parts.emplace_back();
        continue;
      }
      if (content_indent < 0) {
        if (lines_[j].indent <= parent) break;
        content_indent = lines_[j].indent;
        if (longest_leading_blank > static_cast<size_t>(content_indent)) return false;
      }
      if (lines_[j].indent < content_indent) break;
      absl::string_view text = raw.substr(static_cast<size_t>(content_indent));
      if (folded && text[0] == ' ') return false;  // more-indented folded lines
      parts.push_back(text);
    }
    // yaml-cpp folds a final line of spaces without a line break into the
    // content; not ours to imitate.
    if (no_final_newline_ && j == lines_.size() && !raws_.back().empty() &&
        IsSpaceOnly(raws_.back())) {
      return false;
    }
    // Trailing blank lines are not content (clip and strip drop them).
    size_t n = parts.size();
    while (n > 0 && parts[n - 1].empty()) --n;
    std::string value;
    bool content = false;  // a non-empty line came before
    for (size_t k = 0; k < n; ++k) {
      if (k > 0) {
        if (!folded || !content || parts[k].empty()) {
          // Literal: every break; folded: breaks before the first content
          // line and one per empty line.
          value.push_back('\n');
        } else if (!parts[k - 1].empty()) {
          value.push_back(' ');
        }
      }
      value.append(parts[k].data(), parts[k].size());
      content |= !parts[k].empty();
    }
    // Clip keeps the final line break, when the text has one.
    const bool at_end_without_break = no_final_newline_ && *li + n == lines_.size() - 1;
    if (n > 0 && chomp == ' ' && !at_end_without_break) value.push_back('\n');
    // Consumed: the lines up to the last content line (parts[k] is line
    // *li + 1 + k); trailing blank lines belong to nobody.
    *li += 1 + n;
    out->kind = Kind::kScalar;
    out->quoted = true;
    out->scalar = std::move(value);
    return true;
  }

  // A flow collection or scalar inside one line.
  bool ParseFlow(absl::string_view s, size_t* pos, int depth, Node* out) {
    if (depth > kMaxDepth) return false;
    auto skip = [&] {
      while (*pos < s.size() && s[*pos] == ' ') ++*pos;
    };
    skip();
    if (*pos >= s.size()) return false;
    const char c = s[*pos];
    if (c == '[' || c == '{') {
      const bool is_map = c == '{';
      const char close = is_map ? '}' : ']';
      out->kind = is_map ? Kind::kMap : Kind::kSeq;
      ++*pos;
      skip();
      if (*pos < s.size() && s[*pos] == close) {
        ++*pos;
        return true;
      }
      while (true) {
        if (is_map) {
          Node key;
          if (!ParseFlowScalar(s, pos, true, &key) || key.kind != Kind::kScalar) return false;
          if (!key.quoted && key.scalar == "<<") return false;  // a merge key
          skip();
          if (*pos + 1 >= s.size() || s[*pos] != ':' || s[*pos + 1] != ' ') return false;
          ++*pos;
          skip();
          Node value;
          value.line = out->line;
          value.key_line = out->line;
          if (*pos < s.size() && (s[*pos] == ',' || s[*pos] == '}')) {
            value.kind = Kind::kNull;
          } else if (!ParseFlow(s, pos, depth + 1, &value)) {
            return false;
          }
          out->map.push_back(YamlSubsetEntry{std::move(key.scalar), std::move(value)});
        } else {
          Node item;
          item.line = out->line;
          if (!ParseFlow(s, pos, depth + 1, &item)) return false;
          out->seq.push_back(std::move(item));
        }
        skip();
        if (*pos >= s.size()) return false;  // continues on the next line
        if (s[*pos] == close) {
          ++*pos;
          return !is_map || !HasDuplicateKey(*out);
        }
        if (s[*pos] != ',') return false;
        ++*pos;
        skip();
        if (*pos >= s.size() || s[*pos] == close || s[*pos] == ',') return false;
      }
    }
    return ParseFlowScalar(s, pos, false, out);
  }

  // A scalar inside a flow collection; `key` stops at ':'.
  static bool ParseFlowScalar(absl::string_view s, size_t* pos, bool key, Node* out) {
    if (*pos >= s.size()) return false;
    if (s[*pos] == '"' || s[*pos] == '\'') {
      if (!ParseQuoted(s, pos, &out->scalar)) return false;
      out->kind = Kind::kScalar;
      out->quoted = true;
      return true;
    }
    absl::string_view rest = s.substr(*pos);
    if (BadPlainStart(rest) || rest[0] == '-') return false;
    size_t k = 0;
    for (; k < rest.size(); ++k) {
      char c = rest[k];
      if (c == ',' || c == ']' || c == '}') break;
      // yaml-cpp reads '?' inside flow collections as a key indicator.
      if (c == '[' || c == '{' || c == '?') return false;
      if (c == '#' && k > 0 && rest[k - 1] == ' ') return false;
      if (c == ':' && (k + 1 == rest.size() || rest[k + 1] == ' ' || rest[k + 1] == ',' ||
                       rest[k + 1] == ']' || rest[k + 1] == '}')) {
        if (!key) return false;  // a single-pair mapping inside a sequence
        break;
      }
    }
    absl::string_view text = absl::StripTrailingAsciiWhitespace(rest.substr(0, k));
    if (text.empty()) return false;
    *pos += k;
    if (IsPlainNull(text)) {
      if (key) return false;
      out->kind = Kind::kNull;
      return true;
    }
    out->kind = Kind::kScalar;
    out->scalar.assign(text.data(), text.size());
    return true;
  }

  std::vector<Line> lines_;
  std::vector<absl::string_view> raws_;  // parallel to lines_
  // The last line has no '\n': a block scalar ending there has no final
  // line break to keep.
  const bool no_final_newline_;
};

}  // namespace

const YamlSubsetNode* YamlSubsetNode::Find(absl::string_view key) const {
  for (const auto& [k, v] : map) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<YamlSubsetNode> ParseYamlSubset(absl::string_view text) {
  if (!TextInSubset(text)) return std::nullopt;
  Parser parser(text);
  YamlSubsetNode root;
  if (!parser.Parse(&root)) return std::nullopt;
  return root;
}

}  // namespace promconf
