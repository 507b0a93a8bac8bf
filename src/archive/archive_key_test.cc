#include "archive/archive_key.h"

#include <gtest/gtest.h>

namespace strata::archive {
namespace {

const blob::InstanceUids kUids{"1.2.3", "1.2.3.4", "1.2.3.4.5"};

TEST(ArchiveKeyTest, VendorNeutralKeyEqualsTheLocalKeyForEveryVersion) {
  auto namer = blob::BlobNamer::Create(blob::BlobNaming::kVendorNeutral, "");
  ASSERT_TRUE(namer.ok());
  EXPECT_EQ(*ArchiveKey(*namer, kUids, "dicom/1.2.3/1.2.3.4/1.2.3.4.5.dcm"),
            "dicom/1.2.3/1.2.3.4/1.2.3.4.5.dcm");
  EXPECT_EQ(*ArchiveKey(*namer, kUids, "dicom/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm"),
            "dicom/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm");
}

TEST(ArchiveKeyTest, OpaqueKeysHideUidsAndKeepVersionsApart) {
  auto namer = blob::BlobNamer::Create(blob::BlobNaming::kOpaque, std::string(32, 'k'));
  ASSERT_TRUE(namer.ok());
  auto first = ArchiveKey(*namer, kUids, "dicom/1.2.3/1.2.3.4/1.2.3.4.5.dcm");
  auto second = ArchiveKey(*namer, kUids, "dicom/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *namer->ObjectKey(kUids));
  EXPECT_NE(*first, *second);
  EXPECT_EQ(first->rfind("dicom-opaque/", 0), 0u);
  EXPECT_EQ(second->find("1.2.3.4.5"), std::string::npos);
  EXPECT_NE(second->find(".0123456789abcdef.dcm"), std::string::npos);
}

TEST(ArchiveKeyTest, RejectsAKeyOfAnotherInstance) {
  auto namer = blob::BlobNamer::Create(blob::BlobNaming::kVendorNeutral, "");
  ASSERT_TRUE(namer.ok());
  EXPECT_EQ(ArchiveKey(*namer, kUids, "dicom/9.9/9.9.9/9.9.9.9.dcm").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ArchiveKey(*namer, kUids, "dicom/1.2.3/1.2.3.4/1.2.3.4.5.txt").status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::archive
