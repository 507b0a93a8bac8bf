// The hot cache over two FileBlobStores (local, and an archive emulating Azure's tiers) and a
// real SQLite catalog, with an injected clock.
#include "cache/hot_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "archive/archiver.h"
#include "blob/file_blob_store.h"
#include "cache/cache_test_util.h"
#include "catalog/catalog_test_util.h"
#include "core/testing/read_file.h"

namespace strata::cache {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int64_t kStart = 1'700'000'000'000;
constexpr const char* kStudy = "1.2.3";
constexpr const char* kSeries = "1.2.3.1";

template <typename Duration>
int64_t Ms(Duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

int64_t SystemNow() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Forwards to a store and counts opens, which take `open_delay` (to make misses overlap).
class CountingStore final : public blob::BlobStore {
 public:
  explicit CountingStore(blob::BlobStore& inner) : inner_(inner) {}
  Status PutFile(const std::string& key, const std::string& source_path,
                 bool create_only) override {
    return inner_.PutFile(key, source_path, create_only);
  }
  Status Put(const std::string& key, const std::string& source_path,
             const blob::PutOptions& options) override {
    return inner_.Put(key, source_path, options);
  }
  Status SetTier(const std::string& key, blob::StorageTier tier) override {
    return inner_.SetTier(key, tier);
  }
  Result<std::string> StagingPath() override { return inner_.StagingPath(); }
  std::vector<std::string> StagedLeftovers() override { return inner_.StagedLeftovers(); }
  Result<std::unique_ptr<blob::LocalObject>> Open(const std::string& key) override {
    ++opens;
    std::this_thread::sleep_for(open_delay);
    return inner_.Open(key);
  }
  Result<blob::BlobInfo> Stat(const std::string& key) override { return inner_.Stat(key); }
  Status Delete(const std::string& key) override { return inner_.Delete(key); }
  Status List(const std::string& prefix,
              const std::function<void(const std::string& key)>& fn) override {
    return inner_.List(prefix, fn);
  }
  Result<uint64_t> FreeBytes() override { return inner_.FreeBytes(); }

  std::atomic<int> opens{0};
  milliseconds open_delay{0};

 private:
  blob::BlobStore& inner_;
};

class HotCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/strata_hot_cache_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    catalog_ = catalog::testing::OpenMemory();
    auto local = blob::OpenFileBlobStore(dir_ + "/local");
    ASSERT_TRUE(local.ok()) << local.status().ToString();
    local_ = std::move(local).value();
    archive_ = testing::OpenEmulatedArchive(dir_ + "/archive", [this] { return now_ms_.load(); });
    ASSERT_NE(archive_, nullptr);
    counting_archive_ = std::make_unique<CountingStore>(*archive_);
  }
  void TearDown() override {
    cache_.reset();
    fs::remove_all(dir_);
  }

  HotCacheOptions Options(uint64_t max_bytes) {
    HotCacheOptions options;
    options.max_bytes = max_bytes;
    options.low_watermark = 0.5;
    options.now_ms = [this] { return now_ms_.load(); };
    return options;
  }
  void OpenCache(HotCacheOptions options, bool with_archive = true) {
    cache_.reset();
    auto cache = HotCache::Create(*catalog_, *local_,
                                  with_archive ? counting_archive_.get() : nullptr, options);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    cache_ = std::move(cache).value();
  }

  static std::string KeyOf(const std::string& name) {
    return std::string("dicom/") + kStudy + "/" + kSeries + "/" + kSeries + "." + name + ".dcm";
  }

  // Ingests `content` as instance `name` through the cache (catalog row + local object),
  // and, when `tier` is set, archives it like the archiver does (same key: vendor-neutral
  // naming).
  std::string Store(const std::string& name, const std::string& content,
                    std::optional<blob::StorageTier> tier = blob::StorageTier::kHot) {
    catalog::InstanceRecord record = catalog::testing::MakeRecord(
        "P1", kStudy, kSeries, std::string(kSeries) + "." + name, "sha-" + name);
    record.size_bytes = content.size();
    EXPECT_EQ(record.blob_key, KeyOf(name));
    EXPECT_TRUE(catalog::testing::Put(*catalog_, record).ok());
    testing::PutContent(*cache_, record.blob_key, content, {.create_only = true});
    if (tier) Archive(record, content, *tier);
    return record.blob_key;
  }

