// promconf: keeps Prometheus' configuration, rule files and target files in
// step with fragments kept in Kubernetes, etcd, ZooKeeper, Consul and files.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controller/app.h"
#include "controller/check_command.h"
#include "controller/config.h"
#include "metrics/http_server.h"
#include "metrics/metrics.h"
#include "util/log.h"

namespace promconf {
namespace {

constexpr char kUsage[] = R"(usage: promconf [flags]
       promconf check [flags] FILE...   (see promconf check --help)

Keeps Prometheus' configuration, rule files and target files in step with
fragments kept in Kubernetes ConfigMaps, etcd, ZooKeeper, Consul and files.

Flags:
  --config.file=FILE           promconf's config file (default: the embedded
                               example: the file source on ./examples/fragments,
                               writing to ./out)
  --web.listen-address=ADDR    address for /metrics, /healthz, /readyz and
                               /debug/fragments (default ":8080")
  --log.level=LEVEL            debug, info, warn or error (default info)
  --log.format=FORMAT          logfmt or json (default logfmt)
  --once                       sync every source once, render, write, reload if
                               configured, exit (0 on success)
  --dry-run                    like --once but write nothing: print a unified
                               diff of what would change
  --version                    print the version and exit
  --help                       print this help and exit

Signals: SIGHUP re-reads the config file; SIGTERM and SIGINT drain and exit 0.
)";

struct Flags {
  std::string config_file;
  std::string listen_address = ":8080";
  std::string log_level = "info";
  std::string log_format = "logfmt";
  bool once = false;
  bool dry_run = false;
  bool version = false;
  bool help = false;
};

