#include "sqlite/connection.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

namespace strata::sqlite {
namespace {

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("sqlite_connection_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto opened =
        Connection::Open((dir_ / "db.sqlite").string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    conn_ = std::move(opened).value();
    ASSERT_TRUE(conn_->Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)").ok());
  }
  void TearDown() override {
    conn_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(ConnectionTest, StatementsBindStepAndReadColumns) {
  {
    auto insert = conn_->Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
    ASSERT_TRUE(insert.ok());
    ASSERT_TRUE(insert->Bind(1, int64_t{7}).Bind(2, std::string_view("seven")).Run().ok());
  }
  EXPECT_EQ(conn_->LastInsertRowId(), 7);
  EXPECT_EQ(conn_->Changes(), 1);
  ASSERT_TRUE(conn_->Exec("INSERT INTO t (k, v) VALUES (8, NULL)").ok());
  auto select = conn_->Prepare("SELECT k, v FROM t ORDER BY k");
  ASSERT_TRUE(select.ok());
  ASSERT_TRUE(select->Step().value());
  EXPECT_EQ(select->Int(0), 7);
  EXPECT_EQ(select->Text(1), "seven");
  EXPECT_FALSE(select->IsNull(1));
  ASSERT_TRUE(select->Step().value());
  EXPECT_TRUE(select->IsNull(1));
  EXPECT_EQ(select->Text(1), "");
  EXPECT_FALSE(select->Step().value());
}

TEST_F(ConnectionTest, TheSameSqlNestedGetsItsOwnStatementAndTheCachedOneIsReset) {
  ASSERT_TRUE(conn_->Exec("INSERT INTO t VALUES (1, 'a'), (2, 'b')").ok());
  const std::string sql = "SELECT v FROM t WHERE k = ?1";
  {
    auto outer = conn_->Prepare(sql);
    ASSERT_TRUE(outer.ok());
    outer->Bind(1, int64_t{1});
    auto inner = conn_->Prepare(sql);  // the cached one is in use: a second, owned one
    ASSERT_TRUE(inner.ok());
    inner->Bind(1, int64_t{2});
    ASSERT_TRUE(outer->Step().value());
    ASSERT_TRUE(inner->Step().value());
    EXPECT_EQ(outer->Text(0), "a");
    EXPECT_EQ(inner->Text(0), "b");
  }
  // Released: the cached statement comes back reset and unbound (NULL matches no row).
  auto again = conn_->Prepare(sql);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->Step().value());
}

TEST_F(ConnectionTest, ErrorsMapToStatusCodes) {
  auto bad_sql = conn_->Prepare("SELEKT 1");
  ASSERT_FALSE(bad_sql.ok());
  EXPECT_EQ(bad_sql.status().code(), StatusCode::kInternal);
  EXPECT_NE(bad_sql.status().message().find("prepare"), std::string::npos);

  ASSERT_TRUE(conn_->Exec("INSERT INTO t VALUES (1, 'a')").ok());
  Status duplicate = conn_->Exec("INSERT INTO t VALUES (1, 'again')");
  EXPECT_EQ(duplicate.code(), StatusCode::kFailedPrecondition);

  auto bind_out_of_range = conn_->Prepare("SELECT ?1");
  ASSERT_TRUE(bind_out_of_range.ok());
  bind_out_of_range->Bind(5, int64_t{1});
  EXPECT_FALSE(bind_out_of_range->Step().ok());  // the failed bind is reported by Step
}

TEST(SqliteStatusTest, MapsResultCodes) {
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY, nullptr, "x").code(), StatusCode::kAborted);
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY_SNAPSHOT, nullptr, "x").code(), StatusCode::kAborted);
  EXPECT_EQ(SqliteStatus(SQLITE_LOCKED, nullptr, "x").code(), StatusCode::kAborted);
  EXPECT_EQ(SqliteStatus(SQLITE_FULL, nullptr, "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(SqliteStatus(SQLITE_NOMEM, nullptr, "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(SqliteStatus(SQLITE_IOERR_FSYNC, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_READONLY, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_CORRUPT, nullptr, "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(SqliteStatus(SQLITE_NOTADB, nullptr, "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_UNIQUE, nullptr, "x").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteStatus(SQLITE_MISUSE, nullptr, "x").code(), StatusCode::kInternal);
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY, nullptr, "open db").message(), "open db: database is locked");
}

TEST_F(ConnectionTest, TransactionsShowInAutoCommit) {
  EXPECT_TRUE(conn_->AutoCommit());
  ASSERT_TRUE(conn_->Exec("BEGIN").ok());
  EXPECT_FALSE(conn_->AutoCommit());
  ASSERT_TRUE(conn_->Exec("ROLLBACK").ok());
  EXPECT_TRUE(conn_->AutoCommit());
}

TEST_F(ConnectionTest, MoreStatementShapesThanTheCacheHoldsAllRun) {
  // The cache drops its idle statements when full; every shape still prepares and runs.
  for (int i = 0; i < 600; ++i) {
    auto stmt = conn_->Prepare("SELECT " + std::to_string(i));
    ASSERT_TRUE(stmt.ok());
    ASSERT_TRUE(stmt->Step().value());
    EXPECT_EQ(stmt->Int(0), i);
  }
}

TEST(ConnectionOpenTest, AMissingDirectoryIsUnavailable) {
  auto opened = Connection::Open("/nonexistent-strata-dir/db.sqlite",
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace strata::sqlite
