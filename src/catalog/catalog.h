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
