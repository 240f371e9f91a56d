// The one-definition rule across promconf's libraries: no two files may
// define a class, struct, union or enum with the same qualified name outside
// an anonymous namespace. Two promconf::WatchStreamDecoder (etcd's and
// Kubernetes') once linked fine and at -O0 the Kubernetes decoder ran the etcd
// constructor; the linker does not diagnose it and GCC's -Wodr needs an LTO
// build of everything. This scan of the sources takes milliseconds.
//
// PROMCONF_ODR_ROOT=<checkout> scans another tree (e.g. to see it fail).

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace promconf {
namespace {

namespace fs = std::filesystem;

// Comments, string and character literals (raw strings too) become spaces;
// preprocessor lines are dropped.
std::string StripNoise(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  bool line_start = true;
  while (i < in.size()) {
    const char c = in[i];
    if (line_start && c == '#') {
      // A directive, with its backslash continuations.
      while (i < in.size() && !(in[i] == '\n' && in[i - 1] != '\\')) ++i;
      continue;
    }
    if (c == '\n') {
      line_start = true;
      out.push_back(c);
      ++i;
      continue;
    }
    if (c != ' ' && c != '\t') line_start = false;
    if (c == '/' && i + 1 < in.size() && in[i + 1] == '/') {
      while (i < in.size() && in[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < in.size() && in[i + 1] == '*') {
      const size_t end = in.find("*/", i + 2);
      i = end == std::string::npos ? in.size() : end + 2;
      out.push_back(' ');
      continue;
    }
    if (c == 'R' && i + 1 < in.size() && in[i + 1] == '"' &&
        (i == 0 || !(std::isalnum(static_cast<unsigned char>(in[i - 1])) || in[i - 1] == '_'))) {
      const size_t open = in.find('(', i + 2);
      if (open != std::string::npos) {
        const std::string close = absl::StrCat(")", in.substr(i + 2, open - i - 2), "\"");
        const size_t end = in.find(close, open);
        i = end == std::string::npos ? in.size() : end + close.size();
        out.append(" \"\" ");
        continue;
      }
    }
    if (c == '"' || c == '\'') {
      ++i;
      while (i < in.size() && in[i] != c) i += in[i] == '\\' ? 2 : 1;
      ++i;
      out.append(" \"\" ");
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

std::vector<std::string> Tokens(const std::string& text) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = text[i];
    if (std::isspace(c)) {
      ++i;
    } else if (std::isalnum(c) || c == '_') {
      size_t j = i;
      while (j < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) {
        ++j;
      }
      tokens.push_back(text.substr(i, j - i));
      i = j;
    } else if (c == ':' && i + 1 < text.size() && text[i + 1] == ':') {
      tokens.push_back("::");
      i += 2;
    } else {
      tokens.push_back(std::string(1, c));
      ++i;
    }
  }
  return tokens;
}

bool IsIdentifier(const std::string& t) {
  return !t.empty() && (std::isalpha(static_cast<unsigned char>(t[0])) || t[0] == '_');
}

// The qualified names of the types defined at namespace scope in `source`
// (outside anonymous namespaces, functions and classes).
std::vector<std::string> DefinedTypes(const std::string& source) {
  const std::vector<std::string> t = Tokens(StripNoise(source));
  struct Frame {
    enum Kind { kNamespace, kTransparent, kOther } kind;
    std::string name;  // "a::b" for a namespace; "" when anonymous
  };
  std::vector<Frame> frames;
  std::vector<std::string> found;
  int parens = 0;
  auto at_namespace_scope = [&] {
    if (parens > 0) return false;
    for (const Frame& f : frames) {
      if (f.kind == Frame::kOther) return false;
      if (f.kind == Frame::kNamespace && f.name.empty()) return false;  // internal linkage
    }
    return true;
  };
  auto qualified = [&](const std::string& name) {
    std::vector<std::string> parts;
    for (const Frame& f : frames) {
      if (f.kind == Frame::kNamespace) parts.push_back(f.name);
    }
    parts.push_back(name);
    return absl::StrJoin(parts, "::");
  };
  for (size_t i = 0; i < t.size(); ++i) {
    const std::string& tok = t[i];
    if (tok == "(") {
      ++parens;
    } else if (tok == ")") {
      if (parens > 0) --parens;
    } else if (tok == "}") {
      if (!frames.empty()) frames.pop_back();
    } else if (tok == "{") {
      frames.push_back({Frame::kOther, ""});
    } else if (tok == "template" && i + 1 < t.size() && t[i + 1] == "<") {
      // Skip the parameter list: its "class T" defines nothing.
      int depth = 0;
      for (++i; i < t.size(); ++i) {
        if (t[i] == "<") ++depth;
        if (t[i] == ">" && --depth == 0) break;
      }
    } else if (tok == "extern" && i + 2 < t.size() && t[i + 1] == "\"" && t[i + 2] == "\"") {
      // extern "C" { ... }: the literal was blanked to "".
      size_t j = i + 3;
      if (j < t.size() && t[j] == "{") {
        frames.push_back({Frame::kTransparent, ""});
        i = j;
      }
    } else if (tok == "namespace" && parens == 0) {
      std::string name;
      size_t j = i + 1;
      while (j < t.size() && (IsIdentifier(t[j]) || t[j] == "::")) {
        if (t[j] != "inline") name += t[j];
        ++j;
      }
      if (j < t.size() && t[j] == "{") {
        frames.push_back({Frame::kNamespace, name});
        i = j;
      }  // else an alias or a using-directive
    } else if ((tok == "class" || tok == "struct" || tok == "union" || tok == "enum") &&
               at_namespace_scope()) {
      size_t j = i + 1;
      if (tok == "enum" && j < t.size() && (t[j] == "class" || t[j] == "struct")) ++j;
      // The name is the last identifier before '{', ':' or "final" (macros
      // such as ABSL_LOCKABLE may come first).
      std::string name;
      while (j < t.size() && IsIdentifier(t[j]) && t[j] != "final") name = t[j++];
      while (j < t.size() && t[j] == "final") ++j;
      if (!name.empty() && j < t.size() && (t[j] == "{" || t[j] == ":")) {
        found.push_back(qualified(name));
        if (t[j] == ":") {  // a base list or an enum's underlying type
          while (j < t.size() && t[j] != "{" && t[j] != ";") ++j;
        }
        if (j < t.size() && t[j] == "{") {
          frames.push_back({Frame::kOther, ""});
          i = j;
        }
      }
    }
  }
  return found;
}

TEST(OdrScanTest, FindsNamespaceScopeDefinitionsOnly) {
  const std::string source = R"(
#include "x.h"
#define M(a) \
  class Macro {};
namespace promconf {
class Forward;
struct stat;
int Use(struct stat* s);
class ABSL_LOCKABLE Decoder final : public Base<int> {
  struct Nested {};
  void F() { struct Local {}; }
};
enum class Kind : int { kA };
template <class T, typename U = std::map<int, int>>
class Box {};
namespace {
class Hidden {};
}  // namespace
const char* s = "class Quoted {";
const char* r = R"x(struct Raw {)x";
// class Commented {};
/* struct Block {}; */
namespace etcd {
class WatchStreamDecoder {};
}
}  // namespace promconf
namespace promconf::kube::inner {
struct Deep {};
}
extern "C" {
struct CType { int a; };
}
)";
  EXPECT_THAT(DefinedTypes(source),
              testing::ElementsAre("promconf::Decoder", "promconf::Kind", "promconf::Box",
                                   "promconf::etcd::WatchStreamDecoder",
                                   "promconf::kube::inner::Deep", "CType"));
}

// Files linked into the same executables: the libraries and what every test
// links (fakes, conformance suite, mocks).
TEST(OdrScanTest, NoTwoFilesDefineTheSameType) {
  const char* override_root = std::getenv("PROMCONF_ODR_ROOT");
  const fs::path root = override_root != nullptr ? override_root : PROMCONF_SOURCE_DIR;
  std::map<std::string, std::vector<std::string>> where;  // qualified name -> files
  int files = 0;
  for (const char* dir : {"util", "runtime", "informers", "reconcile", "metrics", "controller",
                          "tests/fakes", "tests/conformance", "tests/mocks"}) {
    if (!fs::exists(root / dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".h" && ext != ".cc")) continue;
      // Executables' own files (main.cc, the fakes' *_main.cc) are not linked
      // together with each other.
      if (absl::EndsWith(e.path().filename().string(), "main.cc")) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream buf;
      buf << in.rdbuf();
      ++files;
      for (const std::string& name : DefinedTypes(buf.str())) {
        auto& list = where[name];
        const std::string file = fs::relative(e.path(), root).string();
        if (std::find(list.begin(), list.end(), file) == list.end()) list.push_back(file);
      }
    }
  }
  EXPECT_GT(files, 50) << "scanned too little of " << root;
  EXPECT_GT(where.size(), 100u);
  for (const auto& [name, list] : where) {
    EXPECT_EQ(list.size(), 1u) << name << " is defined in " << absl::StrJoin(list, ", ")
                               << ": put each backend's types in its own namespace "
                                  "(promconf::etcd, promconf::kube, ...) or an anonymous one";
  }
}

}  // namespace
}  // namespace promconf
