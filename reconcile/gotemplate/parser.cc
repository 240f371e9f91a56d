// A recognizer for Go's text/template: it walks the grammar the way Go's
// parse.Tree does (the same three-token lookahead and backups, because
// where spaces are significant depends on them) and reports the first error
// Go would, but builds no tree. What Go's parser keeps per template (is the
// body empty, for the "multiple definition" check) is kept as booleans.

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "reconcile/gotemplate/lexer.h"
#include "reconcile/gotemplate/template.h"
#include "util/go_strconv.h"
#include "util/utf8.h"

namespace promconf::gotemplate {
namespace {

// ---- Go's strconv, as far as validity goes --------------------------------

char Lower(char c) { return static_cast<char>(c | ('x' - 'X')); }

// strconv.ParseUint(s, 0, 64) succeeds.
bool ParseUintOk(absl::string_view s0) {
  absl::string_view s = s0;
  if (s.empty()) return false;
  int base = 10;
  if (s[0] == '0') {
    if (s.size() >= 3 && Lower(s[1]) == 'b') {
      base = 2, s.remove_prefix(2);
    } else if (s.size() >= 3 && Lower(s[1]) == 'o') {
      base = 8, s.remove_prefix(2);
    } else if (s.size() >= 3 && Lower(s[1]) == 'x') {
      base = 16, s.remove_prefix(2);
    } else {
      base = 8, s.remove_prefix(1);
    }
  }
  bool underscores = false;
  unsigned __int128 n = 0;
  for (char c : s) {
    int d;
    if (c == '_') {
      underscores = true;
      continue;
    } else if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (Lower(c) >= 'a' && Lower(c) <= 'z') {
      d = Lower(c) - 'a' + 10;
    } else {
      return false;
    }
    if (d >= base) return false;
    n = n * base + d;
    if (n > UINT64_MAX) return false;
  }
  if (underscores && !GoUnderscoreOk(s0)) return false;
  return true;
}

// strconv.ParseInt(s, 0, 64) succeeds.
bool ParseIntOk(absl::string_view s) {
  if (s.empty()) return false;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (!ParseUintOk(s)) return false;
  // Range: recompute the magnitude (ParseUintOk accepted the syntax).
  std::string digits;
  for (char c : s) {
    if (c != '_') digits += c;
  }
  errno = 0;
  unsigned long long u = std::strtoull(digits.c_str(), nullptr, 0);
  if (digits.size() >= 3 && digits[0] == '0' && Lower(digits[1]) == 'b') {
    u = std::strtoull(digits.c_str() + 2, nullptr, 2);
  } else if (digits.size() >= 3 && digits[0] == '0' && Lower(digits[1]) == 'o') {
    u = std::strtoull(digits.c_str() + 2, nullptr, 8);
  }
  return neg ? u <= (1ULL << 63) : u < (1ULL << 63);
}

// strconv.ParseFloat(s, 64) succeeds: Go's float syntax (decimal, or hex
// with a mandatory p exponent; underscores as in Go literals) and no
// overflow to infinity.
bool ParseFloatOk(absl::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  // inf, infinity, nan (the lexer never produces them, but keep strconv's
  // meaning).
  {
    std::string rest = absl::AsciiStrToLower(s.substr(i));
    if (rest == "inf" || rest == "infinity" || (rest == "nan" && i == 0)) return true;
  }
  bool hex = false;
  char exp_char = 'e';
  if (i + 2 < s.size() && s[i] == '0' && Lower(s[i + 1]) == 'x') {
    hex = true;
    exp_char = 'p';
    i += 2;
  }
  bool underscores = false, saw_dot = false, saw_digits = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      underscores = true;
      continue;
    }
    if (c == '.') {
      if (saw_dot) break;
      saw_dot = true;
      continue;
    }
    if ((c >= '0' && c <= '9') || (hex && Lower(c) >= 'a' && Lower(c) <= 'f')) {
      saw_digits = true;
      continue;
    }
    break;
  }
  if (!saw_digits) return false;
  if (i < s.size() && Lower(s[i]) == exp_char) {
    ++i;
    if (i >= s.size()) return false;
    if (s[i] == '+' || s[i] == '-') ++i;
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    for (; i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); ++i) {
      if (s[i] == '_') underscores = true;
    }
  } else if (hex) {
    return false;  // a hex mantissa needs its exponent
  }
  if (underscores && !GoUnderscoreOk(s.substr(0, i))) return false;
  if (i != s.size()) return false;
  std::string clean;
  for (char c : s) {
    if (c != '_') clean += c;
  }
  double v = std::strtod(clean.c_str(), nullptr);
  return !std::isinf(v);
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || (Lower(c) >= 'a' && Lower(c) <= 'f'); }

