#include "blob/blob_store.h"

#include <unistd.h>

#include <array>

namespace strata::blob {

LocalObject::~LocalObject() {
  if (remove_on_close_) ::unlink(path_.c_str());
}

namespace {

constexpr std::array<std::pair<StorageTier, std::string_view>, 4> kTierNames = {{
    {StorageTier::kHot, "Hot"},
    {StorageTier::kCool, "Cool"},
    {StorageTier::kCold, "Cold"},
    {StorageTier::kArchive, "Archive"},
}};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string_view StorageTierName(StorageTier tier) {
  for (const auto& [value, name] : kTierNames) {
    if (value == tier) return name;
  }
  return "Unknown";
}

std::optional<StorageTier> ParseStorageTier(std::string_view name) {
  for (const auto& [value, tier_name] : kTierNames) {
    if (EqualsIgnoreCase(name, tier_name)) return value;
  }
  return std::nullopt;
}

Status BlobStore::PutFileUnsyncedName(const std::string& key, const std::string& source_path,
                                      bool create_only) {
  return PutFile(key, source_path, create_only);
}

Status BlobStore::SyncNames(const std::vector<std::string>& /*keys*/) { return OkStatus(); }

Status BlobStore::Put(const std::string& key, const std::string& source_path,
                      const PutOptions& options) {
  if (options.tier || !options.metadata.empty()) {
    return Unimplemented("this blob store keeps neither tiers nor metadata (put '" + key + "')");
  }
  return PutFile(key, source_path, options.create_only);
}

Result<BlobInfo> BlobStore::PutDescribed(const std::string& key, const std::string& source_path,
                                         const PutOptions& options) {
  STRATA_RETURN_IF_ERROR(Put(key, source_path, options));
  return Stat(key);
}

Status BlobStore::SetTier(const std::string& key, StorageTier /*tier*/) {
  return Unimplemented("this blob store has no storage tiers (set tier '" + key + "')");
}

Status BlobStore::SetProtection(const std::string& key, const BlobProtection& /*protection*/) {
  return Unimplemented("this blob store has no write protection (protect '" + key + "')");
}

}  // namespace strata::blob
