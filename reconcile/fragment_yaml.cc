#include "reconcile/fragment_yaml.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "util/utf8.h"

namespace promconf {
namespace {

// Decodes one code point at s[*i] and advances; invalid UTF-8 yields
// U+FFFD for one byte.
uint32_t NextCodePoint(absl::string_view s, size_t* i) {
  uint32_t cp = 0xfffd;
  const int n = DecodeUtf8(s.substr(*i), &cp);
  *i += n == 0 ? 1 : static_cast<size_t>(n);
  return n == 0 ? 0xfffd : cp;
}

bool IsNonCharacter(uint32_t cp) { return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe; }

// A code point that may appear raw in a plain or quoted scalar for every
// reader: printable, not a line or paragraph separator, not NEL, not a BOM.
bool SafeRaw(uint32_t cp) {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
  if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff) return false;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  if (IsNonCharacter(cp)) return false;
  return cp <= 0x10ffff;
}

// The plain scalars YAML 1.1 (go-yaml v2's resolver) or 1.2 read as a bool
// or null whatever their case pattern; anything else that could resolve to a
// non-string starts with a digit, '+', '-' or '.'.
bool IsSpecialWord(absl::string_view s) {
  static constexpr absl::string_view kWords[] = {"y", "n", "yes", "no", "on", "off", "true", "false",
                                                 "null", "~", "<<", "="};
  if (s.size() > 5) return false;
  std::string lower = absl::AsciiStrToLower(s);
  for (absl::string_view w : kWords) {
    if (lower == w) return true;
  }
  return false;
}

}  // namespace

bool IsPlainSafe(absl::string_view s) {
  // 1024: the longest implicit key a YAML reader must accept.
  if (s.empty() || s.size() > 1024) return false;
  if (s.front() == ' ' || s.back() == ' ' || s.back() == ':') return false;
  switch (s.front()) {
    case '?': case ':': case ',': case '[': case ']': case '{': case '}': case '#': case '&':
    case '*': case '!': case '|': case '>': case '\'': case '"': case '%': case '@': case '`':
      return false;
    case '-':
      // "-1" and "-5m" are fine; "- x", "-" and "---" (a document marker)
      // are not.
      if (s.size() == 1 || s[1] == ' ' || s.substr(0, 3) == "---") return false;
      break;
    case '.':
      if (s.substr(0, 3) == "...") return false;
      break;
    default:
      break;
  }
  if (s == "<<" || s == "=") return false;  // YAML 1.1's merge and value keys
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ':' && i + 1 < s.size() && s[i + 1] == ' ') return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
    // ",[]{}" inside are plain in block context, the only one emitted.
    const size_t at = i;
    const uint32_t cp = NextCodePoint(s, &i);
    if (!SafeRaw(cp)) return false;
    // Invalid UTF-8 decodes as U+FFFD: only a real one may stay plain.
    if (cp == 0xfffd && s.substr(at, 3) != "\xef\xbf\xbd") return false;
  }
  return true;
}

bool IsUnambiguousString(absl::string_view s) {
  if (!IsPlainSafe(s) || IsSpecialWord(s)) return false;
  const char c = s.front();
  return !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

void AppendQuoted(absl::string_view s, std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const char ch = s[i];
    if (static_cast<unsigned char>(ch) < 0x80) {
      ++i;
      switch (ch) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\n': out->append("\\n"); break;
        case '\t': out->append("\\t"); break;
        case '\r': out->append("\\r"); break;
        default:
          if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
            out->append(absl::StrFormat("\\u%04X", static_cast<unsigned>(static_cast<unsigned char>(ch))));
          } else {
            out->push_back(ch);
          }
      }
      continue;
    }
    uint32_t cp = NextCodePoint(s, &i);
    if (SafeRaw(cp)) {
      AppendUtf8(cp, out);
    } else if (cp < 0x10000) {
      out->append(absl::StrFormat("\\u%04X", cp));
    } else {
      out->append(absl::StrFormat("\\U%08X", cp));
    }
  }
  out->push_back('"');
}


void AppendYamlString(absl::string_view s, std::string* out) {
  if (IsUnambiguousString(s)) {
    out->append(s.data(), s.size());
  } else {
    AppendQuoted(s, out);
  }
}

YamlSubsetNode YamlStringNode(absl::string_view s) {
  YamlSubsetNode n;
  n.kind = YamlSubsetNode::Kind::kScalar;
  n.scalar = std::string(s);
  n.quoted = !IsUnambiguousString(s);
  return n;
}

