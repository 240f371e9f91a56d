// The etcd source against a real etcd (tests/fakes/etcd_server.h): paging,
// put/delete, bursts, drops while writes continue, compaction while cut,
// kill/restart, a wiped server (revision goes backwards), auth with token
// expiry, TLS with client certificates, and endpoint failover.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "informers/etcd/etcd_source.h"
#include "tests/conformance/source_conformance.h"
#include "tests/fakes/etcd_server.h"
#include "util/dropped.h"

namespace promconf {
namespace {

constexpr char kPrefix[] = "/promconf/";
const absl::Duration kConverge = absl::Seconds(30);

// Also remembers each document's origin.
class OriginRecorder : public RecordingCallbacks {
 public:
  void OnSnapshot(absl::string_view prefix, std::vector<Document> docs) override {
    {
      absl::MutexLock lock(&mu_);
      for (const Document& d : docs) origins_[d.name] = d.origin;
    }
    RecordingCallbacks::OnSnapshot(prefix, std::move(docs));
  }
  void OnUpsert(Document doc) override {
    {
      absl::MutexLock lock(&mu_);
      origins_[doc.name] = doc.origin;
    }
    RecordingCallbacks::OnUpsert(std::move(doc));
  }
  std::string Origin(const std::string& name) const {
    absl::MutexLock lock(&mu_);
    auto it = origins_.find(name);
    return it == origins_.end() ? "" : it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> origins_ ABSL_GUARDED_BY(mu_);
};

etcd::EtcdSourceTuning FastTuning() {
  etcd::EtcdSourceTuning t;
  t.idle_timeout = absl::Seconds(3);
  t.backoff.initial = absl::Milliseconds(100);
  t.backoff.max = absl::Seconds(1);
  t.page_size = 3;
  t.request_timeout = absl::Seconds(5);
  t.connect_timeout = absl::Seconds(1);
  return t;
}

class EtcdSourceTest : public testing::Test {
 protected:
  void StartServer(EtcdServer::Options options = {}) {
    auto server = EtcdServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void SetUp() override {
    char tmpl[] = "/tmp/promconf-etcd-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (source_ != nullptr) source_->Stop();
    source_.reset();
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void StartSource(EtcdSourceConfig config, etcd::EtcdSourceTuning tuning = FastTuning()) {
    SourceContext context;
    context.name = "kv";
    auto source = etcd::NewEtcdSource(context, config, tuning);
    ASSERT_TRUE(source.ok()) << source.status();
    source_ = std::move(*source);
    hooks_ = dynamic_cast<etcd::EtcdSourceTestHooks*>(source_.get());
    ASSERT_NE(hooks_, nullptr);
    ASSERT_TRUE(source_->Start(&callbacks_).ok());
  }
  void StartSource() {
    EtcdSourceConfig config;
    config.endpoints = {server_->endpoint()};
    config.prefix = kPrefix;
    StartSource(config);
  }

  void Put(const std::string& name, const std::string& value) {
    ASSERT_TRUE(server_->Put(kPrefix + name, value).ok());
  }
  void Delete(const std::string& name) { ASSERT_TRUE(server_->Delete(kPrefix + name).ok()); }

  // etcd's own view of the prefix, named the way the source names documents.
  std::map<std::string, std::string> EtcdState() {
    std::map<std::string, std::string> out;
    auto kvs = server_->List(kPrefix);
    EXPECT_TRUE(kvs.ok()) << kvs.status();
    if (!kvs.ok()) return out;
    for (auto& [k, v] : *kvs) out[k.substr(strlen(kPrefix))] = v;
    return out;
  }

  void ExpectMatchesEtcd(const char* step) {
    const auto want = EtcdState();
    EXPECT_TRUE(callbacks_.WaitForState(want, kConverge))
        << step << ": want " << want.size() << " documents, got " << callbacks_.State().size()
        << "; last error: " << callbacks_.last_error();
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  std::string dir_;
  std::unique_ptr<EtcdServer> server_;
  std::unique_ptr<Source> source_;
  etcd::EtcdSourceTestHooks* hooks_ = nullptr;
  OriginRecorder callbacks_;
};

TEST_F(EtcdSourceTest, InitialSyncPagesThroughPrefixOnly) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (int i = 0; i < 10; ++i) Put(absl::StrCat("team-", i, ".rules.yml"), absl::StrCat("# ", i));
  Put("nested/dir/x.scrape.yml", "job_name: x\n");
  // Neighbours of the prefix must not leak in.
  ASSERT_TRUE(server_->Put("/promconf", "no").ok());
  ASSERT_TRUE(server_->Put("/promconf0", "no").ok());
  ASSERT_TRUE(server_->Put("/promconf.other/a", "no").ok());
  StartSource();  // page size 3: four pages
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, kConverge));
  ExpectMatchesEtcd("initial sync");
  EXPECT_EQ(callbacks_.State().size(), 11u);
  EXPECT_EQ(callbacks_.Origin("nested/dir/x.scrape.yml"), "/promconf/nested/dir/x.scrape.yml");
  EXPECT_EQ(callbacks_.errors(), 0) << callbacks_.last_error();
}

// Keys whose names are not fragments' are dropped before a Document is
// built (listed or watched), and counted; they never reach the store.
TEST_F(EtcdSourceTest, NonFragmentKeysAreDroppedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Put("a.rules.yml", "a");
  Put("blob.bin", std::string(500000, 'x'));
  Put("team/README", "r");
  const uint64_t before = DroppedCount(kDroppedNonFragmentDocuments);
  StartSource();
  ASSERT_TRUE(callbacks_.WaitForState({{"a.rules.yml", "a"}}, kConverge));
  EXPECT_GE(DroppedCount(kDroppedNonFragmentDocuments), before + 2);
  Put("later.txt", "l");
  Put("b.rules.yml", "b");
  ASSERT_TRUE(callbacks_.WaitForState({{"a.rules.yml", "a"}, {"b.rules.yml", "b"}}, kConverge));
  EXPECT_GE(DroppedCount(kDroppedNonFragmentDocuments), before + 3);
  Delete("blob.bin");
  Delete("b.rules.yml");
  ASSERT_TRUE(callbacks_.WaitForState({{"a.rules.yml", "a"}}, kConverge));
  EXPECT_EQ(callbacks_.errors(), 0) << callbacks_.last_error();
}

TEST_F(EtcdSourceTest, PutAndDelete) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Put("a.rules.yml", "a");
  StartSource();
  ExpectMatchesEtcd("initial");
  Put("b.rules.yml", std::string("binary\0\xff", 8));
  ExpectMatchesEtcd("put");
  Put("a.rules.yml", "a2");
  ExpectMatchesEtcd("modify");
  Delete("a.rules.yml");
  ExpectMatchesEtcd("delete");
  EXPECT_EQ(callbacks_.State().count("a.rules.yml"), 0u);
  // A range delete removes every fragment below it.
  Put("dir/1.rules.yml", "1");
  Put("dir/2.rules.yml", "2");
  ExpectMatchesEtcd("dir");
  auto out = server_->Etcdctl({"del", "--prefix", "/promconf/dir/"});
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectMatchesEtcd("range delete");
  EXPECT_EQ(callbacks_.State().size(), 1u);
}

TEST_F(EtcdSourceTest, ThousandRapidPutsEndInEtcdsState) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  StartSource();
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, kConverge));
  for (int i = 0; i < 1000; ++i) {
    Put(absl::StrCat("k", i, ".targets.json"), absl::StrCat("[", i, "]"));
    if (i % 10 == 9) Delete(absl::StrCat("k", i - 5, ".targets.json"));
  }
  ExpectMatchesEtcd("1000 puts");
  EXPECT_EQ(callbacks_.State().size(), 900u);
}

