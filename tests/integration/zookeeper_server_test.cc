// The ZooKeeper fixture (tests/fakes/zookeeper_server.h) against the real
// server it runs, checked through an independent libzookeeper-mt client:
// writes land where they should (nested parents, replaced data, recursive
// deletes, ephemerals that go with the writer's session), the four-letter
// commands report watches as they come and go, ExpireSession really expires
// another client's session, and Restart and Pause behave. Every wait is
// bounded.

#include "tests/fakes/zookeeper_server.h"

#include <string.h>
#include <zookeeper/zookeeper.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/child_process.h"  // PollUntil

namespace promconf {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(15);

// A client of its own (not the fixture's writer): a session, the session
// state and every node event its global watcher has seen.
class Client {
 public:
  struct Event {
    int type;
    std::string path;
  };

  explicit Client(const std::string& address, int session_timeout_ms = 10000) {
    zh_ = zookeeper_init(address.c_str(), &Client::Watch, session_timeout_ms, nullptr, this, 0);
  }
  ~Client() {
    if (zh_ != nullptr) zookeeper_close(zh_);  // never from the watcher
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  zhandle_t* zh() const { return zh_; }

  bool WaitForState(int state, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, state]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return state_ == state; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

  bool WaitForEvent(int type, const std::string& path, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto seen = [this, type, &path]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      for (const Event& e : events_) {
        if (e.type == type && e.path == path) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  }

  std::pair<int64_t, std::string> SessionIdAndPassword() const {
    const clientid_t* id = zoo_client_id(zh_);
    return {id->client_id, std::string(id->passwd, sizeof(id->passwd))};
  }

  // The node's data; NotFound when it does not exist.
  absl::StatusOr<std::string> Get(const std::string& path, bool watch = false,
                                  Stat* stat = nullptr) {
    std::string buf(1 << 20, '\0');
    int len = static_cast<int>(buf.size());
    Stat ignored{};
    const int rc = zoo_get(zh_, path.c_str(), watch ? 1 : 0, buf.data(), &len,
                           stat != nullptr ? stat : &ignored);
    if (rc == ZNONODE) return absl::NotFoundError(path);
    if (rc != ZOK) return absl::UnavailableError(absl::StrCat("zoo_get ", path, ": ", zerror(rc)));
    buf.resize(len < 0 ? 0 : static_cast<size_t>(len));
    return buf;
  }

  bool Exists(const std::string& path, Stat* stat = nullptr) {
    Stat ignored{};
    const int rc = zoo_exists(zh_, path.c_str(), 0, stat != nullptr ? stat : &ignored);
    EXPECT_TRUE(rc == ZOK || rc == ZNONODE) << path << ": " << zerror(rc);
    return rc == ZOK;
  }

 private:
  static void Watch(zhandle_t*, int type, int state, const char* path, void* ctx) {
    Client* self = static_cast<Client*>(ctx);
    absl::MutexLock lock(&self->mu_);
    if (type == ZOO_SESSION_EVENT) {
      self->state_ = state;
    } else {
      self->events_.push_back({type, path != nullptr ? path : ""});
    }
  }

  zhandle_t* zh_ = nullptr;
  absl::Mutex mu_;
  int state_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
};

class ZookeeperServerTest : public testing::Test {
 protected:
  void SetUp() override {
    const absl::Time start = absl::Now();
    auto server = ZookeeperServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    // The JVM's start-up dominates every ZooKeeper test; keep it visible.
    RecordProperty("start_ms", static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - start)));
    client_ = std::make_unique<Client>(server_->address());
    ASSERT_TRUE(client_->WaitForState(ZOO_CONNECTED_STATE)) << server_->LogTail();
  }

