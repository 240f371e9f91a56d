#pragma once

// Each backend's block of promconf.yml (SPEC "The config file"), as plain
// data. controller/config.cc parses and validates them; each source's factory
// takes its own block.

#include <string>
#include <variant>
#include <vector>

#include "absl/time/time.h"

namespace promconf {

struct TlsConfig {
  std::string ca_file, cert_file, key_file;
  bool insecure_skip_verify = false;
};

struct KubernetesSourceConfig {
  std::string kubeconfig;  // empty: in-cluster service account
  std::string context;     // empty: current-context
  std::vector<std::string> namespaces;  // empty: all namespaces
  std::string label_selector = "promconf.io/fragment=true";
  bool configmaps = true;  // resources: [configmaps, secrets]
  bool secrets = false;
};

struct EtcdSourceConfig {
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};
  std::string prefix = "/promconf/";
  std::string username;
  std::string password_file;
  TlsConfig tls;
};

struct ServersetConfig {
  std::string path;
  std::string job;
  std::string format = "serverset";  // serverset|nerve
};

struct ZookeeperSourceConfig {
  std::vector<std::string> servers = {"127.0.0.1:2181"};
  absl::Duration session_timeout = absl::Seconds(10);
  std::vector<std::string> paths;
  std::vector<ServersetConfig> serversets;
  // `user:password` for znodes with a digest ACL (zoo_add_auth "digest");
  // empty: no authentication.
  std::string auth_file;
};

struct ConsulServiceConfig {
  std::string name;
  std::string job;
  std::vector<std::string> tags;
  bool passing_only = true;
};

struct ConsulSourceConfig {
  std::string address = "http://127.0.0.1:8500";
  std::string token_file;
  std::string datacenter;
  std::string kv_prefix = "promconf/";
  std::vector<ConsulServiceConfig> services;
  TlsConfig tls;  // for an https:// address
};

struct FileSourceConfig {
  std::vector<std::string> paths;  // directories (recursive) or files
};

struct SourceConfig {
  std::string name;
  // Only the operator can write it: its fragments may name files on the
  // Prometheus host (SPEC "Who may write what"). false by default.
  bool trusted = false;
  std::variant<KubernetesSourceConfig, EtcdSourceConfig, ZookeeperSourceConfig,
               ConsulSourceConfig, FileSourceConfig>
      backend;

  // "kubernetes", "etcd", "zookeeper", "consul" or "file": the `type` label.
  const char* type() const {
    static constexpr const char* kNames[] = {"kubernetes", "etcd", "zookeeper", "consul", "file"};
    return kNames[backend.index()];
  }
};

}  // namespace promconf
