#include "informers/kubernetes/watch_stream_decoder.h"

#include <cstring>

#include "absl/strings/str_cat.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace promconf::kube {

namespace {

// The first '"' or '\\' in [p, end), or end. Most of a watch body is string
// content (ConfigMap data), so this loop is the decoder's hot path.
const char* FindQuoteOrBackslash(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int mask = _mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    if (*p == '"' || *p == '\\') return p;
  }
  return end;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

void WatchStreamDecoder::Reset() {
  partial_.clear();
  depth_ = 0;
  in_string_ = false;
  escape_ = false;
}

absl::Status WatchStreamDecoder::Feed(absl::string_view chunk, const ObjectFn& on_object) {
  const char* p = chunk.data();
  const char* const end = p + chunk.size();
  const char* obj_start = depth_ > 0 ? p : nullptr;
  while (p < end) {
    if (in_string_) {
      if (escape_) {
        escape_ = false;
        ++p;
        continue;
      }
      const char* q = FindQuoteOrBackslash(p, end);
      if (q == end) {
        p = end;
        break;
      }
      if (*q == '\\') {
        escape_ = true;
      } else {
        in_string_ = false;
      }
      p = q + 1;
      continue;
    }
    const char c = *p;
    if (depth_ == 0) {
      if (c == '{') {
        depth_ = 1;
        obj_start = p;
      } else if (!IsJsonSpace(c)) {
        return absl::DataLossError(absl::StrCat(
            "watch stream: unexpected byte 0x", absl::Hex(static_cast<unsigned char>(c)),
            " between objects"));
      }
      ++p;
      continue;
    }
    switch (c) {
      case '"':
        in_string_ = true;
        break;
      case '{':
      case '[':
        ++depth_;
        break;
      case '}':
      case ']':
        if (--depth_ == 0) {
          absl::string_view object;
          if (partial_.empty()) {
            object = absl::string_view(obj_start, p + 1 - obj_start);
          } else {
            partial_.append(obj_start, p + 1 - obj_start);
            object = partial_;
          }
          if (object.size() > max_object_bytes_) {
            return absl::ResourceExhaustedError(absl::StrCat(
                "watch stream: object of ", object.size(), " bytes exceeds the limit of ",
                max_object_bytes_));
          }
          absl::Status s = on_object(object);
          partial_.clear();
          obj_start = nullptr;
          if (!s.ok()) return s;
        }
        break;
      default:
        break;
    }
    ++p;
  }
  if (depth_ > 0 && obj_start != nullptr) {
    partial_.append(obj_start, end - obj_start);
    if (partial_.size() > max_object_bytes_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "watch stream: unfinished object of ", partial_.size(),
          " bytes exceeds the limit of ", max_object_bytes_));
    }
  }
  return absl::OkStatus();
}

}  // namespace promconf::kube
