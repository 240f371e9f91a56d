#include "reconcile/fragment_yaml.h"

// yaml-cpp 0.7's node/impl.h trips GCC 12's -Wdangling-pointer (a false
// positive in the library's operator[]).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

#include "absl/strings/str_format.h"

namespace promconf {
namespace {

bool PlainSafe(absl::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  if (s.front() == ' ' || s.back() == ' ' || s.back() == ':') return false;
  switch (s.front()) {
    case '-': case '?': case ':': case ',': case '[': case ']': case '{': case '}':
    case '#': case '&': case '*': case '!': case '|': case '>': case '\'': case '"':
    case '%': case '@': case '`':
      // "-1" and "-5m" are fine; "- x" is not.
      if (s.front() == '-' && s.size() > 1 && s[1] != ' ') break;
      return false;
    default:
      break;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == ':' && i + 1 < s.size() && s[i + 1] == ' ') return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
    if (c == ',' || c == '[' || c == ']' || c == '{' || c == '}') return false;
  }
  return true;
}

}  // namespace

void AppendQuoted(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      case '\r': out->append("\\r"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out->append(absl::StrFormat("\\u%04x", c));
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendYamlString(absl::string_view s, std::string* out) {
  if (PlainSafe(s) && s != "null" && s != "true" && s != "false" && s != "~" &&
      !(s[0] >= '0' && s[0] <= '9') && s[0] != '.' && s[0] != '-' && s[0] != '+') {
    out->append(s.data(), s.size());
  } else {
    AppendQuoted(s, out);
  }
}

void EmitYamlScalar(const YAML::Node& node, std::string* out) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      // Tag "!" marks a quoted or block scalar in the input: it was a string.
      if (node.Tag() != "!" && PlainSafe(s)) {
        out->append(s);
      } else {
        AppendQuoted(s, out);
      }
      return;
    }
    case YAML::NodeType::Map:
      out->append("{}");
      return;
    case YAML::NodeType::Sequence:
      out->append("[]");
      return;
    default:
      out->append("null");
  }
}

void EmitYamlBlock(const YAML::Node& node, int indent, bool inline_first, std::string* out) {
  bool first = true;
  auto pad = [&]() {
    if (first && inline_first) {
      first = false;
      return;
    }
    first = false;
    out->append(static_cast<size_t>(indent), ' ');
  };
  if (node.IsMap() && node.size() > 0) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      pad();
      EmitYamlScalar(it->first, out);
      out->push_back(':');
      // A copy: yaml-cpp iterators hand out proxies, a reference would dangle.
      const YAML::Node v = it->second;
      if (v.IsMap() && v.size() > 0) {
        out->push_back('\n');
        EmitYamlBlock(v, indent + 2, false, out);
      } else if (v.IsSequence() && v.size() > 0) {
        out->push_back('\n');
        EmitYamlBlock(v, indent, false, out);
      } else {
        out->push_back(' ');
        EmitYamlScalar(v, out);
        out->push_back('\n');
      }
    }
  } else if (node.IsSequence() && node.size() > 0) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      pad();
      out->append("- ");
      const YAML::Node v = *it;  // a handle copy; *it is a temporary
      if ((v.IsMap() || v.IsSequence()) && v.size() > 0) {
        EmitYamlBlock(v, indent + 2, true, out);
      } else {
        EmitYamlScalar(v, out);
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
