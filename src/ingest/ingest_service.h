// IngestService: the only write path for new instances; DIMSE C-STORE and STOW-RS both call it.
//
// Order, so that an acknowledgement means durable: the sender's bytes are already in a staged
// file; Ingest fsyncs and parses it, checks it, moves it to its object key, fsyncs the key's
// directory, then records it in one catalog transaction with its outbox event, grouped with
// concurrent ingests (group commit), and only then returns success. On any failure nothing is
// left in the catalog and the staged file is removed.
//
// Thread-safety: safe for concurrent use; Ingest blocks the calling thread until durable.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blob/blob_store.h"
#include "catalog/catalog.h"
#include "core/status.h"
#include "dicom/dicom_file.h"
#include "ingest/dataset_hasher.h"

namespace strata::ingest {

struct IngestRequest {
  std::string staged_path;  // from StagingPath(), a complete Part 10 file
  std::string source_ae;    // calling AE title ("" for other routes)
  std::string source_address;
  // What the transport said the object is (C-STORE's Affected SOP Class/Instance UID); when
  // set, they must agree with the data set.
  std::optional<std::string> expected_sop_class_uid;
  std::optional<std::string> expected_sop_instance_uid;
  // What the receiver already knows of the staged file, so that ingest need not read it again:
  // its parse (dicom::ReadInstance of this very file) and its content hash, computed while it
  // was written. A digest whose offset or size disagrees with the file is not used.
  std::optional<dicom::ParsedInstance> parsed;
  std::optional<DatasetDigest> digest;
};

struct IngestResult {
  catalog::PutOutcome outcome = catalog::PutOutcome::kStored;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string blob_key;
};

// An ingest between Prepare and Commit. Move-only in spirit: commit or abandon it once.
struct PreparedIngest {
  IngestResult result;             // outcome kDuplicate: already stored, nothing to commit
  catalog::InstanceRecord record;  // what Commit records
  std::string staged_path;         // kept until Commit or Abandon, for Recover after a crash
  bool created = false;            // this ingest placed the object (Abandon removes it)
};

struct IngestOptions {
  catalog::DuplicatePolicy duplicates = catalog::DuplicatePolicy::kKeepVersions;
  int max_batch = 256;
  uint64_t min_free_bytes = 0;
  // The retention date recorded with a study when its first instance arrives.
  catalog::RetentionPolicy retention;
  // Wall clock in Unix milliseconds for received_at; injected so tests are deterministic.
  std::function<int64_t()> now_ms;
  // Called on the commit thread after each group commit that appended outbox events, so their
  // consumers can start at once instead of at their next poll. Must be quick and not ingest.
  std::function<void()> on_committed;
};

class IngestService {
 public:
  virtual ~IngestService() = default;

  // A path to write an incoming object to, then pass to Ingest. kResourceExhausted when the
  // store has less than min_free_bytes free.
  virtual Result<std::string> StagingPath() = 0;

  // Stores one instance durably. Failure codes:
  //  kInvalidArgument: not parseable DICOM, missing or invalid UIDs;
  //  kFailedPrecondition: data set disagrees with the expected SOP class/instance, or with
  //                       the catalog's study/series hierarchy; a different object under a
  //                       SOP Instance UID of a study under retention or legal hold; any
  //                       object of a soft-deleted study;
  //  kAlreadyExists: a different object under this SOP Instance UID and policy kReject;
  //  kResourceExhausted: out of space; kUnavailable/kInternal: storage or catalog failure.
  Result<IngestResult> Ingest(const IngestRequest& request);

  // The two halves of Ingest, for a caller that may change the catalog only once it knows more
  // (STOW-RS, once the whole body has parsed). Prepare does everything but the catalog: the
  // object's bytes are durable at its key, where nothing refers to it yet; it fails as Ingest
  // does and then removes the staged file. Commit makes the objects' names durable (one fsync
  // per directory for all of them), records them in the catalog, all in the same group commit,
  // and returns Ingest's result for each; Abandon removes one. Every prepared ingest must be
  // committed or abandoned; a crash in between leaves it to Recover.
  virtual Result<PreparedIngest> Prepare(const IngestRequest& request) = 0;
  virtual std::vector<Result<IngestResult>> Commit(std::vector<PreparedIngest> prepared) = 0;
  virtual void Abandon(PreparedIngest prepared) = 0;

  // Finishes what a crash interrupted, before serving: for every staged file the blob store
  // found at start-up, removes the object an unfinished ingest placed but never committed
  // (it was never acknowledged), then the staged file. Committed objects are kept.
  virtual Status Recover() = 0;
};

// `catalog` and `blobs` must outlive the service. Starts the group-commit thread.
std::unique_ptr<IngestService> CreateIngestService(catalog::Catalog& catalog,
                                                   blob::BlobStore& blobs,
                                                   const IngestOptions& options);

}  // namespace strata::ingest
