#include "audit/audit_log.h"

#include <openssl/sha.h>

#include <nlohmann/json.hpp>

namespace strata::audit {

std::string CanonicalJson(int64_t seq, const AuditEvent& e) {
  // nlohmann's object keeps keys sorted, so the text is canonical for the same values.
  nlohmann::json j = {{"seq", seq},
                      {"time_ms", e.time_ms},
                      {"actor", e.actor},
                      {"role", e.role},
                      {"source", e.source},
                      {"protocol", e.protocol},
                      {"action", e.action},
                      {"study_uid", e.study_uid},
                      {"series_uid", e.series_uid},
                      {"instance_uid", e.instance_uid},
                      {"outcome", e.outcome},
                      {"detail", e.detail}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ChainHash(const std::string& previous_hash, const std::string& canonical_json) {
  std::string text = previous_hash + "\n" + canonical_json;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

}  // namespace strata::audit
