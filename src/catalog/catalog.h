// Catalog: the index of everything Strata stores.
//
// Patients, studies, series and instances (with every stored version), their object keys,
// and the outbox of events for asynchronous consumers. All access goes through transactions:
// Read(fn) gives a ReadTxn that cannot write; Write(fn) gives a WriteTxn, committed when fn
// returns OK and rolled back otherwise. Retryable conflicts (kAborted) are retried inside
// Read/Write, in one place, so callers never see them unless retries are exhausted.
//
// Thread-safety: a Catalog is safe for concurrent use; a transaction object belongs to the
// thread running fn and must not escape it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/query.h"
#include "core/status.h"
#include "dicom/instance_metadata.h"

namespace strata::catalog {

// What ingest records for one stored object.
struct InstanceRecord {
  dicom::InstanceMetadata metadata;
  std::string blob_key;        // where the object is in the blob store
  uint64_t size_bytes = 0;     // whole Part 10 file
  std::string sha256_hex;      // of the data set (after the file meta information)
  int64_t received_at_ms = 0;  // Unix time in milliseconds
  std::string source_ae;       // calling AE title, or "" for other routes
  // Retention date (DICOM DA, YYYYMMDD, UTC) recorded when this instance creates its study; ""
  // for none. Ignored for a study already recorded (see DefaultRetentionUntil).
  std::string retention_until;
};

// One stored version of an instance, as readers need it to send the bytes.
struct InstanceLocation {
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string transfer_syntax_uid;
  std::string blob_key;
  uint64_t size_bytes = 0;
  std::string sha256_hex;
  int version = 1;      // 1 for the first stored version
  bool current = true;  // the version readers get by default
};

enum class PutOutcome {
  kStored,      // new instance
  kDuplicate,   // identical data set already stored: nothing changed
  kNewVersion,  // different data set under the same SOP Instance UID, kept as current version
};

enum class DuplicatePolicy { kKeepVersions, kReject };

// Outbox event of SetRetention, SetLegalHold and ClearLegalHold; its payload has the study's
// study_instance_uid, retention_until (YYYYMMDD or "") and legal_hold (bool) as they now are.
inline constexpr char kProtectionChangedEvent[] = "study.protection_changed";

// An event for the outbox, consumed at least once by asynchronous workers.
struct OutboxEvent {
  std::string kind;     // e.g. "instance.stored"
  std::string payload;  // JSON
};

// One entry of the change feed: the outbox is append-only, so its events in sequence order are
// the archive's history of creates, replacements and deletes.
struct ChangeEntry {
  int64_t seq = 0;
  std::string kind;     // e.g. "instance.stored", "instance.replaced"
  std::string payload;  // JSON: the object's UIDs, blob key, sha256
  int64_t created_at_ms = 0;
};

struct ChangeQuery {
  int64_t after_seq = 0;  // entries with a larger sequence number
  size_t limit = 100;
  std::optional<int64_t> since_ms;  // created at or after
  std::optional<int64_t> until_ms;  // created before
};

// The archive copy of one stored object version (one local blob key), as the archiver
// recorded it. A failed entry says why the object could not be archived; a later success
// replaces it.
enum class ArchiveOutcome { kArchived, kFailed };

struct ArchiveRecord {
  std::string blob_key;  // local object key: one per instance version
  std::string sop_instance_uid;
  ArchiveOutcome outcome = ArchiveOutcome::kArchived;
  std::string archive_key;     // object key in the archive store
  std::string tier;            // "Hot", "Cool", ...; empty where the store has no tiers
  std::string etag;            // as the archive store reported it; may be empty
  uint64_t size_bytes = 0;     // bytes archived
  int64_t archived_at_ms = 0;  // when this state was recorded (Unix ms)
  int64_t last_access_ms = 0;  // last read of the object as recorded (RecordAccess); 0: none
  std::string error;           // why, for kFailed
};

struct ArchiveCounts {
  uint64_t archived = 0;
  uint64_t failed = 0;
};

// Outbox events after a consumer's cursor: how far the consumer is behind.
struct OutboxBacklog {
  uint64_t events = 0;
  // created_at_ms of the oldest such event; nullopt when there is none.
  std::optional<int64_t> oldest_created_at_ms;
};

struct CatalogCounts {
  uint64_t patients = 0;
  uint64_t studies = 0;
  uint64_t series = 0;
  uint64_t instances = 0;  // current versions
};

// Retention policy, as ingest applies it to a new study. Plain values: the catalog knows no
// configuration types.
struct RetentionPolicy {
  int default_years = 0;                      // 0: no default retention
  std::map<std::string, int> modality_years;  // per Modality (0008,0060); overrides the default
};

// The retention date of a new study: its StudyDate (else the receive date) plus the years the
// policy gives for `modality` (else default_years), as YYYYMMDD. "" when that is 0 years.
// Thread-safety: a pure function.
std::string DefaultRetentionUntil(const RetentionPolicy& policy, const std::string& study_date,
                                  const std::string& modality, int64_t received_at_ms);

// The UTC calendar date of a Unix time in milliseconds, as YYYYMMDD.
std::string UtcDate(int64_t unix_ms);

// When a retention date (YYYYMMDD, inclusive, UTC) ends: the next day's midnight, in Unix ms;
// 0 for "" or a malformed date. UtcDate(RetentionEndMs(d) - 1) == d.
int64_t RetentionEndMs(const std::string& date);

// A study's lifecycle: kActive is visible to every reader; kDeleted (soft) is hidden from
// Find/Locate/Versions but fully recoverable with RestoreStudy; a purged study has no rows.
enum class StudyState { kActive, kDeleted };

struct LegalHold {
  bool held = false;
  std::string reason;
  std::string set_by;
  int64_t set_at_ms = 0;
};

// What protects a study from deletion and overwrite (DESIGN.md contract 2).
struct StudyProtection {
  std::string study_instance_uid;
  std::string retention_until;  // YYYYMMDD (UTC, inclusive); "" for none
  LegalHold hold;
  StudyState state = StudyState::kActive;
  int64_t deleted_at_ms = 0;  // kDeleted only
  std::string deleted_by;     // kDeleted only
  uint64_t instances = 0;     // current versions
};

// A soft-deleted study, as ListDeleted and PurgeCandidates return it.
struct DeletedStudy {
  std::string study_instance_uid;
  int64_t deleted_at_ms = 0;
  std::string deleted_by;
  uint64_t instances = 0;
  std::string retention_until;
  bool held = false;
};

// A series' receiving activity: when it last received an instance (a new instance or a new
// version of one; a duplicate changes nothing). A series is "stable" once it has received
// nothing for some time: per-series AI runs wait for that, and lifecycle passes may too.
struct SeriesActivity {
  std::string study_uid;
  std::string series_uid;
  std::string modality;
  uint64_t num_instances = 0;    // current versions
  int64_t last_received_ms = 0;  // InstanceRecord::received_at_ms of the latest receipt (Unix ms)
};

// Where a StableSeries page ended: the last row's last_received_ms and series_uid.
struct SeriesActivityCursor {
  int64_t last_received_ms = 0;
  std::string series_uid;
};

// Soft-deleted studies are invisible to Find, Locate, Versions, Counts, SeriesActivityOf and
// StableSeries.
class ReadTxn {
 public:
  virtual ~ReadTxn() = default;

