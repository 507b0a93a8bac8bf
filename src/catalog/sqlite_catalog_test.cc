#include "catalog/sqlite_catalog.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>
#include <thread>

#include "catalog/catalog_test_util.h"

namespace strata::catalog {
namespace {

namespace t = dicom::tags;
using testing::Column;
using testing::CountsOf;
using testing::FindIn;
using testing::LocateIn;
using testing::MakeQuery;
using testing::MakeRecord;
using testing::MustFind;
using testing::OpenMemory;
using testing::Put;
using testing::VersionsIn;
using Strings = std::vector<std::string>;

// A temporary directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/strata_catalog_test_XXXXXX";
    const char* made = mkdtemp(pattern);
    EXPECT_NE(made, nullptr);
    path_ = made != nullptr ? made : "/tmp";
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

TEST(SqliteCatalogTest, PutStoresAndMaintainsCounts) {
  auto catalog = OpenMemory();
  EXPECT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1")), PutOutcome::kStored);
  EXPECT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2")), PutOutcome::kStored);
  EXPECT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.2", "1.1.2.1")), PutOutcome::kStored);
  EXPECT_EQ(*Put(*catalog, MakeRecord("P2", "1.2", "1.2.1", "1.2.1.1")), PutOutcome::kStored);
  CatalogCounts counts = CountsOf(*catalog);
  EXPECT_EQ(counts.patients, 2u);
  EXPECT_EQ(counts.studies, 2u);
  EXPECT_EQ(counts.series, 3u);
  EXPECT_EQ(counts.instances, 4u);
}

TEST(SqliteCatalogTest, IdenticalDataSetIsDuplicate) {
  auto catalog = OpenMemory();
  InstanceRecord record = MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "aaaa");
  ASSERT_EQ(*Put(*catalog, record), PutOutcome::kStored);
  record.blob_key = "elsewhere";
  EXPECT_EQ(*Put(*catalog, record), PutOutcome::kDuplicate);
  EXPECT_EQ(*Put(*catalog, record, DuplicatePolicy::kReject), PutOutcome::kDuplicate);
  std::vector<InstanceLocation> versions = VersionsIn(*catalog, "1.1.1.1");
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_NE(versions[0].blob_key, "elsewhere");
  EXPECT_EQ(CountsOf(*catalog).instances, 1u);
}

TEST(SqliteCatalogTest, DifferentDataSetBecomesNewCurrentVersion) {
  auto catalog = OpenMemory();
  InstanceRecord first = MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "aaaa");
  ASSERT_EQ(*Put(*catalog, first), PutOutcome::kStored);
  InstanceRecord second = first;
  second.sha256_hex = "bbbb";
  second.blob_key = "key-v2";
  EXPECT_EQ(*Put(*catalog, second), PutOutcome::kNewVersion);

  std::vector<InstanceLocation> versions = VersionsIn(*catalog, "1.1.1.1");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, 1);
  EXPECT_FALSE(versions[0].current);
  EXPECT_EQ(versions[0].sha256_hex, "aaaa");
  EXPECT_EQ(versions[1].version, 2);
  EXPECT_TRUE(versions[1].current);
  EXPECT_EQ(versions[1].blob_key, "key-v2");

  ASSERT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2")), PutOutcome::kStored);
  InstanceRecord third = first;
  third.sha256_hex = "cccc";
  third.blob_key = "key-v3";
  EXPECT_EQ(*Put(*catalog, third), PutOutcome::kNewVersion);
  EXPECT_EQ(VersionsIn(*catalog, "1.1.1.1").size(), 3u);

  // Only current versions are visible, and an instance keeps its place in the order.
  std::vector<InstanceLocation> located = LocateIn(*catalog, "1.1", "", "");
  ASSERT_EQ(located.size(), 2u);
  EXPECT_EQ(located[0].sop_instance_uid, "1.1.1.1");
  EXPECT_EQ(located[0].blob_key, "key-v3");
  EXPECT_EQ(located[0].version, 3);
  EXPECT_EQ(located[1].sop_instance_uid, "1.1.1.2");
  EXPECT_EQ(CountsOf(*catalog).instances, 2u);
  std::vector<QueryRow> rows = MustFind(*catalog, MakeQuery(QueryLevel::kInstance, {}));
  EXPECT_EQ(Column(rows, t::kSopInstanceUid), (Strings{"1.1.1.1", "1.1.1.2"}));
  EXPECT_EQ(Column(rows, t::kNumberOfStudyRelatedInstances), (Strings{"2", "2"}));
  EXPECT_EQ(Column(rows, t::kNumberOfSeriesRelatedInstances), (Strings{"2", "2"}));
}

