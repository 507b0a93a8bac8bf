// AuditLog: the append-only, hash-chained record of every access and change (who, role, what,
// which study/series/instance, from where, with what outcome).
//
// Record() queues an event and returns at once; a writer commits queued events in batches
// (group commit), so auditing a query costs no fsync of its own. The queue is bounded: when it
// is full, Record() waits, so events are never dropped and memory stays bounded. Each record
// carries the SHA-256 of its predecessor's hash and its own content, so an edit or deletion
// anywhere breaks the chain and Verify() finds it.
// Thread-safety: every method may be called concurrently, also from several processes sharing
// one log (the CLI records model and admin changes beside a running `strata serve`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::audit {

struct AuditEvent {
  int64_t time_ms = 0;   // Unix time; 0: now, set by Record()
  std::string actor;     // token name, "ae:<calling AE>", or "anonymous"
  std::string role;      // reader/writer/admin, "dimse" for DICOM peers, "" when unknown
  std::string source;    // remote address
  std::string protocol;  // "http" or "dimse"
  std::string action;    // e.g. "qido.studies", "wado.retrieve", "stow.store", "dimse.store"
  std::string study_uid;
  std::string series_uid;
  std::string instance_uid;
  std::string outcome;  // "success", "failure", "denied"
  std::string detail;   // status code, reason or counts; never patient data beyond UIDs
};

struct AuditRecord {
  int64_t seq = 0;
  AuditEvent event;
  std::string hash;  // hex SHA-256 chaining this record to the previous one
};

struct AuditFilter {
  int64_t after_seq = 0;
  std::optional<int64_t> since_ms;
  std::optional<int64_t> until_ms;
  std::string actor;
  std::string action;
  std::string study_uid;
  size_t limit = 1000;
};

struct AuditVerification {
  int64_t records = 0;
  // The first record whose hash does not follow from its predecessor; 0 when intact.
  int64_t first_broken_seq = 0;
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  virtual void Record(AuditEvent event) = 0;
  // Waits until everything recorded so far is committed.
  virtual Status Flush() = 0;
  // Records in sequence order matching the filter.
  virtual Result<std::vector<AuditRecord>> Read(const AuditFilter& filter) = 0;
  virtual Result<AuditVerification> Verify() = 0;
};

// The canonical text a record's hash covers (also what `strata audit --json` prints per line).
std::string CanonicalJson(int64_t seq, const AuditEvent& event);
// hex SHA-256 of previous_hash + "\n" + canonical_json.
std::string ChainHash(const std::string& previous_hash, const std::string& canonical_json);

}  // namespace strata::audit
