#include "informers/kubernetes/kube_objects.h"

#include <string_view>

#include "absl/strings/str_cat.h"

namespace promconf {

namespace ondemand = simdjson::ondemand;

namespace {

absl::Status JsonError(const char* what, simdjson::error_code e) {
  return absl::DataLossError(absl::StrCat("kubernetes JSON: ", what, ": ",
                                          simdjson::error_message(e)));
}

#define PROMCONF_JSON_TRY(expr, what)              \
  do {                                             \
    simdjson::error_code _e = (expr);              \
    if (_e != simdjson::SUCCESS) return JsonError(what, _e); \
  } while (0)

bool IsNull(ondemand::value& v) {
  ondemand::json_type t;
  return v.type().get(t) == simdjson::SUCCESS && t == ondemand::json_type::null;
}

absl::Status GetString(ondemand::value& v, std::string* out, const char* what) {
  if (IsNull(v)) {
    out->clear();
    return absl::OkStatus();
  }
  std::string_view s;
  PROMCONF_JSON_TRY(v.get_string().get(s), what);
  out->assign(s.data(), s.size());
  return absl::OkStatus();
}

absl::Status GetStringMap(ondemand::value& v, std::vector<std::pair<std::string, std::string>>* out,
                          const char* what) {
  out->clear();
  if (IsNull(v)) return absl::OkStatus();
  ondemand::object obj;
  PROMCONF_JSON_TRY(v.get_object().get(obj), what);
  for (auto field_result : obj) {
    ondemand::field field;
    PROMCONF_JSON_TRY(std::move(field_result).get(field), what);
    std::string_view key;
    PROMCONF_JSON_TRY(field.unescaped_key().get(key), what);
    std::string k(key.data(), key.size());
    std::string_view value;
    PROMCONF_JSON_TRY(field.value().get_string().get(value), what);
    out->emplace_back(std::move(k), std::string(value.data(), value.size()));
  }
  return absl::OkStatus();
}

absl::Status ParseMetadata(ondemand::value& v, KubeObject* obj, std::string* continue_token) {
  ondemand::object md;
  PROMCONF_JSON_TRY(v.get_object().get(md), "metadata");
  for (auto field_result : md) {
    ondemand::field field;
    PROMCONF_JSON_TRY(std::move(field_result).get(field), "metadata");
    std::string_view key;
    PROMCONF_JSON_TRY(field.unescaped_key().get(key), "metadata");
    if (key == "name") {
      absl::Status s = GetString(field.value(), &obj->name, "metadata.name");
      if (!s.ok()) return s;
    } else if (key == "namespace") {
      absl::Status s = GetString(field.value(), &obj->namespace_, "metadata.namespace");
      if (!s.ok()) return s;
    } else if (key == "resourceVersion") {
      absl::Status s = GetString(field.value(), &obj->resource_version, "metadata.resourceVersion");
      if (!s.ok()) return s;
    } else if (key == "continue" && continue_token != nullptr) {
      absl::Status s = GetString(field.value(), continue_token, "metadata.continue");
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ParseObjectValue(ondemand::value& v, KubeObject* obj) {
  ondemand::object o;
  PROMCONF_JSON_TRY(v.get_object().get(o), "object");
  for (auto field_result : o) {
    ondemand::field field;
    PROMCONF_JSON_TRY(std::move(field_result).get(field), "object");
    std::string_view key;
    PROMCONF_JSON_TRY(field.unescaped_key().get(key), "object");
    absl::Status s;
    if (key == "metadata") {
      s = ParseMetadata(field.value(), obj, nullptr);
    } else if (key == "data") {
      s = GetStringMap(field.value(), &obj->data, "data");
    } else if (key == "binaryData") {
      s = GetStringMap(field.value(), &obj->binary_data, "binaryData");
    } else if (key == "kind") {
      s = GetString(field.value(), &obj->kind, "kind");
    } else if (key == "code") {
      PROMCONF_JSON_TRY(field.value().get_int64().get(obj->code), "code");
    } else if (key == "reason") {
      s = GetString(field.value(), &obj->reason, "reason");
    } else if (key == "message") {
      s = GetString(field.value(), &obj->message, "message");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

simdjson::padded_string_view KubeJsonParser::Pad(absl::string_view json) {
  buffer_.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  buffer_.assign(json.data(), json.size());
  return simdjson::padded_string_view(buffer_.data(), buffer_.size(), buffer_.capacity());
}

absl::Status KubeJsonParser::ParseObject(absl::string_view json, KubeObject* out) {
  *out = KubeObject();
  ondemand::document doc;
  PROMCONF_JSON_TRY(parser_.iterate(Pad(json)).get(doc), "document");
  ondemand::value v;
  PROMCONF_JSON_TRY(doc.get_value().get(v), "document");
  return ParseObjectValue(v, out);
}

absl::Status KubeJsonParser::ParseWatchEvent(absl::string_view json, WatchEvent* out) {
  out->object = KubeObject();
  ondemand::document doc;
  PROMCONF_JSON_TRY(parser_.iterate(Pad(json)).get(doc), "watch event");
  ondemand::object o;
  PROMCONF_JSON_TRY(doc.get_object().get(o), "watch event");
  bool have_type = false;
  for (auto field_result : o) {
    ondemand::field field;
    PROMCONF_JSON_TRY(std::move(field_result).get(field), "watch event");
    std::string_view key;
    PROMCONF_JSON_TRY(field.unescaped_key().get(key), "watch event");
    if (key == "type") {
      std::string_view t;
      PROMCONF_JSON_TRY(field.value().get_string().get(t), "watch event type");
      if (t == "ADDED") {
        out->type = WatchEventType::kAdded;
      } else if (t == "MODIFIED") {
        out->type = WatchEventType::kModified;
      } else if (t == "DELETED") {
        out->type = WatchEventType::kDeleted;
      } else if (t == "BOOKMARK") {
        out->type = WatchEventType::kBookmark;
      } else if (t == "ERROR") {
        out->type = WatchEventType::kError;
      } else {
        return absl::DataLossError(
            absl::StrCat("kubernetes JSON: unknown watch event type \"", std::string(t), "\""));
      }
      have_type = true;
    } else if (key == "object") {
      absl::Status s = ParseObjectValue(field.value(), &out->object);
      if (!s.ok()) return s;
    }
  }
  if (!have_type) return absl::DataLossError("kubernetes JSON: watch event without a type");
  return absl::OkStatus();
}

absl::Status KubeJsonParser::ParseList(absl::string_view json, KubeList* out) {
  *out = KubeList();
  ondemand::document doc;
  PROMCONF_JSON_TRY(parser_.iterate(Pad(json)).get(doc), "list");
  ondemand::object o;
  PROMCONF_JSON_TRY(doc.get_object().get(o), "list");
  for (auto field_result : o) {
    ondemand::field field;
    PROMCONF_JSON_TRY(std::move(field_result).get(field), "list");
    std::string_view key;
    PROMCONF_JSON_TRY(field.unescaped_key().get(key), "list");
    if (key == "metadata") {
      KubeObject md;
      absl::Status s = ParseMetadata(field.value(), &md, &out->continue_token);
      if (!s.ok()) return s;
      out->resource_version = std::move(md.resource_version);
    } else if (key == "items") {
      if (IsNull(field.value())) continue;
      ondemand::array items;
      PROMCONF_JSON_TRY(field.value().get_array().get(items), "items");
      for (auto item_result : items) {
        ondemand::value item;
        PROMCONF_JSON_TRY(std::move(item_result).get(item), "items[]");
        KubeObject obj;
        absl::Status s = ParseObjectValue(item, &obj);
        if (!s.ok()) return s;
        out->items.push_back(std::move(obj));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace promconf