TEST_F(EtcdSourceTest, WatchDroppedWhileWritesContinue) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  StartSource();
  ASSERT_TRUE(callbacks_.WaitForSnapshots(1, kConverge));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 400; ++i) {
      (void)server_->Put(absl::StrCat(kPrefix, "w", i % 50, ".rules.yml"), absl::StrCat(i));
      if (i % 7 == 0) (void)server_->Delete(absl::StrCat(kPrefix, "w", (i + 3) % 50, ".rules.yml"));
    }
    done = true;
  });
  int drops = 0;
  for (int i = 0; i < 20 && !done; ++i) {
    // Cut the stream, keep it down while writes pile up, resume.
    if (hooks_->PauseWatchForTesting(absl::Seconds(5))) ++drops;
    absl::SleepFor(absl::Milliseconds(50));
    hooks_->ResumeWatchForTesting();
    absl::SleepFor(absl::Milliseconds(100));
  }
  writer.join();
  EXPECT_GE(drops, 1);
  ExpectMatchesEtcd("after drops");
  EXPECT_EQ(callbacks_.snapshots(), 1) << "a drop resumes from the last revision: no re-list";
}

TEST_F(EtcdSourceTest, CompactionWhileDisconnectedRelists) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Put("a.rules.yml", "a");
  Put("b.rules.yml", "b");
  StartSource();
  ExpectMatchesEtcd("initial");
  ASSERT_TRUE(hooks_->PauseWatchForTesting(absl::Seconds(5)));
  Delete("a.rules.yml");
  Put("c.rules.yml", "c");
  Put("b.rules.yml", "b2");
  auto rev = server_->Revision();
  ASSERT_TRUE(rev.ok());
  auto out = server_->Etcdctl({"compact", absl::StrCat(*rev)});
  ASSERT_TRUE(out.ok()) << out.status();
  hooks_->ResumeWatchForTesting();
  ASSERT_TRUE(callbacks_.WaitForSnapshots(2, kConverge)) << "compacted history must re-list";
  ExpectMatchesEtcd("after compaction");
  EXPECT_EQ(callbacks_.State().count("a.rules.yml"), 0u) << "phantom";
  Put("d.rules.yml", "d");
  ExpectMatchesEtcd("watching after re-list");
}

