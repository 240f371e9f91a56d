#pragma once

// A fake Consul server (the HTTP API of one Consul 1.x server agent) faithful
// enough for promconf's Consul source and for curl: the KV store, the health
// and catalog reads, blocking queries with Consul's index rules, ACL tokens,
// datacenters, and fault injection. Thread-safe. Serves on 127.0.0.1 only.
//
// Also runnable stand-alone: tests/fakes/fake_consul_main.cc.
//
// Endpoints:
//   GET/PUT/DELETE /v1/kv/KEY     ?recurse ?keys ?separator ?raw ?cas ?flags
//   GET /v1/health/service/NAME   ?passing ?tag (repeatable, all must match)
//   GET /v1/catalog/services
//   GET /v1/status/leader, GET /v1/agent/self (datacenter discovery)
// Every GET above takes ?index=N&wait=DUR (blocking query) and ?dc=; every
// request takes the ACL token as X-Consul-Token, "Authorization: Bearer" or
// ?token=.
//
// Index semantics (what real Consul does, see consul_server.cc):
// - One Raft index (Index()), starting at Options.initial_index and bumped by
//   every write, including writes that change nothing. Each table (kvs,
//   tombstones, nodes, services, checks) and each service name remembers the
//   Raft index of its last real change; X-Consul-Index is derived from those,
//   so an unrelated write does not move a query's index.
// - KV list: the highest ModifyIndex under the prefix, including deleted keys
//   (tombstones, never reaped here); if none, the KV tables' index; 1 at least.
// - Health: the last change to that service name (register, deregister, its
//   checks, its node); for a name with no instances, the last time any
//   service lost its last instance, else the catalog's index.
// - Catalog services: the last change to nodes or services (not checks).
// - A blocking query answers at once when index is absent or 0, or when its
//   index is already past N; otherwise it waits until its index passes N or
//   wait (default 5m, at most 10m, plus up to wait/16 random jitter) elapses,
//   and then answers with the same index.
//
// Like a real agent, the catalog starts with the server's own node
// (Options.node_name) running the "consul" service, and every node has a
// node-level "serfHealth" check that counts for ?passing.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "informers/consul/consul_source.h"

namespace promconf {

class FakeConsulServer {
 public:
  struct Options {
    int port = 0;      // 0 = a free port
    bool tls = false;  // self-signed CA + server cert made at start (ca_pem())
    std::string datacenter = "dc1";
    // Required on every request when non-empty. A missing token is the
    // anonymous token: 403 "Permission denied"; a wrong one 403 "ACL not found".
    std::string acl_token;
    // Real clusters never answer index 0 or 1 after bootstrap; starting higher
    // makes clients that confuse "0" with "no index" visible.
    uint64_t initial_index = 10;
    std::string node_name = "consul-server-1";  // the server's own node
    bool register_self = true;                  // the "consul" service
  };

  // One service instance on one node, with its (single) service check.
  struct ServiceInstance {
    std::string node = "node1";
    std::string node_address = "10.0.0.1";
    std::map<std::string, std::string> node_meta;
    std::string id;    // unique per node, e.g. "api-1"
    std::string name;  // e.g. "api"
    std::vector<std::string> tags;
    std::string address;  // "" = clients use node_address
    int port = 0;
    std::map<std::string, std::string> meta;
    std::string status = "passing";  // of check "service:<id>": passing|warning|critical
  };

  static absl::StatusOr<std::unique_ptr<FakeConsulServer>> Start(const Options& options);
  // Stops serving; blocked queries are cut off at once.
  ~FakeConsulServer();
  FakeConsulServer(const FakeConsulServer&) = delete;
  FakeConsulServer& operator=(const FakeConsulServer&) = delete;

  std::string address() const;  // "http://127.0.0.1:PORT" (https with tls)
  int port() const;
  std::string ca_pem() const;  // with tls: the CA that signed the server cert

  // --- state, as if written through the API (each is one Raft write) -------
  // Returns the write's index (the key's new ModifyIndex). No size limit here.
  uint64_t PutKV(const std::string& key, const std::string& value);
  // Deletes the key, or every key starting with `key` when recurse. Returns
  // the write's index.
  uint64_t DeleteKV(const std::string& key, bool recurse = false);
  // Registers or updates the instance (and its node). Re-registering an
  // identical instance changes nothing but the Raft index, as in Consul.
  absl::Status RegisterService(const ServiceInstance& instance);
  // Removes every instance with this service ID (on any node).
  absl::Status DeregisterService(const std::string& id);
  // Sets the service check of every instance with this ID.
  absl::Status SetHealth(const std::string& id, const std::string& status);
  // Sets a node's serfHealth check (a node failing takes its services down).
  absl::Status SetNodeHealth(const std::string& node, const std::string& status);
  uint64_t Index() const;  // the Raft index

  // --- fault injection ------------------------------------------------------
  // The next `n` requests (any path) answer `status` (500, 429, 503, ...) with
  // a short Consul-like body.
  void FailNext(int n, int status);
  // The index goes backwards, as after a snapshot restore or a new leader:
  // every stored index is renumbered, order kept, so that the highest is `to`;
  // blocked queries answer at once with the lowered indexes.
  void ResetIndex(uint64_t to);
  // Answers every blocked query now with unchanged data and the same index
  // (Consul returns early, e.g. on a restore or a leader change: a return is
  // not a change).
  void WakeBlockingQueries();
  // The token's policy loses read on every key starting with one of
  // `hidden_key_prefixes` and on the services named (replacing an earlier
  // call; empty lists restore full read). As in Consul 1.11+: lists leave
  // those out and answer X-Consul-Results-Filtered-By-ACLs: true (a prefix
  // whose every key is hidden answers 404, empty, with the header); a GET
  // of one hidden key is 403. Blocked queries answer at once.
  void RestrictToken(std::vector<std::string> hidden_key_prefixes,
                     std::vector<std::string> hidden_services = {});
  // The next `n` blocking GETs (those carrying index > 0) are held without an
  // answer until the client disconnects, DropConnections(), or the server
  // stops: a dead peer.
  void StallNext(int n);
  // Aborts every open connection, including ones blocked or stalled.
  void DropConnections();

  // --- observability --------------------------------------------------------
  // Requests seen (failed ones included) whose path starts with the prefix.
  int RequestCount(const std::string& path_prefix) const;
  // GETs whose path starts with the prefix and that carried no index or
  // index=0 (each answers at once: a client sending them in a loop spins).
  int RequestsWithIndexZero(const std::string& path_prefix) const;
  // Distinct connections that carried requests (1 for a client that reuses).
  int ConnectionsSeen() const;
  // The last 10000 requests, "METHOD /path?query".
  std::vector<std::string> RequestLog() const;

 private:
  FakeConsulServer() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// The Consul source tuned for tests against this fake: 1 s blocking waits,
// 20 ms between requests, 50 ms doubling to 500 ms backoff, 1 s timeouts.
inline consul::ConsulSourceTuning FastConsulTuning() {
  consul::ConsulSourceTuning t;
  t.wait = absl::Seconds(1);
  t.request_margin = absl::Seconds(1);
  t.min_request_interval = absl::Milliseconds(20);
  t.backoff.initial = absl::Milliseconds(50);
  t.backoff.max = absl::Milliseconds(500);
  t.connect_timeout = absl::Seconds(1);
  return t;
}

}  // namespace promconf
