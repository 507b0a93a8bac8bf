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
};

class WriteTxn : public ReadTxn {
 public:
  // Records one stored object. Identical data set (same SOP Instance UID and sha256 as the
  // current version) → kDuplicate; a different one → kNewVersion, or kAlreadyExists under kReject.
  // The instance must agree with existing study/series rows on their parents (a series cannot move
  // to another study): otherwise kFailedPrecondition. On failure the transaction is exactly as
  // before the call (the write is isolated, e.g. by a savepoint), so a batch can go on.
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