// strconv.UnquoteChar: consumes one character or escape of a literal quoted
// with `quote` from *s and appends its value to *out. false on a syntax
// error.
bool UnquoteChar(absl::string_view* s, char quote, std::string* out) {
  if (s->empty()) return false;
  char c = (*s)[0];
  if (c == quote && (quote == '\'' || quote == '"')) return false;
  if (static_cast<unsigned char>(c) >= 0x80) {
    size_t w;
    uint32_t r = static_cast<uint32_t>(DecodeRune(*s, &w));
    AppendUtf8(r, out);  // an invalid byte becomes U+FFFD, as in Go
    s->remove_prefix(w);
    return true;
  }
  if (c != '\\') {
    *out += c;
    s->remove_prefix(1);
    return true;
  }
  if (s->size() <= 1) return false;
  char e = (*s)[1];
  s->remove_prefix(2);
  switch (e) {
    case 'a': *out += '\a'; return true;
    case 'b': *out += '\b'; return true;
    case 'f': *out += '\f'; return true;
    case 'n': *out += '\n'; return true;
    case 'r': *out += '\r'; return true;
    case 't': *out += '\t'; return true;
    case 'v': *out += '\v'; return true;
    case '\\': *out += '\\'; return true;
    case 'x': case 'u': case 'U': {
      size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      if (s->size() < n) return false;
      uint32_t v = 0;
      for (size_t i = 0; i < n; ++i) {
        char h = (*s)[i];
        if (!IsHex(h)) return false;
        v = v * 16 + static_cast<uint32_t>(h >= '0' && h <= '9' ? h - '0' : Lower(h) - 'a' + 10);
      }
      s->remove_prefix(n);
      if (e == 'x') {
        *out += static_cast<char>(v);
        return true;
      }
      if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
      AppendUtf8(v, out);
      return true;
    }
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
      int v = e - '0';
      if (s->size() < 2) return false;
      for (int i = 0; i < 2; ++i) {
        char o = (*s)[i];
        if (o < '0' || o > '7') return false;
        v = v * 8 + (o - '0');
      }
      s->remove_prefix(2);
      if (v > 255) return false;
      *out += static_cast<char>(v);
      return true;
    }
    case '\'': case '"':
      if (e != quote) return false;
      *out += e;
      return true;
    default:
      return false;
  }
}

// strconv.Unquote of a "..." or `...` token the lexer produced; false on a
// syntax error. A raw string loses its carriage returns, as in Go.
bool Unquote(absl::string_view token, std::string* out) {
  out->clear();
  if (token.size() < 2) return false;
  absl::string_view in = token.substr(1, token.size() - 2);
  if (token[0] == '`') {  // the lexer ensured no '`' inside
    for (char c : in) {
      if (c != '\r') *out += c;
    }
    return true;
  }
  while (!in.empty()) {
    if (!UnquoteChar(&in, '"', out)) return false;
  }
  return true;
}
bool UnquoteOk(absl::string_view token) {
  std::string ignored;
  return Unquote(token, &ignored);
}
std::string Unquote(absl::string_view token) {
  std::string out;
  Unquote(token, &out);
  return out;
}

// ---- the parser ------------------------------------------------------------

// What a parsed node is, as far as the checks Go makes later need to know.
enum class NodeKind {
  kText,       // text with something other than white space
  kBlankText,  // white-space-only text: an "empty" template body
  kAction,
  kControl,  // if, range, with, template, break, continue
  kEnd,
  kElse,
};

// The kind of a command's first argument (checkPipeline).
enum class ArgKind { kNone, kConstant, kOther };

// Go's unicode.IsSpace on a rune, for bytes.TrimSpace in IsEmptyTree.
bool IsUnicodeSpace(uint32_t r) {
  switch (r) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200A;
  }
}

