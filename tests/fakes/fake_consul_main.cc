// Stand-alone fake Consul for manual runs and scripts:
//
//   fake_consul [--port=N] [--tls] [--datacenter=DC] [--acl_token=T]
//               [--kv=KEY=VALUE]...
//
// Prints its address on the first line of stdout, then serves until SIGTERM
// or SIGINT, so `curl "$(head -1 out)/v1/kv/?recurse"` works at once.

#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "tests/fakes/consul_server.h"

namespace {

bool Flag(const char* arg, const char* name, std::string* value) {
  std::string prefix = std::string("--") + name + "=";
  if (absl::StartsWith(arg, prefix)) {
    *value = arg + prefix.size();
    return true;
  }
  return false;
}

int Usage(const char* bad) {
  std::fprintf(stderr,
               "unknown or malformed flag: %s\n"
               "usage: fake_consul [--port=N] [--tls] [--datacenter=DC] [--acl_token=T]\n"
               "         [--kv=KEY=VALUE]...\n",
               bad);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  promconf::FakeConsulServer::Options options;
  std::vector<std::pair<std::string, std::string>> kv;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (Flag(argv[i], "port", &v)) {
      if (!absl::SimpleAtoi(v, &options.port)) return Usage(argv[i]);
    } else if (std::strcmp(argv[i], "--tls") == 0) {
      options.tls = true;
    } else if (Flag(argv[i], "datacenter", &v)) {
      options.datacenter = v;
    } else if (Flag(argv[i], "acl_token", &v)) {
      options.acl_token = v;
    } else if (Flag(argv[i], "kv", &v)) {
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) return Usage(argv[i]);
      kv.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else {
      return Usage(argv[i]);
    }
  }

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto server = promconf::FakeConsulServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "fake_consul: %s\n", server.status().ToString().c_str());
    return 1;
  }
  for (const auto& [key, value] : kv) (*server)->PutKV(key, value);
  std::printf("%s\n", (*server)->address().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  std::fprintf(stderr, "fake_consul: signal %d, stopping\n", sig);
  server->reset();
  return 0;
}
