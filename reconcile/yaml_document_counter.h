#pragma once

// A yaml-cpp event handler that counts documents without building them (and
// notes the line where the first one counted starts). yaml-cpp 0.7 keeps
// finding empty documents after a stray ',' (jbeder/yaml-cpp#1040): callers
// count a bounded number of documents instead of calling LoadAll.

#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/mark.h"

namespace promconf {

class YamlDocumentCounter : public YAML::EventHandler {
 public:
  int documents = 0;
  int first_line = 0;  // 1-based; 0 when yaml-cpp gave no position

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents++ == 0) first_line = mark.line >= 0 ? mark.line + 1 : 0;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace promconf
