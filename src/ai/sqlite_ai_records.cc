#include "ai/sqlite_ai_records.h"

#include <sqlite3.h>

#include <chrono>
#include <mutex>
#include <utility>

#include "sqlite/connection.h"

namespace strata::ai {
namespace {

using sqlite::Statement;

// 2: the reports table.
constexpr int kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS models (
  name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, onnx_key TEXT NOT NULL,
  card_json TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 0, registered_at_ms INTEGER NOT NULL,
  registered_by TEXT NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS results (
  id INTEGER PRIMARY KEY AUTOINCREMENT, model_name TEXT NOT NULL, model_version TEXT NOT NULL,
  study_uid TEXT NOT NULL, series_uid TEXT NOT NULL, sop_uid TEXT NOT NULL, engine TEXT NOT NULL,
  findings_json TEXT NOT NULL, any_positive INTEGER NOT NULL, latency_ms REAL NOT NULL,
  created_at_ms INTEGER NOT NULL, report_sop_uid TEXT NOT NULL DEFAULT '',
  UNIQUE (sop_uid, model_name, model_version));
CREATE INDEX IF NOT EXISTS results_by_study ON results (study_uid);
CREATE TABLE IF NOT EXISTS reviews (
  id INTEGER PRIMARY KEY AUTOINCREMENT, result_id INTEGER NOT NULL REFERENCES results (id),
  reviewer TEXT NOT NULL, agree INTEGER NOT NULL, comment TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS reviews_by_result ON reviews (result_id);
CREATE TABLE IF NOT EXISTS reports (
  model_name TEXT NOT NULL, model_version TEXT NOT NULL, study_uid TEXT NOT NULL,
  generation INTEGER NOT NULL, sop_uid TEXT NOT NULL, source_sop_uids TEXT NOT NULL,
  PRIMARY KEY (model_name, model_version, study_uid, generation));
)sql";

// A report's sources in one column: UIDs never contain a newline.
std::string JoinUids(const std::vector<std::string>& uids) {
  std::string out;
  for (const auto& uid : uids) {
    if (!out.empty()) out += '\n';
    out += uid;
  }
  return out;
}

std::vector<std::string> SplitUids(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kModelColumns =
    "name, version, sha256, onnx_key, card_json, active, registered_at_ms, registered_by";
constexpr const char* kResultColumns =
    "id, model_name, model_version, study_uid, series_uid, sop_uid, engine, findings_json, "
    "any_positive, latency_ms, created_at_ms, report_sop_uid";

constexpr const char* kReportColumns =
    "model_name, model_version, study_uid, generation, sop_uid, source_sop_uids";

ReportRecord ReportFromRow(const Statement& s) {
  return {s.Text(0), s.Text(1),           s.Text(2), static_cast<int>(s.Int(3)),
          s.Text(4), SplitUids(s.Text(5))};
}

RegisteredModel ModelFromRow(const Statement& s) {
  return {s.Text(0), s.Text(1),     s.Text(2), s.Text(3),
          s.Text(4), s.Int(5) != 0, s.Int(6),  s.Text(7)};
}

InferenceResult ResultFromRow(const Statement& s) {
  InferenceResult r;
  r.id = s.Int(0);
  r.model_name = s.Text(1);
  r.model_version = s.Text(2);
  r.study_uid = s.Text(3);
  r.series_uid = s.Text(4);
  r.sop_uid = s.Text(5);
  r.engine = s.Text(6);
  r.findings_json = s.Text(7);
  r.any_positive = s.Int(8) != 0;
  r.latency_ms = s.Real(9);
  r.created_at_ms = s.Int(10);
  r.report_sop_uid = s.Text(11);
  return r;
}

class SqliteAiRecords : public AiRecords {
 public:
  SqliteAiRecords(std::unique_ptr<sqlite::Connection> db, SqliteAiRecordsOptions options)
      : db_(std::move(db)), options_(std::move(options)) {}

  Status Init() {
    db_->SetBusyTimeout(10000);
    Status wal = db_->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    if (!wal.ok()) {
      return InvalidArgument("AI records: not an SQLite database: " + wal.message());
    }
    STRATA_ASSIGN_OR_RETURN(Statement version, db_->Prepare("PRAGMA user_version"));
    STRATA_ASSIGN_OR_RETURN(bool row, version.Step());
    int64_t found = row ? version.Int(0) : 0;
    if (found > kSchemaVersion) {
      return InvalidArgument("AI records: schema version " + std::to_string(found) +
                             " is newer than this Strata (" + std::to_string(kSchemaVersion) + ")");
    }
    return Transaction([&]() -> Status {
      Status schema = db_->Exec(kSchema);
      if (!schema.ok()) {
        return InvalidArgument("AI records: cannot create the schema: " + schema.message());
      }
      return db_->Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
    });
  }

  Status RegisterModel(const RegisteredModel& model) override {
    if (model.name.empty() || model.version.empty() || model.sha256_hex.empty()) {
      return InvalidArgument("model registration needs a name, a version and a SHA-256");
    }
    return Transaction([&]() -> Status {
      STRATA_ASSIGN_OR_RETURN(
          Statement existing,
          db_->Prepare("SELECT sha256 FROM models WHERE name = ?1 AND version = ?2"));
      existing.Bind(1, model.name).Bind(2, model.version);
      STRATA_ASSIGN_OR_RETURN(bool found, existing.Step());
      if (found) {
        if (existing.Text(0) == model.sha256_hex) return OkStatus();
        return AlreadyExists("model " + model.name + " version " + model.version +
                             " is already registered with different content (sha256 " +
                             existing.Text(0) + ")");
      }
      STRATA_ASSIGN_OR_RETURN(
          Statement any_active,
          db_->Prepare("SELECT count(*) FROM models WHERE name = ?1 AND active = 1"));
      any_active.Bind(1, model.name);
      STRATA_ASSIGN_OR_RETURN(bool row, any_active.Step());
      const bool first_active = row && any_active.Int(0) == 0;
      STRATA_ASSIGN_OR_RETURN(
          Statement insert,
          db_->Prepare("INSERT INTO models (name, version, sha256, onnx_key, card_json, active, "
                       "registered_at_ms, registered_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
      insert.Bind(1, model.name)
          .Bind(2, model.version)
          .Bind(3, model.sha256_hex)
          .Bind(4, model.onnx_key)
          .Bind(5, model.card_json)
          .Bind(6, int64_t{first_active ? 1 : 0})
          .Bind(7, model.registered_at_ms ? model.registered_at_ms : NowMs())
          .Bind(8, model.registered_by);
      return insert.Run();
    });
  }

  Result<std::vector<RegisteredModel>> ListModels() override {
    return Models(std::string("SELECT ") + kModelColumns +
                  " FROM models ORDER BY name, registered_at_ms, version");
  }

  Result<std::vector<RegisteredModel>> ActiveModels() override {
    return Models(std::string("SELECT ") + kModelColumns +
                  " FROM models WHERE active = 1 ORDER BY name");
  }

  Result<std::optional<RegisteredModel>> GetModel(const std::string& name,
                                                  const std::string& version) override {
    std::lock_guard lock(mutex_);
    STRATA_ASSIGN_OR_RETURN(Statement s,
                            db_->Prepare(std::string("SELECT ") + kModelColumns +
                                         " FROM models WHERE name = ?1 AND version = ?2"));
    s.Bind(1, name).Bind(2, version);
    STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<RegisteredModel>();
    return std::optional<RegisteredModel>(ModelFromRow(s));
  }

  Status Activate(const std::string& name, const std::string& version) override {
    return Transaction([&]() -> Status {
      STRATA_ASSIGN_OR_RETURN(
          Statement exists, db_->Prepare("SELECT 1 FROM models WHERE name = ?1 AND version = ?2"));
      exists.Bind(1, name).Bind(2, version);
      STRATA_ASSIGN_OR_RETURN(bool found, exists.Step());
      if (!found) return NotFound("model " + name + " version " + version + " is not registered");
      STRATA_ASSIGN_OR_RETURN(
          Statement update,
          db_->Prepare("UPDATE models SET active = (version = ?2) WHERE name = ?1"));
      update.Bind(1, name).Bind(2, version);
      return update.Run();
    });
  }

  Status Deactivate(const std::string& name) override {
    return Transaction([&]() -> Status {
      STRATA_ASSIGN_OR_RETURN(Statement update,
                              db_->Prepare("UPDATE models SET active = 0 WHERE name = ?1"));
      update.Bind(1, name);
      STRATA_RETURN_IF_ERROR(update.Run());
      if (db_->Changes() == 0) return NotFound("model " + name + " is not registered");
      return OkStatus();
    });
  }

  Result<RecordOutcome> RecordResult(const InferenceResult& r) override {
    RecordOutcome outcome;
    Status status = Transaction([&]() -> Status {
      STRATA_ASSIGN_OR_RETURN(outcome, InsertResult(r));
      return OkStatus();
    });
    if (!status.ok()) return status;
    return outcome;
  }

  Result<std::vector<InferenceResult>> RecordResults(
      const std::vector<InferenceResult>& results) override {
    std::vector<InferenceResult> stored;
    Status status = Transaction([&]() -> Status {
      stored.clear();
      for (const auto& r : results) {
        STRATA_ASSIGN_OR_RETURN(RecordOutcome outcome, InsertResult(r));
        STRATA_ASSIGN_OR_RETURN(Statement s, db_->Prepare(std::string("SELECT ") + kResultColumns +
                                                          " FROM results WHERE id = ?1"));
        s.Bind(1, outcome.id);
        STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) return Internal("AI records: result vanished after insert");
        stored.push_back(ResultFromRow(s));
      }
      return OkStatus();
    });
    if (!status.ok()) return status;
    return stored;
  }

  Status SetReportUid(int64_t result_id, const std::string& report_sop_uid) override {
    return SetReportUids({{result_id, report_sop_uid}});
  }

  Status SetReportUids(const std::vector<std::pair<int64_t, std::string>>& uids) override {
    return Transaction([&]() -> Status {
      for (const auto& [id, uid] : uids) {
        STRATA_ASSIGN_OR_RETURN(
            Statement update, db_->Prepare("UPDATE results SET report_sop_uid = ?2 WHERE id = ?1"));
        update.Bind(1, id).Bind(2, uid);
        STRATA_RETURN_IF_ERROR(update.Run());
        if (db_->Changes() == 0) {
          return NotFound("inference result " + std::to_string(id) + " does not exist");
        }
      }
      return OkStatus();
    });
  }

  Result<std::optional<InferenceResult>> GetResult(int64_t id) override {
    std::lock_guard lock(mutex_);
    STRATA_ASSIGN_OR_RETURN(Statement s, db_->Prepare(std::string("SELECT ") + kResultColumns +
                                                      " FROM results WHERE id = ?1"));
    s.Bind(1, id);
    return OneResult(s);
  }

  Result<std::optional<InferenceResult>> FindResult(const std::string& sop_uid,
                                                    const std::string& model_name,
                                                    const std::string& model_version) override {
    std::lock_guard lock(mutex_);
    STRATA_ASSIGN_OR_RETURN(
        Statement s,
        db_->Prepare(
            std::string("SELECT ") + kResultColumns +
            " FROM results WHERE sop_uid = ?1 AND model_name = ?2 AND model_version = ?3"));
    s.Bind(1, sop_uid).Bind(2, model_name).Bind(3, model_version);
    return OneResult(s);
  }

  Result<std::vector<InferenceResult>> ListResults(const ResultFilter& f) override {
    std::lock_guard lock(mutex_);
    STRATA_ASSIGN_OR_RETURN(
        Statement s, db_->Prepare(std::string("SELECT ") + kResultColumns +
                                  " FROM results WHERE id > ?1 AND (?2 = '' OR study_uid = ?2) AND "
                                  "(?3 = '' OR sop_uid = ?3) AND (?4 = '' OR model_name = ?4) AND "
                                  "(?6 = '' OR model_version = ?6) ORDER BY id LIMIT ?5"));
    s.Bind(1, f.after_id)
        .Bind(2, f.study_uid)
        .Bind(3, f.sop_uid)
        .Bind(4, f.model_name)
        .Bind(5, static_cast<int64_t>(f.limit))
        .Bind(6, f.model_version);
    std::vector<InferenceResult> out;
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back(ResultFromRow(s));
    }
    return out;
  }

  Result<ReportRecord> ClaimReport(const ReportRecord& report) override {
    if (report.model_name.empty() || report.model_version.empty() || report.study_uid.empty() ||
        report.sop_uid.empty() || report.source_sop_uids.empty() || report.generation < 0) {
      return InvalidArgument(
          "a report needs a model version, a study, a generation, a UID and sources");
    }
    ReportRecord claimed;
    Status status = Transaction([&]() -> Status {
      STRATA_ASSIGN_OR_RETURN(
          Statement insert,
          db_->Prepare("INSERT INTO reports (model_name, model_version, study_uid, generation, "
                       "sop_uid, source_sop_uids) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                       "ON CONFLICT DO NOTHING"));
      insert.Bind(1, report.model_name)
          .Bind(2, report.model_version)
          .Bind(3, report.study_uid)
          .Bind(4, int64_t{report.generation})
          .Bind(5, report.sop_uid)
          .Bind(6, JoinUids(report.source_sop_uids));
      STRATA_RETURN_IF_ERROR(insert.Run());
      STRATA_ASSIGN_OR_RETURN(auto found, FindReport(report));
      if (!found) return Internal("AI records: report vanished after insert");
      claimed = std::move(*found);
      return OkStatus();
    });
    if (!status.ok()) return status;
    return claimed;
  }

  Result<std::vector<ReportRecord>> Reports(const std::string& model_name,
                                            const std::string& model_version,
                                            const std::string& study_uid) override {
    std::lock_guard lock(mutex_);
    STRATA_ASSIGN_OR_RETURN(
        Statement s, db_->Prepare(std::string("SELECT ") + kReportColumns +
                                  " FROM reports WHERE model_name = ?1 AND model_version = ?2 AND "
                                  "study_uid = ?3 ORDER BY generation"));
    s.Bind(1, model_name).Bind(2, model_version).Bind(3, study_uid);
    std::vector<ReportRecord> out;
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back(ReportFromRow(s));
    }
    return out;
  }

  Status MarkReportStored(const ReportRecord& report) override {
    return Transaction([&]() -> Status {
      STRATA_ASSIGN_OR_RETURN(auto claimed, FindReport(report));
      if (!claimed) return NotFound("report " + report.sop_uid + " was not claimed");
      for (const auto& source : claimed->source_sop_uids) {
        STRATA_ASSIGN_OR_RETURN(Statement update, db_->Prepare(R"sql(
          UPDATE results SET report_sop_uid = ?4
          WHERE model_name = ?1 AND model_version = ?2 AND sop_uid = ?3 AND NOT EXISTS (
            SELECT 1 FROM reports r
            WHERE r.model_name = ?1 AND r.model_version = ?2 AND r.study_uid = ?5
              AND r.generation > ?6 AND r.sop_uid = results.report_sop_uid))sql"));
        update.Bind(1, claimed->model_name)
            .Bind(2, claimed->model_version)
            .Bind(3, source)
            .Bind(4, claimed->sop_uid)
            .Bind(5, claimed->study_uid)
            .Bind(6, int64_t{claimed->generation});
        STRATA_RETURN_IF_ERROR(update.Run());
      }
      return OkStatus();
    });
  }

  Status AddReview(const Review& review) override {
    if (review.reviewer.empty()) return InvalidArgument("a review needs a reviewer");
    return Transaction([&]() -> Status {
      STRATA_ASSIGN_OR_RETURN(Statement exists,
                              db_->Prepare("SELECT 1 FROM results WHERE id = ?1"));
      exists.Bind(1, review.result_id);
      STRATA_ASSIGN_OR_RETURN(bool found, exists.Step());
      if (!found) {
        return NotFound("inference result " + std::to_string(review.result_id) + " does not exist");
      }
      STRATA_ASSIGN_OR_RETURN(
          Statement insert,
          db_->Prepare("INSERT INTO reviews (result_id, reviewer, agree, comment, created_at_ms) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)"));
      insert.Bind(1, review.result_id)
          .Bind(2, review.reviewer)
          .Bind(3, int64_t{review.agree ? 1 : 0})
          .Bind(4, review.comment)
          .Bind(5, review.created_at_ms ? review.created_at_ms : NowMs());
      return insert.Run();
    });
  }

  Result<std::vector<Review>> Reviews(int64_t result_id) override {
    std::lock_guard lock(mutex_);
    STRATA_ASSIGN_OR_RETURN(
        Statement s,
        db_->Prepare("SELECT result_id, reviewer, agree, comment, created_at_ms FROM reviews "
                     "WHERE result_id = ?1 ORDER BY id"));
    s.Bind(1, result_id);
    std::vector<Review> out;
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back({s.Int(0), s.Text(1), s.Int(2) != 0, s.Text(3), s.Int(4)});
    }
    return out;
  }

  Result<std::vector<AgreementStats>> Agreement() override {
    std::lock_guard lock(mutex_);
    // The latest review of each result counts.
    STRATA_ASSIGN_OR_RETURN(Statement s, db_->Prepare(R"sql(
      SELECT r.model_name, r.model_version, count(*), sum(r.any_positive),
             count(v.agree), coalesce(sum(v.agree), 0)
      FROM results r LEFT JOIN reviews v
        ON v.id = (SELECT max(id) FROM reviews WHERE result_id = r.id)
      GROUP BY r.model_name, r.model_version ORDER BY r.model_name, r.model_version)sql"));
    std::vector<AgreementStats> out;
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back({s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2)),
                     static_cast<uint64_t>(s.Int(3)), static_cast<uint64_t>(s.Int(4)),
                     static_cast<uint64_t>(s.Int(5))});
    }
    return out;
  }

 private:
  int64_t NowMs() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

  // Runs fn in BEGIN IMMEDIATE ... COMMIT under the mutex; rolls back on failure.
  Status Transaction(const std::function<Status()>& fn) {
    std::lock_guard lock(mutex_);
    STRATA_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
    Status status = fn();
    if (status.ok()) status = db_->Exec("COMMIT");
    if (!status.ok()) db_->Exec("ROLLBACK").IgnoreError();
    return status;
  }

  // REQUIRES: inside Transaction.
  Result<RecordOutcome> InsertResult(const InferenceResult& r) {
    if (r.sop_uid.empty() || r.model_name.empty() || r.model_version.empty()) {
      return InvalidArgument("an inference result needs an instance and a model version");
    }
    STRATA_ASSIGN_OR_RETURN(
        Statement insert,
        db_->Prepare("INSERT INTO results (model_name, model_version, study_uid, series_uid, "
                     "sop_uid, engine, findings_json, any_positive, latency_ms, created_at_ms, "
                     "report_sop_uid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                     "ON CONFLICT (sop_uid, model_name, model_version) DO NOTHING"));
    insert.Bind(1, r.model_name)
        .Bind(2, r.model_version)
        .Bind(3, r.study_uid)
        .Bind(4, r.series_uid)
        .Bind(5, r.sop_uid)
        .Bind(6, r.engine)
        .Bind(7, r.findings_json)
        .Bind(8, int64_t{r.any_positive ? 1 : 0})
        .BindReal(9, r.latency_ms)
        .Bind(10, r.created_at_ms ? r.created_at_ms : NowMs())
        .Bind(11, r.report_sop_uid);
    STRATA_RETURN_IF_ERROR(insert.Run());
    RecordOutcome outcome;
    outcome.created = db_->Changes() > 0;
    STRATA_ASSIGN_OR_RETURN(
        Statement id,
        db_->Prepare("SELECT id FROM results WHERE sop_uid = ?1 AND model_name = ?2 AND "
                     "model_version = ?3"));
    id.Bind(1, r.sop_uid).Bind(2, r.model_name).Bind(3, r.model_version);
    STRATA_ASSIGN_OR_RETURN(bool row, id.Step());
    if (!row) return Internal("AI records: result vanished after insert");
    outcome.id = id.Int(0);
    return outcome;
  }

  Result<std::vector<RegisteredModel>> Models(const std::string& sql) {
    std::lock_guard lock(mutex_);
    STRATA_ASSIGN_OR_RETURN(Statement s, db_->Prepare(sql.c_str()));
    std::vector<RegisteredModel> out;
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.push_back(ModelFromRow(s));
    }
    return out;
  }

  // REQUIRES: inside Transaction. The claim of report's (model, version, study, generation).
  Result<std::optional<ReportRecord>> FindReport(const ReportRecord& report) {
    STRATA_ASSIGN_OR_RETURN(
        Statement s, db_->Prepare(std::string("SELECT ") + kReportColumns +
                                  " FROM reports WHERE model_name = ?1 AND model_version = ?2 AND "
                                  "study_uid = ?3 AND generation = ?4"));
    s.Bind(1, report.model_name)
        .Bind(2, report.model_version)
        .Bind(3, report.study_uid)
        .Bind(4, int64_t{report.generation});
    STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<ReportRecord>();
    return std::optional<ReportRecord>(ReportFromRow(s));
  }

  static Result<std::optional<InferenceResult>> OneResult(Statement& s) {
    STRATA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<InferenceResult>();
    return std::optional<InferenceResult>(ResultFromRow(s));
  }

  std::unique_ptr<sqlite::Connection> db_;  // guarded by mutex_
  const SqliteAiRecordsOptions options_;
  std::mutex mutex_;
};

}  // namespace

Result<std::unique_ptr<AiRecords>> OpenSqliteAiRecords(const std::string& path,
                                                       SqliteAiRecordsOptions options) {
  auto db = sqlite::Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db.ok()) return db.status().WithContext("AI records");
  auto records = std::make_unique<SqliteAiRecords>(std::move(db).value(), std::move(options));
  STRATA_RETURN_IF_ERROR(records->Init());
  return std::unique_ptr<AiRecords>(std::move(records));
}

}  // namespace strata::ai
