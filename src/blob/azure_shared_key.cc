#include "blob/azure_shared_key.h"

#include <algorithm>
#include <map>

#include "blob/crypto_util.h"

namespace strata::blob {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

// Value of the first header named `name` (case-insensitive), or "" if absent.
std::string HeaderValue(const HeaderList& headers, std::string_view name) {
  for (const auto& [header_name, value] : headers) {
    if (Lower(header_name) == name) return value;
  }
  return "";
}

}  // namespace

std::string SharedKeyStringToSign(const SignableRequest& request, std::string_view account) {
  std::string content_length = HeaderValue(request.headers, "content-length");
  if (content_length == "0") content_length.clear();

  std::string out = request.method + "\n";
  out += HeaderValue(request.headers, "content-encoding") + "\n";
  out += HeaderValue(request.headers, "content-language") + "\n";
  out += content_length + "\n";
  out += HeaderValue(request.headers, "content-md5") + "\n";
  out += HeaderValue(request.headers, "content-type") + "\n";
  out += HeaderValue(request.headers, "date") + "\n";
  out += HeaderValue(request.headers, "if-modified-since") + "\n";
  out += HeaderValue(request.headers, "if-match") + "\n";
  out += HeaderValue(request.headers, "if-none-match") + "\n";
  out += HeaderValue(request.headers, "if-unmodified-since") + "\n";
  out += HeaderValue(request.headers, "range") + "\n";

  // Canonicalized headers: x-ms-* lowercased, sorted, values trimmed, one per line.
  std::map<std::string, std::string> ms_headers;
  for (const auto& [name, value] : request.headers) {
    std::string lower = Lower(name);
    if (lower.rfind("x-ms-", 0) == 0) ms_headers[lower] = Trim(value);
  }
  for (const auto& [name, value] : ms_headers) out += name + ":" + value + "\n";

  // Canonicalized resource: /account/path, then each query parameter "name:v1,v2" sorted.
  out += "/";
  out += account;
  out += request.path;
  std::map<std::string, std::vector<std::string>> params;
  for (const auto& [name, value] : request.query) params[Lower(name)].push_back(value);
  for (auto& [name, values] : params) {
    std::sort(values.begin(), values.end());
    out += "\n" + name + ":";
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out += ",";
      out += values[i];
    }
  }
  return out;
}

std::string SharedKeySignature(std::string_view key, std::string_view string_to_sign) {
  return Base64Encode(HmacSha256(key, string_to_sign));
}

std::string SharedKeyAuthorization(std::string_view account, std::string_view key,
                                   const SignableRequest& request) {
  return "SharedKey " + std::string(account) + ":" +
         SharedKeySignature(key, SharedKeyStringToSign(request, account));
}

std::string ServiceSasStringToSign(const ServiceSasFields& fields) {
  std::string resource = "/blob/" + fields.account + "/" + fields.container;
  if (!fields.blob.empty()) resource += "/" + fields.blob;
  const std::string signed_resource = fields.blob.empty() ? "c" : "b";
  // permissions, start, expiry, resource, identifier, IP, protocol, version, resource type,
  // snapshot time, encryption scope, then rscc, rscd, rsce, rscl, rsct.
  return fields.permissions + "\n" + fields.start + "\n" + fields.expiry + "\n" + resource + "\n" +
         "\n" + "\n" + fields.protocol + "\n" + fields.version + "\n" + signed_resource + "\n" +
         "\n" + "\n" + "\n" + "\n" + "\n" + "\n";
}

std::string ServiceSasToken(const ServiceSasFields& fields, std::string_view key) {
  const std::string signature = SharedKeySignature(key, ServiceSasStringToSign(fields));
  std::string token = "sv=" + UrlEncode(fields.version, false);
  if (!fields.start.empty()) token += "&st=" + UrlEncode(fields.start, false);
  token += "&se=" + UrlEncode(fields.expiry, false);
  token += "&sr=" + std::string(fields.blob.empty() ? "c" : "b");
  token += "&sp=" + UrlEncode(fields.permissions, false);
  if (!fields.protocol.empty()) token += "&spr=" + UrlEncode(fields.protocol, false);
  token += "&sig=" + UrlEncode(signature, false);
  return token;
}

}  // namespace strata::blob
