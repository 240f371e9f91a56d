// Stand-alone fake Kubernetes API server for manual runs and scripts:
//
//   fake_kube_apiserver [--port=N] [--tls=true|false] [--token=T]
//                       [--kubeconfig=PATH] [--history=N] [--bookmark_interval_ms=N]
//
// Prints its URL on the first line of stdout, then serves until SIGTERM or
// SIGINT. With --kubeconfig it writes a kubeconfig (token, CA data) there
// first, so `KUBECONFIG=PATH kubectl get configmaps -A` works at once.

#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "tests/fakes/kube_apiserver.h"

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
               "usage: fake_kube_apiserver [--port=N] [--tls=true|false] [--token=T]\n"
               "         [--kubeconfig=PATH] [--history=N] [--bookmark_interval_ms=N]\n",
               bad);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  promconf::FakeKubeApiServer::Options options;
  std::string kubeconfig;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    int n = 0;
    if (Flag(argv[i], "port", &v)) {
      if (!absl::SimpleAtoi(v, &options.port)) return Usage(argv[i]);
    } else if (Flag(argv[i], "tls", &v)) {
      if (v != "true" && v != "false") return Usage(argv[i]);
      options.tls = v == "true";
    } else if (std::strcmp(argv[i], "--tls") == 0) {
      options.tls = true;
    } else if (std::strcmp(argv[i], "--notls") == 0) {
      options.tls = false;
    } else if (Flag(argv[i], "token", &v)) {
      options.token = v;
    } else if (Flag(argv[i], "kubeconfig", &v)) {
      kubeconfig = v;
    } else if (Flag(argv[i], "history", &v)) {
      if (!absl::SimpleAtoi(v, &options.history_events)) return Usage(argv[i]);
    } else if (Flag(argv[i], "bookmark_interval_ms", &v)) {
      if (!absl::SimpleAtoi(v, &n) || n <= 0) return Usage(argv[i]);
      options.bookmark_interval = absl::Milliseconds(n);
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

  auto server = promconf::FakeKubeApiServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "fake_kube_apiserver: %s\n", server.status().ToString().c_str());
    return 1;
  }
  if (!kubeconfig.empty()) {
    absl::Status s = (*server)->WriteKubeconfig(kubeconfig);
    if (!s.ok()) {
      std::fprintf(stderr, "fake_kube_apiserver: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("%s\n", (*server)->url().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  std::fprintf(stderr, "fake_kube_apiserver: signal %d, stopping\n", sig);
  server->reset();
  return 0;
}