// Accepts --name=value and --name value, like Prometheus' kingpin flags.
bool ParseFlags(int argc, char** argv, Flags* flags, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!absl::StartsWith(arg, "--")) {
      *error = absl::StrCat("unexpected argument \"", arg, "\"");
      return false;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    auto boolean = [&](bool* out) {
      if (!has_value) {
        *out = true;
        return true;
      }
      if (value == "true" || value == "false") {
        *out = value == "true";
        return true;
      }
      *error = absl::StrCat("--", name, " takes no value or true/false");
      return false;
    };
    auto string = [&](std::string* out) {
      if (!has_value) {
        if (i + 1 >= argc) {
          *error = absl::StrCat("--", name, " needs a value");
          return false;
        }
        value = argv[++i];
      }
      *out = value;
      return true;
    };
    bool ok;
    if (name == "config.file") ok = string(&flags->config_file);
    else if (name == "web.listen-address") ok = string(&flags->listen_address);
    else if (name == "log.level") ok = string(&flags->log_level);
    else if (name == "log.format") ok = string(&flags->log_format);
    else if (name == "once") ok = boolean(&flags->once);
    else if (name == "dry-run") ok = boolean(&flags->dry_run);
    else if (name == "version") ok = boolean(&flags->version);
    else if (name == "help" || name == "h") ok = boolean(&flags->help);
    else {
      *error = absl::StrCat("unknown flag --", name);
      return false;
    }
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<Config> LoadConfig(const Flags& flags) {
  if (flags.config_file.empty()) return ParseConfig(kDefaultConfigYaml, "<embedded default>");
  return LoadConfigFile(flags.config_file);
}

// The App the HTTP handlers talk to; swapped on SIGHUP.
class CurrentApp {
 public:
  void Set(App* app) {
    absl::MutexLock lock(&mu_);
    app_ = app;
  }
  template <typename F, typename R>
  R With(F f, R fallback) const {
    absl::ReaderMutexLock lock(&mu_);
    return app_ != nullptr ? f(*app_) : fallback;
  }

 private:
  mutable absl::Mutex mu_;
  App* app_ ABSL_GUARDED_BY(mu_) = nullptr;
};

int Run(const Flags& flags) {
  LogLevel level;
  LogFormat format;
  if (!ParseLogLevel(flags.log_level, &level)) {
    std::fprintf(stderr, "promconf: --log.level must be debug, info, warn or error\n");
    return 2;
  }
  if (!ParseLogFormat(flags.log_format, &format)) {
    std::fprintf(stderr, "promconf: --log.format must be logfmt or json\n");
    return 2;
  }
  SetLogLevel(level);
  SetLogFormat(format);

  // Signals are taken by sigwait() on this thread only; every thread started
  // from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A reload command's child or a closed pipe must not kill us.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<Config> config = LoadConfig(flags);
  if (!config.ok()) {
    LOG_ERROR("invalid config", {{"err", config.status().message()}});
    return 1;
  }

  Metrics metrics;
  AppOptions options;
  options.dry_run = flags.dry_run;

  if (flags.once || flags.dry_run) {
    absl::StatusOr<std::unique_ptr<App>> app = App::Create(*config, options, &metrics);
    if (!app.ok()) {
      LOG_ERROR("cannot start", {{"err", app.status().message()}});
      return 1;
    }
    absl::Status s = (*app)->RunOnce();
    (*app)->Stop();
    if (!s.ok()) {
      LOG_ERROR(flags.dry_run ? "dry run failed" : "sync failed", {{"err", s.message()}});
      return 1;
    }
    return 0;
  }

  // The listener comes up first so probes answer while sources sync.
  HttpServer::Options http_options;
  http_options.listen_address = flags.listen_address;
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(http_options, &metrics);
  if (!http.ok()) {
    LOG_ERROR("cannot listen", {{"address", flags.listen_address}, {"err", http.status().message()}});
    return 1;
  }
  CurrentApp current;
  const HealthReport starting{false, "starting\n"};
  (*http)->SetHealthProvider([&current] {
    // Alive while a SIGHUP swaps Apps; only readiness waits for the new one.
    return current.With([](const App& a) { return a.Healthz(); }, HealthReport{});
  });
  (*http)->SetReadyProvider([&current, starting] {
    return current.With([](const App& a) { return a.Readyz(); }, starting);
  });
  (*http)->SetFragmentsProvider([&current] {
    return current.With([](const App& a) { return a.FragmentsJson(); }, std::string("[]"));
  });

  absl::StatusOr<std::unique_ptr<App>> app = App::Create(*config, options, &metrics);
  if (!app.ok()) {
    LOG_ERROR("cannot start", {{"err", app.status().message()}});
    return 1;
  }
  if (absl::Status s = (*app)->Start(); !s.ok()) {
    LOG_ERROR("cannot start", {{"err", s.message()}});
    return 1;
  }
  current.Set(app->get());
  LOG_INFO("promconf started", {{"version", PROMCONF_VERSION}, {"listen", flags.listen_address},
                                {"config", config->path}, {"sources", config->sources.size()},
                                {"output", config->output.dir}});

  std::unique_ptr<App> running = *std::move(app);
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      LOG_INFO("SIGHUP: reloading config", {{"config", flags.config_file}});
      absl::StatusOr<Config> next_config = LoadConfig(flags);
      if (!next_config.ok()) {
        LOG_ERROR("config reload failed, keeping the running config",
                  {{"err", next_config.status().message()}});
        continue;
      }
      absl::StatusOr<std::unique_ptr<App>> next = App::Create(*next_config, options, &metrics);
      if (!next.ok()) {
        LOG_ERROR("config reload failed, keeping the running config",
                  {{"err", next.status().message()}});
        continue;
      }
      // Only one App writes the output at a time: stop (drain) the old one
      // before the new one starts.
      current.Set(nullptr);
      running->Stop();
      running = *std::move(next);
      if (absl::Status s = running->Start(); !s.ok()) {
        LOG_ERROR("cannot start after reload", {{"err", s.message()}});
        return 1;
      }
      current.Set(running.get());
      LOG_INFO("config reloaded", {{"sources", next_config->sources.size()}});
      continue;
    }
    LOG_INFO("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    current.Set(nullptr);
    running->Stop();
    (*http)->Stop();
    LOG_INFO("stopped");
    return 0;
  }
}

}  // namespace
}  // namespace promconf

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "check") {
    return promconf::RunCheckCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  promconf::Flags flags;
  std::string error;
  if (!promconf::ParseFlags(argc, argv, &flags, &error)) {
    std::fprintf(stderr, "promconf: %s\n\n%s", error.c_str(), promconf::kUsage);
    return 2;
  }
  if (flags.help) {
    std::fputs(promconf::kUsage, stdout);
    return 0;
  }
  if (flags.version) {
    std::printf("promconf, version %s (revision: %s)\n", PROMCONF_VERSION, PROMCONF_REVISION);
    return 0;
  }
  return promconf::Run(flags);
}
