#include "blob/azure_xml.h"

#include <gtest/gtest.h>

#include <random>

namespace strata::blob {
namespace {

// Shape of Azurite's and Azure's answers, with a BOM, attributes and entities.
constexpr char kPage[] =
    "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:1/devstoreaccount1\" "
    "ContainerName='strata'><Prefix>dicom/</Prefix><MaxResults>2</MaxResults>"
    "<Blobs><Blob><Name>dicom/a&amp;b.dcm</Name><Properties><Content-Length>5"
    "</Content-Length><AccessTier>Hot</AccessTier></Properties><Metadata/></Blob>\n"
    "  <Blob><Name><![CDATA[dicom/<c>.dcm]]></Name></Blob>"
    "<BlobPrefix><Name>dicom/x/</Name></BlobPrefix></Blobs>"
    "<NextMarker>2!96!MDAwMDE2IWRpY29tL2MuZGNtITAwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--"
    "</NextMarker></EnumerationResults>";

TEST(AzureXmlTest, ParsesListPage) {
  auto page = ParseListBlobsResult(kPage);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->names.size(), 2u);
  EXPECT_EQ(page->names[0], "dicom/a&b.dcm");
  EXPECT_EQ(page->names[1], "dicom/<c>.dcm");
  EXPECT_EQ(page->next_marker.substr(0, 6), "2!96!M");
}

TEST(AzureXmlTest, LastPageHasEmptyMarker) {
  auto page =
      ParseListBlobsResult("<EnumerationResults><Blobs /><NextMarker/></EnumerationResults>");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->names.empty());
  EXPECT_TRUE(page->next_marker.empty());
}

TEST(AzureXmlTest, NumericEntities) {
  auto root = ParseXml("<a>&#65;&#x42;&#xe9;</a>");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->text, "AB\xc3\xa9");
}

TEST(AzureXmlTest, ErrorCode) {
  EXPECT_EQ(ParseAzureErrorCode("<?xml version=\"1.0\"?><Error><Code>BlobArchived</Code>"
                                "<Message>This operation is not permitted</Message></Error>"),
            "BlobArchived");
  EXPECT_EQ(ParseAzureErrorCode(""), "");
  EXPECT_EQ(ParseAzureErrorCode("<html>oops</html>"), "");
}

TEST(AzureXmlTest, RejectsMalformedDocuments) {
  for (const char* bad : {"", "garbage", "<a>", "<a></b>", "<a><b></a></b>", "<a x=1></a>",
                          "<a>&bogus;</a>", "<a>&#0;</a>", "<a>&#x110000;</a>", "<a></a><b/>",
                          "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<a><!-- open</a>",
                          "<a><![CDATA[open</a>", "<a x=\"<\"></a>", "< a/>", "<a"}) {
    EXPECT_FALSE(ParseXml(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseListBlobsResult("<Error><Code>X</Code></Error>").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseListBlobsResult("<EnumerationResults><Blobs><Blob/></Blobs>"
                                    "</EnumerationResults>")
                   .ok())
      << "a Blob without a Name";
}

TEST(AzureXmlTest, DeepNestingIsRefusedNotACrash) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<a>";
  EXPECT_FALSE(ParseXml(deep).ok());
}

TEST(AzureXmlTest, RandomGarbageNeverCrashes) {
  std::mt19937 rng(42);
  const std::string alphabet = "<>/=\"'&;#x!?[]-CDATAabc \n";
  for (int round = 0; round < 2000; ++round) {
    std::string doc;
    int length = static_cast<int>(rng() % 64);
    for (int i = 0; i < length; ++i) doc += alphabet[rng() % alphabet.size()];
    (void)ParseListBlobsResult(doc);
    // Truncations of a valid page must fail cleanly, never read out of bounds.
    std::string page(kPage);
    (void)ParseListBlobsResult(page.substr(0, rng() % page.size()));
  }
}

}  // namespace
}  // namespace strata::blob
