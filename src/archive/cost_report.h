// Cost report: what the archive holds per access tier, what the local hot store holds, and a
// monthly storage estimate from configured prices.
//
// Figures come from the catalog's archive records (objects recorded as archived, by recorded
// tier) and from the local store (every object under "dicom/", one Stat each). The estimate
// is capacity only: bytes / 2^30 (a GiB, the unit Azure bills as "GB") times the price per
// GB-month of the tier. Transactions, retrieval, early-deletion and rehydration charges are
// not included. Prices are estimates the operator edits ([cost] in the configuration);
// objects without a recorded tier are priced as Hot.
//
// Thread-safety: plain values and functions; ReadCostReport runs read transactions only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/status.h"

namespace strata::archive {

// Prices per GB-month. Defaults: roughly Azure Blob Storage LRS list prices (pay as you go,
// first 50 TB, a US region, 2024); check the current price list for your region.
struct StoragePrices {
  double hot_per_gb_month = 0.018;
  double cool_per_gb_month = 0.010;
  double cold_per_gb_month = 0.0036;
  double archive_per_gb_month = 0.00099;
  double local_per_gb_month = 0.0;  // the on-premises hot store; 0: not priced
  std::string currency = "USD";
};

struct TierUsage {
  std::string tier;  // "Hot", "Cool", "Cold", "Archive", or "" (no tier recorded)
  uint64_t objects = 0;
  uint64_t bytes = 0;
  double monthly = 0;  // estimate, in StoragePrices::currency
};

struct CostReport {
  std::vector<TierUsage> archive;  // in tier order, untiered last; tiers without objects omitted
  TierUsage local;                 // tier "local"
  double archive_monthly = 0;
  double total_monthly = 0;  // archive + local
  std::string currency;
};

// Bytes in one GiB, the billing unit.
inline constexpr double kBytesPerGb = 1024.0 * 1024.0 * 1024.0;

// The arithmetic: prices `archive` (objects and bytes per tier name) and `local`.
CostReport PriceUsage(std::vector<TierUsage> archive, TierUsage local, const StoragePrices& prices);

// Reads the usage from the catalog (archived records, paged) and `local_store` (may be null:
// no local figures), then prices it. Catalog and local store errors.
Result<CostReport> ReadCostReport(catalog::Catalog& catalog, blob::BlobStore* local_store,
                                  const StoragePrices& prices);

std::string CostReportJson(const CostReport& report);
// A small table for people.
std::string CostReportText(const CostReport& report);

}  // namespace strata::archive
