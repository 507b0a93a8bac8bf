#include "dicomweb/multipart.h"

#include <gtest/gtest.h>

#include <vector>

namespace strata::dicomweb {
namespace {

struct Part {
  std::map<std::string, std::string> headers;
  std::string data;
  bool ended = false;
};

class Recorder : public MultipartListener {
 public:
  Status OnPartBegin(const std::map<std::string, std::string>& headers) override {
    parts.push_back({headers, "", false});
    return OkStatus();
  }
  Status OnPartData(std::string_view data) override {
    max_piece = std::max(max_piece, data.size());
    parts.back().data += data;
    return OkStatus();
  }
  Status OnPartEnd() override {
    parts.back().ended = true;
    return OkStatus();
  }
  std::vector<Part> parts;
  size_t max_piece = 0;
};

// Feeds `body` in pieces of `piece` bytes; returns the first error or Finish's status.
Status ParseAll(const std::string& body, Recorder& recorder, size_t piece,
                const std::string& boundary = "BOUNDARY") {
  auto parser = MultipartParser::Create(boundary, recorder, 256);
  if (!parser.ok()) return parser.status();
  for (size_t i = 0; i < body.size(); i += piece) {
    STRATA_RETURN_IF_ERROR(parser->Feed(std::string_view(body).substr(i, piece)));
  }
  return parser->Finish();
}

const std::string kTwoParts =
    "preamble text\r\n"
    "--BOUNDARY\r\n"
    "Content-Type: application/dicom\r\n"
    "X-Other:  spaced value \r\n"
    "\r\n"
    "first\r\n--BOUNDAR not a delimiter\r\n"
    "--BOUNDARY  \r\n"
    "\r\n"
    "second part\r\n"
    "--BOUNDARY--\r\n"
    "epilogue --BOUNDARY garbage";

TEST(MultipartParserTest, ParsesPartsWhateverThePieceSize) {
  for (size_t piece : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{13}, size_t{1000}}) {
    Recorder r;
    ASSERT_TRUE(ParseAll(kTwoParts, r, piece).ok()) << piece;
    ASSERT_EQ(r.parts.size(), 2u) << piece;
    EXPECT_EQ(r.parts[0].headers.at("content-type"), "application/dicom");
    EXPECT_EQ(r.parts[0].headers.at("x-other"), "spaced value");
    EXPECT_EQ(r.parts[0].data, "first\r\n--BOUNDAR not a delimiter");
    EXPECT_TRUE(r.parts[0].ended);
    EXPECT_TRUE(r.parts[1].headers.empty());
    EXPECT_EQ(r.parts[1].data, "second part");
    EXPECT_TRUE(r.parts[1].ended);
  }
}

TEST(MultipartParserTest, BoundaryAtTheVeryStartAndBinaryData) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += static_cast<char>(i * 7 % 256);
  std::string body = "--b\r\nContent-Type: application/dicom\r\n\r\n" + data + "\r\n--b--";
  Recorder r;
  ASSERT_TRUE(ParseAll(body, r, 100, "b").ok());
  ASSERT_EQ(r.parts.size(), 1u);
  EXPECT_EQ(r.parts[0].data, data);
}

TEST(MultipartParserTest, MemoryStaysBoundedForALargePart) {
  Recorder r;
  auto parser = MultipartParser::Create("BOUNDARY", r);
  ASSERT_TRUE(parser.ok());
  ASSERT_TRUE(parser->Feed("--BOUNDARY\r\n\r\n").ok());
  const std::string piece(64 * 1024, 'x');
  size_t fed = 0, received = 0;
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(parser->Feed(piece).ok());
    fed += piece.size();
    received += r.parts[0].data.size();
    r.parts[0].data.clear();
    EXPECT_LT(fed - received, 14u);  // only a possible delimiter prefix is held back
  }
  ASSERT_TRUE(parser->Feed("\r\n--BOUNDARY--\r\n").ok());
  EXPECT_TRUE(parser->Finish().ok());
  EXPECT_LE(r.max_piece, piece.size() + 20);
}

