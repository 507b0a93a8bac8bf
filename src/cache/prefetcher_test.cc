// The prefetcher over a real SQLite catalog (in memory), a SQLite job queue (a file, so that
// a "restart" reopens it), the hot cache and two FileBlobStores (local, and an archive
// emulating Azure's tiers), with an injected clock.
#include "cache/prefetcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "blob/file_blob_store.h"
#include "cache/cache_status.h"
#include "cache/cache_test_util.h"
#include "catalog/catalog_test_util.h"
#include "jobs/sqlite_job_queue.h"

namespace strata::cache {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int64_t kStart = 1'700'000'000'000;  // 2023-11-14
const std::string kContent(100, 'x');

template <typename Duration>
int64_t Ms(Duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

class PrefetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/strata_prefetcher_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    catalog_ = catalog::testing::OpenMemory();
    auto local = blob::OpenFileBlobStore(dir_ + "/local");
    ASSERT_TRUE(local.ok()) << local.status().ToString();
    local_ = std::move(local).value();
    archive_ = testing::OpenEmulatedArchive(dir_ + "/archive", [this] { return now_ms_.load(); });
    ASSERT_NE(archive_, nullptr);
    HotCacheOptions cache_options;
    cache_options.max_bytes = 150;
    cache_options.low_watermark = 0.5;
    cache_options.now_ms = [this] { return now_ms_.load(); };
    auto cache = HotCache::Create(*catalog_, *local_, archive_.get(), cache_options);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    cache_ = std::move(cache).value();
    OpenJobs();
    prefetcher_ = MakePrefetcher();
  }
  void TearDown() override {
    prefetcher_.reset();
    jobs_.reset();
    cache_.reset();
    fs::remove_all(dir_);
  }

  void OpenJobs() {
    jobs::SqliteJobQueueOptions options;
    options.now_ms = [this] { return now_ms_.load(); };
    auto jobs = jobs::OpenSqliteJobQueue(dir_ + "/jobs.sqlite", options);
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    jobs_ = std::move(jobs).value();
  }

  std::unique_ptr<Prefetcher> MakePrefetcher(const std::string& consumer = kPrefetchConsumer) {
    PrefetcherOptions options;
    options.consumer = consumer;
    options.policy.max_priors = 2;
    options.policy.max_age_years = 5;
    options.poll_interval = milliseconds(20);
    options.now_ms = [this] { return now_ms_.load(); };
    return std::make_unique<Prefetcher>(*catalog_, *cache_, *jobs_, options);
  }

  // Stores one instance as ingest does (catalog row and "instance.stored" event in one
  // transaction, object through the cache) and, with `tier`, archives it as the archiver does.
  std::string Store(const std::string& patient, const std::string& study,
                    const std::string& study_date, const std::string& modality,
                    const std::string& sop, std::optional<blob::StorageTier> tier) {
    const std::string series = study + ".1";
    catalog::InstanceRecord record =
        catalog::testing::MakeRecord(patient, study, series, sop, "sha-" + sop);
    record.metadata.study_date = study_date;
    record.metadata.modality = modality;
    record.size_bytes = kContent.size();
    record.received_at_ms = now_ms_.load();
    nlohmann::json payload = {{"study_instance_uid", study},
                              {"series_instance_uid", series},
                              {"sop_instance_uid", sop},
                              {"modality", modality},
                              {"blob_key", record.blob_key}};
    Status put = catalog_->Write([&](catalog::WriteTxn& txn) -> Status {
      STRATA_RETURN_IF_ERROR(
          txn.PutInstance(record, catalog::DuplicatePolicy::kKeepVersions).status());
      return txn.AppendOutbox({"instance.stored", payload.dump()});
    });
    EXPECT_TRUE(put.ok()) << put.ToString();
    testing::PutContent(*cache_, record.blob_key, kContent, {.create_only = true});
    if (tier) Archive(record, *tier);
    return record.blob_key;
  }