TEST_F(EtcdSourceTest, KilledAndRestarted) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Put("a.rules.yml", "a");
  StartSource();
  ExpectMatchesEtcd("initial");
  server_->Kill();
  ASSERT_TRUE(callbacks_.WaitForErrors(1, kConverge));
  ASSERT_TRUE(server_->Restart().ok());
  Put("b.rules.yml", "b");
  Delete("a.rules.yml");
  ExpectMatchesEtcd("after restart");
  EXPECT_EQ(callbacks_.snapshots(), 1) << "same data dir: resume, no re-list";
}

TEST_F(EtcdSourceTest, ServerBackAtLowerRevisionRelists) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (int i = 0; i < 10; ++i) Put(absl::StrCat("old", i, ".rules.yml"), "x");
  StartSource();
  ExpectMatchesEtcd("initial");
  ASSERT_TRUE(server_->Restart(/*wipe=*/true).ok());  // as if restored from an old backup
  Put("new.rules.yml", "n");
  ASSERT_TRUE(callbacks_.WaitForSnapshots(2, kConverge)) << "a lower revision must re-list";
  ExpectMatchesEtcd("after wipe");
  EXPECT_EQ(callbacks_.State().size(), 1u);
  Put("new2.rules.yml", "n");
  ExpectMatchesEtcd("watching after wipe");
}

TEST_F(EtcdSourceTest, AuthWithTokenRefresh) {
  EtcdServer::Options options;
  options.auth_token_ttl_seconds = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  ASSERT_TRUE(server_->Etcdctl({"user", "add", "root:s3cret"}).ok());
  ASSERT_TRUE(server_->Etcdctl({"auth", "enable"}).ok());
  server_->SetCredentials("root", "s3cret");
  Put("a.rules.yml", "a");
  EtcdSourceConfig config;
  config.endpoints = {server_->endpoint()};
  config.prefix = kPrefix;
  config.username = "root";
  config.password_file = WriteFile("password", "s3cret\n");
  StartSource(config);
  ExpectMatchesEtcd("initial with auth");
  // The simple token expires after 1 s unused; the next reconnect must
  // re-authenticate instead of failing forever.
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(hooks_->PauseWatchForTesting(absl::Seconds(5)));
  Put("b.rules.yml", "b");
  hooks_->ResumeWatchForTesting();
  ExpectMatchesEtcd("after token expiry");
}