TEST(MultipartParserTest, MalformedBodiesAreInvalidArgument) {
  const std::string cases[] = {
      "",                                                         // nothing at all
      "no boundary anywhere",                                     // no delimiter
      "--BOUNDARY\r\nContent-Type: x\r\n\r\ndata",                // no closing boundary
      "--BOUNDARY\r\n\r\ndata\r\n--BOUNDARY\r\n",                 // ends in headers
      "--BOUNDARY\r\nno colon here\r\n\r\ndata\r\n--BOUNDARY--",  // header without ':'
      "--BOUNDARY\r\n: empty name\r\n\r\ndata\r\n--BOUNDARY--",
      "--BOUNDARYxx\r\n\r\ndata\r\n--BOUNDARY--",  // boundary line with junk
      "--BOUNDARY\r\n" + std::string(300, 'h') + "\r\n\r\nx\r\n--BOUNDARY--",  // headers too long
      "--BOUNDARY" + std::string(300, ' ') + "\r\n\r\nx\r\n--BOUNDARY--",      // endless padding
      "--BOUNDARY\r\n folded first\r\n\r\nx\r\n--BOUNDARY--",
  };
  for (const std::string& body : cases) {
    for (size_t piece : {size_t{1}, size_t{5}, size_t{4096}}) {
      Recorder r;
      Status s = ParseAll(body, r, piece);
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "'" << body << "' piece " << piece;
      EXPECT_NE(s.message().find("multipart"), std::string::npos) << s.message();
    }
  }
}

TEST(MultipartParserTest, ZeroPartsIsValidButCounted) {
  Recorder r;
  ASSERT_TRUE(ParseAll("--BOUNDARY--\r\n", r, 3).ok());
  EXPECT_TRUE(r.parts.empty());
}

TEST(MultipartParserTest, FailedParserStaysFailed) {
  Recorder r;
  auto parser = MultipartParser::Create("B", r);
  ASSERT_TRUE(parser.ok());
  EXPECT_FALSE(parser->Feed("--B\r\nbad header\r\n\r\n").ok());
  EXPECT_FALSE(parser->Feed("--B--").ok());
  EXPECT_FALSE(parser->Finish().ok());
}

TEST(MultipartParserTest, ListenerErrorsStopParsing) {
  class Failing : public Recorder {
    Status OnPartData(std::string_view) override { return Unavailable("disk full"); }
  } r;
  auto parser = MultipartParser::Create("B", r);
  ASSERT_TRUE(parser.ok());
  Status s = parser->Feed("--B\r\n\r\nsome data\r\n--B--");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
}

TEST(MultipartParserTest, InvalidBoundaries) {
  Recorder r;
  EXPECT_FALSE(MultipartParser::Create("", r).ok());
  EXPECT_FALSE(MultipartParser::Create(std::string(71, 'a'), r).ok());
  EXPECT_FALSE(MultipartParser::Create("bad\"quote", r).ok());
  EXPECT_FALSE(MultipartParser::Create("ends with space ", r).ok());
  EXPECT_TRUE(MultipartParser::Create(std::string(70, 'a'), r).ok());
}

TEST(MediaTypeTest, ParsesTypeAndParameters) {
  auto m = ParseMediaType(
      "Multipart/Related; type=\"application/dicom\"; Boundary=abc;transfer-syntax=*");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, "multipart/related");
  EXPECT_EQ(m->Param("type"), "application/dicom");
  EXPECT_EQ(m->Param("boundary"), "abc");
  EXPECT_EQ(m->Param("transfer-syntax"), "*");
  EXPECT_EQ(m->Param("missing"), "");
  auto quoted = ParseMediaType("multipart/related; boundary=\"a;b \\\"c\"");
  ASSERT_TRUE(quoted.ok());
  EXPECT_EQ(quoted->Param("boundary"), "a;b \"c");
}

TEST(MediaTypeTest, RejectsMalformed) {
  for (const char* text : {"", "text", "/x", "x/", "a/b/c", "a b/c", "a/b; noequals",
                           "a/b; x=\"unterminated", "a/b; x=\"q\" junk", "a/b; =v"}) {
    EXPECT_EQ(ParseMediaType(text).status().code(), StatusCode::kInvalidArgument) << text;
  }
}

}  // namespace
}  // namespace strata::dicomweb