  void Archive(const catalog::InstanceRecord& record, const std::string& content,
               blob::StorageTier tier) {
    testing::ArchiveInstance(*catalog_, *archive_, record, content, tier, now_ms_.load());
  }

  bool IsLocal(const std::string& key) { return local_->Stat(key).ok(); }

  std::string ReadThroughCache(const std::string& key) {
    auto object = cache_->Open(key);
    EXPECT_TRUE(object.ok()) << object.status().ToString();
    return object.ok() ? strata::testing::ReadFileBytes((*object)->path()) : std::string();
  }

  EvictionReport Evict() {
    auto report = cache_->EvictToFit();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : EvictionReport{};
  }

  std::string dir_;
  std::atomic<int64_t> now_ms_{kStart};
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<blob::BlobStore> local_;
  std::unique_ptr<blob::BlobStore> archive_;
  std::unique_ptr<CountingStore> counting_archive_;
  std::unique_ptr<HotCache> cache_;
};

const std::string kHundred(100, 'x');

TEST_F(HotCacheTest, EvictsLeastRecentlyUsedFirst) {
  OpenCache(Options(350));  // evicts down to 175
  const std::string a = Store("1", kHundred);
  const std::string b = Store("2", kHundred);
  const std::string c = Store("3", kHundred);
  const std::string d = Store("4", kHundred);
  EXPECT_EQ(cache_->Stats().bytes, 400u);
  now_ms_ += Ms(hours(25));
  ReadThroughCache(a);  // now the most recently used
  now_ms_ += Ms(minutes(10));

  EvictionReport report = Evict();
  EXPECT_EQ(report.bytes_before, 400u);
  EXPECT_EQ(report.evicted_objects, 3u);
  EXPECT_EQ(report.bytes_after, 100u);
  EXPECT_FALSE(report.over_limit);
  EXPECT_FALSE(IsLocal(b));
  EXPECT_FALSE(IsLocal(c));
  EXPECT_FALSE(IsLocal(d));
  EXPECT_TRUE(IsLocal(a));
  EXPECT_TRUE(archive_->Stat(b).ok()) << "the archive copy stays";
  HotCacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.evictions, 3u);
  EXPECT_EQ(stats.bytes_evicted, 300u);
  EXPECT_EQ(stats.objects, 1u);
  EXPECT_EQ(stats.hits, 1u);
}

TEST_F(HotCacheTest, StopsAtTheLowWatermarkInLruOrder) {
  HotCacheOptions options = Options(350);
  options.low_watermark = 0.9;  // down to 315
  OpenCache(options);
  const std::string a = Store("1", kHundred);
  const std::string b = Store("2", kHundred);
  const std::string c = Store("3", kHundred);
  const std::string d = Store("4", kHundred);
  now_ms_ += Ms(hours(25));
  ReadThroughCache(b);
  ReadThroughCache(a);
  now_ms_ += Ms(minutes(10));
  EXPECT_EQ(Evict().evicted_objects, 1u);
  EXPECT_FALSE(IsLocal(c)) << "least recently used: stored before d, never opened";
  EXPECT_TRUE(IsLocal(a) && IsLocal(b) && IsLocal(d));
  EXPECT_EQ(Evict().evicted_objects, 0u) << "under the limit now";
}

TEST_F(HotCacheTest, NeverEvictsUnarchivedObjects) {
  OpenCache(Options(150));
  const std::string a = Store("1", kHundred, std::nullopt);
  const std::string b = Store("2", kHundred, std::nullopt);
  const std::string c = Store("3", kHundred);
  now_ms_ += Ms(hours(25));

  EvictionReport report = Evict();
  EXPECT_EQ(report.evicted_objects, 1u);
  EXPECT_EQ(report.refused_unarchived, 2u);
  EXPECT_TRUE(report.over_limit);
  EXPECT_EQ(report.bytes_after, 200u);
  EXPECT_TRUE(IsLocal(a));
  EXPECT_TRUE(IsLocal(b));
  EXPECT_FALSE(IsLocal(c));
  EXPECT_EQ(cache_->Stats().refused_unarchived, 2u);

  // A failed archive attempt is not an archive copy either.
  ASSERT_TRUE(catalog_
                  ->Write([&](catalog::WriteTxn& txn) -> Status {
                    catalog::ArchiveRecord failed;
                    failed.blob_key = a;
                    failed.sop_instance_uid = std::string(kSeries) + ".1";
                    failed.outcome = catalog::ArchiveOutcome::kFailed;
                    failed.error = "injected";
                    return txn.RecordArchiveState(failed);
                  })
                  .ok());
  report = Evict();
  EXPECT_EQ(report.evicted_objects, 0u);
  EXPECT_EQ(report.refused_unarchived, 2u);
  EXPECT_EQ(cache_->Stats().refused_unarchived, 4u);
  EXPECT_TRUE(IsLocal(a));
}