  // Matches `query` and returns rows in a stable order (by the matched entity's insertion
  // order), honouring offset and limit. kInvalidArgument for malformed matching values.
  virtual Result<std::vector<QueryRow>> Find(const Query& query) = 0;

  // Current versions of every instance under a study (series_uid and sop_uid empty), a series
  // (sop_uid empty) or one instance, in series/instance order. Empty when nothing matches.
  virtual Result<std::vector<InstanceLocation>> Locate(const std::string& study_uid,
                                                       const std::string& series_uid,
                                                       const std::string& sop_uid) = 0;

  // Every stored version of one instance, oldest first. Empty when unknown.
  virtual Result<std::vector<InstanceLocation>> Versions(const std::string& sop_uid) = 0;

  virtual Result<CatalogCounts> Counts() = 0;

  // Change-feed entries in sequence order.
  virtual Result<std::vector<ChangeEntry>> Changes(const ChangeQuery& query) = 0;

  // The last outbox sequence number `consumer` has processed; 0 for a consumer never seen.
  virtual Result<int64_t> ConsumerCursor(const std::string& consumer) = 0;

  // How many outbox events have a sequence number above `after_seq`, and the oldest's time.
  virtual Result<OutboxBacklog> Backlog(int64_t after_seq) = 0;

  // The archive state of the object version stored under local `blob_key`; nullopt if none
  // was recorded.
  virtual Result<std::optional<ArchiveRecord>> ArchiveState(const std::string& blob_key) = 0;

  virtual Result<ArchiveCounts> CountArchiveStates() = 0;

  // Up to `limit` archive states (archived and failed) whose blob keys sort after
  // `after_blob_key` ("" for the first page), in blob key order: for whole-archive passes
  // (lifecycle, cost) one page per transaction.
  virtual Result<std::vector<ArchiveRecord>> ListArchiveStates(const std::string& after_blob_key,
                                                               size_t limit) = 0;

  // Like Versions, but also the versions of instances in soft-deleted studies: for the code
  // that manages objects rather than serving them (crash recovery, the archiver).
  virtual Result<std::vector<InstanceLocation>> VersionsIncludingDeleted(
      const std::string& sop_uid) = 0;

  // Retention, legal hold and state of a study, deleted or not. kNotFound when unknown.
  virtual Result<StudyProtection> GetStudyProtection(const std::string& study_uid) = 0;

  // Soft-deleted studies, oldest deletion first.
  virtual Result<std::vector<DeletedStudy>> ListDeleted() = 0;

  // Soft-deleted studies that may be purged at `now_ms`: deleted at least `min_age_ms` ago,
  // not under legal hold and not under retention on now's UTC date.
  virtual Result<std::vector<DeletedStudy>> PurgeCandidates(int64_t now_ms, int64_t min_age_ms) = 0;

