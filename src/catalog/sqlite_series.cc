// The SQLite catalog's series activity (schema version 5): when each series last received an
// instance, for "stable series" checks (per-series AI runs, lifecycle passes).
#include <optional>
#include <string>
#include <vector>

#include "catalog/sqlite_ops.h"

namespace strata::catalog::sqlite {
namespace {

// Columns 0-4 as SeriesActivity needs them; series of soft-deleted studies never match.
constexpr const char* kSelectActivity =
    "SELECT st.study_uid, se.series_uid, se.modality, se.num_instances, se.last_received_ms"
    " FROM series se JOIN studies st ON st.id = se.study_pk";

SeriesActivity ActivityRow(const Statement& stmt) {
  SeriesActivity a;
  a.study_uid = stmt.Text(0);
  a.series_uid = stmt.Text(1);
  a.modality = stmt.Text(2);
  a.num_instances = static_cast<uint64_t>(stmt.Int(3));
  a.last_received_ms = stmt.Int(4);
  return a;
}

}  // namespace

Result<std::optional<SeriesActivity>> ReadSeriesActivity(Connection& conn,
                                                         const std::string& series_uid) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          conn.Prepare(std::string(kSelectActivity) +
                                       " WHERE se.series_uid = ? AND st.deleted_at_ms = 0"));
  stmt.Bind(1, series_uid);
  STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<SeriesActivity>();
  return std::optional<SeriesActivity>(ActivityRow(stmt));
}

Result<std::vector<SeriesActivity>> ReadStableSeries(
    Connection& conn, int64_t received_before_ms, const std::optional<SeriesActivityCursor>& after,
    size_t limit) {
  if (limit == 0) return InvalidArgument("stable series: limit must be at least 1");
  // A range of series_by_last_received from the cursor: row values keep the keyset order.
  std::string sql = std::string(kSelectActivity) +
                    " WHERE se.last_received_ms < ?1 AND st.deleted_at_ms = 0" +
                    (after ? " AND (se.last_received_ms, se.series_uid) > (?3, ?4)" : "") +
                    " ORDER BY se.last_received_ms, se.series_uid LIMIT ?2";
  STRATA_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  stmt.Bind(1, received_before_ms).Bind(2, static_cast<int64_t>(limit));
  if (after) stmt.Bind(3, after->last_received_ms).Bind(4, after->series_uid);
  std::vector<SeriesActivity> series;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    series.push_back(ActivityRow(stmt));
  }
  return series;
}

}  // namespace strata::catalog::sqlite