TEST_F(HotCacheTest, RecentPinnedAndJustOpenedObjectsAreKept) {
  OpenCache(Options(100));  // down to 50: everything evictable goes
  const std::string a = Store("1", kHundred);
  const std::string b = Store("2", kHundred);
  const std::string c = Store("3", kHundred);
  now_ms_ += Ms(hours(23));
  const std::string recent = Store("4", kHundred);
  now_ms_ += Ms(hours(2));  // a, b, c: 25 h old; recent: 2 h
  cache_->Pin({a}, hours(1));
  ReadThroughCache(c);  // opened just now (min_idle is 5 minutes)

  EvictionReport report = Evict();
  EXPECT_EQ(report.evicted_objects, 1u);
  EXPECT_FALSE(IsLocal(b));
  EXPECT_TRUE(IsLocal(a)) << "pinned";
  EXPECT_TRUE(IsLocal(c)) << "just opened";
  EXPECT_TRUE(IsLocal(recent)) << "stored 2 h ago";
  EXPECT_TRUE(report.over_limit);
  EXPECT_EQ(cache_->Stats().pins, 1u);

  now_ms_ += Ms(hours(2));  // the pin has expired
  report = Evict();
  EXPECT_EQ(report.evicted_objects, 2u);
  EXPECT_FALSE(IsLocal(a));
  EXPECT_FALSE(IsLocal(c));
  EXPECT_TRUE(IsLocal(recent));
  EXPECT_EQ(cache_->Stats().pins, 0u);
}

TEST_F(HotCacheTest, EvictIfIdleKeepsPinnedRecentAndJustOpenedObjects) {
  OpenCache(Options(1'000'000));  // far below the limit: only the lifecycle evicts
  const std::string a = Store("1", kHundred);
  const std::string b = Store("2", kHundred);
  EXPECT_EQ(cache_->EvictIfIdle(a).value(), std::nullopt) << "stored less than 24 h ago";
  now_ms_ += Ms(hours(25));
  cache_->Pin({a}, hours(1));
  ReadThroughCache(b);
  EXPECT_EQ(cache_->EvictIfIdle(a).value(), std::nullopt) << "pinned";
  EXPECT_EQ(cache_->EvictIfIdle(b).value(), std::nullopt) << "just opened";
  now_ms_ += Ms(hours(2));
  EXPECT_EQ(cache_->EvictIfIdle(a).value(), std::optional<uint64_t>(100));
  EXPECT_FALSE(IsLocal(a));
  EXPECT_EQ(cache_->EvictIfIdle(a).value(), std::optional<uint64_t>(0)) << "already gone";
  const HotCacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.bytes, 100u);
  EXPECT_EQ(ReadThroughCache(a), kHundred) << "fetched back";
}

TEST_F(HotCacheTest, ReaderOpensAreRecordedAsLastAccessInTheCatalog) {
  OpenCache(Options(1'000'000));
  const std::string a = Store("1", kHundred);
  const std::string b = Store("2", kHundred);
  now_ms_ += Ms(hours(3));
  ReadThroughCache(a);
  ASSERT_TRUE(cache_->Prefetch(b).ok());  // not a reader: no access recorded
  ASSERT_TRUE(cache_->FlushAccessTimes().ok());
  auto last_access = [&](const std::string& key) {
    std::optional<catalog::ArchiveRecord> state;
    EXPECT_TRUE(catalog_
                    ->Read([&](catalog::ReadTxn& txn) -> Status {
                      STRATA_ASSIGN_OR_RETURN(state, txn.ArchiveState(key));
                      return OkStatus();
                    })
                    .ok());
    return state ? state->last_access_ms : -1;
  };
  EXPECT_EQ(last_access(a), now_ms_.load());
  EXPECT_EQ(last_access(b), 0);
  ASSERT_TRUE(cache_->FlushAccessTimes().ok());  // nothing new: nothing written
  EXPECT_EQ(last_access(a), now_ms_.load());
}