bool IsBlank(absl::string_view text) {
  while (!text.empty()) {
    size_t w;
    if (!IsUnicodeSpace(static_cast<uint32_t>(DecodeRune(text, &w)))) return false;
    text.remove_prefix(w);
  }
  return true;
}

class Parser {
 public:
  Parser(absl::string_view text, const ParseOptions& options)
      : text_(text),
        options_(options),
        go_minor_(GoMinorForPrometheus(options.version)),
        lexer_(text, go_minor_ >= 18, go_minor_ >= 18) {}

  // A variable the text starts with (Prometheus' preamble, whose actions
  // also make the template's own body non-empty).
  void Declare(absl::string_view name) {
    PushVar(name);
    root_has_preamble_ = true;
  }

  bool Parse();

  const TemplateError& error() const { return error_; }

 private:
  // Token handling: Go's next/backup/backup2/backup3/peek.
  Item NextToken() {
    if (peek_count_ > 0) {
      --peek_count_;
    } else {
      token_[0] = lexer_.Next();
    }
    return token_[peek_count_];
  }
  void Backup() { ++peek_count_; }
  void Backup2(const Item& t1) {
    token_[1] = t1;
    peek_count_ = 2;
  }
  void Backup3(const Item& t2, const Item& t1) {
    token_[1] = t1;
    token_[2] = t2;
    peek_count_ = 3;
  }
  Item PeekToken() {
    if (peek_count_ > 0) return token_[peek_count_ - 1];
    peek_count_ = 1;
    token_[0] = lexer_.Next();
    return token_[0];
  }
  Item NextNonSpace() {
    Item t;
    do {
      t = NextToken();
    } while (t.type == ItemType::kSpace);
    return t;
  }
  Item PeekNonSpace() {
    Item t = NextNonSpace();
    Backup();
    return t;
  }

  bool Errorf(size_t pos, std::string message) {
    if (!failed_) {
      failed_ = true;
      error_.message = std::move(message);
      SetPosition(pos);
    }
    return false;
  }
  bool Unexpected(const Item& token, absl::string_view context) {
    if (token.type == ItemType::kError) return Errorf(token.pos, ItemString(token));
    return Errorf(token.pos, absl::StrCat("unexpected ", ItemString(token), " in ", context));
  }
  bool Expect(ItemType type, absl::string_view context, Item* out = nullptr) {
    Item t = NextNonSpace();
    if (t.type != type) return Unexpected(t, context);
    if (out != nullptr) *out = t;
    return true;
  }
  void SetPosition(size_t pos) {
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    error_.line = line;
    error_.column = static_cast<int>(pos - line_start) + 1;
  }

  // Depth of the recursion the grammar implies; bounded so hostile input
  // gets an error instead of exhausting the stack.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser* p) : p_(p) { ++p_->depth_; }
    ~DepthGuard() { --p_->depth_; }
    bool ok(size_t pos) {
      if (p_->depth_ <= p_->options_.max_depth) return true;
      return p_->Errorf(pos, absl::StrCat("template nesting deeper than ",
                                          p_->options_.max_depth, " levels"));
    }