  // The receiving activity of one series; nullopt when unknown or in a soft-deleted study.
  virtual Result<std::optional<SeriesActivity>> SeriesActivityOf(const std::string& series_uid) = 0;

  // Up to `limit` series that received nothing at or after `received_before_ms` (quiet since
  // then), quietest first: in (last_received_ms, series_uid) order, starting after `after`
  // (nullopt for the first page; pass the previous page's last row to continue). Series of
  // soft-deleted studies are left out. Paging is stable: a series that receives an instance
  // meanwhile only leaves the result.
  virtual Result<std::vector<SeriesActivity>> StableSeries(
      int64_t received_before_ms, const std::optional<SeriesActivityCursor>& after,
      size_t limit) = 0;
};

class WriteTxn : public ReadTxn {
 public:
  // Records one stored object. Identical data set (same SOP Instance UID and sha256 as the
  // current version) → kDuplicate; a different one → kNewVersion, or kAlreadyExists under kReject.
  // kStored and kNewVersion also move the series' last_received_ms (SeriesActivity) to
  // record.received_at_ms, never back.
  // The instance must agree with existing study/series rows on their parents (a series cannot move
  // to another study): otherwise kFailedPrecondition. On failure the transaction is exactly as
  // before the call (the write is isolated, e.g. by a savepoint), so a batch can go on.
  // Contract 2: kFailedPrecondition, naming the reason, for a new version (kNewVersion) in a
  // study under legal hold or retention (on the UTC date of record.received_at_ms), and for
  // any instance of a soft-deleted study (restore it first).
  virtual Result<PutOutcome> PutInstance(const InstanceRecord& record, DuplicatePolicy policy) = 0;

  // Appends an event to the outbox in this transaction.
  virtual Status AppendOutbox(const OutboxEvent& event) = 0;

  // Moves `consumer`'s cursor to `seq`, creating it if needed. Cursors only move forward:
  // kFailedPrecondition if `seq` is below the current value (another instance of the consumer
  // ran ahead); kInvalidArgument for an empty name or a negative seq.
  virtual Status AdvanceConsumerCursor(const std::string& consumer, int64_t seq) = 0;

  // Records (inserts or replaces) the archive state of record.blob_key. kInvalidArgument for
  // an empty blob key.
  virtual Status RecordArchiveState(const ArchiveRecord& record) = 0;

  // Records that the objects `blob_keys` were read at `at_ms` (never moving a recorded time
  // back). Keys without an archive state are ignored: only archived objects age by access.
  virtual Status RecordAccess(const std::vector<std::string>& blob_keys, int64_t at_ms) = 0;

  // Retention and legal hold. A study is retained while now's UTC date <= retention_until.
  // Each works on active and soft-deleted studies (a hold placed during the soft-delete window
  // blocks the purge). kNotFound for an unknown study.
  // These three append a kProtectionChangedEvent.
  // SetRetention: kInvalidArgument unless `until` is YYYYMMDD (a valid date) or "" (none).
  virtual Status SetRetention(const std::string& study_uid, const std::string& until) = 0;
  // kInvalidArgument for an empty reason or actor. Replaces an existing hold's reason.
  virtual Status SetLegalHold(const std::string& study_uid, const std::string& reason,
                              const std::string& by, int64_t now_ms) = 0;
  // kFailedPrecondition when the study is not under legal hold.
  virtual Status ClearLegalHold(const std::string& study_uid) = 0;

  // Moves an active study to the soft-deleted state (hidden from readers, recoverable) and
  // appends a "study.deleted" outbox event. kNotFound when unknown or already deleted;
  // kFailedPrecondition naming the reason when it is under legal hold or retention at now_ms.
  virtual Status SoftDeleteStudy(const std::string& study_uid, const std::string& by,
                                 int64_t now_ms) = 0;
  // Makes a soft-deleted study visible again, exactly as it was; appends "study.restored".
  // kNotFound when unknown (or purged); kFailedPrecondition when it is not deleted.
  virtual Status RestoreStudy(const std::string& study_uid, const std::string& by) = 0;
  // Removes a soft-deleted study's rows (every version of every instance) and appends
  // "study.purged"; returns the local blob keys the caller must now delete. Archive state rows
  // are kept (the archive copies are not removed). kNotFound when unknown; kFailedPrecondition
  // when the study is not soft-deleted, or is under legal hold or retention at now_ms.
  virtual Result<std::vector<std::string>> PurgeStudy(const std::string& study_uid,
                                                      const std::string& by, int64_t now_ms) = 0;
};

class Catalog {
 public:
  virtual ~Catalog() = default;
  // `fn` may run more than once (retries); it must not start another transaction on this
  // catalog.
  virtual Status Read(const std::function<Status(ReadTxn&)>& fn) = 0;
  // Commits durably (fsync) before returning OK.
  virtual Status Write(const std::function<Status(WriteTxn&)>& fn) = 0;
};

}  // namespace strata::catalog