TEST_F(HotCacheTest, PinStudyCoversItsInstancesUntilUnpinned) {
  OpenCache(Options(100));
  const std::string a = Store("1", kHundred);
  const std::string b = Store("2", kHundred);
  now_ms_ += Ms(hours(25));
  auto keys = cache_->PinStudy(kStudy, hours(48));
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_EQ(Evict().evicted_objects, 0u);
  ASSERT_TRUE(cache_->UnpinStudy(kStudy).ok());
  EXPECT_EQ(Evict().evicted_objects, 2u);
}

TEST_F(HotCacheTest, FetchBackAfterEvictionReturnsIdenticalBytes) {
  OpenCache(Options(100));
  std::string content = "DICM";
  for (int i = 0; i < 5000; ++i) content.push_back(static_cast<char>(i * 7));
  const std::string a = Store("1", content);
  now_ms_ += Ms(hours(25));
  EXPECT_EQ(Evict().evicted_objects, 1u);
  ASSERT_FALSE(IsLocal(a));

  EXPECT_EQ(ReadThroughCache(a), content);
  EXPECT_TRUE(IsLocal(a)) << "placed back into the local store";
  EXPECT_EQ(ReadThroughCache(a), content);
  HotCacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.fetch_backs, 1u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.bytes, content.size());
  EXPECT_EQ(counting_archive_->opens.load(), 1);
  // Its archive time counts as its store time: not protected as a recent object.
  now_ms_ += Ms(minutes(10));
  EXPECT_EQ(Evict().evicted_objects, 1u);
}

TEST_F(HotCacheTest, ArchiveCopyOfWrongSizeIsDataLoss) {
  OpenCache(Options(50));
  const std::string a = Store("1", kHundred);
  now_ms_ += Ms(hours(25));
  EXPECT_EQ(Evict().evicted_objects, 1u);
  // Corrupt the archive copy behind everyone's back.
  std::ofstream(dir_ + "/archive/" + a, std::ios::binary | std::ios::trunc) << "short";
  auto object = cache_->Open(a);
  EXPECT_EQ(object.status().code(), StatusCode::kDataLoss) << object.status().ToString();
  EXPECT_FALSE(IsLocal(a)) << "nothing placed";
}

