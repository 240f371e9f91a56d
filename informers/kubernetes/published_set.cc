#include "informers/kubernetes/published_set.h"

#include <openssl/evp.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace promconf::kube {
namespace {

// Bounds on what an index may ask a reader to assemble.
constexpr size_t kMaxIndexFiles = 100000;
constexpr size_t kMaxAssembledBytes = size_t{256} << 20;

bool IsConfigMapKey(absl::string_view key) {
  if (key.empty() || key.size() > 253 || key == "." || key == "..") return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// The output paths a reader may write: prometheus.yml at the top, plain
// names under rules/ and targets/.
bool IsPublishablePath(absl::string_view path) {
  auto component_ok = [](absl::string_view c) {
    if (c.empty() || c == "." || c == ".." || c.size() > 255) return false;  // NAME_MAX
    for (char ch : c) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' &&
          ch != '.') {
        return false;
      }
    }
    return true;
  };
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  if (parts.size() == 1) return path == "prometheus.yml";
  if (parts.size() != 2) return false;
  return (parts[0] == "rules" || parts[0] == "targets") && component_ok(parts[1]);
}

// Largest n <= want such that data[0, n) ends on a UTF-8 character boundary
// (never splits a multi-byte sequence, so each part is a valid string when
// the whole is). Returns want when a boundary cannot be found within 4 bytes.
size_t Utf8Cut(absl::string_view data, size_t want) {
  if (want >= data.size()) return data.size();
  for (size_t n = want, back = 0; n > 0 && back < 4; --n, ++back) {
    const unsigned char c = static_cast<unsigned char>(data[n]);
    if ((c & 0xC0) != 0x80) return n;  // data[n] starts a character
  }
  return want;
}

