// The admin series-state handlers over an in-memory catalog (routing, authentication and audit
// are the route table's, shared with every route).
#include "dicomweb/series_activity.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "catalog/catalog_test_util.h"

namespace strata::dicomweb {
namespace {

using catalog::testing::MakeRecord;
using catalog::testing::Put;

constexpr int64_t kT0 = 1718452800000;  // 2024-06-15T12:00:00Z

class SeriesActivityRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catalog_ = catalog::testing::OpenMemory();
    Store("1.1", "1.1.1", "1.1.1.1", kT0);
    Store("1.1", "1.1.1", "1.1.1.2", kT0 + 2000);
    Store("2.1", "2.1.1", "2.1.1.1", kT0 + 1000);
    Store("2.1", "2.1.2", "2.1.2.1", kT0 + 50000);
  }

  void Store(const std::string& study, const std::string& series, const std::string& sop,
             int64_t at_ms) {
    auto record = MakeRecord("P" + study, study, series, sop);
    record.received_at_ms = at_ms;
    ASSERT_TRUE(Put(*catalog_, record).ok());
  }

  static Request Get(std::vector<std::pair<std::string, std::string>> query,
                     const std::string& series = "") {
    Request r;
    r.method = "GET";
    r.query = std::move(query);
    if (!series.empty()) r.path_params["series"] = series;
    return r;
  }

  std::unique_ptr<catalog::Catalog> catalog_;
};

TEST_F(SeriesActivityRouteTest, OneSeriesState) {
  Request r = Get({{"quiet_seconds", "30"}}, "1.1.1");
  Response response = HandleSeriesActivity(*catalog_, r, kT0 + 2000 + 31500);
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["study_instance_uid"], "1.1");
  EXPECT_EQ(body["series_instance_uid"], "1.1.1");
  EXPECT_EQ(body["modality"], "CT");
  EXPECT_EQ(body["instances"], 2);
  EXPECT_EQ(body["last_received_ms"], kT0 + 2000);
  EXPECT_EQ(body["last_received"], "2024-06-15T12:00:02.000Z");
  EXPECT_EQ(body["stable_for_seconds"], 31);
  EXPECT_EQ(body["stable"], true);

  Request later = Get({{"quiet_seconds", "60"}}, "1.1.1");
  body = nlohmann::json::parse(HandleSeriesActivity(*catalog_, later, kT0 + 2000 + 31500).body);
  EXPECT_EQ(body["stable"], false);
  // Without quiet_seconds there is no verdict; a receipt ahead of now counts as 0 s.
  Request plain = Get({}, "1.1.1");
  body = nlohmann::json::parse(HandleSeriesActivity(*catalog_, plain, kT0).body);
  EXPECT_FALSE(body.contains("stable"));
  EXPECT_EQ(body["stable_for_seconds"], 0);
}

TEST_F(SeriesActivityRouteTest, UnknownSeriesAndBadParameters) {
  Request unknown = Get({}, "9.9.9");
  EXPECT_EQ(HandleSeriesActivity(*catalog_, unknown, kT0).status, 404);
  Request bad = Get({{"quiet_seconds", "-1"}}, "1.1.1");
  EXPECT_EQ(HandleSeriesActivity(*catalog_, bad, kT0).status, 400);
  Request other = Get({{"quiet", "1"}}, "1.1.1");
  EXPECT_EQ(HandleSeriesActivity(*catalog_, other, kT0).status, 400);
  Request missing = Get({});
  EXPECT_EQ(HandleStableSeries(*catalog_, missing, kT0).status, 400);
  Request limit = Get({{"stable_for_seconds", "1"}, {"limit", "0"}});
  EXPECT_EQ(HandleStableSeries(*catalog_, limit, kT0).status, 400);
  Request cursor = Get({{"stable_for_seconds", "1"}, {"after", "x"}});
  EXPECT_EQ(HandleStableSeries(*catalog_, cursor, kT0).status, 400);
}

TEST_F(SeriesActivityRouteTest, StableSeriesPageByPage) {
  // At kT0 + 32 s: stable for 30 s are the series last receiving at or before kT0 + 2 s.
  const int64_t now = kT0 + 32000;
  std::vector<std::string> uids;
  std::vector<std::pair<std::string, std::string>> query{{"stable_for_seconds", "30"},
                                                         {"limit", "1"}};
  for (int pages = 0; pages < 5; ++pages) {
    Request r = Get(query);
    Response response = HandleStableSeries(*catalog_, r, now);
    ASSERT_EQ(response.status, 200) << response.body;
    auto body = nlohmann::json::parse(response.body);
    for (const auto& s : body["series"]) {
      uids.push_back(s["series_instance_uid"]);
      EXPECT_GE(s["stable_for_seconds"].get<int64_t>(), 30);
    }
    if (body["done"].get<bool>()) break;
    query = {{"stable_for_seconds", "30"}, {"limit", "1"}, {"after", body["next_after"]}};
  }
  EXPECT_EQ(uids, (std::vector<std::string>{"2.1.1", "1.1.1"}));
}

}  // namespace
}  // namespace strata::dicomweb
