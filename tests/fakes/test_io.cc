#include "tests/fakes/test_io.h"

#include <fstream>

#include "util/http_client.h"

namespace promconf {

void WriteFileAtomically(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::create_directories(path.parent_path());
  const std::filesystem::path tmp = path.parent_path() / (".tmp-" + path.filename().string());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
  }
  std::filesystem::rename(tmp, path);
}

std::string HttpGetBody(const std::string& url, long* status, absl::Duration timeout) {
  HttpClient http;
  HttpRequest req;
  req.url = url;
  req.timeout = timeout;
  req.connect_timeout = std::min(timeout, absl::Seconds(2));
  absl::StatusOr<HttpResponse> resp = http.Do(req);
  if (!resp.ok()) return "";
  if (status != nullptr) {
    *status = resp->status;
    return resp->body;
  }
  return resp->status == 200 ? resp->body : "";
}

}  // namespace promconf
