// The admin series-state routes: when a series last received an instance, and which series
// are stable (received nothing for a while), from the catalog's SeriesActivity.
//
//   GET /admin/v1/series/{series}/activity[?quiet_seconds=N]
//   GET /admin/v1/series?stable_for_seconds=N[&limit=L][&after=CURSOR]
//
// Thread-safety: plain functions over a thread-safe catalog.
#pragma once

#include <cstdint>

#include "catalog/catalog.h"
#include "dicomweb/http_server.h"

namespace strata::dicomweb {

// One series' state at `now_ms`: study, series, modality, instances, last_received (UTC text
// and ms), stable_for_seconds (whole seconds since then, 0 for a time ahead of now) and, with
// quiet_seconds, stable (stable_for_seconds >= quiet_seconds). 404 for an unknown series (or
// one in a deleted study), 400 for a malformed or unknown parameter.
Response HandleSeriesActivity(catalog::Catalog& catalog, Request& request, int64_t now_ms);

// The series stable for at least stable_for_seconds at `now_ms`, quietest first, limit per page
// (1-1000, default 100); `next_after` continues, `done` says the list is complete.
Response HandleStableSeries(catalog::Catalog& catalog, Request& request, int64_t now_ms);

}  // namespace strata::dicomweb
