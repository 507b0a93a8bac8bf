#include "blob/blob_naming.h"

#include <gtest/gtest.h>

namespace strata::blob {
namespace {

constexpr char kNamingKey[] = "dicom-opaque-key-0123456789abcdef!";

TEST(BlobNamingTest, VendorNeutralKeyIsTheUidPath) {
  auto namer = BlobNamer::Create(BlobNaming::kVendorNeutral, "");
  ASSERT_TRUE(namer.ok());
  EXPECT_EQ(*namer->ObjectKey({"1.2.3", "1.2.3.4", "1.2.3.4.5"}),
            "dicom/1.2.3/1.2.3.4/1.2.3.4.5.dcm");
}

TEST(BlobNamingTest, OpaqueKeyIsKeyedHashWithoutUids) {
  auto namer = BlobNamer::Create(BlobNaming::kOpaque, kNamingKey);
  ASSERT_TRUE(namer.ok());
  auto key = namer->ObjectKey({"1.2.3", "1.2.3.4", "1.2.3.4.5"});
  ASSERT_TRUE(key.ok());
  // printf '1.2.3/1.2.3.4/1.2.3.4.5' | openssl dgst -sha256 -mac HMAC -macopt key:<kNamingKey>
  const std::string hash = "4dcc144902c4fe7fa3ba71cb8d7ebd9e24cbea9457ed2ce04dc4c6a4757041e0";
  EXPECT_EQ(*key, "dicom-opaque/4d/cc/" + hash + ".dcm");
  EXPECT_EQ(key->find("1.2.3"), std::string::npos);
  // Stable, and different for another instance or another naming key.
  EXPECT_EQ(*namer->ObjectKey({"1.2.3", "1.2.3.4", "1.2.3.4.5"}), *key);
  EXPECT_NE(*namer->ObjectKey({"1.2.3", "1.2.3.4", "1.2.3.4.6"}), *key);
  auto other = BlobNamer::Create(BlobNaming::kOpaque, std::string(kNamingKey) + "x");
  EXPECT_NE(*other->ObjectKey({"1.2.3", "1.2.3.4", "1.2.3.4.5"}), *key);
}

TEST(BlobNamingTest, OpaqueNeedsALongKey) {
  EXPECT_EQ(BlobNamer::Create(BlobNaming::kOpaque, "short").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(BlobNamingTest, RejectsNonUids) {
  auto namer = BlobNamer::Create(BlobNaming::kVendorNeutral, "");
  for (const char* bad : {"", "1..2", ".1", "1.", "1.2/3", "1.a", "../x"}) {
    EXPECT_EQ(namer->ObjectKey({bad, "1.2", "1.3"}).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_FALSE(namer->ObjectKey({"1.2", "1.2", std::string(65, '1')}).ok());
}

TEST(BlobNamingTest, MetadataRoundTripRebuildsUids) {
  InstanceUids uids{"1.2.3", "1.2.3.4", "1.2.3.4.5"};
  auto metadata = BlobNamer::InstanceMetadata(uids);
  EXPECT_EQ(metadata.at("strata_study_uid"), "1.2.3");
  auto back = BlobNamer::UidsFromMetadata(metadata);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->study, uids.study);
  EXPECT_EQ(back->series, uids.series);
  EXPECT_EQ(back->sop, uids.sop);
  metadata.erase("strata_sop_uid");
  EXPECT_EQ(BlobNamer::UidsFromMetadata(metadata).status().code(), StatusCode::kNotFound);
  metadata["strata_sop_uid"] = "not a uid";
  EXPECT_EQ(BlobNamer::UidsFromMetadata(metadata).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::blob