TEST_F(EtcdSourceTest, WrongPasswordIsReportedAndRetried) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(server_->Etcdctl({"user", "add", "root:s3cret"}).ok());
  ASSERT_TRUE(server_->Etcdctl({"auth", "enable"}).ok());
  server_->SetCredentials("root", "s3cret");
  EtcdSourceConfig config;
  config.endpoints = {server_->endpoint()};
  config.prefix = kPrefix;
  config.username = "root";
  config.password_file = WriteFile("password", "wrong");
  StartSource(config);
  ASSERT_TRUE(callbacks_.WaitForErrors(2, kConverge));
  EXPECT_EQ(callbacks_.snapshots(), 0);
  EXPECT_NE(callbacks_.last_error().find("authenticate"), std::string::npos) << callbacks_.last_error();
}

int RunShell(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

TEST_F(EtcdSourceTest, TlsWithClientCertificates) {
  const std::string d = dir_;
  std::ofstream(d + "/server.ext") << "subjectAltName=IP:127.0.0.1\n"
                                      "extendedKeyUsage=serverAuth,clientAuth\n";
  std::ofstream(d + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  ASSERT_EQ(RunShell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=promconf-test-ca -keyout " +
                d + "/ca.key -out " + d + "/ca.crt"), 0);
  for (const char* who : {"server", "client"}) {
    const std::string w = d + "/" + who;
    ASSERT_EQ(RunShell("openssl req -newkey rsa:2048 -nodes -subj /CN=" + std::string(who) + " -keyout " + w +
                  ".key -out " + w + ".csr"), 0);
    ASSERT_EQ(RunShell("openssl x509 -req -days 1 -in " + w + ".csr -CA " + d + "/ca.crt -CAkey " + d +
                  "/ca.key -CAcreateserial -extfile " + w + ".ext -out " + w + ".crt"), 0);
  }
  EtcdServer::Options options;
  options.ca_file = d + "/ca.crt";
  options.cert_file = d + "/server.crt";
  options.key_file = d + "/server.key";
  options.client_cert_file = d + "/client.crt";
  options.client_key_file = d + "/client.key";
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  ASSERT_EQ(server_->endpoint().rfind("https://", 0), 0u);
  Put("a.rules.yml", "a");
  EtcdSourceConfig config;
  config.endpoints = {server_->endpoint()};
  config.prefix = kPrefix;
  config.tls.ca_file = options.ca_file;
  config.tls.cert_file = options.client_cert_file;
  config.tls.key_file = options.client_key_file;
  StartSource(config);
  ExpectMatchesEtcd("initial over TLS");
  Put("b.rules.yml", "b");
  ExpectMatchesEtcd("watch over TLS");
  EXPECT_EQ(callbacks_.errors(), 0) << callbacks_.last_error();
}

TEST_F(EtcdSourceTest, FailsOverToTheNextEndpoint) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Put("a.rules.yml", "a");
  EtcdSourceConfig config;
  // A port nothing listens on (an etcd that was there and is gone).
  auto dead = EtcdServer::Start();
  ASSERT_TRUE(dead.ok());
  const std::string dead_endpoint = (*dead)->endpoint();
  dead->reset();
  config.endpoints = {dead_endpoint, server_->endpoint()};
  config.prefix = kPrefix;
  StartSource(config);
  ExpectMatchesEtcd("initial via second endpoint");
  EXPECT_GE(callbacks_.errors(), 1);
  Put("b.rules.yml", "b");
  ExpectMatchesEtcd("watch via second endpoint");
}

TEST_F(EtcdSourceTest, FactoryRejectsUnusableConfig) {
  SourceContext context;
  context.name = "kv";
  EtcdSourceConfig config;
  config.endpoints = {};
  EXPECT_FALSE(etcd::NewEtcdSource(context, config).ok());
  config.endpoints = {"127.0.0.1:2379"};
  EXPECT_FALSE(etcd::NewEtcdSource(context, config).ok()) << "scheme required";
  config.endpoints = {"http://127.0.0.1:2379"};
  config.tls.ca_file = "/nonexistent/ca.crt";
  EXPECT_FALSE(etcd::NewEtcdSource(context, config).ok());
  config.tls.ca_file = "";
  config.username = "root";
  EXPECT_FALSE(etcd::NewEtcdSource(context, config).ok()) << "username without password_file";
}

}  // namespace
}  // namespace promconf
