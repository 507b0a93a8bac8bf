#include "core/config.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(ConfigTest, EmptyTextGivesDefaults) {
  auto c = ParseConfig("", {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dimse_port, 11112);
  EXPECT_EQ(c->ae_title, "STRATA");
  EXPECT_EQ(c->CatalogPath(), "strata-data/catalog.sqlite");
  EXPECT_EQ(c->BlobPath(), "strata-data/objects");
  EXPECT_EQ(c->duplicates, DuplicatePolicy::kKeepVersions);
}

TEST(ConfigTest, ReadsEverySection) {
  auto c = ParseConfig(R"(
[server]
data_dir = "/srv/strata"
[storage]
duplicates = "reject"
min_free_bytes = 1024
[dimse]
ae_title = "ARCHIVE"
bind = "127.0.0.1"
port = 4242
accept_any_calling_ae = false
allowed_calling_aes = ["CT1", "MR1"]
peers = [{ ae_title = "PACS", host = "10.0.0.5", port = 104 }]
)",
                       {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "/srv/strata");
  EXPECT_EQ(c->duplicates, DuplicatePolicy::kReject);
  EXPECT_EQ(c->min_free_bytes, 1024);
  EXPECT_EQ(c->ae_title, "ARCHIVE");
  EXPECT_EQ(c->dimse_port, 4242);
  EXPECT_FALSE(c->accept_any_calling_ae);
  EXPECT_EQ(c->allowed_calling_aes, (std::vector<std::string>{"CT1", "MR1"}));
  ASSERT_NE(c->FindPeer("PACS"), nullptr);
  EXPECT_EQ(c->FindPeer("PACS")->port, 104);
  EXPECT_EQ(c->FindPeer("NOPE"), nullptr);
}

TEST(ConfigTest, EnvironmentOverridesFile) {
  auto c = ParseConfig("[dimse]\nport = 4242\n",
                       {{"STRATA_DIMSE_PORT", "5000"},
                        {"STRATA_DIMSE_PEERS", "PACS@127.0.0.1:104,AI@localhost:11113"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dimse_port, 5000);
  ASSERT_EQ(c->peers.size(), 2u);
  EXPECT_EQ(c->peers[1].ae_title, "AI");
  EXPECT_EQ(c->peers[1].port, 11113);
}

TEST(ConfigTest, RejectsGarbageWithClearErrors) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"[dimse\nport = 1", "not valid TOML"},
      {"[dimse]\nprot = 1\n", "unknown key 'dimse.prot'"},
      {"[dimse]\nport = \"x\"\n", "'dimse.port' must be an integer"},
      {"[dimse]\nport = 70000\n", "not an integer in [1, 65535]"},
      {"[dimse]\nae_title = \"WAY_TOO_LONG_AE_TITLE\"\n", "1-16 characters"},
      {"[storage]\nduplicates = \"maybe\"\n", "not version or reject"},
      {"port = 1\n", "must be a [section]"},
      {"[dimse]\npeers = [{ ae_title = \"X\" }]\n", "needs ae_title, host and port"},
  };
  for (const auto& tc : cases) {
    auto c = ParseConfig(tc.text, {});
    ASSERT_FALSE(c.ok()) << tc.text;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(tc.expected), std::string::npos)
        << c.status().message() << " should mention " << tc.expected;
  }
  auto env = ParseConfig("", {{"STRATA_DIMSE_PORT", "eleven"}});
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("STRATA_DIMSE_PORT"), std::string::npos);
}

TEST(ConfigTest, ReadsApiTokensAndCorsFromFileAndEnvironment) {
  const std::string digest(64, 'a');
  auto c = ParseConfig("[auth]\ntokens = [{ name = \"ohif\", role = \"reader\", sha256 = \"" +
                           digest + "\" }]\ncors_allowed_origins = [\"https://viewer.example\"]\n",
                       {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->api_tokens.size(), 1u);
  EXPECT_EQ(c->api_tokens[0].name, "ohif");
  EXPECT_EQ(c->api_tokens[0].role, "reader");
  EXPECT_EQ(c->cors_allowed_origins, std::vector<std::string>{"https://viewer.example"});
  EXPECT_EQ(c->AuditPath(), "strata-data/audit.sqlite");

  auto env = ParseConfig("", {{"STRATA_AUTH_TOKENS", "a:writer:" + digest + ",b:admin:" + digest}});
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  ASSERT_EQ(env->api_tokens.size(), 2u);
  EXPECT_EQ(env->api_tokens[1].role, "admin");

  for (const std::string& bad : std::vector<std::string>{"a:root:" + digest, "a:reader:xyz",
                                                         "a:reader", ":reader:" + digest}) {
    auto r = ParseConfig("", {{"STRATA_AUTH_TOKENS", bad}});
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("auth.tokens"), std::string::npos) << bad;
  }
  auto unknown_field =
      ParseConfig("[auth]\ntokens = [{ name = \"a\", role = \"reader\", sha256 = \"" + digest +
                      "\", secret = \"x\" }]\n",
                  {});
  EXPECT_FALSE(unknown_field.ok());
}

