#include "core/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/log.h"

extern char** environ;

namespace strata {
namespace {

// One documented setting: where it lives, how to read it from TOML or from text.
struct Setting {
  std::string section;
  std::string key;
  std::string doc;
  std::function<Status(Config&, const toml::node&)> from_toml;
  std::function<Status(Config&, const std::string&)> from_text;
  std::function<std::string(const Config&)> default_toml;
};

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

Status TypeError(const std::string& name, const char* want) {
  return InvalidArgument("config key '" + name + "' must be " + want);
}

template <typename Int>
Status ParseInt(const std::string& name, const std::string& text, Int min, Int max, Int* out) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < static_cast<int64_t>(min) ||
      v > static_cast<int64_t>(max)) {
    return InvalidArgument("config key '" + name + "': '" + text + "' is not an integer in [" +
                           std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  *out = static_cast<Int>(v);
  return OkStatus();
}

template <typename Int>
Setting IntSetting(std::string section, std::string key, std::string doc, Int Config::*field,
                   Int min, Int max) {
  std::string name = section + "." + key;
  Setting s{section, key, std::move(doc), {}, {}, {}};
  s.from_text = [=](Config& c, const std::string& t) {
    return ParseInt(name, t, min, max, &(c.*field));
  };
  s.from_toml = [=](Config& c, const toml::node& n) {
    auto v = n.value<int64_t>();
    if (!n.is_integer() || !v) return TypeError(name, "an integer");
    return ParseInt(name, std::to_string(*v), min, max, &(c.*field));
  };
  s.default_toml = [=](const Config& c) { return std::to_string(c.*field); };
  return s;
}

Setting StringSetting(std::string section, std::string key, std::string doc,
                      std::string Config::*field) {
  std::string name = section + "." + key;
  Setting s{section, key, std::move(doc), {}, {}, {}};
  s.from_text = [=](Config& c, const std::string& t) {
    c.*field = t;
    return OkStatus();
  };
  s.from_toml = [=](Config& c, const toml::node& n) {
    if (!n.is_string()) return TypeError(name, "a string");
    c.*field = *n.value<std::string>();
    return OkStatus();
  };
  s.default_toml = [=](const Config& c) { return Quote(c.*field); };
  return s;
}

Status ParseBool(const std::string& name, const std::string& t, bool* out) {
  if (t == "true" || t == "1" || t == "yes") {
    *out = true;
  } else if (t == "false" || t == "0" || t == "no") {
    *out = false;
  } else {
    return InvalidArgument("config key '" + name + "': '" + t + "' is not a boolean");
  }
  return OkStatus();
}

Setting BoolSetting(std::string section, std::string key, std::string doc, bool Config::*field) {
  std::string name = section + "." + key;
  Setting s{section, key, std::move(doc), {}, {}, {}};
  s.from_text = [=](Config& c, const std::string& t) { return ParseBool(name, t, &(c.*field)); };
  s.from_toml = [=](Config& c, const toml::node& n) {
    if (!n.is_boolean()) return TypeError(name, "true or false");
    c.*field = *n.value<bool>();
    return OkStatus();
  };
  s.default_toml = [=](const Config& c) { return std::string(c.*field ? "true" : "false"); };
  return s;
}

Status CheckAeTitle(const std::string& name, const std::string& ae) {
  if (ae.empty() || ae.size() > 16) {
    return InvalidArgument("config key '" + name + "': AE title '" + ae +
                           "' must be 1-16 characters");
  }
  for (char c : ae) {
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      return InvalidArgument("config key '" + name + "': AE title '" + ae +
                             "' has an invalid character");
    }
  }
  return OkStatus();
}

// Parses "AE1,AE2" (environment form) into a list.
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Status CheckApiToken(const ApiToken& t) {
  const std::string name = "config key 'auth.tokens'";
  if (t.name.empty() || t.name.find_first_of(":, \t") != std::string::npos) {
    return InvalidArgument(name + ": token name '" + t.name +
                           "' must be non-empty without ':', ',' or spaces");
  }
  if (t.role != "reader" && t.role != "writer" && t.role != "admin") {
    return InvalidArgument(name + ": role of '" + t.name + "' is '" + t.role +
                           "', expected reader, writer or admin");
  }
  bool hex = t.sha256_hex.size() == 64 &&
             std::all_of(t.sha256_hex.begin(), t.sha256_hex.end(),
                         [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (!hex) {
    return InvalidArgument(name + ": sha256 of '" + t.name +
                           "' must be 64 hex digits (the SHA-256 of the secret, see `strata token "
                           "new`)");
  }
  return OkStatus();
}

// Parses "name:role:sha256,name2:role:sha256" (environment form of auth.tokens).
Status ParseApiTokens(const std::string& text, std::vector<ApiToken>* out) {
  out->clear();
  for (const auto& item : SplitList(text)) {
    auto first = item.find(':');
    auto last = item.rfind(':');
    if (first == std::string::npos || first == last) {
      return InvalidArgument("config key 'auth.tokens': '" + item.substr(0, first) +
                             "...' is not name:role:sha256");
    }
    ApiToken t{item.substr(0, first), item.substr(first + 1, last - first - 1),
               item.substr(last + 1)};
    STRATA_RETURN_IF_ERROR(CheckApiToken(t));
    out->push_back(std::move(t));
  }
  return OkStatus();
}

// Parses "AE@host:port,AE2@host:port" (environment form of dimse.peers).
Status ParsePeers(const std::string& text, std::vector<DicomPeer>* out) {
  out->clear();
  for (const auto& item : SplitList(text)) {
    auto at = item.find('@');
    auto colon = item.rfind(':');
    if (at == std::string::npos || colon == std::string::npos || colon < at) {
      return InvalidArgument("config key 'dimse.peers': '" + item + "' is not AE@host:port");
    }
    DicomPeer p{item.substr(0, at), item.substr(at + 1, colon - at - 1), 0};
    STRATA_RETURN_IF_ERROR(
        ParseInt<uint16_t>("dimse.peers", item.substr(colon + 1), 1, 65535, &p.port));
    STRATA_RETURN_IF_ERROR(CheckAeTitle("dimse.peers", p.ae_title));
    out->push_back(std::move(p));
  }
  return OkStatus();
}

// A string setting whose value must be one of `allowed`.
Setting ChoiceSetting(std::string section, std::string key, std::string doc,
                      std::string Config::*field, std::vector<std::string> allowed) {
  Setting s = StringSetting(section, key, std::move(doc), field);
  const std::string name = section + "." + key;
  s.from_text = [=](Config& c, const std::string& t) {
    if (std::find(allowed.begin(), allowed.end(), t) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + Quote(a);
      return InvalidArgument("config key '" + name + "': '" + t + "' is not one of " + list);
    }
    c.*field = t;
    return OkStatus();
  };
  s.from_toml = [name, f = s.from_text](Config& c, const toml::node& n) {
    if (!n.is_string()) return TypeError(name, "a string");
    return f(c, *n.value<std::string>());
  };
  return s;
}

// [archive]: the archiver's store and pace. Secrets are named (environment variable or file),
// never written here.
void AddArchiveSettings(std::vector<Setting>& s) {
  s.push_back(ChoiceSetting("archive", "backend",
                            "Where every stored object is copied: \"none\" (no archive), "
                            "\"azure\" (Azure Blob Storage, or Azurite) or \"filesystem\" (a "
                            "mounted volume at archive.path, with the access tiers emulated).",
                            &Config::archive_backend, {"none", "azure", "filesystem"}));
  s.push_back(StringSetting("archive", "endpoint",
                            "Blob service endpoint: https://<account>.blob.core.windows.net, or "
                            "http://127.0.0.1:10000/devstoreaccount1 for Azurite.",
                            &Config::archive_endpoint));
  s.push_back(StringSetting("archive", "secondary_endpoint",
                            "Read-access geo-replica (RA-GRS) endpoint, e.g. "
                            "https://<account>-secondary.blob.core.windows.net: reads go there "
                            "while the primary is unreachable; writes wait for the primary. "
                            "Empty: none.",
                            &Config::archive_secondary_endpoint));
  s.push_back(
      StringSetting("archive", "account", "Storage account name.", &Config::archive_account));
  s.push_back(StringSetting("archive", "container", "Container holding the archived objects.",
                            &Config::archive_container));
  s.push_back(ChoiceSetting("archive", "credential",
                            "Credential kind: \"shared_key\" (base64 account key) or \"sas\" "
                            "(SAS token).",
                            &Config::archive_credential, {"shared_key", "sas"}));
  s.push_back(StringSetting("archive", "credential_env",
                            "Name of the environment variable holding the credential's secret "
                            "(used when credential_file is empty). The secret itself never goes "
                            "in this file.",
                            &Config::archive_credential_env));
  s.push_back(StringSetting("archive", "credential_file",
                            "File holding the credential's secret (readable only by the service "
                            "account); empty: read credential_env.",
                            &Config::archive_credential_file));
  s.push_back(BoolSetting("archive", "create_container",
                          "Create the container at start-up if it is missing.",
                          &Config::archive_create_container));
  s.push_back(BoolSetting("archive", "protect_copies",
                          "Also protect archive copies in the archive store itself with their "
                          "study's retention and legal hold (Azure: version-level immutability "
                          "policy and legal hold; the container must support version-level "
                          "immutability). Strata enforces retention and holds either way.",
                          &Config::archive_protect_copies));
  s.push_back(BoolSetting("archive", "lock_immutability_policies",
                          "With protect_copies on Azure: locked policies, which nobody can "
                          "shorten or remove (not even to correct a retention date), instead "
                          "of unlocked ones.",
                          &Config::archive_lock_immutability_policies));
  s.push_back(ChoiceSetting("archive", "tier",
                            "Access tier of new archive objects: Hot, Cool, Cold or Archive; "
                            "empty: the account's default.",
                            &Config::archive_tier, {"", "Hot", "Cool", "Cold", "Archive"}));
  s.push_back(ChoiceSetting("archive", "naming",
                            "Object names: \"uids\" (dicom/<study>/<series>/<sop>.dcm, vendor "
                            "neutral) or \"opaque\" (a keyed hash, so no UID shows in storage "
                            "logs; needs naming_key_file).",
                            &Config::archive_naming, {"uids", "opaque"}));
  s.push_back(StringSetting("archive", "naming_key_file",
                            "File holding the secret naming key (at least 32 bytes) for "
                            "naming = \"opaque\".",
                            &Config::archive_naming_key_file));
  s.push_back(IntSetting<int>("archive", "batch_size",
                              "Outbox events archived per catalog transaction.",
                              &Config::archive_batch_size, 1, 10000));
  s.push_back(IntSetting<int>("archive", "parallel_uploads",
                              "Objects uploaded at once (results are still recorded in order).",
                              &Config::archive_parallel_uploads, 1, 64));
  s.push_back(IntSetting<int>("archive", "poll_interval_ms",
                              "Wait between looks at an empty outbox, in milliseconds.",
                              &Config::archive_poll_interval_ms, 10, 3600 * 1000));
  s.push_back(IntSetting<int>("archive", "max_backoff_ms",
                              "Longest wait between retries while the archive store fails "
                              "(exponential backoff with jitter up to this), in milliseconds.",
                              &Config::archive_max_backoff_ms, 100, 24 * 3600 * 1000));
  s.push_back(IntSetting<int>("archive", "status_log_interval_seconds",
                              "How often the archive lag is logged (\"archive_lag\").",
                              &Config::archive_status_log_interval_seconds, 1, 86400));
  s.push_back(StringSetting("archive", "path",
                            "filesystem backend: the archive's root folder; empty: "
                            "<data_dir>/archive.",
                            &Config::archive_path));
  s.push_back(IntSetting<int>("archive", "rehydration_delay_seconds",
                              "filesystem backend: how long an object in the emulated Archive "
                              "tier takes to become readable after a read asked for it.",
                              &Config::archive_rehydration_delay_seconds, 0, 30 * 86400));
  s.push_back(StringSetting("archive", "staging_dir",
                            "Local folder for the archive store's staged transfers; empty: "
                            "<data_dir>/archive-staging.",
                            &Config::archive_staging_dir));
}

// A list of strings: a TOML array, or "a,b" in the environment.
Setting ListSetting(std::string section, std::string key, std::string doc,
                    std::vector<std::string> Config::*field) {
  std::string name = section + "." + key;
  Setting s{section, key, std::move(doc), {}, {}, {}};
  s.from_text = [=](Config& c, const std::string& t) {
    c.*field = SplitList(t);
    return OkStatus();
  };
  s.from_toml = [=](Config& c, const toml::node& n) {
    const toml::array* arr = n.as_array();
    if (!arr) return TypeError(name, "an array of strings");
    std::vector<std::string> values;
    for (const auto& item : *arr) {
      if (!item.is_string()) return TypeError(name, "an array of strings");
      values.push_back(*item.value<std::string>());
    }
    c.*field = std::move(values);
    return OkStatus();
  };
  s.default_toml = [=](const Config& c) {
    std::string out = "[";
    for (size_t i = 0; i < (c.*field).size(); ++i) out += (i ? ", " : "") + Quote((c.*field)[i]);
    return out + "]";
  };
  return s;
}

Status ParseAiRules(const toml::node& n, std::vector<AiRule>* out) {
  const std::string name = "ai.rules";
  const toml::array* arr = n.as_array();
  if (!arr) return TypeError(name, "an array of tables");
  out->clear();
  for (const auto& item : *arr) {
    const toml::table* t = item.as_table();
    if (!t) return TypeError(name, "an array of tables");
    AiRule rule;
    for (const auto& [k, v] : *t) {
      const std::string field(k.str());
      std::vector<std::string>* list = field == "modalities"    ? &rule.modalities
                                       : field == "sop_classes" ? &rule.sop_classes
                                       : field == "body_parts"  ? &rule.body_parts
                                       : field == "calling_aes" ? &rule.calling_aes
                                                                : nullptr;
      if (list) {
        const toml::array* values = v.as_array();
        if (!values) return TypeError(name + "." + field, "an array of strings");
        for (const auto& value : *values) {
          if (!value.is_string()) return TypeError(name + "." + field, "an array of strings");
          list->push_back(*value.value<std::string>());
        }
      } else if (field == "model" || field == "mode") {
        if (!v.is_string()) return TypeError(name + "." + field, "a string");
        (field == "model" ? rule.model : rule.mode) = *v.value<std::string>();
      } else if (field == "series_stable_seconds") {
        if (!v.is_integer()) return TypeError(name + "." + field, "an integer");
        STRATA_RETURN_IF_ERROR(ParseInt(name + "." + field, std::to_string(*v.value<int64_t>()), 1,
                                        7 * 86400, &rule.series_stable_seconds));
      } else {
        return InvalidArgument("config key 'ai.rules': unknown field '" + field + "'");
      }
    }
    if (rule.model.empty()) return InvalidArgument("config key 'ai.rules': a rule needs a model");
    if (rule.mode != "instance" && rule.mode != "series") {
      return InvalidArgument("config key 'ai.rules': mode '" + rule.mode +
                             "' is not \"instance\" or \"series\"");
    }
    out->push_back(std::move(rule));
  }
  return OkStatus();
}

// [cache]: the local object store bounded in bytes; objects leave it only once archived.
void AddCacheSettings(std::vector<Setting>& s) {
  s.push_back(IntSetting<int64_t>("cache", "max_bytes",
                                  "Local object bytes above which archived objects are evicted "
                                  "(least recently used first); 0: unbounded. Objects not yet "
                                  "archived are never evicted.",
                                  &Config::cache_max_bytes, 0, INT64_MAX));
  s.push_back(IntSetting<int>("cache", "low_watermark_percent",
                              "Eviction goes down to this percentage of max_bytes.",
                              &Config::cache_low_watermark_percent, 1, 100));
  s.push_back(IntSetting<int>("cache", "pin_recent_hours",
                              "Objects stored less than this many hours ago are never evicted.",
                              &Config::cache_pin_recent_hours, 0, 24 * 3650));
  s.push_back(IntSetting<int>("cache", "min_idle_seconds",
                              "Objects read less than this many seconds ago are not evicted.",
                              &Config::cache_min_idle_seconds, 0, 86400));
  s.push_back(IntSetting<int>("cache", "eviction_interval_seconds",
                              "How often the cache checks its bound.",
                              &Config::cache_eviction_interval_seconds, 1, 86400));
  s.push_back(IntSetting<int>("cache", "rehydration_retry_after_seconds",
                              "Retry-After sent while an Archive-tier object is rehydrated, when "
                              "the archive store gives no estimate (Azure gives none).",
                              &Config::cache_rehydration_retry_after_seconds, 1, 7 * 86400));
}

// [prefetch]: a patient's prior studies brought into the hot cache when a new study arrives.
void AddPrefetchSettings(std::vector<Setting>& s) {
  s.push_back(BoolSetting("prefetch", "enabled",
                          "When a new study arrives, bring the patient's most relevant prior "
                          "studies into the hot cache (fetched back, or rehydrated, from the "
                          "archive) and pin them. Only with an archive store ([archive] backend "
                          "not \"none\").",
                          &Config::prefetch_enabled));
  s.push_back(IntSetting<int>("prefetch", "max_priors",
                              "Most prior studies prefetched per new study.",
                              &Config::prefetch_max_priors, 0, 100));
  s.push_back(IntSetting<int>("prefetch", "max_age_years",
                              "Priors with a StudyDate more than this many years ago are not "
                              "prefetched; 0: any age (then also priors without a StudyDate).",
                              &Config::prefetch_max_age_years, 0, 200));
  s.push_back(BoolSetting("prefetch", "same_modality_only",
                          "Only priors sharing an imaging modality with the new study; when "
                          "false those rank first, then priors sharing a BodyPartExamined, then "
                          "the newest.",
                          &Config::prefetch_same_modality_only));
  s.push_back(IntSetting<int>("prefetch", "pin_hours",
                              "Prefetched studies are kept from eviction for this many hours.",
                              &Config::prefetch_pin_hours, 0, 24 * 365));
  s.push_back(IntSetting<int>("prefetch", "poll_interval_ms",
                              "How often the prefetcher looks for new studies and due retries "
                              "(it is also woken by each ingest commit).",
                              &Config::prefetch_poll_interval_ms, 10, 3600 * 1000));
}

// [retention]: the retention date given to a new study, and the soft-delete window.
void AddRetentionSettings(std::vector<Setting>& s) {
  s.push_back(IntSetting<int>("retention", "default_years",
                              "Years a study is kept (cannot be deleted or overwritten) after its "
                              "StudyDate, or its receive date when it has none; set when its "
                              "first instance is stored. 0: no retention unless set by `strata "
                              "admin retention set`.",
                              &Config::retention_default_years, 0, 200));
  Setting modality{"retention",
                   "modality_years",
                   "Per-Modality overrides of default_years, e.g. { MG = 20, CR = 10 } "
                   "(environment form: MG=20,CR=10). The modality of the study's first "
                   "instance decides.",
                   {},
                   {},
                   {}};
  const std::string name = "retention.modality_years";
  modality.from_text = [name](Config& c, const std::string& text) {
    c.retention_modality_years.clear();
    for (const auto& item : SplitList(text)) {
      auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        return InvalidArgument("config key '" + name + "': '" + item + "' is not MODALITY=years");
      }
      int years = 0;
      STRATA_RETURN_IF_ERROR(ParseInt<int>(name, item.substr(eq + 1), 0, 200, &years));
      c.retention_modality_years[item.substr(0, eq)] = years;
    }
    return OkStatus();
  };
  modality.from_toml = [name](Config& c, const toml::node& n) {
    const toml::table* table = n.as_table();
    if (!table) return TypeError(name, "a table of Modality = years, e.g. { MG = 20 }");
    c.retention_modality_years.clear();
    for (const auto& [key, value] : *table) {
      auto years = value.value<int64_t>();
      if (!value.is_integer() || !years) return TypeError(name, "a table of integers");
      int parsed = 0;
      STRATA_RETURN_IF_ERROR(ParseInt<int>(name, std::to_string(*years), 0, 200, &parsed));
      c.retention_modality_years[std::string(key.str())] = parsed;
    }
    return OkStatus();
  };
  modality.default_toml = [](const Config& c) {
    std::string out;
    for (const auto& [key, years] : c.retention_modality_years) {
      out += (out.empty() ? "" : ", ") + key + " = " + std::to_string(years);
    }
    return out.empty() ? std::string("{}") : "{ " + out + " }";
  };
  s.push_back(modality);
  s.push_back(IntSetting<int>("retention", "soft_delete_days",
                              "Days a deleted study stays recoverable (`strata admin restore`) "
                              "before `strata admin purge` removes it. Studies under retention "
                              "or legal hold are never purged.",
                              &Config::retention_soft_delete_days, 0, 3650));
}

// [ai]: which engine runs the registered models, how many workers, where reports go.
// [lifecycle] rules and [cost] prices of `strata admin lifecycle` and `strata admin cost`.
void AddLifecycleSettings(std::vector<Setting>& s) {
  auto days = [&](const char* key, const char* doc, int Config::*field) {
    s.push_back(IntSetting<int>("lifecycle", key, doc, field, 0, 100 * 365));
  };
  // Every age counts from the archive time or the last read, whichever is later.
  days("cool_after_days",
       "Move archive copies Hot -> Cool this many days after archiving or the last read, "
       "whichever is later; 0: off.",
       &Config::lifecycle_cool_after_days);
  days("cold_after_days", "Move archive copies to Cold this many days unread (as above); 0: off.",
       &Config::lifecycle_cold_after_days);
  days("archive_after_days",
       "Move archive copies to Archive (offline; reads need hours of rehydration) this many days "
       "unread (as above); 0: off.",
       &Config::lifecycle_archive_after_days);
  days("evict_after_days",
       "Delete the local copy of archived objects this many days unread (as above; reads fetch "
       "them back from the archive); 0: off.",
       &Config::lifecycle_evict_after_days);
  s.push_back(IntSetting<int>("lifecycle", "interval_minutes",
                              "How often `strata serve` applies these rules by itself (tier moves "
                              "and evictions, as `strata admin lifecycle` does); 0: never.",
                              &Config::lifecycle_interval_minutes, 0, 365 * 24 * 60));
  s.push_back(IntSetting<int>("lifecycle", "first_run_delay_minutes",
                              "Minutes after `strata serve` starts before its first lifecycle run.",
                              &Config::lifecycle_first_run_delay_minutes, 0, 7 * 24 * 60));
  auto price = [&](const char* key, const char* doc, double Config::*field) {
    const std::string name = std::string("cost.") + key;
    Setting p{"cost", key, doc, {}, {}, {}};
    p.from_text = [=](Config& c, const std::string& t) {
      char* end = nullptr;
      const double v = std::strtod(t.c_str(), &end);
      if (t.empty() || end != t.c_str() + t.size() || !(v >= 0)) {
        return InvalidArgument("config key '" + name + "': '" + t + "' is not a price >= 0");
      }
      c.*field = v;
      return OkStatus();
    };
    p.from_toml = [=](Config& c, const toml::node& n) {
      std::optional<double> v = n.value<double>();  // integers convert too
      if (!v || !(*v >= 0)) return TypeError(name, "a number >= 0");
      c.*field = *v;
      return OkStatus();
    };
    p.default_toml = [=](const Config& c) {
      std::ostringstream out;
      out << c.*field;
      std::string text = out.str();
      return text.find_first_of(".e") == std::string::npos ? text + ".0" : text;
    };
    s.push_back(std::move(p));
  };
  price("hot_per_gb_month",
        "Price per GB-month of the Hot tier. The defaults are rough Azure Blob LRS list prices "
        "(pay as you go, US region); edit them to your contract.",
        &Config::cost_hot_per_gb_month);
  price("cool_per_gb_month", "Price per GB-month of the Cool tier.",
        &Config::cost_cool_per_gb_month);
  price("cold_per_gb_month", "Price per GB-month of the Cold tier.",
        &Config::cost_cold_per_gb_month);
  price("archive_per_gb_month", "Price per GB-month of the Archive tier.",
        &Config::cost_archive_per_gb_month);
  price("local_per_gb_month", "Price per GB-month of the local hot store; 0: not priced.",
        &Config::cost_local_per_gb_month);
  s.push_back(StringSetting("cost", "currency", "Currency of the prices above (a label).",
                            &Config::cost_currency));
}

void AddAiSettings(std::vector<Setting>& s) {
  s.push_back(BoolSetting("ai", "enabled",
                          "Run the active registered models on newly stored images "
                          "(`strata model register`), store their findings as DICOM SR and "
                          "serve /ai/v1 and the KServe v2 routes.",
                          &Config::ai_enabled));
  s.push_back(ChoiceSetting("ai", "engine",
                            "Inference runtime: \"default\" (ONNX Runtime when built with it, "
                            "else OpenCV DNN), \"onnxruntime\", \"opencv-dnn\", or \"kserve-v2\" "
                            "(a remote KServe v2 endpoint at ai.remote_url, e.g. Azure ML).",
                            &Config::ai_engine,
                            {"default", "onnxruntime", "opencv-dnn", "kserve-v2"}));
  s.push_back(StringSetting("ai", "remote_url",
                            "kserve-v2 engine: base URL of the endpoint (http:// or https://); "
                            "models are called as <url>/v2/models/<name>/versions/<version>/infer.",
                            &Config::ai_remote_url));
  s.push_back(StringSetting("ai", "remote_token_env",
                            "kserve-v2 engine: environment variable holding a bearer token "
                            "(an Azure ML endpoint key); empty: no Authorization header.",
                            &Config::ai_remote_token_env));
  s.push_back(
      IntSetting<int>("ai", "workers", "Inference worker threads.", &Config::ai_workers, 1, 64));
  s.push_back(IntSetting<int>("ai", "engine_threads",
                              "Threads one inference call may use (0: the runtime's default).",
                              &Config::ai_engine_threads, 0, 64));
  s.push_back(IntSetting<int>("ai", "max_batch", "Most images scored in one inference call.",
                              &Config::ai_max_batch, 1, 256));
  s.push_back(IntSetting<int>("ai", "max_attempts",
                              "Attempts of an inference job before it is marked failed.",
                              &Config::ai_max_attempts, 1, 100));
  s.push_back(IntSetting<int>("ai", "report_settle_ms",
                              "A study's findings report is written once no image of it was "
                              "scored for this long, so images that arrive together share one "
                              "SR; an image scored later yields a revised SR.",
                              &Config::ai_report_settle_ms, 0, 3600000));
  s.push_back(ListSetting("ai", "notify",
                          "AE titles (from dimse.peers) that receive every findings report by "
                          "C-STORE, with retries.",
                          &Config::ai_notify));
  s.push_back(ListSetting("ai", "notify_stow",
                          "DICOMweb base URLs (e.g. https://pacs.example.org/dicom-web) that "
                          "receive every findings report by STOW-RS (POST <url>/studies), with "
                          "retries.",
                          &Config::ai_notify_stow));
  s.push_back(StringSetting("ai", "notify_stow_token_env",
                            "Environment variable holding a bearer token sent to the notify_stow "
                            "destinations; empty: none.",
                            &Config::ai_notify_stow_token_env));
  s.push_back(IntSetting<int>("ai", "notify_max_attempts",
                              "Attempts to deliver a report to one destination before the "
                              "delivery is marked failed (GET /ai/v1/jobs shows why).",
                              &Config::ai_notify_max_attempts, 1, 1000));
  Setting rules{"ai",
                "rules",
                "Routing rules, an array of tables {model, modalities, sop_classes, body_parts, "
                "calling_aes, mode = \"instance\" | \"series\", series_stable_seconds}. A model "
                "no rule names runs wherever its card's applies_to matches; a named model runs "
                "only where one of its rules matches too. \"series\" runs once no instance of "
                "the series arrived for series_stable_seconds. Environment: the same array in "
                "TOML inline syntax.",
                {},
                {},
                {}};
  rules.from_toml = [](Config& c, const toml::node& n) { return ParseAiRules(n, &c.ai_rules); };
  rules.from_text = [](Config& c, const std::string& t) {
    toml::table table;
    try {
      table = toml::parse("rules = " + t);
    } catch (const toml::parse_error& e) {
      return InvalidArgument("config key 'ai.rules': " + std::string(e.description()));
    }
    return ParseAiRules(*table.get("rules"), &c.ai_rules);
  };
  rules.default_toml = [](const Config& c) {
    auto list = [](const std::vector<std::string>& v) {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + Quote(v[i]);
      return out + "]";
    };
    std::string out = "[";
    for (size_t i = 0; i < c.ai_rules.size(); ++i) {
      const auto& r = c.ai_rules[i];
      out += std::string(i ? ", " : "") + "{ model = " + Quote(r.model) +
             ", modalities = " + list(r.modalities) + ", sop_classes = " + list(r.sop_classes) +
             ", body_parts = " + list(r.body_parts) + ", calling_aes = " + list(r.calling_aes) +
             ", mode = " + Quote(r.mode) +
             ", series_stable_seconds = " + std::to_string(r.series_stable_seconds) + " }";
    }
    return out + "]";
  };
  s.push_back(rules);
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = [] {
    std::vector<Setting> s;
    s.push_back(StringSetting(
        "server", "data_dir",
        "Directory for the catalog and the object store (created if missing).", &Config::data_dir));
    {
      Setting level = StringSetting("server", "log_level",
                                    "Least severe log level written: debug, info, warn, error.",
                                    &Config::log_level);
      auto base = level.from_text;
      level.from_text = [base](Config& c, const std::string& t) {
        if (t != "debug" && t != "info" && t != "warn" && t != "error") {
          return InvalidArgument("config key 'server.log_level': '" + t +
                                 "' is not debug, info, warn or error");
        }
        return base(c, t);
      };
      level.from_toml = [f = level.from_text](Config& c, const toml::node& n) {
        if (!n.is_string()) return TypeError("server.log_level", "a string");
        return f(c, *n.value<std::string>());
      };
      s.push_back(level);
    }
    {
      Setting backend = StringSetting("catalog", "backend", "Catalog database: sqlite (embedded).",
                                      &Config::catalog_backend);
      backend.from_text = [](Config& c, const std::string& t) {
        if (t != "sqlite")
          return InvalidArgument("config key 'catalog.backend': '" + t +
                                 "' is not supported (sqlite)");
        c.catalog_backend = t;
        return OkStatus();
      };
      backend.from_toml = [f = backend.from_text](Config& c, const toml::node& n) {
        if (!n.is_string()) return TypeError("catalog.backend", "a string");
        return f(c, *n.value<std::string>());
      };
      s.push_back(backend);
    }
    s.push_back(StringSetting("catalog", "path",
                              "SQLite catalog file; empty means <data_dir>/catalog.sqlite.",
                              &Config::catalog_path));
    {
      Setting backend =
          StringSetting("storage", "backend", "Object store: filesystem.", &Config::blob_backend);
      backend.from_text = [](Config& c, const std::string& t) {
        if (t != "filesystem")
          return InvalidArgument("config key 'storage.backend': '" + t +
                                 "' is not supported (filesystem)");
        c.blob_backend = t;
        return OkStatus();
      };
      backend.from_toml = [f = backend.from_text](Config& c, const toml::node& n) {
        if (!n.is_string()) return TypeError("storage.backend", "a string");
        return f(c, *n.value<std::string>());
      };
      s.push_back(backend);
    }
    s.push_back(StringSetting("storage", "path",
                              "Object store directory; empty means <data_dir>/objects.",
                              &Config::blob_path));
    {
      Setting dup{
          "storage",
          "duplicates",
          "A different object under an existing SOP Instance UID: \"version\" keeps it as a "
          "new version (the old one stays retrievable), \"reject\" refuses it.",
          {},
          {},
          {}};
      dup.from_text = [](Config& c, const std::string& t) {
        if (t == "version") {
          c.duplicates = DuplicatePolicy::kKeepVersions;
        } else if (t == "reject") {
          c.duplicates = DuplicatePolicy::kReject;
        } else {
          return InvalidArgument("config key 'storage.duplicates': '" + t +
                                 "' is not version or reject");
        }
        return OkStatus();
      };
      dup.from_toml = [f = dup.from_text](Config& c, const toml::node& n) {
        if (!n.is_string()) return TypeError("storage.duplicates", "a string");
        return f(c, *n.value<std::string>());
      };
      dup.default_toml = [](const Config& c) {
        return Quote(c.duplicates == DuplicatePolicy::kReject ? "reject" : "version");
      };
      s.push_back(dup);
    }
    s.push_back(IntSetting<int>("storage", "group_commit_max_batch",
                                "Most instances committed to the catalog in one transaction.",
                                &Config::group_commit_max_batch, 1, 100000));
    s.push_back(IntSetting<int64_t>("storage", "min_free_bytes",
                                    "Stores are refused (out of resources) when the object store's "
                                    "file system has less free space than this.",
                                    &Config::min_free_bytes, 0, INT64_MAX));
    {
      Setting ae = StringSetting("dimse", "ae_title", "Strata's own AE title.", &Config::ae_title);
      ae.from_text = [](Config& c, const std::string& t) {
        STRATA_RETURN_IF_ERROR(CheckAeTitle("dimse.ae_title", t));
        c.ae_title = t;
        return OkStatus();
      };
      ae.from_toml = [f = ae.from_text](Config& c, const toml::node& n) {
        if (!n.is_string()) return TypeError("dimse.ae_title", "a string");
        return f(c, *n.value<std::string>());
      };
      s.push_back(ae);
    }
    s.push_back(StringSetting("dimse", "bind",
                              "Address the DICOM listener binds to (0.0.0.0: all interfaces).",
                              &Config::dimse_bind));
    s.push_back(IntSetting<uint16_t>("dimse", "port", "TCP port of the DICOM listener.",
                                     &Config::dimse_port, 1, 65535));
    s.push_back(IntSetting<int>("dimse", "max_associations",
                                "Associations served at once; more are rejected (transient).",
                                &Config::max_associations, 1, 4096));
    s.push_back(IntSetting<int>("dimse", "max_pdu", "Largest PDU Strata receives, in bytes.",
                                &Config::max_pdu, 4096, 131072));
    s.push_back(IntSetting<int>("dimse", "acse_timeout_seconds",
                                "Time allowed for association negotiation.",
                                &Config::acse_timeout_seconds, 1, 3600));
    s.push_back(IntSetting<int>("dimse", "dimse_timeout_seconds",
                                "Idle time after which an association is aborted.",
                                &Config::dimse_timeout_seconds, 1, 86400));
    s.push_back(BoolSetting("dimse", "accept_any_calling_ae",
                            "Accept associations from any calling AE title; when false only "
                            "allowed_calling_aes and configured peers may connect.",
                            &Config::accept_any_calling_ae));
    {
      Setting allow{
          "dimse", "allowed_calling_aes", "Calling AE titles allowed to associate.", {}, {}, {}};
      allow.from_text = [](Config& c, const std::string& t) {
        c.allowed_calling_aes = SplitList(t);
        for (const auto& ae : c.allowed_calling_aes) {
          STRATA_RETURN_IF_ERROR(CheckAeTitle("dimse.allowed_calling_aes", ae));
        }
        return OkStatus();
      };
      allow.from_toml = [](Config& c, const toml::node& n) {
        const toml::array* arr = n.as_array();
        if (!arr) return TypeError("dimse.allowed_calling_aes", "an array of strings");
        c.allowed_calling_aes.clear();
        for (const auto& item : *arr) {
          if (!item.is_string())
            return TypeError("dimse.allowed_calling_aes", "an array of strings");
          std::string ae = *item.value<std::string>();
          STRATA_RETURN_IF_ERROR(CheckAeTitle("dimse.allowed_calling_aes", ae));
          c.allowed_calling_aes.push_back(ae);
        }
        return OkStatus();
      };
      allow.default_toml = [](const Config& c) {
        std::string out = "[";
        for (size_t i = 0; i < c.allowed_calling_aes.size(); ++i) {
          out += (i ? ", " : "") + Quote(c.allowed_calling_aes[i]);
        }
        return out + "]";
      };
      s.push_back(allow);
    }
    {
      Setting peers{"dimse",
                    "peers",
                    "C-MOVE destinations, as an array of tables {ae_title, host, port} "
                    "(environment: \"AE@host:port,AE2@host:port\").",
                    {},
                    {},
                    {}};
      peers.from_text = [](Config& c, const std::string& t) { return ParsePeers(t, &c.peers); };
      peers.from_toml = [](Config& c, const toml::node& n) {
        const toml::array* arr = n.as_array();
        if (!arr) return TypeError("dimse.peers", "an array of tables");
        c.peers.clear();
        for (const auto& item : *arr) {
          const toml::table* t = item.as_table();
          if (!t) return TypeError("dimse.peers", "an array of tables");
          DicomPeer p;
          auto ae = (*t)["ae_title"].value<std::string>();
          auto host = (*t)["host"].value<std::string>();
          auto port = (*t)["port"].value<int64_t>();
          if (!ae || !host || !port || *port < 1 || *port > 65535) {
            return InvalidArgument(
                "config key 'dimse.peers': each peer needs ae_title, host and port (1-65535)");
          }
          for (const auto& [k, v] : *t) {
            if (k != "ae_title" && k != "host" && k != "port") {
              return InvalidArgument("config key 'dimse.peers': unknown field '" +
                                     std::string(k.str()) + "'");
            }
          }
          STRATA_RETURN_IF_ERROR(CheckAeTitle("dimse.peers", *ae));
          p.ae_title = *ae;
          p.host = *host;
          p.port = static_cast<uint16_t>(*port);
          c.peers.push_back(std::move(p));
        }
        return OkStatus();
      };
      peers.default_toml = [](const Config& c) {
        std::string out = "[";
        for (size_t i = 0; i < c.peers.size(); ++i) {
          const auto& p = c.peers[i];
          out += std::string(i ? ", " : "") + "{ ae_title = " + Quote(p.ae_title) +
                 ", host = " + Quote(p.host) + ", port = " + std::to_string(p.port) + " }";
        }
        return out + "]";
      };
      s.push_back(peers);
    }
    s.push_back(StringSetting("http", "bind",
                              "Address the HTTP (DICOMweb) listener binds to "
                              "(0.0.0.0: all interfaces).",
                              &Config::http_bind));
    s.push_back(IntSetting<uint16_t>("http", "port", "TCP port of the HTTP (DICOMweb) listener.",
                                     &Config::http_port, 1, 65535));
    s.push_back(IntSetting<int64_t>("http", "max_body_bytes",
                                    "Largest HTTP request body accepted (STOW-RS); larger ones are "
                                    "refused with 413 before anything is stored.",
                                    &Config::http_max_body_bytes, 1, INT64_MAX));
    s.push_back(IntSetting<int>("http", "threads",
                                "Worker threads running HTTP requests (queries, retrievals, "
                                "stores).",
                                &Config::http_threads, 1, 256));
    s.push_back(StringSetting("http", "tls_certificate",
                              "PEM certificate chain for HTTPS (TLS 1.2 or newer); with "
                              "tls_private_key set, the listener speaks only HTTPS. Empty: HTTP.",
                              &Config::http_tls_certificate));
    s.push_back(StringSetting("http", "tls_private_key",
                              "PEM private key matching http.tls_certificate.",
                              &Config::http_tls_private_key));
    s.push_back(StringSetting("viewer", "dir",
                              "Directory of a prebuilt OHIF viewer (its dist/, as fetched by "
                              "tools/setup_viewer.sh into .deps/ohif/dist) served at / with a "
                              "generated app-config.js reading this server's /dicomweb. "
                              "Empty: no viewer.",
                              &Config::viewer_dir));
    {
      Setting tokens{"auth",
                     "tokens",
                     "API tokens of the HTTP API, as an array of tables {name, role, sha256}: "
                     "role is reader, writer or admin; sha256 is the SHA-256 of the secret, "
                     "printed by `strata token new` (environment: \"name:role:sha256,...\"). "
                     "With none, every HTTP request is refused with 401.",
                     {},
                     {},
                     {}};
      tokens.from_text = [](Config& c, const std::string& t) {
        return ParseApiTokens(t, &c.api_tokens);
      };
      tokens.from_toml = [](Config& c, const toml::node& n) {
        const toml::array* arr = n.as_array();
        if (!arr) return TypeError("auth.tokens", "an array of tables");
        c.api_tokens.clear();
        for (const auto& item : *arr) {
          const toml::table* t = item.as_table();
          if (!t) return TypeError("auth.tokens", "an array of tables");
          for (const auto& [k, v] : *t) {
            if (k != "name" && k != "role" && k != "sha256") {
              return InvalidArgument("config key 'auth.tokens': unknown field '" +
                                     std::string(k.str()) + "'");
            }
          }
          ApiToken token{(*t)["name"].value_or(std::string()), (*t)["role"].value_or(std::string()),
                         (*t)["sha256"].value_or(std::string())};
          STRATA_RETURN_IF_ERROR(CheckApiToken(token));
          c.api_tokens.push_back(std::move(token));
        }
        return OkStatus();
      };
      tokens.default_toml = [](const Config& c) {
        std::string out = "[";
        for (size_t i = 0; i < c.api_tokens.size(); ++i) {
          const auto& t = c.api_tokens[i];
          out += std::string(i ? ", " : "") + "{ name = " + Quote(t.name) +
                 ", role = " + Quote(t.role) + ", sha256 = " + Quote(t.sha256_hex) + " }";
        }
        return out + "]";
      };
      s.push_back(tokens);
    }
    {
      Setting cors{"auth",
                   "cors_allowed_origins",
                   "Origins (scheme://host:port) whose browser pages may call the HTTP API "
                   "across origins; \"*\" for any. Empty: same-origin only.",
                   {},
                   {},
                   {}};
      cors.from_text = [](Config& c, const std::string& t) {
        c.cors_allowed_origins = SplitList(t);
        return OkStatus();
      };
      cors.from_toml = [](Config& c, const toml::node& n) {
        const toml::array* arr = n.as_array();
        if (!arr) return TypeError("auth.cors_allowed_origins", "an array of strings");
        c.cors_allowed_origins.clear();
        for (const auto& item : *arr) {
          if (!item.is_string()) {
            return TypeError("auth.cors_allowed_origins", "an array of strings");
          }
          c.cors_allowed_origins.push_back(*item.value<std::string>());
        }
        return OkStatus();
      };
      cors.default_toml = [](const Config& c) {
        std::string out = "[";
        for (size_t i = 0; i < c.cors_allowed_origins.size(); ++i) {
          out += (i ? ", " : "") + Quote(c.cors_allowed_origins[i]);
        }
        return out + "]";
      };
      s.push_back(cors);
    }
    s.push_back(StringSetting("audit", "path",
                              "Audit log database (append-only, hash-chained); empty: "
                              "<data_dir>/audit.sqlite.",
                              &Config::audit_path));
    AddArchiveSettings(s);
    AddCacheSettings(s);
    AddPrefetchSettings(s);
    AddAiSettings(s);
    AddRetentionSettings(s);
    AddLifecycleSettings(s);
    return s;
  }();
  return settings;
}

std::string EnvName(const Setting& s) {
  std::string name = "STRATA_" + s.section + "_" + s.key;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return name;
}

}  // namespace

std::string Config::CatalogPath() const {
  return catalog_path.empty() ? data_dir + "/catalog.sqlite" : catalog_path;
}

std::string Config::AuditPath() const {
  return audit_path.empty() ? data_dir + "/audit.sqlite" : audit_path;
}

std::string Config::BlobPath() const {
  return blob_path.empty() ? data_dir + "/objects" : blob_path;
}

std::string Config::ArchiveStagingPath() const {
  return archive_staging_dir.empty() ? data_dir + "/archive-staging" : archive_staging_dir;
}

std::string Config::ArchivePath() const {
  return archive_path.empty() ? data_dir + "/archive" : archive_path;
}

std::string Config::AiRecordsPath() const { return data_dir + "/ai.sqlite"; }

std::string Config::JobsPath() const { return data_dir + "/jobs.sqlite"; }

const DicomPeer* Config::FindPeer(const std::string& ae) const {
  for (const auto& p : peers) {
    if (p.ae_title == ae) return &p;
  }
  return nullptr;
}

Result<Config> ParseConfig(const std::string& toml_text,
                           const std::map<std::string, std::string>& env) {
  Config config;
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "config is not valid TOML: " << e.description() << " (line " << e.source().begin.line
        << ", column " << e.source().begin.column << ")";
    return InvalidArgument(msg.str());
  }
  for (const auto& [section_key, section_node] : root) {
    std::string section(section_key.str());
    const toml::table* table = section_node.as_table();
    if (!table) return InvalidArgument("config: '" + section + "' must be a [section]");
    for (const auto& [key_node, value] : *table) {
      std::string key(key_node.str());
      const auto& settings = Settings();
      auto it = std::find_if(settings.begin(), settings.end(), [&](const Setting& s) {
        return s.section == section && s.key == key;
      });
      if (it == settings.end()) {
        return InvalidArgument("config: unknown key '" + section + "." + key + "'");
      }
      STRATA_RETURN_IF_ERROR(it->from_toml(config, value));
    }
  }
  for (const auto& s : Settings()) {
    auto it = env.find(EnvName(s));
    if (it != env.end()) {
      STRATA_RETURN_IF_ERROR(s.from_text(config, it->second).WithContext(EnvName(s)));
    }
  }
  for (const auto& entry : env) {
    const std::string& name = entry.first;
    if (name.rfind("STRATA_", 0) != 0) continue;
    bool known = std::any_of(Settings().begin(), Settings().end(),
                             [&](const Setting& s) { return EnvName(s) == name; });
    if (!known && name != "STRATA_CONFIG") {
      log::Warn("config_unknown_environment_variable", {{"name", name}});
    }
  }
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  std::string text;
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return NotFound("config file '" + path + "' cannot be read");
    std::ostringstream buf;
    buf << in.rdbuf();
    text = buf.str();
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos && entry.rfind("STRATA_", 0) == 0) {
      env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  auto config = ParseConfig(text, env);
  if (!config.ok() && !path.empty()) return config.status().WithContext(path);
  return config;
}

std::string DefaultConfigToml() {
  Config defaults;
  std::string out =
      "# Strata configuration. Every key is optional; the values shown are the defaults.\n"
      "# Each key can be overridden by an environment variable: [dimse] port -> "
      "STRATA_DIMSE_PORT.\n";
  std::string section;
  for (const auto& s : Settings()) {
    if (s.section != section) {
      section = s.section;
      out += "\n[" + section + "]\n";
    }
    out += "# " + s.doc + "\n" + s.key + " = " + s.default_toml(defaults) + "\n";
  }
  return out;
}

}  // namespace strata