  void Archive(const catalog::InstanceRecord& record, blob::StorageTier tier) {
    testing::ArchiveInstance(*catalog_, *archive_, record, kContent, tier, now_ms_.load());
  }

  // A prior study of `patient` with two archived instances, then evicted from the local store.
  std::vector<std::string> StoreEvictedPrior(const std::string& patient, const std::string& study,
                                             const std::string& date,
                                             blob::StorageTier tier = blob::StorageTier::kHot) {
    std::vector<std::string> keys = {Store(patient, study, date, "CT", study + ".1.1", tier),
                                     Store(patient, study, date, "CT", study + ".1.2", tier)};
    now_ms_ += Ms(hours(25));  // no longer protected as recently stored
    auto evicted = cache_->EvictToFit();
    EXPECT_TRUE(evicted.ok()) << evicted.status().ToString();
    for (const auto& key : keys) EXPECT_FALSE(IsLocal(key)) << key;
    return keys;
  }

  size_t Route(Prefetcher& prefetcher) {
    auto routed = prefetcher.RouteOnce();
    EXPECT_TRUE(routed.ok()) << routed.status().ToString();
    return routed.ok() ? *routed : 0;
  }
  size_t Run(Prefetcher& prefetcher) {
    auto ran = prefetcher.RunOnce();
    EXPECT_TRUE(ran.ok()) << ran.status().ToString();
    return ran.ok() ? *ran : 0;
  }

  std::optional<jobs::Job> JobFor(const std::string& study, const std::string& prior) {
    auto job = jobs_->GetByKey(std::string(kPrefetchJob) + "/" + study + "/" + prior);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? *job : std::nullopt;
  }

  bool IsLocal(const std::string& key) { return local_->Stat(key).ok(); }

  std::string dir_;
  std::atomic<int64_t> now_ms_{kStart};
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<blob::BlobStore> local_;
  std::unique_ptr<blob::BlobStore> archive_;
  std::unique_ptr<HotCache> cache_;
  std::unique_ptr<jobs::JobQueue> jobs_;
  std::unique_ptr<Prefetcher> prefetcher_;
};

TEST_F(PrefetcherTest, FetchesPriorBackPinsItAndCountsReaderHits) {
  const auto prior = StoreEvictedPrior("P1", "1.1", "20230101");
  Store("P1", "1.2", "20231114", "CT", "1.2.1.1", std::nullopt);  // the new study

  EXPECT_EQ(Route(*prefetcher_), 3u) << "three stored events";
  EXPECT_EQ(Run(*prefetcher_), 1u);
  for (const auto& key : prior) EXPECT_TRUE(IsLocal(key)) << key;
  auto job = JobFor("1.2", "1.1");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, jobs::JobState::kSucceeded) << job->last_error;

  HotCacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.prefetched, 2u);
  EXPECT_EQ(stats.prefetch_fetch_backs, 2u);
  EXPECT_EQ(stats.prefetch_unread, 2u);
  EXPECT_EQ(stats.hits, 0u) << "prefetch opens are not reader hits";
  EXPECT_EQ(stats.misses, 0u) << "nor reader misses";
  EXPECT_EQ(stats.pins, 2u);

  // Pinned: an eviction pass a day later keeps the prior although the cache is over its bound.
  now_ms_ += Ms(hours(25));
  auto evicted = cache_->EvictToFit();
  ASSERT_TRUE(evicted.ok());
  for (const auto& key : prior) EXPECT_TRUE(IsLocal(key)) << key;

  // A reader opens one prior object twice: one prefetch hit, two cache hits.
  ASSERT_TRUE(cache_->Open(prior[0]).ok());
  ASSERT_TRUE(cache_->Open(prior[0]).ok());
  stats = cache_->Stats();
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 0u);
  EXPECT_EQ(stats.prefetch_hits, 1u);
  EXPECT_EQ(stats.prefetch_unread, 1u);
  EXPECT_DOUBLE_EQ(stats.PrefetchHitRatio(), 1.0);
  EXPECT_DOUBLE_EQ(stats.HitRatio(), 1.0);

  // Once the pin has run out the unread object is evicted: a wasted prefetch.
  now_ms_ += Ms(hours(72));
  ASSERT_TRUE(cache_->EvictToFit().ok());
  EXPECT_FALSE(IsLocal(prior[1]));
  stats = cache_->Stats();
  EXPECT_EQ(stats.prefetch_evicted_unread, 1u);
  EXPECT_DOUBLE_EQ(stats.PrefetchHitRatio(), 0.5);

  PrefetcherCounters counters = prefetcher_->Counters();
  EXPECT_EQ(counters.studies_seen, 2u) << "the prior when it arrived, then the new study";
  EXPECT_EQ(counters.jobs_enqueued, 1u);
  EXPECT_EQ(counters.jobs_completed, 1u);
  EXPECT_EQ(counters.objects_prefetched, 2u);

  auto status = CacheStatusJson(*cache_, prefetcher_.get());
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  nlohmann::json j = nlohmann::json::parse(*status);
  EXPECT_EQ(j["prefetch"]["hits"], 1);
  EXPECT_DOUBLE_EQ(j["prefetch"]["hit_ratio"].get<double>(), 0.5);
  EXPECT_EQ(j["prefetch"]["jobs"]["succeeded"], 1);
  EXPECT_EQ(j["prefetch"]["backlog_events"], 0);
  EXPECT_EQ(j["cache"]["hits"], 2);
  EXPECT_EQ(j["cache"]["misses"], 0);
}

