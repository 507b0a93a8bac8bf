#include "dicomweb/zip_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace strata::dicomweb {
namespace {

TEST(Crc32Test, KnownValues) {
  EXPECT_EQ(Crc32(0, "", 0), 0u);
  EXPECT_EQ(Crc32(0, "123456789", 9), 0xCBF43926u);  // the standard check value
  // Continuing a CRC over pieces gives the CRC of the whole.
  EXPECT_EQ(Crc32(Crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

struct TestEntry {
  std::string name;
  std::string data;
};

// Streams `entries` through a writer in pieces of `piece` bytes, as the HTTP body does.
std::string WriteZip(const std::vector<TestEntry>& entries, bool force_zip64, size_t piece) {
  ZipStreamWriter zip(force_zip64);
  std::string out;
  for (const auto& entry : entries) {
    out += zip.BeginEntry(entry.name, entry.data.size());
    for (size_t i = 0; i < entry.data.size(); i += piece) {
      const size_t n = std::min(piece, entry.data.size() - i);
      zip.Update(entry.data.data() + i, n);
      out.append(entry.data, i, n);
    }
    auto end = zip.EndEntry();
    EXPECT_TRUE(end.ok()) << end.status().ToString();
    out += *end;
  }
  out += zip.Finish();
  EXPECT_EQ(zip.bytes_written(), out.size());
  return out;
}

class ZipWriterTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    // A parameterised test's name ("Case/0") must not make a folder inside a folder.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = std::filesystem::temp_directory_path() /
           ("strata-zip-test-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes the archive and has Python's zipfile check every CRC and list the members.
  std::string CheckWithPython(const std::string& zip_bytes) {
    const auto path = dir_ / "test.zip";
    std::ofstream(path, std::ios::binary) << zip_bytes;
    const auto listing = dir_ / "listing.txt";
    const std::string command =
        "/usr/bin/python3 -c \"import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "
        "bad = z.testzip(); assert bad is None, bad; "
        "print('\\n'.join('%s %d %s' % (i.filename, i.file_size, z.read(i)[:8].hex()) "
        "for i in z.infolist()))\" " +
        path.string() + " > " + listing.string() + " 2>&1";
    const int rc = std::system(command.c_str());
    std::ifstream in(listing);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(rc, 0) << text;
    return text;
  }

  std::filesystem::path dir_;
};

TEST_P(ZipWriterTest, PythonZipfileReadsEveryEntry) {
  std::mt19937 rng(7);
  std::string big(300 * 1024, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  const std::vector<TestEntry> entries = {
      {"1.2.3/1.2.3.4/1.2.3.4.5.dcm", big},
      {"1.2.3/1.2.3.4/empty.dcm", ""},
      {"1.2.3/1.2.3.9/small.dcm", "DICM-ish bytes"},
  };
  const std::string zip = WriteZip(entries, GetParam(), 4096);
  const std::string listing = CheckWithPython(zip);
  char first[17];
  std::snprintf(first, sizeof(first), "%02x%02x%02x%02x%02x%02x%02x%02x",
                static_cast<uint8_t>(big[0]), static_cast<uint8_t>(big[1]),
                static_cast<uint8_t>(big[2]), static_cast<uint8_t>(big[3]),
                static_cast<uint8_t>(big[4]), static_cast<uint8_t>(big[5]),
                static_cast<uint8_t>(big[6]), static_cast<uint8_t>(big[7]));
  EXPECT_EQ(listing, std::string("1.2.3/1.2.3.4/1.2.3.4.5.dcm 307200 ") + first +
                         "\n1.2.3/1.2.3.4/empty.dcm 0 \n1.2.3/1.2.3.9/small.dcm 14 " +
                         "4449434d2d697368\n");
  // ZIP64 end records only when asked (small archive).
  const bool has_zip64_end = zip.find(std::string("PK\x06\x06", 4)) != std::string::npos;
  EXPECT_EQ(has_zip64_end, GetParam());
}

TEST_P(ZipWriterTest, EmptyArchive) {
  const std::string zip = WriteZip({}, GetParam(), 1);
  EXPECT_EQ(CheckWithPython(zip), "\n");
}

TEST_P(ZipWriterTest, UnzipTestsTheArchive) {
  if (std::system("command -v unzip > /dev/null 2>&1") != 0) GTEST_SKIP() << "no unzip";
  const std::string zip = WriteZip({{"a/b.dcm", std::string(70000, 'x')}}, GetParam(), 1000);
  const auto path = dir_ / "t.zip";
  std::ofstream(path, std::ios::binary) << zip;
  EXPECT_EQ(std::system(("unzip -tq " + path.string() + " > /dev/null").c_str()), 0);
}

INSTANTIATE_TEST_SUITE_P(Zip32AndZip64, ZipWriterTest, ::testing::Bool());

}  // namespace
}  // namespace strata::dicomweb