TEST_F(HotCacheTest, ArchiveTierCopyGivesRetryAfterThenSucceeds) {
  OpenCache(Options(50));
  const std::string a = Store("1", kHundred, blob::StorageTier::kArchive);
  now_ms_ += Ms(hours(25));
  EXPECT_EQ(Evict().evicted_objects, 1u);

  auto first = cache_->Open(a);
  ASSERT_EQ(first.status().code(), StatusCode::kUnavailable) << first.status().ToString();
  EXPECT_EQ(first.status().retry_after_seconds(), 600);
  EXPECT_NE(first.status().message().find("Archive tier"), std::string::npos);
  now_ms_ += Ms(seconds(300));
  auto pending = cache_->Open(a);
  ASSERT_EQ(pending.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(pending.status().retry_after_seconds(), 300);
  now_ms_ += Ms(seconds(300));
  EXPECT_EQ(ReadThroughCache(a), kHundred);
  EXPECT_EQ(cache_->Stats().fetch_backs, 1u);
}

// Azure reports an archived blob as kFailedPrecondition with no hint: the cache asks for the
// rehydration itself and gives its own hint.
class AzureLikeArchive final : public blob::BlobStore {
 public:
  explicit AzureLikeArchive(blob::BlobStore& inner) : inner_(inner) {}
  Status PutFile(const std::string& key, const std::string& source_path,
                 bool create_only) override {
    return inner_.PutFile(key, source_path, create_only);
  }
  Status SetTier(const std::string& key, blob::StorageTier tier) override {
    ++set_tiers;
    return inner_.SetTier(key, tier);
  }
  Result<std::string> StagingPath() override { return inner_.StagingPath(); }
  std::vector<std::string> StagedLeftovers() override { return inner_.StagedLeftovers(); }
  Result<std::unique_ptr<blob::LocalObject>> Open(const std::string& key) override {
    auto info = inner_.Stat(key);
    if (info.ok() && info->tier == blob::StorageTier::kArchive) {
      return FailedPrecondition("get '" + key + "': HTTP 409 BlobArchived");
    }
    return inner_.Open(key);
  }
  Result<blob::BlobInfo> Stat(const std::string& key) override { return inner_.Stat(key); }
  Status Delete(const std::string& key) override { return inner_.Delete(key); }
  Status List(const std::string& prefix,
              const std::function<void(const std::string& key)>& fn) override {
    return inner_.List(prefix, fn);
  }
  Result<uint64_t> FreeBytes() override { return inner_.FreeBytes(); }
  int set_tiers = 0;

 private:
  blob::BlobStore& inner_;
};

TEST_F(HotCacheTest, ArchiveStoreWithoutHintGetsRehydrationRequested) {
  AzureLikeArchive azure(*archive_);
  HotCacheOptions options = Options(50);
  options.rehydration_retry_after = hours(2);
  auto created = HotCache::Create(*catalog_, *local_, &azure, options);
  ASSERT_TRUE(created.ok());
  cache_ = std::move(created).value();
  const std::string a = Store("1", kHundred, blob::StorageTier::kArchive);
  now_ms_ += Ms(hours(25));
  EXPECT_EQ(Evict().evicted_objects, 1u);

  auto first = cache_->Open(a);
  ASSERT_EQ(first.status().code(), StatusCode::kUnavailable) << first.status().ToString();
  EXPECT_EQ(first.status().retry_after_seconds(), 7200);
  EXPECT_EQ(azure.set_tiers, 1);
  EXPECT_EQ(archive_->Stat(a)->archive_status, "rehydrate-pending-to-hot");
  auto again = cache_->Open(a);
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(azure.set_tiers, 1) << "pending: not asked again";
  now_ms_ += Ms(seconds(600));
  EXPECT_EQ(ReadThroughCache(a), kHundred);
}

TEST_F(HotCacheTest, ConcurrentMissesFetchOnce) {
  OpenCache(Options(50));
  const std::string a = Store("1", kHundred);
  now_ms_ += Ms(hours(25));
  EXPECT_EQ(Evict().evicted_objects, 1u);
  counting_archive_->open_delay = milliseconds(100);
  std::vector<std::thread> readers;
  std::atomic<int> identical{0};
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&] {
      auto object = cache_->Open(a);
      if (object.ok() && strata::testing::ReadFileBytes((*object)->path()) == kHundred) ++identical;
    });
  }
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(identical.load(), 8);
  EXPECT_EQ(counting_archive_->opens.load(), 1);
  EXPECT_EQ(cache_->Stats().fetch_backs, 1u);
}

TEST_F(HotCacheTest, MissOfUnarchivedObjectIsNotFound) {
  OpenCache(Options(100));
  EXPECT_EQ(cache_->Open(KeyOf("9")).status().code(), StatusCode::kNotFound);
  const std::string a = Store("1", kHundred, std::nullopt);
  ASSERT_TRUE(local_->Delete(a).ok());  // lost behind the cache's back
  EXPECT_EQ(cache_->Open(a).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(cache_->Stats().objects, 0u);
  EXPECT_EQ(counting_archive_->opens.load(), 0);
}

TEST_F(HotCacheTest, WithoutArchiveNothingIsEvicted) {
  OpenCache(Options(100), /*with_archive=*/false);
  const std::string a = Store("1", kHundred, std::nullopt);
  Store("2", kHundred, std::nullopt);
  now_ms_ += Ms(hours(25));
  EvictionReport report = Evict();
  EXPECT_EQ(report.evicted_objects, 0u);
  EXPECT_TRUE(report.over_limit);
  EXPECT_TRUE(IsLocal(a));
}

TEST_F(HotCacheTest, DeleteRemovesTheLocalCopyOnly) {
  OpenCache(Options(1000));
  const std::string a = Store("1", kHundred);
  ASSERT_TRUE(cache_->Delete(a).ok());
  EXPECT_FALSE(IsLocal(a));
  EXPECT_TRUE(archive_->Stat(a).ok());
  EXPECT_EQ(cache_->Stats().bytes, 0u);
}

TEST_F(HotCacheTest, RestartRecountsTheLocalStoreOldestFirst) {
  OpenCache(Options(250));
  const std::string a = Store("1", kHundred);
  const std::string b = Store("2", kHundred);
  const std::string c = Store("3", std::string(100, 'z'));
  // File times order the rebuilt LRU list: b is the oldest, then a, then c.
  fs::last_write_time(dir_ + "/local/" + b, fs::file_time_type::clock::now() - hours(3));
  fs::last_write_time(dir_ + "/local/" + a, fs::file_time_type::clock::now() - hours(2));
  OpenCache(Options(250));
  HotCacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.objects, 3u);
  EXPECT_EQ(stats.bytes, 300u);
  now_ms_ = SystemNow() + Ms(hours(25));
  EXPECT_EQ(Evict().evicted_objects, 2u);  // down to 125
  EXPECT_FALSE(IsLocal(b));
  EXPECT_FALSE(IsLocal(a));
  EXPECT_TRUE(IsLocal(c));
}