   private:
    Parser* p_;
  };

  // While alive, the parser is in a new template tree ({{define}}, {{block}}):
  // only "$" in scope, outside any range. Swapping keeps this O(1).
  class NewTree {
   public:
    explicit NewTree(Parser* p) : p_(p) {
      std::swap(vars_, p_->vars_);
      std::swap(var_count_, p_->var_count_);
      std::swap(range_depth_, p_->range_depth_);
      p_->PushVar("$");
    }
    ~NewTree() {
      std::swap(vars_, p_->vars_);
      std::swap(var_count_, p_->var_count_);
      std::swap(range_depth_, p_->range_depth_);
    }

   private:
    Parser* p_;
    std::vector<absl::string_view> vars_;
    absl::flat_hash_map<absl::string_view, int> var_count_;
    int range_depth_ = 0;
  };

  // Variables in scope: a stack of names with a count per name, so each use
  // is checked in O(1) however many are declared.
  void PushVar(absl::string_view name) {
    vars_.push_back(name);
    ++var_count_[name];
  }
  void PopVars(size_t n) {
    while (vars_.size() > n) {
      auto it = var_count_.find(vars_.back());
      if (--it->second == 0) var_count_.erase(it);
      vars_.pop_back();
    }
  }

  // Go's Tree.add: a second non-empty body for one name is an error.
  bool AddTemplate(const std::string& name, bool empty, size_t pos) {
    auto [it, inserted] = templates_.emplace(name, empty);
    if (inserted || it->second) {
      it->second = empty;
      return true;
    }
    if (!empty) return Errorf(pos, absl::StrFormat("template: multiple definition of template %s",
                                                   GoQuote(name)));
    return true;
  }

  bool ItemList(bool* empty, NodeKind* end, size_t* end_pos);
  // The body of a {{define}} or {{block}} up to its {{end}}, added as the
  // template `name`. It is a new tree: only "$" is in scope, and it is
  // outside any range.
  bool TemplateBody(absl::string_view clause, const std::string& name, size_t pos) {
    NewTree tree(this);
    bool empty;
    NodeKind end;
    size_t end_pos;
    if (!ItemList(&empty, &end, &end_pos)) return false;
    if (end != NodeKind::kEnd) return Errorf(end_pos, absl::StrCat("unexpected {{else}} in ", clause));
    return AddTemplate(name, empty, pos);
  }
  bool TextOrAction(NodeKind* kind, size_t* pos);
  bool Action(NodeKind* kind, size_t* pos);
  bool ParseDefinition();
  bool BreakControl(const Item& keyword);
  bool Pipeline(absl::string_view context, ItemType end);
  bool Command(ArgKind* first);
  bool Operand(ArgKind* kind, bool* present);
  bool Term(ArgKind* kind, bool* present, ItemType* type, std::string* text);
  bool ParseControl(bool allow_else_if, absl::string_view context);
  bool BlockControl();
  bool TemplateControl();
  bool TemplateName(const Item& token, absl::string_view context, std::string* name);

  const absl::string_view text_;
  const ParseOptions& options_;
  const int go_minor_;
  Lexer lexer_;
  Item token_[3];
  int peek_count_ = 0;
  int depth_ = 0;
  int range_depth_ = 0;
  std::vector<absl::string_view> vars_;
  absl::flat_hash_map<absl::string_view, int> var_count_;
  absl::flat_hash_map<std::string, bool> templates_;  // name -> body empty
  bool root_has_preamble_ = false;
  bool failed_ = false;
  TemplateError error_;
};

bool Parser::Parse() {
  PushVar("$");
  bool root_empty = !root_has_preamble_;
  while (PeekToken().type != ItemType::kEof) {
    if (PeekToken().type == ItemType::kLeftDelim) {
      Item delim = NextToken();
      if (NextNonSpace().type == ItemType::kDefine) {
        if (!ParseDefinition()) return false;
        continue;
      }
      Backup2(delim);
    }
    NodeKind kind;
    size_t pos;
    if (!TextOrAction(&kind, &pos)) return false;
    if (kind == NodeKind::kEnd) return Errorf(pos, "unexpected {{end}}");
    if (kind == NodeKind::kElse) return Errorf(pos, "unexpected {{else}}");
    if (kind != NodeKind::kBlankText) root_empty = false;
  }
  return AddTemplate(options_.name, root_empty, PeekToken().pos);
}

bool Parser::ParseDefinition() {
  constexpr absl::string_view kContext = "define clause";
  Item name_token = NextNonSpace();
  if (name_token.type != ItemType::kString && name_token.type != ItemType::kRawString) {
    return Unexpected(name_token, kContext);
  }
  if (!UnquoteOk(name_token.val)) return Errorf(name_token.pos, "invalid syntax");
  if (!Expect(ItemType::kRightDelim, kContext)) return false;
  return TemplateBody("define clause", Unquote(name_token.val), name_token.pos);
}

bool Parser::ItemList(bool* empty, NodeKind* end, size_t* end_pos) {
  *empty = true;
  while (PeekNonSpace().type != ItemType::kEof) {
    NodeKind kind;
    size_t pos;
    if (!TextOrAction(&kind, &pos)) return false;
    if (kind == NodeKind::kEnd || kind == NodeKind::kElse) {
      *end = kind;
      *end_pos = pos;
      return true;
    }
    if (kind != NodeKind::kBlankText) *empty = false;
  }
  return Errorf(PeekNonSpace().pos, "unexpected EOF");
}