TEST(ConfigTest, DefaultFileParsesBackToDefaults) {
  auto c = ParseConfig(DefaultConfigToml(), {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dimse_port, Config{}.dimse_port);
  EXPECT_EQ(c->group_commit_max_batch, Config{}.group_commit_max_batch);
}

TEST(ConfigTest, ReadsRetentionFromFileAndEnvironment) {
  auto c = ParseConfig(
      "[retention]\ndefault_years = 7\nmodality_years = { MG = 20, OT = 0 }\n"
      "soft_delete_days = 0\n",
      {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->retention_default_years, 7);
  EXPECT_EQ(c->retention_modality_years, (std::map<std::string, int>{{"MG", 20}, {"OT", 0}}));
  EXPECT_EQ(c->retention_soft_delete_days, 0);
  auto env = ParseConfig("", {{"STRATA_RETENTION_MODALITY_YEARS", "CR=5,MG=25"}});
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->retention_modality_years, (std::map<std::string, int>{{"CR", 5}, {"MG", 25}}));
  EXPECT_EQ(env->retention_default_years, 10);
  EXPECT_FALSE(ParseConfig("[retention]\nmodality_years = { MG = \"x\" }\n", {}).ok());
  EXPECT_FALSE(ParseConfig("[retention]\nmodality_years = 3\n", {}).ok());
  EXPECT_FALSE(ParseConfig("", {{"STRATA_RETENTION_MODALITY_YEARS", "MG"}}).ok());
  EXPECT_NE(DefaultConfigToml().find("modality_years = {}"), std::string::npos);
}

TEST(ConfigTest, ReadsLifecycleRulesAndCostPrices) {
  auto c = ParseConfig(
      "[lifecycle]\ncool_after_days = 10\nevict_after_days = 5\n"
      "[cost]\nhot_per_gb_month = 0.02\narchive_per_gb_month = 1\ncurrency = \"EUR\"\n",
      {{"STRATA_COST_COOL_PER_GB_MONTH", "0.011"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->lifecycle_cool_after_days, 10);
  EXPECT_EQ(c->lifecycle_archive_after_days, 180);  // default
  EXPECT_EQ(c->lifecycle_evict_after_days, 5);
  EXPECT_DOUBLE_EQ(c->cost_hot_per_gb_month, 0.02);
  EXPECT_DOUBLE_EQ(c->cost_archive_per_gb_month, 1.0);  // an integer is a price too
  EXPECT_DOUBLE_EQ(c->cost_cool_per_gb_month, 0.011);
  EXPECT_EQ(c->cost_currency, "EUR");
  EXPECT_FALSE(ParseConfig("[cost]\nhot_per_gb_month = -1\n", {}).ok());
  EXPECT_FALSE(ParseConfig("[cost]\nhot_per_gb_month = \"x\"\n", {}).ok());
  EXPECT_FALSE(ParseConfig("[lifecycle]\ncool_after_days = -1\n", {}).ok());
  EXPECT_FALSE(ParseConfig("", {{"STRATA_COST_HOT_PER_GB_MONTH", "cheap"}}).ok());
}

TEST(ConfigTest, ReadsPrefetchSettings) {
  auto defaults = ParseConfig("", {});
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->prefetch_enabled);
  EXPECT_EQ(defaults->prefetch_max_priors, 2);
  EXPECT_EQ(defaults->prefetch_max_age_years, 5);
  EXPECT_FALSE(defaults->prefetch_same_modality_only);
  EXPECT_EQ(defaults->prefetch_pin_hours, 72);
  auto c = ParseConfig("[prefetch]\nmax_priors = 4\nsame_modality_only = true\npin_hours = 24\n",
                       {{"STRATA_PREFETCH_ENABLED", "false"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->prefetch_enabled);
  EXPECT_EQ(c->prefetch_max_priors, 4);
  EXPECT_TRUE(c->prefetch_same_modality_only);
  EXPECT_EQ(c->prefetch_pin_hours, 24);
  EXPECT_FALSE(ParseConfig("[prefetch]\nmax_age_years = -1\n", {}).ok());
  EXPECT_FALSE(ParseConfig("[prefetch]\npoll_interval_ms = 0\n", {}).ok());
}

}  // namespace
}  // namespace strata
