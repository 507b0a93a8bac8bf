#include "dicomweb/frames.h"

#include <gtest/gtest.h>

namespace strata::dicomweb {
namespace {

constexpr char kJpegLs[] = "1.2.840.10008.1.2.4.80";
constexpr char kJpeg2000[] = "1.2.840.10008.1.2.4.90";
constexpr char kExplicitLe[] = "1.2.840.10008.1.2.1";
constexpr char kVideo[] = "1.2.840.10008.1.2.4.102";

TEST(ParseFrameListTest, AcceptsNumberLists) {
  EXPECT_EQ(*ParseFrameList("1"), std::vector<uint32_t>{1});
  EXPECT_EQ(*ParseFrameList("3,1,3"), (std::vector<uint32_t>{3, 1, 3}));
}

TEST(ParseFrameListTest, RefusesGarbage) {
  for (const char* bad :
       {"", "0", "1,", ",1", "a", "1;2", "-1", "+1", "1 ,2", "1.5", "99999999999"}) {
    auto parsed = ParseFrameList(bad);
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

FrameEncoding Pick(const std::string& accept, const std::string& ts, bool encapsulated) {
  auto picked = NegotiateFrames(accept, ts, encapsulated);
  EXPECT_TRUE(picked.ok()) << picked.status().ToString();
  EXPECT_TRUE(picked->has_value()) << accept;
  return picked->value_or(FrameEncoding{});
}

TEST(NegotiateFramesTest, OhifAcceptGetsStoredCompressedFrames) {
  // What OHIF 3.13 sends (generateAcceptHeader with its defaults) and what its image loader
  // uses as default.
  for (const char* accept : {"multipart/related; type=\"application/octet-stream\"; "
                             "transfer-syntax=\"*\"",
                             "multipart/related; type=application/octet-stream; "
                             "transfer-syntax=*"}) {
    FrameEncoding e = Pick(accept, kJpegLs, true);
    EXPECT_FALSE(e.decompress);
    EXPECT_EQ(e.part_type, "image/jls");
    EXPECT_EQ(e.transfer_syntax, kJpegLs);
    e = Pick(accept, kExplicitLe, false);
    EXPECT_EQ(e.part_type, "application/octet-stream");
    EXPECT_EQ(e.transfer_syntax, kExplicitLe);
  }
}

TEST(NegotiateFramesTest, OctetStreamWithoutTransferSyntaxIsDecompressed) {
  FrameEncoding e = Pick("multipart/related; type=\"application/octet-stream\"", kJpeg2000, true);
  EXPECT_TRUE(e.decompress);
  EXPECT_EQ(e.part_type, "application/octet-stream");
  EXPECT_EQ(e.transfer_syntax, kExplicitLe);
  EXPECT_TRUE(Pick("", kJpegLs, true).decompress);
  EXPECT_TRUE(Pick("*/*", kJpegLs, true).decompress);
  EXPECT_TRUE(Pick("multipart/related", kJpegLs, true).decompress);
}

TEST(NegotiateFramesTest, CompressedMediaTypeMustMatchTheStoredSyntax) {
  FrameEncoding e = Pick("multipart/related; type=\"image/jls\"", kJpegLs, true);
  EXPECT_FALSE(e.decompress);
  EXPECT_EQ(e.part_type, "image/jls");
  e = Pick("multipart/related; type=\"image/x-jls\"; transfer-syntax=1.2.840.10008.1.2.4.80",
           kJpegLs, true);
  EXPECT_EQ(e.part_type, "image/jls");
  // First acceptable range wins.
  e = Pick("multipart/related; type=\"image/jpeg\", multipart/related; type=\"image/jls\"", kJpegLs,
           true);
  EXPECT_EQ(e.part_type, "image/jls");
  auto none = NegotiateFrames("multipart/related; type=\"image/jpeg\"", kJpegLs, true);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  none = NegotiateFrames("multipart/related; type=\"image/jls\"", kExplicitLe, false);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  none = NegotiateFrames("application/dicom", kExplicitLe, false);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(NegotiateFramesTest, UndecodableSyntaxOnlyAsStored) {
  auto none = NegotiateFrames("multipart/related; type=\"application/octet-stream\"", kVideo, true);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(NegotiateFramesTest, MalformedAcceptIsInvalid) {
  EXPECT_EQ(NegotiateFrames("multipart/related; type=\"x", kJpegLs, true).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::dicomweb