bool Parser::TextOrAction(NodeKind* kind, size_t* pos) {
  Item token = NextNonSpace();
  *pos = token.pos;
  switch (token.type) {
    case ItemType::kText:
      *kind = IsBlank(token.val) ? NodeKind::kBlankText : NodeKind::kText;
      return true;
    case ItemType::kLeftDelim:
      return Action(kind, pos);
    default:
      return Unexpected(token, "input");
  }
}

bool Parser::Action(NodeKind* kind, size_t* pos) {
  Item token = NextNonSpace();
  *pos = token.pos;
  *kind = NodeKind::kControl;
  switch (token.type) {
    case ItemType::kBlock:
      return BlockControl();
    case ItemType::kBreak:
    case ItemType::kContinue:
      return BreakControl(token);
    case ItemType::kElse: {
      *kind = NodeKind::kElse;
      Item peek = PeekNonSpace();
      if (peek.type == ItemType::kIf) return true;
      // {{else with}} arrived with Go 1.23.
      if (peek.type == ItemType::kWith && go_minor_ >= 23) return true;
      return Expect(ItemType::kRightDelim, "else");
    }
    case ItemType::kEnd:
      *kind = NodeKind::kEnd;
      return Expect(ItemType::kRightDelim, "end");
    case ItemType::kIf:
      return ParseControl(true, "if");
    case ItemType::kRange:
      return ParseControl(false, "range");
    case ItemType::kTemplate:
      return TemplateControl();
    case ItemType::kWith:
      return ParseControl(false, "with");
    default:
      break;
  }
  Backup();
  *kind = NodeKind::kAction;
  return Pipeline("command", ItemType::kRightDelim);
}

bool Parser::BreakControl(const Item& keyword) {
  const bool is_break = keyword.type == ItemType::kBreak;
  absl::string_view name = is_break ? "{{break}}" : "{{continue}}";
  Item token = NextNonSpace();
  if (token.type != ItemType::kRightDelim) return Unexpected(token, name);
  if (range_depth_ == 0) return Errorf(keyword.pos, absl::StrCat(name, " outside {{range}}"));
  return true;
}

bool Parser::Pipeline(absl::string_view context, ItemType end) {
  size_t decls = 0;
  for (;;) {  // declarations: "$x :=", "$x =", "$i, $v :=" (range)
    Item v = PeekNonSpace();
    if (v.type != ItemType::kVariable) break;
    NextToken();
    Item after_variable = PeekToken();
    Item next = PeekNonSpace();
    if (next.type == ItemType::kAssign || next.type == ItemType::kDeclare) {
      NextNonSpace();
      ++decls;
      PushVar(v.val);
      break;
    }
    if (next.type == ItemType::kChar && next.val == ",") {
      NextNonSpace();
      ++decls;
      PushVar(v.val);
      if (context == "range" && decls < 2) {
        ItemType t = PeekNonSpace().type;
        if (t == ItemType::kVariable || t == ItemType::kRightDelim ||
            t == ItemType::kRightParen) {
          continue;
        }
        return Errorf(next.pos, "range can only initialize variables");
      }
      return Errorf(next.pos, absl::StrCat("too many declarations in ", context));
    }
    if (after_variable.type == ItemType::kSpace) {
      Backup3(v, after_variable);
    } else {
      Backup2(v);
    }
    break;
  }
  int commands = 0;
  int constant_stage = 0;  // the first stage after the first that is a constant
  size_t constant_pos = 0;
  for (;;) {
    Item token = NextNonSpace();
    if (token.type == end) {
      if (commands == 0) return Errorf(token.pos, absl::StrCat("missing value for ", context));
      if (constant_stage != 0) {
        return Errorf(constant_pos, absl::StrCat("non executable command in pipeline stage ",
                                                 constant_stage));
      }
      return true;
    }
    switch (token.type) {
      case ItemType::kBool: case ItemType::kCharConstant: case ItemType::kComplex:
      case ItemType::kDot: case ItemType::kField: case ItemType::kIdentifier:
      case ItemType::kNumber: case ItemType::kNil: case ItemType::kRawString:
      case ItemType::kString: case ItemType::kVariable: case ItemType::kLeftParen: {
        Backup();
        ArgKind first;
        if (!Command(&first)) return false;
        ++commands;
        if (commands > 1 && first == ArgKind::kConstant && constant_stage == 0) {
          constant_stage = commands;
          constant_pos = token.pos;
        }
        break;
      }
      default:
        return Unexpected(token, context);
    }
  }
}