TEST(SqliteCatalogTest, NewVersionWithAnotherSopClassUpdatesSopClassesInStudy) {
  auto catalog = OpenMemory();
  InstanceRecord record = MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "aaaa");
  ASSERT_EQ(*Put(*catalog, record), PutOutcome::kStored);
  record.sha256_hex = "bbbb";
  record.metadata.sop_class_uid = testing::kMrImageStorage;
  ASSERT_EQ(*Put(*catalog, record), PutOutcome::kNewVersion);
  Query query = MakeQuery(QueryLevel::kStudy, {});
  EXPECT_EQ(Column(MustFind(*catalog, query), t::kSopClassesInStudy),
            (Strings{testing::kMrImageStorage}));
  query.keys = {{t::kSopClassesInStudy, testing::kCtImageStorage}};
  EXPECT_TRUE(MustFind(*catalog, query).empty());
}

TEST(SqliteCatalogTest, RejectPolicyRefusesNewContent) {
  auto catalog = OpenMemory();
  ASSERT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "aaaa")),
            PutOutcome::kStored);
  Result<PutOutcome> outcome =
      Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1", "bbbb"), DuplicatePolicy::kReject);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(VersionsIn(*catalog, "1.1.1.1").size(), 1u);
}

TEST(SqliteCatalogTest, HierarchyConflictFailsAndBatchGoesOn) {
  auto catalog = OpenMemory();
  ASSERT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1")), PutOutcome::kStored);
  Status status = catalog->Write([&](WriteTxn& txn) -> Status {
    // The series already belongs to study 1.1.
    Result<PutOutcome> moved = txn.PutInstance(MakeRecord("P1", "1.9", "1.1.1", "1.1.1.2"),
                                               DuplicatePolicy::kKeepVersions);
    EXPECT_EQ(moved.status().code(), StatusCode::kFailedPrecondition);
    // The study already belongs to patient P1.
    Result<PutOutcome> other_patient = txn.PutInstance(MakeRecord("P9", "1.1", "1.1.5", "1.1.5.1"),
                                                       DuplicatePolicy::kKeepVersions);
    EXPECT_EQ(other_patient.status().code(), StatusCode::kFailedPrecondition);
    // The instance already belongs to series 1.1.1.
    Result<PutOutcome> instance_moved = txn.PutInstance(
        MakeRecord("P1", "1.1", "1.1.2", "1.1.1.1", "new"), DuplicatePolicy::kKeepVersions);
    EXPECT_EQ(instance_moved.status().code(), StatusCode::kFailedPrecondition);
    STRATA_ASSIGN_OR_RETURN(PutOutcome ok,
                            txn.PutInstance(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.3"),
                                            DuplicatePolicy::kKeepVersions));
    EXPECT_EQ(ok, PutOutcome::kStored);
    return OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  CatalogCounts counts = CountsOf(*catalog);
  EXPECT_EQ(counts.patients, 1u);  // no trace of P9
  EXPECT_EQ(counts.studies, 1u);   // no trace of 1.9
  EXPECT_EQ(counts.series, 1u);    // no trace of 1.1.2 or 1.1.5
  EXPECT_EQ(counts.instances, 2u);
  EXPECT_TRUE(MustFind(*catalog, MakeQuery(QueryLevel::kSeries, {{t::kSeriesInstanceUid, "1.1.2"}}))
                  .empty());
}

TEST(SqliteCatalogTest, MissingUidsAreInvalid) {
  auto catalog = OpenMemory();
  InstanceRecord record = MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1");
  record.metadata.series_instance_uid.clear();
  EXPECT_EQ(Put(*catalog, record).status().code(), StatusCode::kInvalidArgument);
}

TEST(SqliteCatalogTest, FailedWriteRollsBackEverything) {
  auto catalog = OpenMemory();
  Status status = catalog->Write([&](WriteTxn& txn) -> Status {
    STRATA_RETURN_IF_ERROR(
        txn.PutInstance(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1"), DuplicatePolicy::kKeepVersions)
            .status());
    return InvalidArgument("caller gives up");
  });
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CountsOf(*catalog).instances, 0u);
  EXPECT_TRUE(LocateIn(*catalog, "1.1", "", "").empty());
}

TEST(SqliteCatalogTest, ExceptionsBecomeInternalAndCatalogStaysUsable) {
  auto catalog = OpenMemory();
  Status status = catalog->Write([&](WriteTxn& txn) -> Status {
    txn.PutInstance(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1"), DuplicatePolicy::kKeepVersions)
        .status()
        .IgnoreError();
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_EQ(*Put(*catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1")), PutOutcome::kStored);
  EXPECT_EQ(CountsOf(*catalog).instances, 1u);
}

TEST(SqliteCatalogTest, AbortedTransactionIsRetriedFromScratch) {
  auto catalog = OpenMemory();
  int attempts = 0;
  std::vector<PutOutcome> outcomes;
  Status status = catalog->Write([&](WriteTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(PutOutcome outcome,
                            txn.PutInstance(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1"),
                                            DuplicatePolicy::kKeepVersions));
    outcomes.push_back(outcome);
    if (++attempts < 3) return Aborted("simulated conflict");
    return OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(attempts, 3);
  // Each attempt started from the rolled-back state.
  EXPECT_EQ(outcomes, (std::vector<PutOutcome>(3, PutOutcome::kStored)));
  EXPECT_EQ(CountsOf(*catalog).instances, 1u);
}

TEST(SqliteCatalogFileTest, DataPersistsAcrossReopen) {
  TempDir dir;
  const std::string path = dir.File("catalog.db");
  {
    auto catalog = OpenSqliteCatalog(path);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    ASSERT_EQ(*Put(**catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1")), PutOutcome::kStored);
    ASSERT_EQ(*Put(**catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2")), PutOutcome::kStored);
  }
  auto catalog = OpenSqliteCatalog(path);
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  EXPECT_EQ(CountsOf(**catalog).instances, 2u);
  EXPECT_EQ(Column(MustFind(**catalog, MakeQuery(QueryLevel::kInstance, {})), t::kSopInstanceUid),
            (Strings{"1.1.1.1", "1.1.1.2"}));
  EXPECT_EQ(*Put(**catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2")), PutOutcome::kDuplicate);
}

TEST(SqliteCatalogFileTest, OutboxAppendsInTheTransaction) {
  TempDir dir;
  const std::string path = dir.File("catalog.db");
  {
    auto catalog = OpenSqliteCatalog(path);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    Status status = (*catalog)->Write([](WriteTxn& txn) -> Status {
      STRATA_RETURN_IF_ERROR(txn.AppendOutbox({"instance.stored", R"({"sop":"1"})"}));
      return txn.AppendOutbox({"instance.stored", R"({"sop":"2"})"});
    });
    ASSERT_TRUE(status.ok()) << status.ToString();
    status = (*catalog)->Write([](WriteTxn& txn) -> Status {
      STRATA_RETURN_IF_ERROR(txn.AppendOutbox({"instance.stored", R"({"sop":"lost"})"}));
      return Aborted("retry me");
    });
    EXPECT_EQ(status.code(), StatusCode::kAborted);  // retried, then given up
    status = (*catalog)->Write([](WriteTxn& txn) { return txn.AppendOutbox({"", "{}"}); });
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT seq, kind, payload, created_at_ms FROM outbox ORDER BY seq",
                         -1, &stmt, nullptr),
      SQLITE_OK);
  std::vector<std::string> payloads;
  int64_t last_seq = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    EXPECT_GT(sqlite3_column_int64(stmt, 0), last_seq);
    last_seq = sqlite3_column_int64(stmt, 0);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)), "instance.stored");
    payloads.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)));
    EXPECT_GT(sqlite3_column_int64(stmt, 3), 1600000000000);  // milliseconds since 1970
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(payloads, (Strings{R"({"sop":"1"})", R"({"sop":"2"})"}));
}

TEST(SqliteCatalogTest, ChangesPageInSequenceOrderWithinATimeWindow) {
  auto catalog = OpenMemory();
  for (int i = 1; i <= 5; ++i) {
    Status status = catalog->Write([i](WriteTxn& txn) {
      return txn.AppendOutbox(
          {i == 3 ? "instance.replaced" : "instance.stored", "{\"n\":" + std::to_string(i) + "}"});
    });
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  auto read = [&](const ChangeQuery& q) {
    std::vector<ChangeEntry> out;
    Status status = catalog->Read([&](ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(out, txn.Changes(q));
      return OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status.ToString();
    return out;
  };
  ChangeQuery first;
  first.limit = 2;
  auto page1 = read(first);
  ASSERT_EQ(page1.size(), 2u);
  EXPECT_EQ(page1[0].payload, "{\"n\":1}");
  ChangeQuery next;
  next.after_seq = page1[1].seq;
  next.limit = 10;
  auto page2 = read(next);
  ASSERT_EQ(page2.size(), 3u);
  EXPECT_EQ(page2[0].kind, "instance.replaced");
  EXPECT_GT(page2[0].seq, page1[1].seq);
  ChangeQuery window;
  window.since_ms = page2[2].created_at_ms + 1;
  EXPECT_TRUE(read(window).empty());
  window.since_ms = std::nullopt;
  window.until_ms = page1[0].created_at_ms;
  EXPECT_TRUE(read(window).empty());
  window.until_ms = page2[2].created_at_ms + 1;
  EXPECT_EQ(read(window).size(), 5u);
}

TEST(SqliteCatalogFileTest, ReadersRunWhileAWriteIsOpen) {
  TempDir dir;
  auto opened = OpenSqliteCatalog(dir.File("catalog.db"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Catalog& catalog = **opened;
  ASSERT_EQ(*Put(catalog, MakeRecord("P1", "1.1", "1.1.1", "1.1.1.1")), PutOutcome::kStored);

  // A reader completes while the writer holds an uncommitted transaction, and sees the last
  // committed snapshot only.
  Status status = catalog.Write([&](WriteTxn& txn) -> Status {
    STRATA_RETURN_IF_ERROR(
        txn.PutInstance(MakeRecord("P1", "1.1", "1.1.1", "1.1.1.2"), DuplicatePolicy::kKeepVersions)
            .status());
    auto reader = std::async(std::launch::async, [&] { return CountsOf(catalog).instances; });
    if (reader.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "reader blocked by the open write transaction";
      return Internal("reader blocked");
    }
    EXPECT_EQ(reader.get(), 1u);
    return OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();

  // Readers and a writer hammering concurrently: every snapshot is consistent.
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        Status s = catalog.Read([&](ReadTxn& txn) -> Status {
          STRATA_ASSIGN_OR_RETURN(CatalogCounts counts, txn.Counts());
          STRATA_ASSIGN_OR_RETURN(
              std::vector<QueryRow> rows,
              txn.Find(MakeQuery(QueryLevel::kInstance, {{t::kStudyInstanceUid, "1.1"}})));
          EXPECT_EQ(rows.size(), counts.instances);
          return OkStatus();
        });
        EXPECT_TRUE(s.ok()) << s.ToString();
        reads.fetch_add(1);
      }
    });
  }
  for (int batch = 0; batch < 20; ++batch) {
    Status s = catalog.Write([&](WriteTxn& txn) -> Status {
      for (int n = 0; n < 10; ++n) {
        std::string sop = "1.1.1.1" + std::to_string(batch) + "." + std::to_string(n + 1);
        STRATA_RETURN_IF_ERROR(
            txn.PutInstance(MakeRecord("P1", "1.1", "1.1.1", sop), DuplicatePolicy::kKeepVersions)
                .status());
      }
      return OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  while (reads.load() < 10) std::this_thread::yield();
  done = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(CountsOf(catalog).instances, 202u);
}

TEST(SqliteCatalogFileTest, CorruptFileIsDataLoss) {
  TempDir dir;
  const std::string path = dir.File("catalog.db");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(8192, 'x');
  }
  Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), StatusCode::kDataLoss) << catalog.status().ToString();
}

TEST(SqliteCatalogFileTest, NewerSchemaIsRefused) {
  TempDir dir;
  const std::string path = dir.File("catalog.db");
  ASSERT_TRUE(OpenSqliteCatalog(path).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 999", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), StatusCode::kFailedPrecondition)
      << catalog.status().ToString();
}

TEST(SqliteCatalogFileTest, MissingDirectoryIsUnavailable) {
  Result<std::unique_ptr<Catalog>> catalog =
      OpenSqliteCatalog("/tmp/strata_no_such_dir_for_catalog_test/x/catalog.db");
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), StatusCode::kUnavailable) << catalog.status().ToString();
}

}  // namespace
}  // namespace strata::catalog