TEST_F(PrefetcherTest, ChoosesOnlyThisPatientsLiveRecentPriors) {
  StoreEvictedPrior("P1", "1.1", "20230101");
  StoreEvictedPrior("P1", "1.3", "20220101");
  StoreEvictedPrior("P1", "1.4", "20210101");  // third: more than max_priors
  StoreEvictedPrior("P1", "1.5", "20170101");  // older than max_age_years
  StoreEvictedPrior("P1", "1.6", "20230601");  // soft-deleted below
  StoreEvictedPrior("P2", "2.1", "20230701");  // another patient
  ASSERT_TRUE(catalog_
                  ->Write([&](catalog::WriteTxn& txn) {
                    return txn.SoftDeleteStudy("1.6", "test", now_ms_.load());
                  })
                  .ok());
  Store("P1", "1.2", "20231114", "CT", "1.2.1.1", std::nullopt);
  Route(*prefetcher_);
  auto listed = jobs_->List({});
  ASSERT_TRUE(listed.ok());
  std::set<std::string> keys;
  for (const auto& job : *listed) {
    if (job.idempotency_key.rfind(std::string(kPrefetchJob) + "/1.2/", 0) == 0) {
      keys.insert(job.idempotency_key);
    }
  }
  EXPECT_EQ(keys, (std::set<std::string>{"cache.prefetch/1.2/1.1", "cache.prefetch/1.2/1.3"}));
}

TEST_F(PrefetcherTest, ArchiveTierPriorIsRetriedAfterTheRehydration) {
  const auto prior = StoreEvictedPrior("P1", "1.1", "20230101", blob::StorageTier::kArchive);
  Store("P1", "1.2", "20231114", "CT", "1.2.1.1", std::nullopt);
  Route(*prefetcher_);
  EXPECT_EQ(Run(*prefetcher_), 1u);
  for (const auto& key : prior) EXPECT_FALSE(IsLocal(key));
  auto job = JobFor("1.2", "1.1");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, jobs::JobState::kPending);
  EXPECT_EQ(job->attempts, 0) << "waiting for a rehydration uses no attempt up";
  EXPECT_EQ(job->not_before_ms, now_ms_.load() + Ms(seconds(600)));
  EXPECT_EQ(prefetcher_->Counters().jobs_rescheduled, 1u);
  // Both objects' rehydrations were requested at once.
  for (const auto& key : prior) {
    auto info = archive_->Stat(key);
    ASSERT_TRUE(info.ok());
    EXPECT_FALSE(info->archive_status.empty()) << key;
  }

  now_ms_ += Ms(seconds(300));
  EXPECT_EQ(Run(*prefetcher_), 0u) << "not due yet";
  now_ms_ += Ms(seconds(300));
  EXPECT_EQ(Run(*prefetcher_), 1u);
  for (const auto& key : prior) EXPECT_TRUE(IsLocal(key)) << key;
  job = JobFor("1.2", "1.1");
  EXPECT_EQ(job->state, jobs::JobState::kSucceeded) << job->last_error;
  EXPECT_EQ(cache_->Stats().prefetched, 2u);
}