bool Parser::Command(ArgKind* first) {
  *first = ArgKind::kNone;
  size_t start = PeekNonSpace().pos;
  int args = 0;
  for (;;) {
    PeekNonSpace();  // skips leading spaces
    ArgKind kind;
    bool present;
    if (!Operand(&kind, &present)) return false;
    if (present && args++ == 0) *first = kind;
    Item token = NextToken();
    if (token.type == ItemType::kSpace) continue;
    if (token.type == ItemType::kRightDelim || token.type == ItemType::kRightParen) {
      Backup();
    } else if (token.type != ItemType::kPipe) {
      return Unexpected(token, "operand");
    }
    break;
  }
  if (args == 0) return Errorf(start, "empty command");
  return true;
}

bool Parser::Operand(ArgKind* kind, bool* present) {
  ItemType type;
  std::string text;
  if (!Term(kind, present, &type, &text)) return false;
  if (!*present) return true;
  if (PeekToken().type == ItemType::kField) {
    size_t pos = PeekToken().pos;
    while (PeekToken().type == ItemType::kField) NextToken();
    switch (type) {
      case ItemType::kBool: case ItemType::kString: case ItemType::kRawString:
      case ItemType::kNumber: case ItemType::kCharConstant: case ItemType::kComplex:
      case ItemType::kNil: case ItemType::kDot:
        return Errorf(pos, absl::StrCat("unexpected . after term ", GoQuote(text)));
      default:
        break;
    }
    *kind = ArgKind::kOther;
  }
  return true;
}

bool Parser::Term(ArgKind* kind, bool* present, ItemType* type, std::string* text) {
  Item token = NextNonSpace();
  *present = true;
  *type = token.type;
  *text = std::string(token.val);
  *kind = ArgKind::kOther;
  switch (token.type) {
    case ItemType::kIdentifier: {
      std::string added_in;
      if (!IsTemplateFunction(token.val, options_.version, &added_in)) {
        std::string msg = absl::StrFormat("function %s not defined", GoQuote(token.val));
        if (!added_in.empty()) {
          absl::StrAppend(&msg, " (added in Prometheus ", added_in, "; validating for ",
                          options_.version.major, ".", options_.version.minor, ")");
        }
        return Errorf(token.pos, std::move(msg));
      }
      return true;
    }
    case ItemType::kDot:
    case ItemType::kNil:
    case ItemType::kBool:
      *kind = ArgKind::kConstant;
      if (token.type == ItemType::kNil) *text = "nil";
      return true;
    case ItemType::kField:
      return true;
    case ItemType::kVariable:
      if (!var_count_.contains(token.val)) {
        return Errorf(token.pos, absl::StrFormat("undefined variable %s", GoQuote(token.val)));
      }
      return true;
    case ItemType::kCharConstant: {
      *kind = ArgKind::kConstant;
      absl::string_view in = token.val.substr(1);
      std::string value;
      if (!UnquoteChar(&in, '\'', &value)) return Errorf(token.pos, "invalid syntax");
      if (in != "'") {
        return Errorf(token.pos, absl::StrCat("malformed character constant: ", token.val));
      }
      return true;
    }
    case ItemType::kComplex: {
      *kind = ArgKind::kConstant;
      // "<real>[+-]<imag>i": both parts must be floats (fmt.Sscan).
      absl::string_view v = token.val;
      size_t split = v.find_first_of("+-", 1);
      while (split != absl::string_view::npos && Lower(v[split - 1]) == 'e') {
        split = v.find_first_of("+-", split + 1);
      }
      if (split == absl::string_view::npos ||
          !ParseFloatOk(v.substr(0, split)) ||
          !ParseFloatOk(v.substr(split, v.size() - split - 1))) {
        return Errorf(token.pos, "expected integer");
      }
      return true;
    }
    case ItemType::kNumber: {
      *kind = ArgKind::kConstant;
      absl::string_view v = token.val;
      if (!v.empty() && v.back() == 'i' && ParseFloatOk(v.substr(0, v.size() - 1))) return true;
      if (ParseUintOk(v) || ParseIntOk(v)) return true;
      if (ParseFloatOk(v)) {
        if (v.find_first_of(".eEpP") == absl::string_view::npos) {
          return Errorf(token.pos, absl::StrFormat("integer overflow: %s", GoQuote(v)));
        }
        return true;
      }
      return Errorf(token.pos, absl::StrFormat("illegal number syntax: %s", GoQuote(v)));
    }
    case ItemType::kLeftParen: {
      DepthGuard guard(this);
      if (!guard.ok(token.pos)) return false;
      return Pipeline("parenthesized pipeline", ItemType::kRightParen);
    }
    case ItemType::kString:
    case ItemType::kRawString:
      *kind = ArgKind::kConstant;
      if (!UnquoteOk(token.val)) return Errorf(token.pos, "invalid syntax");
      return true;
    default:
      Backup();
      *present = false;
      return true;
  }
}

