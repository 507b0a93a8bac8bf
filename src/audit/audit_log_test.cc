#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <thread>

#include "audit/sqlite_audit_log.h"

namespace strata::audit {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("strata-audit-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "audit.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static AuditEvent Event(const std::string& actor, const std::string& action,
                          const std::string& study = "") {
    AuditEvent e;
    e.actor = actor;
    e.role = "reader";
    e.source = "127.0.0.1";
    e.protocol = "http";
    e.action = action;
    e.study_uid = study;
    e.outcome = "success";
    return e;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(AuditLogTest, RecordsAreReadBackInOrderAndFiltered) {
  auto log = OpenSqliteAuditLog(path_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  (*log)->Record(Event("viewer", "qido.studies"));
  (*log)->Record(Event("modality", "stow.store", "1.2.3"));
  (*log)->Record(Event("viewer", "wado.retrieve", "1.2.3"));
  ASSERT_TRUE((*log)->Flush().ok());

  auto all = (*log)->Read({});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].seq, 1);
  EXPECT_EQ((*all)[2].event.action, "wado.retrieve");
  EXPECT_GT((*all)[0].event.time_ms, 0);

  AuditFilter by_actor;
  by_actor.actor = "viewer";
  EXPECT_EQ((*log)->Read(by_actor)->size(), 2u);
  AuditFilter by_study;
  by_study.study_uid = "1.2.3";
  EXPECT_EQ((*log)->Read(by_study)->size(), 2u);
  AuditFilter paged;
  paged.after_seq = 1;
  paged.limit = 1;
  auto page = (*log)->Read(paged);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].seq, 2);
}

TEST_F(AuditLogTest, ChainSurvivesReopenAndVerifies) {
  {
    auto log = OpenSqliteAuditLog(path_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 50; ++i) (*log)->Record(Event("a", "dimse.store"));
  }  // destruction commits what is queued
  auto log = OpenSqliteAuditLog(path_);
  ASSERT_TRUE(log.ok());
  (*log)->Record(Event("b", "dimse.find"));
  ASSERT_TRUE((*log)->Flush().ok());
  auto v = (*log)->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->records, 51);
  EXPECT_EQ(v->first_broken_seq, 0);
}

TEST_F(AuditLogTest, UpdateAndDeleteAreRefusedAndTamperingIsDetected) {
  {
    auto log = OpenSqliteAuditLog(path_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 5; ++i) (*log)->Record(Event("a", "qido.studies"));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit SET actor='x' WHERE seq=3", nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM audit WHERE seq=3", nullptr, nullptr, nullptr),
            SQLITE_OK);
  // Someone who drops the trigger can edit, but the chain no longer verifies.
  ASSERT_EQ(sqlite3_exec(db, "DROP TRIGGER audit_no_update; UPDATE audit SET actor='x' WHERE seq=3",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto log = OpenSqliteAuditLogReadOnly(path_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto v = (*log)->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->records, 5);
  EXPECT_EQ(v->first_broken_seq, 3);
}

TEST_F(AuditLogTest, ConcurrentRecordersLoseNothing) {
  SqliteAuditLogOptions options;
  options.max_queued = 16;  // forces Record() to wait for the writer
  auto log = OpenSqliteAuditLog(path_, options);
  ASSERT_TRUE(log.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) (*log)->Record(Event("t" + std::to_string(t), "x"));
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE((*log)->Flush().ok());
  AuditFilter all;
  all.limit = 10000;
  EXPECT_EQ((*log)->Read(all)->size(), 1000u);
  EXPECT_EQ((*log)->Verify()->first_broken_seq, 0);
}

// Batches wait for company (linger), but never keep a Flush(), a full queue or closing waiting.
TEST_F(AuditLogTest, LingerEndsAtFlushFullQueueAndClose) {
  SqliteAuditLogOptions options;
  options.linger = std::chrono::hours(1);  // a test that waited for it would time out
  options.max_queued = 4;
  {
    auto log = OpenSqliteAuditLog(path_, options);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 3; ++i) (*log)->Record(Event("a", "qido.studies"));
    ASSERT_TRUE((*log)->Flush().ok());
    AuditFilter all;
    EXPECT_EQ((*log)->Read(all)->size(), 3u);
    for (int i = 0; i < 10; ++i) (*log)->Record(Event("b", "dimse.store"));  // fills the queue
    for (int i = 0; i < 2; ++i) (*log)->Record(Event("c", "dimse.echo"));
  }  // closing commits what is queued at once
  auto log = OpenSqliteAuditLog(path_);
  ASSERT_TRUE(log.ok());
  auto v = (*log)->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->records, 15);
  EXPECT_EQ(v->first_broken_seq, 0);
}

// Two writers on one file stand for two processes (the CLI beside `strata serve`): the chain
// continues from whatever the other committed.
TEST_F(AuditLogTest, TwoWritersOnOneFileKeepOneChain) {
  auto first = OpenSqliteAuditLog(path_);
  auto second = OpenSqliteAuditLog(path_);
  ASSERT_TRUE(first.ok() && second.ok());
  for (int i = 0; i < 50; ++i) {
    (*first)->Record(Event("serve", "x"));
    ASSERT_TRUE((*first)->Flush().ok());
    (*second)->Record(Event("cli", "y"));
    ASSERT_TRUE((*second)->Flush().ok());
  }
  AuditFilter all;
  all.limit = 10000;
  auto records = (*first)->Read(all);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 100u);
  EXPECT_EQ(records->back().seq, 100);
  EXPECT_EQ((*second)->Verify()->first_broken_seq, 0);
}

TEST_F(AuditLogTest, UnwritablePathIsAClearError) {
  auto log = OpenSqliteAuditLog((dir_ / "missing-dir" / "audit.sqlite").string());
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("audit log"), std::string::npos);
}

}  // namespace
}  // namespace strata::audit
