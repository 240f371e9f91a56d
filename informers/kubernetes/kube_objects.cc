#include "informers/kubernetes/kube_objects.h"

#include <string_view>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace promconf::kube {

namespace dom = simdjson::dom;

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

absl::Status GetString(dom::element v, std::string* out, const char* what) {
  if (v.is_null()) {
    out->clear();
    return absl::OkStatus();
  }
  std::string_view s;
  PROMCONF_JSON_TRY(v.get_string().get(s), what);
  out->assign(s.data(), s.size());
  return absl::OkStatus();
}

absl::Status GetStringMap(dom::element v, std::vector<std::pair<std::string, std::string>>* out,
                          const char* what) {
  out->clear();
  if (v.is_null()) return absl::OkStatus();
  dom::object obj;
  PROMCONF_JSON_TRY(v.get_object().get(obj), what);
  out->reserve(obj.size());
  for (dom::key_value_pair field : obj) {
    std::string_view value;
    PROMCONF_JSON_TRY(field.value.get_string().get(value), what);
    out->emplace_back(std::piecewise_construct,
                      std::forward_as_tuple(field.key.data(), field.key.size()),
                      std::forward_as_tuple(value.data(), value.size()));
  }
  return absl::OkStatus();
}

absl::Status ParseMetadata(dom::element v, KubeObject* obj, std::string* continue_token) {
  dom::object md;
  PROMCONF_JSON_TRY(v.get_object().get(md), "metadata");
  for (dom::key_value_pair field : md) {
    const std::string_view key = field.key;
    if (key == "name") {
      absl::Status s = GetString(field.value, &obj->name, "metadata.name");
      if (!s.ok()) return s;
    } else if (key == "namespace") {
      absl::Status s = GetString(field.value, &obj->namespace_, "metadata.namespace");
      if (!s.ok()) return s;
    } else if (key == "resourceVersion") {
      absl::Status s = GetString(field.value, &obj->resource_version, "metadata.resourceVersion");
      if (!s.ok()) return s;
    } else if (key == "continue" && continue_token != nullptr) {
      absl::Status s = GetString(field.value, continue_token, "metadata.continue");
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ParseObjectValue(dom::element v, KubeObject* obj) {
  dom::object o;
  PROMCONF_JSON_TRY(v.get_object().get(o), "object");
  for (dom::key_value_pair field : o) {
    const std::string_view key = field.key;
    absl::Status s;
    if (key == "metadata") {
      s = ParseMetadata(field.value, obj, nullptr);
    } else if (key == "data") {
      s = GetStringMap(field.value, &obj->data, "data");
    } else if (key == "binaryData") {
      s = GetStringMap(field.value, &obj->binary_data, "binaryData");
    } else if (key == "kind") {
      s = GetString(field.value, &obj->kind, "kind");
    } else if (key == "code") {
      PROMCONF_JSON_TRY(field.value.get_int64().get(obj->code), "code");
    } else if (key == "reason") {
      s = GetString(field.value, &obj->reason, "reason");
    } else if (key == "message") {
      s = GetString(field.value, &obj->message, "message");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

simdjson::simdjson_result<dom::element> KubeJsonParser::Parse(absl::string_view json) {
  buffer_.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  buffer_.assign(json.data(), json.size());
  // buffer_ has SIMDJSON_PADDING spare capacity, so no reallocation needed.
  return parser_.parse(buffer_.data(), buffer_.size(), /*realloc_if_needed=*/false);
}

void KubeJsonParser::ReleaseMemory() {
  parser_ = dom::parser();
  std::string().swap(buffer_);
}

absl::Status KubeJsonParser::ParseObject(absl::string_view json, KubeObject* out) {
  *out = KubeObject();
  dom::element doc;
  PROMCONF_JSON_TRY(Parse(json).get(doc), "document");
  return ParseObjectValue(doc, out);
}

absl::Status KubeJsonParser::ParseWatchEvent(absl::string_view json, WatchEvent* out) {
  out->object = KubeObject();
  dom::element doc;
  PROMCONF_JSON_TRY(Parse(json).get(doc), "watch event");
  dom::object o;
  PROMCONF_JSON_TRY(doc.get_object().get(o), "watch event");
  bool have_type = false;
  for (dom::key_value_pair field : o) {
    const std::string_view key = field.key;
    if (key == "type") {
      std::string_view t;
      PROMCONF_JSON_TRY(field.value.get_string().get(t), "watch event type");
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
      absl::Status s = ParseObjectValue(field.value, &out->object);
      if (!s.ok()) return s;
    }
  }
  if (!have_type) return absl::DataLossError("kubernetes JSON: watch event without a type");
  return absl::OkStatus();
}

absl::Status KubeJsonParser::ParseList(absl::string_view json, KubeList* out) {
  *out = KubeList();
  dom::element doc;
  PROMCONF_JSON_TRY(Parse(json).get(doc), "list");
  dom::object o;
  PROMCONF_JSON_TRY(doc.get_object().get(o), "list");
  for (dom::key_value_pair field : o) {
    const std::string_view key = field.key;
    if (key == "metadata") {
      KubeObject md;
      absl::Status s = ParseMetadata(field.value, &md, &out->continue_token);
      if (!s.ok()) return s;
      out->resource_version = std::move(md.resource_version);
    } else if (key == "items") {
      if (field.value.is_null()) continue;
      dom::array items;
      PROMCONF_JSON_TRY(field.value.get_array().get(items), "items");
      out->items.reserve(items.size());
      for (dom::element item : items) {
        KubeObject obj;
        absl::Status s = ParseObjectValue(item, &obj);
        if (!s.ok()) return s;
        out->items.push_back(std::move(obj));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace promconf::kube