  std::unique_ptr<ZookeeperServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ZookeeperServerTest, StartsAndServes) {
  EXPECT_GT(server_->pid(), 0);
  EXPECT_THAT(server_->address(), testing::StartsWith("127.0.0.1:"));
  auto ruok = server_->FourLetter("ruok");
  ASSERT_TRUE(ruok.ok()) << ruok.status();
  EXPECT_EQ(*ruok, "imok");
  auto srvr = server_->FourLetter("srvr");
  ASSERT_TRUE(srvr.ok()) << srvr.status();
  // An ensemble of one: see zookeeper_server.h.
  EXPECT_THAT(*srvr, HasSubstr("Mode: leader"));
  EXPECT_THAT(*srvr, HasSubstr("Zookeeper version: 3.8"));
  // The session limits the fixture configures (tick 100 ms: 400 .. 60000).
  auto conf = server_->FourLetter("conf");
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_THAT(*conf, HasSubstr("minSessionTimeout=400"));
  EXPECT_THAT(*conf, HasSubstr("maxSessionTimeout=60000"));
  EXPECT_EQ(server_->TotalWatches().value_or(-1), 0);
  EXPECT_EQ(server_->FourLetter("toolong").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ZookeeperServerTest, PutCreatesParentsAndReplacesData) {
  ASSERT_TRUE(server_->Put("/a/b/c", "v1").ok());
  EXPECT_EQ(client_->Get("/a/b/c").value_or("?"), "v1");
  // Parents are persistent and empty.
  Stat stat{};
  EXPECT_EQ(client_->Get("/a", false, &stat).value_or("?"), "");
  EXPECT_EQ(stat.ephemeralOwner, 0);
  EXPECT_EQ(client_->Get("/a/b").value_or("?"), "");

  ASSERT_TRUE(server_->Put("/a/b/c", "v2").ok());
  EXPECT_EQ(client_->Get("/a/b/c", false, &stat).value_or("?"), "v2");
  EXPECT_EQ(stat.version, 1);
  // Data on an existing parent leaves its children alone.
  ASSERT_TRUE(server_->Put("/a", "top").ok());
  EXPECT_EQ(client_->Get("/a").value_or("?"), "top");
  EXPECT_EQ(client_->Get("/a/b/c").value_or("?"), "v2");

  // Binary, empty and large values arrive byte for byte.
  const std::string binary("x\0y\xff", 4);
  ASSERT_TRUE(server_->Put("/bin", binary).ok());
  EXPECT_EQ(client_->Get("/bin").value_or("?"), binary);
  ASSERT_TRUE(server_->Put("/bin", "").ok());
  EXPECT_EQ(client_->Get("/bin").value_or("?"), "");
  const std::string big(200 * 1024, 'z');
  ASSERT_TRUE(server_->Put("/big", big).ok());
  EXPECT_EQ(client_->Get("/big").value_or("?"), big);

  EXPECT_FALSE(server_->Put("no-slash", "x").ok());
}

TEST_F(ZookeeperServerTest, DeleteIsRecursive) {
  ASSERT_TRUE(server_->Put("/d/x/1", "1").ok());
  ASSERT_TRUE(server_->Put("/d/x/2", "2").ok());
  ASSERT_TRUE(server_->Put("/d/y", "y").ok());
  ASSERT_TRUE(server_->Put("/keep", "k").ok());
  ASSERT_TRUE(server_->Delete("/d/x/1").ok());
  EXPECT_FALSE(client_->Exists("/d/x/1"));
  EXPECT_TRUE(client_->Exists("/d/x/2"));

  ASSERT_TRUE(server_->Delete("/d").ok());
  EXPECT_FALSE(client_->Exists("/d"));
  EXPECT_FALSE(client_->Exists("/d/y"));
  EXPECT_TRUE(client_->Exists("/keep"));
  // Missing is fine.
  EXPECT_TRUE(server_->Delete("/d").ok());
  EXPECT_TRUE(server_->Delete("/never/was").ok());

  // "/" empties the tree but keeps the server's own /zookeeper.
  ASSERT_TRUE(server_->Put("/more/deep/node", "").ok());
  ASSERT_TRUE(server_->Delete("/").ok());
  EXPECT_FALSE(client_->Exists("/keep"));
  EXPECT_FALSE(client_->Exists("/more"));
  EXPECT_TRUE(client_->Exists("/zookeeper"));
}

TEST_F(ZookeeperServerTest, EphemeralsGoWithTheWriterSession) {
  ASSERT_TRUE(server_->PutEphemeral("/svc/member_1", "one").ok());
  ASSERT_TRUE(server_->PutEphemeral("/svc/member_2", "two").ok());
  Stat stat{};
  EXPECT_EQ(client_->Get("/svc/member_1", false, &stat).value_or("?"), "one");
  const int64_t owner = stat.ephemeralOwner;
  EXPECT_NE(owner, 0);
  // The parent is persistent.
  ASSERT_TRUE(client_->Exists("/svc", &stat));
  EXPECT_EQ(stat.ephemeralOwner, 0);

  // The writer's own ephemeral is updated in place; anything else is not
  // turned into one.
  ASSERT_TRUE(server_->PutEphemeral("/svc/member_1", "uno").ok());
  EXPECT_EQ(client_->Get("/svc/member_1", false, &stat).value_or("?"), "uno");
  EXPECT_EQ(stat.ephemeralOwner, owner);
  ASSERT_TRUE(server_->Put("/persistent", "p").ok());
  EXPECT_EQ(server_->PutEphemeral("/persistent", "e").code(), absl::StatusCode::kAlreadyExists);
  // An ephemeral can have no children.
  EXPECT_FALSE(server_->Put("/svc/member_2/child", "c").ok());

  // Gone by the time DropEphemerals returns; a deleted one is no obstacle.
  ASSERT_TRUE(server_->Delete("/svc/member_2").ok());
  ASSERT_TRUE(server_->DropEphemerals().ok());
  EXPECT_FALSE(client_->Exists("/svc/member_1"));
  EXPECT_TRUE(client_->Exists("/svc"));
  EXPECT_TRUE(client_->Exists("/persistent"));

  // The new writer session makes ephemerals of its own.
  ASSERT_TRUE(server_->PutEphemeral("/svc/member_3", "three").ok());
  ASSERT_TRUE(client_->Exists("/svc/member_3", &stat));
  EXPECT_NE(stat.ephemeralOwner, 0);
  EXPECT_NE(stat.ephemeralOwner, owner);
}

TEST_F(ZookeeperServerTest, TotalWatchesCountsAWatchUntilItFires) {
  ASSERT_TRUE(server_->Put("/w", "1").ok());
  EXPECT_EQ(server_->TotalWatches().value_or(-1), 0);
  // The server registers the watch before it answers the read.
  ASSERT_EQ(client_->Get("/w", /*watch=*/true).value_or("?"), "1");
  EXPECT_EQ(server_->TotalWatches().value_or(-1), 1);
  auto wchc = server_->FourLetter("wchc");
  ASSERT_TRUE(wchc.ok()) << wchc.status();
  EXPECT_THAT(*wchc, HasSubstr("/w"));

  ASSERT_TRUE(server_->Put("/w", "2").ok());
  ASSERT_TRUE(client_->WaitForEvent(ZOO_CHANGED_EVENT, "/w"));
  // One-shot: the server dropped it before sending the notification.
  EXPECT_EQ(server_->TotalWatches().value_or(-1), 0);

  // A closed session's watches go with it.
  ASSERT_EQ(client_->Get("/w", /*watch=*/true).value_or("?"), "2");
  EXPECT_EQ(server_->TotalWatches().value_or(-1), 1);
  client_.reset();
  EXPECT_TRUE(PollUntil([&] { return server_->TotalWatches().value_or(-1) == 0; }, kWait));
}

TEST_F(ZookeeperServerTest, ExpireSessionExpiresAnotherClient) {
  ASSERT_TRUE(server_->Put("/x", "").ok());
  ASSERT_EQ(
      zoo_create(client_->zh(), "/x/mine", "m", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, nullptr, 0),
      ZOK);
  const auto [id, password] = client_->SessionIdAndPassword();
  ASSERT_NE(id, 0);
  EXPECT_EQ(server_->ExpireSession(id, "short").code(), absl::StatusCode::kInvalidArgument);

  const absl::Time start = absl::Now();
  ASSERT_TRUE(server_->ExpireSession(id, password).ok());
  const absl::Duration expire_took = absl::Now() - start;
  // The client finds out when it reconnects: the server answers that the
  // session is gone.
  ASSERT_TRUE(client_->WaitForState(ZOO_EXPIRED_SESSION_STATE)) << server_->LogTail();
  RecordProperty("expire_ms", static_cast<int>(absl::ToInt64Milliseconds(expire_took)));
  RecordProperty("expired_seen_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - start)));
  EXPECT_EQ(zoo_state(client_->zh()), ZOO_EXPIRED_SESSION_STATE);

  // Its ephemeral went with it.
  Client other(server_->address());
  ASSERT_TRUE(other.WaitForState(ZOO_CONNECTED_STATE));
  EXPECT_FALSE(other.Exists("/x/mine"));
  // A session that is gone cannot be expired again.
  EXPECT_EQ(server_->ExpireSession(id, password).code(), absl::StatusCode::kNotFound);
  // Nor can a live one with the wrong password: the server says "expired"
  // to the impostor and the owner keeps its session.
  auto [other_id, other_password] = other.SessionIdAndPassword();
  other_password[0] ^= 1;
  EXPECT_EQ(server_->ExpireSession(other_id, other_password).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(other.Get("/x").ok());
}

TEST_F(ZookeeperServerTest, RestartKeepsDataAndTheWriterSession) {
  ASSERT_TRUE(server_->Put("/r/a", "persisted").ok());
  ASSERT_TRUE(server_->PutEphemeral("/r/e", "ephemeral").ok());
  const pid_t before = server_->pid();

  const absl::Time start = absl::Now();
  ASSERT_TRUE(server_->Restart().ok());
  RecordProperty("restart_ms", static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - start)));
  EXPECT_NE(server_->pid(), before);
  EXPECT_EQ(server_->FourLetter("ruok").value_or("?"), "imok");

  // The writer rides it out (its first call may meet a reconnecting handle).
  const absl::Time write_start = absl::Now();
  ASSERT_TRUE(server_->Put("/r/b", "after").ok());
  RecordProperty("first_write_after_restart_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - write_start)));
  ASSERT_TRUE(client_->WaitForState(ZOO_CONNECTED_STATE));
  EXPECT_TRUE(PollUntil([&] { return client_->Get("/r/a").value_or("?") == "persisted"; }, kWait));
  EXPECT_EQ(client_->Get("/r/b").value_or("?"), "after");
  // Sessions are persisted too: the writer's ephemeral is still there, and
  // still goes with DropEphemerals.
  EXPECT_EQ(client_->Get("/r/e").value_or("?"), "ephemeral");
  ASSERT_TRUE(server_->DropEphemerals().ok());
  EXPECT_FALSE(client_->Exists("/r/e"));
}

TEST_F(ZookeeperServerTest, PauseFreezesTheServer) {
  const pid_t pid = server_->pid();
  server_->Pause();
  // The kernel still accepts the connection; nobody answers. SIGSTOP reaches
  // every JVM thread asynchronously: on a loaded machine a request may still
  // be answered just after kill() returned, so wait for the silence.
  EXPECT_TRUE(PollUntil(
      [&] {
        return server_->FourLetter("ruok", absl::Milliseconds(300)).status().code() ==
               absl::StatusCode::kDeadlineExceeded;
      },
      absl::Seconds(5)));
  // Longer than the ensemble's syncLimit (5 ticks): a lone leader has no
  // follower to lose and carries on.
  absl::SleepFor(absl::Seconds(2));
  server_->Resume();
  EXPECT_EQ(server_->FourLetter("ruok").value_or("?"), "imok");
  EXPECT_THAT(server_->FourLetter("srvr").value_or("?"), HasSubstr("Mode: leader"));
  ASSERT_TRUE(server_->Put("/after-pause", "ok").ok());
  EXPECT_EQ(client_->Get("/after-pause").value_or("?"), "ok");
  EXPECT_EQ(server_->pid(), pid);
}

}  // namespace
}  // namespace promconf
