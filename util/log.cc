#include "util/log.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "util/json.h"

namespace promconf {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<LogFormat> g_format{LogFormat::kLogfmt};

absl::Mutex g_capture_mu;
int g_capture_depth ABSL_GUARDED_BY(g_capture_mu) = 0;
std::string* g_capture ABSL_GUARDED_BY(g_capture_mu) = nullptr;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

void AppendLogfmtValue(std::string* out, absl::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '=' || c == '"' || static_cast<unsigned char>(c) < 0x20) quote = true;
  }
  if (!quote) {
    out->append(v.data(), v.size());
    return;
  }
  out->push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  if (text == "debug") *level = LogLevel::kDebug;
  else if (text == "info") *level = LogLevel::kInfo;
  else if (text == "warn") *level = LogLevel::kWarn;
  else if (text == "error") *level = LogLevel::kError;
  else return false;
  return true;
}

bool ParseLogFormat(absl::string_view text, LogFormat* format) {
  if (text == "logfmt") *format = LogFormat::kLogfmt;
  else if (text == "json") *format = LogFormat::kJson;
  else return false;
  return true;
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
void SetLogFormat(LogFormat format) { g_format.store(format); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void Log(LogLevel level, absl::string_view msg, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line;
  line.reserve(128);
  if (g_format.load() == LogFormat::kJson) {
    line.append("{\"level\":\"").append(LevelName(level)).append("\",\"ts\":\"").append(ts);
    line.append("\",\"msg\":");
    AppendJsonString(&line, msg);
    for (const LogField& f : fields) {
      line.push_back(',');
      AppendJsonString(&line, f.key);
      line.push_back(':');
      AppendJsonString(&line, f.value);
    }
    line.append("}\n");
  } else {
    line.append("level=").append(LevelName(level)).append(" ts=").append(ts).append(" msg=");
    AppendLogfmtValue(&line, msg);
    for (const LogField& f : fields) {
      line.push_back(' ');
      line.append(f.key).push_back('=');
      AppendLogfmtValue(&line, f.value);
    }
    line.push_back('\n');
  }
  {
    absl::MutexLock lock(&g_capture_mu);
    if (g_capture != nullptr) {
      g_capture->append(line);
      return;
    }
  }
  // One write(2) per line keeps lines whole across threads.
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

LogCapture::LogCapture() {
  absl::MutexLock lock(&g_capture_mu);
  if (g_capture_depth++ == 0) g_capture = new std::string;
}

LogCapture::~LogCapture() {
  absl::MutexLock lock(&g_capture_mu);
  if (--g_capture_depth == 0) {
    delete g_capture;
    g_capture = nullptr;
  }
}

std::string LogCapture::Contents() const {
  absl::MutexLock lock(&g_capture_mu);
  return g_capture ? *g_capture : std::string();
}

}  // namespace promconf