TEST_F(PrefetcherTest, RestartLosesNothingAndRepeatsNothing) {
  const auto prior = StoreEvictedPrior("P1", "1.1", "20230101", blob::StorageTier::kArchive);
  Store("P1", "1.2", "20231114", "CT", "1.2.1.1", std::nullopt);
  Route(*prefetcher_);
  Run(*prefetcher_);  // rescheduled: the prior is being rehydrated

  // "Restart": a new prefetcher on a reopened job queue.
  prefetcher_.reset();
  jobs_.reset();
  OpenJobs();
  prefetcher_ = MakePrefetcher();
  EXPECT_EQ(Route(*prefetcher_), 0u) << "the cursor is durable";
  // A crash between enqueueing and moving the cursor replays the events: nothing is added.
  auto replay = MakePrefetcher("prefetch-replay");
  EXPECT_EQ(Route(*replay), 3u);
  EXPECT_EQ(replay->Counters().jobs_enqueued, 0u);
  auto counts = prefetcher_->JobCounts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->pending, 1);

  now_ms_ += Ms(seconds(600));
  EXPECT_EQ(Run(*prefetcher_), 1u) << "the pending prefetch survived the restart";
  for (const auto& key : prior) EXPECT_TRUE(IsLocal(key)) << key;
  EXPECT_EQ(Run(*prefetcher_), 0u);
}

TEST_F(PrefetcherTest, ReleasesJobsLeasedBeforeACrash) {
  StoreEvictedPrior("P1", "1.1", "20230101");
  Store("P1", "1.2", "20231114", "CT", "1.2.1.1", std::nullopt);
  Route(*prefetcher_);
  // The previous life leased the job and died without reporting.
  auto leased = jobs_->Lease({kPrefetchJob}, 10, minutes(30), "prefetch");
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 1u);
  prefetcher_->Start();  // releases it: due now rather than in 30 minutes
  for (int i = 0; i < 500 && prefetcher_->Counters().jobs_completed == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  prefetcher_->Stop();
  EXPECT_EQ(prefetcher_->Counters().jobs_completed, 1u);
}

TEST_F(PrefetcherTest, ThreadRunsWhenNotified) {
  const auto prior = StoreEvictedPrior("P1", "1.1", "20230101");
  prefetcher_->Start();
  Store("P1", "1.2", "20231114", "CT", "1.2.1.1", std::nullopt);
  prefetcher_->Notify();
  for (int i = 0; i < 500 && !(IsLocal(prior[0]) && IsLocal(prior[1])); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  prefetcher_->Stop();
  EXPECT_TRUE(IsLocal(prior[0]) && IsLocal(prior[1]));
  auto backlog = prefetcher_->Backlog();
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(backlog->events, 0u);
}

TEST_F(PrefetcherTest, ReportsAddedToAStudyDoNotTriggerIt) {
  StoreEvictedPrior("P1", "1.1", "20230101");
  Route(*prefetcher_);
  Store("P1", "1.1", "20230101", "SR", "1.1.9.1", std::nullopt);  // e.g. an AI findings SR
  Route(*prefetcher_);
  auto counts = prefetcher_->JobCounts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->pending + counts->succeeded, 0);
}

}  // namespace
}  // namespace strata::cache
