#include "ai/stow_delivery.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

namespace strata::ai {
namespace {

constexpr char kFailedSopSequence[] = "00081198";
constexpr char kFailureReason[] = "00081197";

std::string Boundary() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char text[48];
  std::snprintf(text, sizeof text, "strata-stow-%016llx", static_cast<unsigned long long>(rng()));
  return text;
}

// The failure reason codes of the items of a STOW-RS answer's FailedSOPSequence; "" when it
// has no item (some servers send the attribute empty on success).
std::string FailureReasons(const std::string& body) {
  const nlohmann::json answer = nlohmann::json::parse(body, nullptr, false);
  if (!answer.is_object() || !answer.contains(kFailedSopSequence)) return "";
  const nlohmann::json& failed = answer[kFailedSopSequence];
  if (!failed.is_object() || !failed.contains("Value") || !failed["Value"].is_array() ||
      failed["Value"].empty()) {
    return "";
  }
  std::string reasons;
  for (const auto& item : failed["Value"]) {
    std::string reason = "unspecified";
    if (item.is_object() && item.contains(kFailureReason)) {
      const nlohmann::json value = item[kFailureReason].value("Value", nlohmann::json::array());
      if (value.is_array() && !value.empty() && value[0].is_number_integer()) {
        reason = std::to_string(value[0].get<int64_t>());
      }
    }
    reasons += (reasons.empty() ? "" : ", ") + reason;
  }
  return reasons;
}

}  // namespace

Status StowFile(blob::HttpClient& http, const StowDestination& destination,
                const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unavailable("STOW-RS: cannot read " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string boundary = Boundary();
  blob::HttpRequest request;
  request.method = "POST";
  std::string base = destination.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  request.url = base + "/studies";
  request.headers = {
      {"Content-Type", "multipart/related; type=\"application/dicom\"; boundary=" + boundary},
      {"Accept", "application/dicom+json"}};
  if (!destination.bearer_token.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + destination.bearer_token);
  }
  request.body = "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n" + bytes.str() +
                 "\r\n--" + boundary + "--\r\n";
  STRATA_ASSIGN_OR_RETURN(blob::HttpResponse response, http.Send(request));
  const std::string what = "STOW-RS to " + base + ": HTTP " + std::to_string(response.status);
  if (response.status == 408 || response.status == 429 || response.status >= 500) {
    return Unavailable(what);
  }
  if (response.status != 200) {
    const std::string reasons = FailureReasons(response.body);
    return FailedPrecondition(what + (reasons.empty() ? "" : " (failure reason " + reasons + ")"));
  }
  const std::string reasons = FailureReasons(response.body);
  if (!reasons.empty()) return FailedPrecondition(what + " but failure reason " + reasons);
  return OkStatus();
}

}  // namespace strata::ai