void WriteString(rapidjson::Writer<rapidjson::StringBuffer>& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string GetString(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

struct Part {
  std::string configmap, key;
};
struct FileEntry {
  std::string path;
  size_t size = 0;
  std::string sha256;
  std::vector<Part> parts;
};

std::string SetHash(const std::vector<FileEntry>& files) {
  std::string listing;
  for (const FileEntry& f : files) absl::StrAppend(&listing, f.path, "\n", f.size, "\n", f.sha256, "\n");
  return Sha256Hex(listing);
}

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::string PublishedSetId::SetName() const {
  return shards <= 1 ? output : absl::StrCat(output, "-shard-", shard);
}

std::map<std::string, std::string> PublishedSetId::Labels() const {
  return {{kManagedByLabel, kManagedByValue},
          {kOutputLabel, output},
          {kShardLabel, absl::StrCat(shard)}};
}

std::string PublishedSetId::LabelSelector() const {
  return absl::StrCat(kManagedByLabel, "=", kManagedByValue, ",", kOutputLabel, "=", output, ",",
                      kShardLabel, "=", shard);
}

absl::StatusOr<std::vector<PublishedConfigMap>> LayoutPublishedSet(
    const std::map<std::string, std::string>& files, const PublishedSetId& id,
    size_t max_configmap_bytes) {
  const std::string set_name = id.SetName();
  // The index lands in the first ConfigMap after its data is laid out; this
  // bounds its size from above (paths and keys need no JSON escaping).
  size_t index_reserve = 1024 + set_name.size() * 4;
  for (const auto& [path, data] : files) {
    const size_t parts = data.size() / (max_configmap_bytes / 2) + 2;
    index_reserve += 200 + path.size() * 2 + parts * (set_name.size() + path.size() * 2 + 80);
  }
  if (index_reserve + 4096 > max_configmap_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("published output \"", set_name, "\": ", files.size(),
                     " files need an index larger than one ConfigMap"));
  }

  std::vector<PublishedConfigMap> out(1);
  out[0].name = set_name;
  std::vector<size_t> used(1, index_reserve);
  auto current = [&]() -> size_t { return out.size() - 1; };
  auto next_configmap = [&] {
    out.push_back({absl::StrCat(set_name, "-", out.size()), {}});
    used.push_back(0);
  };

  std::vector<FileEntry> entries;
  std::set<std::string> keys = {kPublishedIndexKey};
  int fallback = 0;
  for (const auto& [path, data] : files) {
    FileEntry e;
    e.path = path;
    e.size = data.size();
    e.sha256 = Sha256Hex(data);
    std::string key = absl::StrReplaceAll(path, {{"/", "__"}});
    // Room for ".part-NNNN" suffixes.
    if (!IsConfigMapKey(key) || key.size() > 230 || keys.count(key) > 0 ||
        absl::StartsWith(key, "file-")) {
      const size_t dot = path.rfind('.');
      std::string ext = dot == std::string::npos ? "" : path.substr(dot);
      if (!IsConfigMapKey(ext) || ext.size() > 20) ext.clear();
      do {
        key = absl::StrCat("file-", fallback++, ext);
      } while (keys.count(key) > 0);
    }
    keys.insert(key);

    const size_t room = max_configmap_bytes - used[current()];
    if (data.size() + key.size() <= room) {
      out[current()].data[key] = data;
      used[current()] += data.size() + key.size();
      e.parts.push_back({out[current()].name, key});
    } else if (data.size() + key.size() <= max_configmap_bytes) {
      // Fits whole in a fresh ConfigMap: whole files are easier to read
      // with kubectl than parts.
      next_configmap();
      out[current()].data[key] = data;
      used[current()] += data.size() + key.size();
      e.parts.push_back({out[current()].name, key});
    } else {
      absl::string_view rest = data;
      for (int n = 0; !rest.empty(); ++n) {
        std::string part_key = absl::StrCat(key, ".part-", n);
        size_t space = max_configmap_bytes - used[current()];
        if (space < part_key.size() + 4096) {
          next_configmap();
          space = max_configmap_bytes;
        }
        size_t take = Utf8Cut(rest, std::min(rest.size(), space - part_key.size()));
        if (take == 0) take = std::min<size_t>(rest.size(), 4);
        out[current()].data[part_key] = std::string(rest.substr(0, take));
        used[current()] += take + part_key.size();
        e.parts.push_back({out[current()].name, part_key});
        rest.remove_prefix(take);
      }
    }
    entries.push_back(std::move(e));
  }

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("apiVersion");
  w.String("promconf.io/v1");
  w.Key("output");
  WriteString(w, id.output);
  w.Key("shard");
  w.Int(id.shard);
  w.Key("shards");
  w.Int(id.shards);
  w.Key("hash");
  WriteString(w, SetHash(entries));
  w.Key("configmaps");
  w.StartArray();
  for (const PublishedConfigMap& cm : out) WriteString(w, cm.name);
  w.EndArray();
  w.Key("files");
  w.StartArray();
  for (const FileEntry& e : entries) {
    w.StartObject();
    w.Key("path");
    WriteString(w, e.path);
    w.Key("size");
    w.Uint64(e.size);
    w.Key("sha256");
    WriteString(w, e.sha256);
    w.Key("parts");
    w.StartArray();
    for (const Part& p : e.parts) {
      w.StartObject();
      w.Key("configmap");
      WriteString(w, p.configmap);
      w.Key("key");
      WriteString(w, p.key);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  out[0].data[kPublishedIndexKey] = std::string(buf.GetString(), buf.GetSize());
  return out;
}

absl::StatusOr<PublishedIndex> ParsePublishedIndex(absl::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) {
    return absl::InvalidArgumentError(absl::StrCat(kPublishedIndexKey, ": not a JSON object"));
  }
  if (GetString(d, "apiVersion") != "promconf.io/v1") {
    return absl::InvalidArgumentError(
        absl::StrCat(kPublishedIndexKey, ": apiVersion is not promconf.io/v1"));
  }
  PublishedIndex index;
  index.output = GetString(d, "output");
  index.hash = GetString(d, "hash");
  if (d.HasMember("shard") && d["shard"].IsInt()) index.shard = d["shard"].GetInt();
  if (d.HasMember("shards") && d["shards"].IsInt()) index.shards = d["shards"].GetInt();
  if (d.HasMember("configmaps") && d["configmaps"].IsArray()) {
    for (const auto& v : d["configmaps"].GetArray()) {
      if (v.IsString()) index.configmaps.emplace_back(v.GetString(), v.GetStringLength());
    }
  }
  return index;
}

absl::StatusOr<std::map<std::string, std::string>> AssemblePublishedSet(
    absl::string_view index_json, const PublishedValueLookup& lookup) {
  rapidjson::Document d;
  d.Parse(index_json.data(), index_json.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("files") || !d["files"].IsArray()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kPublishedIndexKey, ": not an index (no \"files\" list)"));
  }
  const auto& files = d["files"].GetArray();
  if (files.Size() > kMaxIndexFiles) {
    return absl::InvalidArgumentError(
        absl::StrCat(kPublishedIndexKey, ": lists more than ", kMaxIndexFiles, " files"));
  }
  std::map<std::string, std::string> out;
  size_t total = 0;
  for (const auto& f : files) {
    const std::string path = GetString(f, "path");
    if (!IsPublishablePath(path)) {
      return absl::InvalidArgumentError(absl::StrCat(
          kPublishedIndexKey, ": path \"", absl::CEscape(path).substr(0, 200),
          "\" is not prometheus.yml, rules/<name> or targets/<name>"));
    }
    if (out.count(path) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(kPublishedIndexKey, ": path \"", path, "\" is listed twice"));
    }
    if (!f.HasMember("parts") || !f["parts"].IsArray() || !f.HasMember("size") ||
        !f["size"].IsUint64()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kPublishedIndexKey, ": file \"", path, "\" has no parts or size"));
    }
    const uint64_t size = f["size"].GetUint64();
    total += size;
    if (size > kMaxAssembledBytes || total > kMaxAssembledBytes) {
      return absl::InvalidArgumentError(absl::StrCat(kPublishedIndexKey, ": files add up to more than ",
                                                     kMaxAssembledBytes, " bytes"));
    }
    std::string data;
    data.reserve(size);
    for (const auto& p : f["parts"].GetArray()) {
      const std::string cm = GetString(p, "configmap"), key = GetString(p, "key");
      std::optional<absl::string_view> value = lookup(cm, key);
      if (!value) {
        return absl::FailedPreconditionError(absl::StrCat("published set incomplete: \"", path,
                                                          "\" needs ", cm, "/", key));
      }
      if (data.size() + value->size() > size) {
        return absl::FailedPreconditionError(
            absl::StrCat("published set inconsistent: \"", path, "\" is longer than indexed"));
      }
      data.append(value->data(), value->size());
    }
    if (data.size() != size || Sha256Hex(data) != GetString(f, "sha256")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "published set inconsistent: \"", path, "\" does not match the index's SHA-256"));
    }
    out.emplace(path, std::move(data));
  }
  return out;
}

}  // namespace promconf::kube
