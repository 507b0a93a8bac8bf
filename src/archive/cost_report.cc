#include "archive/cost_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace strata::archive {
namespace {

constexpr size_t kPageSize = 1000;

double PricePerGb(const std::string& tier, const StoragePrices& prices) {
  std::optional<blob::StorageTier> parsed = blob::ParseStorageTier(tier);
  if (!parsed) return prices.hot_per_gb_month;  // no tier recorded: priced as Hot
  switch (*parsed) {
    case blob::StorageTier::kHot:
      return prices.hot_per_gb_month;
    case blob::StorageTier::kCool:
      return prices.cool_per_gb_month;
    case blob::StorageTier::kCold:
      return prices.cold_per_gb_month;
    case blob::StorageTier::kArchive:
      return prices.archive_per_gb_month;
  }
  return prices.hot_per_gb_month;
}

// Tier order for display: Hot, Cool, Cold, Archive, then anything else.
int TierRank(const std::string& tier) {
  std::optional<blob::StorageTier> parsed = blob::ParseStorageTier(tier);
  return parsed ? static_cast<int>(*parsed) : 99;
}

std::string Money(double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", value);
  return buf;
}

std::string Gb(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(bytes) / kBytesPerGb);
  return buf;
}

}  // namespace

CostReport PriceUsage(std::vector<TierUsage> archive, TierUsage local,
                      const StoragePrices& prices) {
  CostReport report;
  report.currency = prices.currency;
  std::stable_sort(archive.begin(), archive.end(), [](const TierUsage& a, const TierUsage& b) {
    return TierRank(a.tier) < TierRank(b.tier);
  });
  for (auto& usage : archive) {
    usage.monthly = static_cast<double>(usage.bytes) / kBytesPerGb * PricePerGb(usage.tier, prices);
    report.archive_monthly += usage.monthly;
  }
  report.archive = std::move(archive);
  local.tier = "local";
  local.monthly = static_cast<double>(local.bytes) / kBytesPerGb * prices.local_per_gb_month;
  report.local = local;
  report.total_monthly = report.archive_monthly + report.local.monthly;
  return report;
}

Result<CostReport> ReadCostReport(catalog::Catalog& catalog, blob::BlobStore* local_store,
                                  const StoragePrices& prices) {
  std::map<std::string, TierUsage> by_tier;
  std::string after;
  while (true) {
    std::vector<catalog::ArchiveRecord> page;
    STRATA_RETURN_IF_ERROR(catalog.Read([&](catalog::ReadTxn& txn) -> Status {
      STRATA_ASSIGN_OR_RETURN(page, txn.ListArchiveStates(after, kPageSize));
      return OkStatus();
    }));
    if (page.empty()) break;
    after = page.back().blob_key;
    for (const auto& record : page) {
      if (record.outcome != catalog::ArchiveOutcome::kArchived) continue;
      TierUsage& usage = by_tier[record.tier];
      usage.tier = record.tier;
      ++usage.objects;
      usage.bytes += record.size_bytes;
    }
    if (page.size() < kPageSize) break;
  }
  TierUsage local;
  if (local_store != nullptr) {
    std::vector<std::string> keys;
    STRATA_RETURN_IF_ERROR(
        local_store->List("dicom/", [&](const std::string& key) { keys.push_back(key); }));
    for (const auto& key : keys) {
      Result<blob::BlobInfo> info = local_store->Stat(key);
      if (!info.ok()) continue;  // removed meanwhile
      ++local.objects;
      local.bytes += info->size_bytes;
    }
  }
  std::vector<TierUsage> archive;
  for (auto& [tier, usage] : by_tier) archive.push_back(std::move(usage));
  return PriceUsage(std::move(archive), local, prices);
}

std::string CostReportJson(const CostReport& report) {
  auto usage_json = [](const TierUsage& u) {
    return nlohmann::json{
        {"tier", u.tier}, {"objects", u.objects}, {"bytes", u.bytes}, {"monthly", u.monthly}};
  };
  nlohmann::json archive = nlohmann::json::array();
  for (const auto& u : report.archive) archive.push_back(usage_json(u));
  nlohmann::json out = {{"archive", archive},
                        {"local", usage_json(report.local)},
                        {"archive_monthly", report.archive_monthly},
                        {"total_monthly", report.total_monthly},
                        {"currency", report.currency}};
  return out.dump();
}

std::string CostReportText(const CostReport& report) {
  std::string out = "where           objects          GB   monthly (" + report.currency + ")\n";
  auto line = [&](const std::string& name, const TierUsage& u) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%-12s %10llu %11s %13s\n", name.c_str(),
                  static_cast<unsigned long long>(u.objects), Gb(u.bytes).c_str(),
                  Money(u.monthly).c_str());
    out += buf;
  };
  for (const auto& u : report.archive) {
    line("archive " + (u.tier.empty() ? std::string("-") : u.tier), u);
  }
  line("local", report.local);
  out += "archive total: " + Money(report.archive_monthly) + " " + report.currency +
         "/month; with local: " + Money(report.total_monthly) + " " + report.currency +
         "/month (capacity only; estimate from [cost] prices)\n";
  return out;
}

}  // namespace strata::archive