TEST_F(HotCacheTest, BackgroundThreadEvictsAfterAPutCrossesTheLimit) {
  HotCacheOptions options = Options(250);
  options.eviction_interval = hours(1);  // only the crossing wakes it in time
  OpenCache(options);
  const std::string a = Store("1", kHundred);
  const std::string b = Store("2", kHundred);
  now_ms_ += Ms(hours(25));
  cache_->Start();
  Store("3", kHundred);  // 300 > 250
  for (int i = 0; i < 200 && cache_->Stats().evictions < 2; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(cache_->Stats().evictions, 2u);
  EXPECT_FALSE(IsLocal(a));
  EXPECT_FALSE(IsLocal(b));
  cache_->Stop();
}

TEST_F(HotCacheTest, RefusesBadOptions) {
  HotCacheOptions options = Options(0);
  EXPECT_EQ(HotCache::Create(*catalog_, *local_, archive_.get(), options).status().code(),
            StatusCode::kInvalidArgument);
  options = Options(100);
  options.low_watermark = 1.5;
  EXPECT_EQ(HotCache::Create(*catalog_, *local_, archive_.get(), options).status().code(),
            StatusCode::kInvalidArgument);
}

// The whole path with the real archiver: ingest through the cache, archive to a tiered
// FileBlobStore (tier Archive, metadata kept in its sidecars), evict, read back.
TEST_F(HotCacheTest, WithTheArchiverOverATieredFileStore) {
  OpenCache(Options(50));
  const std::string content = "DICM" + std::string(300, '\x01');
  const std::string sop = std::string(kSeries) + ".7";
  catalog::InstanceRecord record =
      catalog::testing::MakeRecord("P1", kStudy, kSeries, sop, "sha-archiver");
  record.size_bytes = content.size();
  auto staged = cache_->StagingPath();
  ASSERT_TRUE(staged.ok());
  std::ofstream(*staged, std::ios::binary) << content;
  ASSERT_TRUE(cache_->PutFile(record.blob_key, *staged, true).ok());
  ::unlink(staged->c_str());
  nlohmann::json payload = {
      {"study_instance_uid", kStudy}, {"series_instance_uid", kSeries},
      {"sop_instance_uid", sop},      {"sop_class_uid", catalog::testing::kCtImageStorage},
      {"blob_key", record.blob_key},  {"sha256", record.sha256_hex}};
  ASSERT_TRUE(catalog_
                  ->Write([&](catalog::WriteTxn& txn) -> Status {
                    STRATA_RETURN_IF_ERROR(
                        txn.PutInstance(record, catalog::DuplicatePolicy::kKeepVersions).status());
                    return txn.AppendOutbox({"instance.stored", payload.dump()});
                  })
                  .ok());

  now_ms_ += Ms(hours(25));
  EXPECT_EQ(Evict().refused_unarchived, 1u) << "not archived yet";
  EXPECT_TRUE(IsLocal(record.blob_key));

  archive::ArchiverOptions archiver_options;
  archiver_options.tier = blob::StorageTier::kArchive;
  archiver_options.now_ms = [this] { return now_ms_.load(); };
  // The archiver reads the local store itself, not through the cache.
  auto archiver = archive::Archiver::Create(*catalog_, *local_, *archive_, archiver_options);
  ASSERT_TRUE(archiver.ok()) << archiver.status().ToString();
  auto batch = (*archiver)->RunBatch();
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->archived, 1u) << batch->retry_later.ToString();
  auto info = archive_->Stat(record.blob_key);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->tier, blob::StorageTier::kArchive);
  EXPECT_EQ(info->metadata.at("strata_sha256"), "sha-archiver");

  now_ms_ += Ms(hours(25));
  EXPECT_EQ(Evict().evicted_objects, 1u);
  auto first = cache_->Open(record.blob_key);
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(first.status().retry_after_seconds(), 600);
  now_ms_ += Ms(seconds(600));
  EXPECT_EQ(ReadThroughCache(record.blob_key), content);
}

}  // namespace
}  // namespace strata::cache
