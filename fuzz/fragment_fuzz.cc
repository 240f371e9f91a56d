// Fragments (reconcile/fragment.h ParseFragment) as rules, scrape configs
// and targets, from a namespaced source or not, through the YAML fast path
// or yaml-cpp only. Invariant: an accepted fragment's own output, parsed
// again as the same kind of fragment, is accepted and (where no label is
// stamped on) renders the same bytes.

#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "fuzz/fuzz_util.h"
#include "informers/document.h"
#include "reconcile/fragment.h"

namespace {

std::string Render(const promconf::Fragment& f) {
  if (f.kind != promconf::FragmentKind::kScrape) return f.output_bytes();
  std::string out;
  for (const auto& e : f.scrape_configs) out += e.yaml;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const char* const kSuffixes[] = {".rules.yml", ".scrape.yml", ".targets.json",
                                          ".targets.yml"};
  const char* suffix = kSuffixes[in.ConsumeIntegralInRange<int>(0, 3)];
  const bool kube = in.ConsumeBool();
  promconf::ValidationOptions options;
  options.yaml_fast_path = in.ConsumeBool();
  options.namespaced_sources.insert("kubernetes");
  const bool stamp = in.ConsumeBool();
  if (stamp) options.enforce_namespace_label = "namespace";

  promconf::Document doc;
  doc.name = std::string(kube ? "team-a/cm/" : "dir/") + "frag" + suffix;
  doc.data = in.ConsumeRemainingBytesAsString();
  const char* source = kube ? "kubernetes" : "file";

  auto first = promconf::ParseFragment(source, doc, options);
  if (!first.ok()) return 0;
  const std::string out = Render(*first);

  promconf::Document again = doc;
  again.data = out;
  promconf::FragmentError err;
  auto second = promconf::ParseFragment(source, again, options, &err);
  PROMCONF_FUZZ_CHECK(second.ok(), "input:\n" + doc.data + "\noutput:\n" + out + "\nerror:\n" +
                                       std::string(second.status().message()));
  // A stamped label or relabel rule is added again on the second pass.
  if (!(stamp && kube)) {
    PROMCONF_FUZZ_CHECK(Render(*second) == out,
                        "input:\n" + doc.data + "\nfirst:\n" + out + "\nsecond:\n" + Render(*second));
  }
  return 0;
}