bool Parser::ParseControl(bool allow_else_if, absl::string_view context) {
  DepthGuard guard(this);
  if (!guard.ok(PeekToken().pos)) return false;
  const size_t saved_vars = vars_.size();
  if (!Pipeline(context, ItemType::kRightDelim)) return false;
  const bool is_range = context == "range";
  if (is_range) ++range_depth_;
  bool empty;
  NodeKind next;
  size_t next_pos;
  if (!ItemList(&empty, &next, &next_pos)) return false;
  if (is_range) --range_depth_;
  if (next == NodeKind::kElse) {
    ItemType peek = PeekToken().type;
    bool chained = false;
    if (allow_else_if && peek == ItemType::kIf) {
      NextToken();
      if (!ParseControl(true, "if")) return false;
      chained = true;
    } else if (context == "with" && peek == ItemType::kWith && go_minor_ >= 23) {
      NextToken();
      if (!ParseControl(false, "with")) return false;
      chained = true;
    }
    if (!chained) {
      if (!ItemList(&empty, &next, &next_pos)) return false;
      if (next != NodeKind::kEnd) return Errorf(next_pos, "expected end; found {{else}}");
    }
  }
  PopVars(saved_vars);
  return true;
}

bool Parser::BlockControl() {
  constexpr absl::string_view kContext = "block clause";
  Item token = NextNonSpace();
  std::string name;
  if (!TemplateName(token, kContext, &name)) return false;
  if (!Pipeline(kContext, ItemType::kRightDelim)) return false;
  return TemplateBody("block clause", name, token.pos);
}

bool Parser::TemplateControl() {
  constexpr absl::string_view kContext = "template clause";
  Item token = NextNonSpace();
  std::string name;
  if (!TemplateName(token, kContext, &name)) return false;
  if (NextNonSpace().type != ItemType::kRightDelim) {
    Backup();
    return Pipeline(kContext, ItemType::kRightDelim);
  }
  return true;
}

bool Parser::TemplateName(const Item& token, absl::string_view context, std::string* name) {
  if (token.type != ItemType::kString && token.type != ItemType::kRawString) {
    return Unexpected(token, context);
  }
  if (!UnquoteOk(token.val)) return Errorf(token.pos, "invalid syntax");
  *name = Unquote(token.val);
  return true;
}

absl::Status Run(absl::string_view text, const ParseOptions& options, bool alert_preamble,
                 TemplateError* err) {
  Parser parser(text, options);
  if (alert_preamble) {
    for (absl::string_view v : {"$labels", "$externalLabels", "$externalURL", "$value"}) {
      parser.Declare(v);
    }
  }
  if (parser.Parse()) return absl::OkStatus();
  const TemplateError& e = parser.error();
  if (err != nullptr) *err = e;
  return absl::InvalidArgumentError(absl::StrCat(e.line, ":", e.column, ": ", e.message));
}

}  // namespace

absl::Status ParseTemplate(absl::string_view text, const ParseOptions& options,
                           TemplateError* err) {
  return Run(text, options, false, err);
}

absl::Status CheckAlertTemplate(absl::string_view text, const ParseOptions& options,
                                TemplateError* err) {
  // The preamble Prometheus prepends is all actions, so the template's own
  // body is never empty: a {{define}} of its name is a multiple definition.
  // Declaring the preamble's variables up front is otherwise equivalent to
  // parsing it.
  absl::Status s = Run(text, options, true, err);
  return s;
}

}  // namespace promconf::gotemplate
