#include "jobs/job_queue.h"

namespace strata::jobs {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kPending:
      return "pending";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view text) {
  for (JobState state :
       {JobState::kPending, JobState::kRunning, JobState::kSucceeded, JobState::kFailed}) {
    if (text == JobStateName(state)) return state;
  }
  return std::nullopt;
}

Status ValidateJobSpec(const JobSpec& spec) {
  if (spec.kind.empty()) return InvalidArgument("job kind is empty");
  if (spec.idempotency_key.empty()) {
    return InvalidArgument("job idempotency key is empty (kind " + spec.kind + ")");
  }
  if (spec.max_attempts < 1) {
    return InvalidArgument("job max_attempts must be at least 1, got " +
                           std::to_string(spec.max_attempts) + " (key " + spec.idempotency_key +
                           ")");
  }
  if (spec.not_before_ms < 0) {
    return InvalidArgument("job not_before_ms is negative (key " + spec.idempotency_key + ")");
  }
  return OkStatus();
}

}  // namespace strata::jobs
