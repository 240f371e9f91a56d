#pragma once

// Structured logging in logfmt or JSON, as the Prometheus ecosystem does
// (level=info ts=... msg="..." key=value). Thread-safe: one line is one write.

#include "absl/strings/string_view.h"
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace promconf {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kLogfmt, kJson };

// Parses "debug|info|warn|error" and "logfmt|json"; false on anything else.
bool ParseLogLevel(absl::string_view text, LogLevel* level);
bool ParseLogFormat(absl::string_view text, LogFormat* format);

void SetLogLevel(LogLevel level);
void SetLogFormat(LogFormat format);
bool LogEnabled(LogLevel level);

// One key=value pair. Values are rendered with absl::StrCat: numbers and
// strings work; format an absl::Duration with absl::FormatDuration first.
struct LogField {
  template <typename T>
  LogField(absl::string_view k, const T& v) : key(k), value(absl::StrCat(v)) {}
  LogField(absl::string_view k, absl::string_view v) : key(k), value(v) {}
  LogField(absl::string_view k, const char* v) : key(k), value(v) {}
  LogField(absl::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  std::string key;
  std::string value;
};

void Log(LogLevel level, absl::string_view msg, std::initializer_list<LogField> fields = {});

// Captures log lines instead of writing them to stderr (tests).
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  std::string Contents() const;
};

}  // namespace promconf

#define LOG_DEBUG(msg, ...) \
  do { if (::promconf::LogEnabled(::promconf::LogLevel::kDebug)) ::promconf::Log(::promconf::LogLevel::kDebug, msg, ##__VA_ARGS__); } while (0)
#define LOG_INFO(msg, ...) ::promconf::Log(::promconf::LogLevel::kInfo, msg, ##__VA_ARGS__)
#define LOG_WARN(msg, ...) ::promconf::Log(::promconf::LogLevel::kWarn, msg, ##__VA_ARGS__)
#define LOG_ERROR(msg, ...) ::promconf::Log(::promconf::LogLevel::kError, msg, ##__VA_ARGS__)
