// AiRecords: what the AI pipeline keeps — the model registry, one inference result per
// (instance, model version), the findings reports made from them, and radiologists' reviews of
// those results.
//
// The registry holds each registered model version (its ONNX file's SHA-256 and object key,
// its card as JSON) and which version of each model name is active. Results are unique per
// (SOP instance, model name, model version): recording a second result for the same key
// returns the first one, so retries and crash recovery can never produce two. Reports are
// numbered per (model version, study) by generation: each is claimed (recorded with the
// results it covers) before its SR is written, so a retry rebuilds the same SR.
//
// Thread-safety: every method may be called concurrently, also from several processes on the
// same database (the CLI registers models while `strata serve` runs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace strata::ai {

struct RegisteredModel {
  std::string name;
  std::string version;
  std::string sha256_hex;  // of the ONNX file
  std::string onnx_key;    // object key of the ONNX file in the blob store
  std::string card_json;   // the model card (inference/model_card.h)
  bool active = false;
  int64_t registered_at_ms = 0;
  std::string registered_by;
};

// One inference of one model version on one instance.
struct InferenceResult {
  int64_t id = 0;  // assigned when recorded
  std::string model_name;
  std::string model_version;
  std::string study_uid;
  std::string series_uid;
  std::string sop_uid;
  std::string engine;         // "onnxruntime", "opencv-dnn", "kserve-v2"
  std::string findings_json;  // [{"label", "probability", "threshold", "positive"}]
  bool any_positive = false;
  double latency_ms = 0;      // preprocessing and inference
  int64_t created_at_ms = 0;  // also the findings report's content time
  // The latest stored SR carrying this result (a revised report of the study carries it too).
  std::string report_sop_uid;
};

// One findings report of a model version on a study. Generation n is the study's (n+1)-th
// report; it covers every result of the study recorded before it was claimed, so a revision
// repeats the earlier findings and adds the late ones.
struct ReportRecord {
  std::string model_name;
  std::string model_version;
  std::string study_uid;
  int generation = 0;
  std::string sop_uid;                       // of the SR
  std::vector<std::string> source_sop_uids;  // the results it covers, sorted
};

struct RecordOutcome {
  int64_t id = 0;
  bool created = false;  // false: a result for this (instance, model version) existed
};

struct ResultFilter {
  std::string study_uid;
  std::string sop_uid;
  std::string model_name;
  std::string model_version;
  int64_t after_id = 0;
  size_t limit = 100;
};

struct Review {
  int64_t result_id = 0;
  std::string reviewer;  // the authenticated user
  bool agree = false;
  std::string comment;
  int64_t created_at_ms = 0;
};

// Per model version: how many results, how many reviewed (by the latest review of each
// result) and how many of those the reviewer agreed with.
struct AgreementStats {
  std::string model_name;
  std::string model_version;
  uint64_t results = 0;
  uint64_t positive = 0;
  uint64_t reviewed = 0;
  uint64_t agreed = 0;
};

class AiRecords {
 public:
  virtual ~AiRecords() = default;

  // kAlreadyExists when name+version is registered with a different SHA-256; the same file
  // again is OK (idempotent). The first version of a name becomes active.
  virtual Status RegisterModel(const RegisteredModel& model) = 0;
  virtual Result<std::vector<RegisteredModel>> ListModels() = 0;
  virtual Result<std::optional<RegisteredModel>> GetModel(const std::string& name,
                                                          const std::string& version) = 0;
  // Active versions, one per name at most.
  virtual Result<std::vector<RegisteredModel>> ActiveModels() = 0;
  // Makes `version` the active one of `name` (the previous one is deactivated). kNotFound if
  // not registered.
  virtual Status Activate(const std::string& name, const std::string& version) = 0;
  // No version of `name` stays active. kNotFound if the name is unknown.
  virtual Status Deactivate(const std::string& name) = 0;

  virtual Result<RecordOutcome> RecordResult(const InferenceResult& result) = 0;
  // Records several results in one transaction and returns, in the same order, the results
  // as stored: the earlier one where (instance, model version) was already recorded.
  virtual Result<std::vector<InferenceResult>> RecordResults(
      const std::vector<InferenceResult>& results) = 0;
  virtual Status SetReportUid(int64_t result_id, const std::string& report_sop_uid) = 0;
  // SetReportUid for several results in one transaction.
  virtual Status SetReportUids(const std::vector<std::pair<int64_t, std::string>>& uids) = 0;
  virtual Result<std::optional<InferenceResult>> GetResult(int64_t id) = 0;
  virtual Result<std::optional<InferenceResult>> FindResult(const std::string& sop_uid,
                                                            const std::string& model_name,
                                                            const std::string& model_version) = 0;
  // In id order.
  virtual Result<std::vector<InferenceResult>> ListResults(const ResultFilter& filter) = 0;

  // Records `report` unless its (model, version, study, generation) is claimed already, and
  // returns the claimed one (`report` or the earlier claim). kInvalidArgument for an empty
  // key, SOP UID or source list, or a negative generation.
  virtual Result<ReportRecord> ClaimReport(const ReportRecord& report) = 0;
  // The claimed reports of a model version on a study, in generation order.
  virtual Result<std::vector<ReportRecord>> Reports(const std::string& model_name,
                                                    const std::string& model_version,
                                                    const std::string& study_uid) = 0;
  // The claimed report's SR is stored: each result it covers now names it as its report,
  // unless a later generation's SR already does (a retried older report never hides a newer
  // one). One transaction. kNotFound when the report was not claimed.
  virtual Status MarkReportStored(const ReportRecord& report) = 0;

  // kNotFound if the result does not exist.
  virtual Status AddReview(const Review& review) = 0;
  virtual Result<std::vector<Review>> Reviews(int64_t result_id) = 0;
  virtual Result<std::vector<AgreementStats>> Agreement() = 0;
};

}  // namespace strata::ai