namespace {

// Whether a multi-line string reads back exactly from a literal block
// scalar ("|" or "|-") whose lines are indented by `indent` + 2: safe
// characters only, the first line not empty and not starting with a space
// (no indentation indicator needed), no line of spaces only or with trailing
// spaces, at most one final line break.
bool LiteralBlockSafe(absl::string_view s) {
  if (s.find('\n') == absl::string_view::npos || s.size() > (1 << 20)) return false;
  if (s.front() == ' ' || s.front() == '\n') return false;
  if (s.size() >= 2 && s.substr(s.size() - 2) == "\n\n") return false;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '\n') {
      if (i > 0 && s[i - 1] == ' ') return false;
      ++i;
      continue;
    }
    const size_t at = i;
    const uint32_t cp = NextCodePoint(s, &i);
    if (!SafeRaw(cp) || (cp == 0xfffd && s.substr(at, 3) != "\xef\xbf\xbd")) return false;
  }
  return s.back() != ' ';
}

void AppendLiteralBlock(absl::string_view s, int indent, std::string* out) {
  const bool final_break = s.back() == '\n';
  out->append(final_break ? "|" : "|-");
  if (final_break) s.remove_suffix(1);
  const std::string pad(static_cast<size_t>(indent) + 2, ' ');
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('\n', start);
    if (end == absl::string_view::npos) end = s.size();
    out->push_back('\n');
    if (end > start) {
      out->append(pad);
      out->append(s.data() + start, end - start);
    }
    start = end + 1;
  }
}

// EmitYamlScalar for a value whose parent sits at `indent`: multi-line
// strings may become literal blocks (PromQL and annotations stay readable).
// A plain input scalar that cannot be written plain is a string too (a plain
// scalar with a line break resolves to nothing else), so it takes the same
// form a quoted one does: emitting what was emitted gives the same bytes.
void EmitValue(const YamlSubsetNode& node, int indent, std::string* out) {
  if (node.IsScalar() && (node.quoted || !IsPlainSafe(node.scalar)) && LiteralBlockSafe(node.scalar)) {
    AppendLiteralBlock(node.scalar, indent, out);
    return;
  }
  EmitYamlScalar(node, out);
}

}  // namespace

void EmitYamlScalar(const YamlSubsetNode& node, std::string* out) {
  switch (node.kind) {
    case YamlSubsetNode::Kind::kScalar:
      // A quoted (or block) scalar in the input was a string: it stays one.
      if (!node.quoted && IsPlainSafe(node.scalar)) {
        out->append(node.scalar);
      } else {
        AppendQuoted(node.scalar, out);
      }
      return;
    case YamlSubsetNode::Kind::kMap:
      out->append("{}");
      return;
    case YamlSubsetNode::Kind::kSeq:
      out->append("[]");
      return;
    case YamlSubsetNode::Kind::kNull:
      out->append("null");
      return;
  }
}

void EmitYamlBlock(const YamlSubsetNode& node, int indent, bool inline_first, std::string* out) {
  bool first = true;
  auto pad = [&]() {
    if (first && inline_first) {
      first = false;
      return;
    }
    first = false;
    out->append(static_cast<size_t>(indent), ' ');
  };
  if (node.IsMap() && !node.map.empty()) {
    for (const YamlSubsetEntry& e : node.map) {
      pad();
      AppendYamlString(e.key, out);
      out->push_back(':');
      const YamlSubsetNode& v = e.value;
      if (v.IsMap() && !v.map.empty()) {
        out->push_back('\n');
        EmitYamlBlock(v, indent + 2, false, out);
      } else if (v.IsSeq() && !v.seq.empty()) {
        out->push_back('\n');
        EmitYamlBlock(v, indent, false, out);
      } else {
        out->push_back(' ');
        EmitValue(v, indent, out);
        out->push_back('\n');
      }
    }
  } else if (node.IsSeq() && !node.seq.empty()) {
    for (const YamlSubsetNode& v : node.seq) {
      pad();
      out->append("- ");
      if ((v.IsMap() && !v.map.empty()) || (v.IsSeq() && !v.seq.empty())) {
        EmitYamlBlock(v, indent + 2, true, out);
      } else {
        EmitValue(v, indent, out);
        out->push_back('\n');
      }
    }
  } else {
    pad();
    EmitYamlScalar(node, out);
    out->push_back('\n');
  }
}

}  // namespace promconf
