#include "ingest/dataset_hasher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "blob/crypto_util.h"
#include "dicom/dicom_file.h"
#include "dicom/testing/test_files.h"

namespace strata::ingest {
namespace {

namespace fs = std::filesystem;

class DatasetHasherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("strata_dataset_hasher_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // What ingest computes when it reads the file itself.
  static std::string ExpectedSha(const std::string& path, uint64_t offset) {
    auto sha = blob::Sha256HexOfFile(path, offset);
    EXPECT_TRUE(sha.ok()) << sha.status().ToString();
    return sha.ok() ? *sha : "";
  }
  static DatasetDigest HashInChunks(const std::string& bytes, size_t chunk) {
    DatasetHasher hasher;
    for (size_t at = 0; at < bytes.size(); at += chunk) {
      hasher.Update(bytes.data() + at, std::min(chunk, bytes.size() - at));
    }
    return hasher.Finish();
  }

  fs::path dir_;
};

TEST_F(DatasetHasherTest, MatchesTheHashIngestComputesForAnyChunking) {
  const std::string path = (dir_ / "a.dcm").string();
  ASSERT_TRUE(dicom::testing::WriteTestInstance(path, dicom::testing::MakeMetadata(1, 1, 1, 1)));
  auto parsed = dicom::ReadInstance(path);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_GT(parsed->dataset_offset, dicom::kPart10HeadBytes);
  const std::string bytes = Read(path);
  const std::string expected = ExpectedSha(path, parsed->dataset_offset);
  for (size_t chunk :
       {size_t{1}, size_t{7}, size_t{143}, size_t{144}, size_t{145}, size_t{4096}, bytes.size()}) {
    DatasetDigest digest = HashInChunks(bytes, chunk);
    EXPECT_EQ(digest.dataset_offset, parsed->dataset_offset) << "chunk " << chunk;
    EXPECT_EQ(digest.file_size, bytes.size()) << "chunk " << chunk;
    EXPECT_EQ(digest.sha256_hex, expected) << "chunk " << chunk;
  }
}

TEST_F(DatasetHasherTest, CatchUpFollowsAFileWhileItIsWritten) {
  const std::string source = (dir_ / "a.dcm").string();
  ASSERT_TRUE(dicom::testing::WriteTestInstance(source, dicom::testing::MakeMetadata(1, 1, 1, 2)));
  const std::string bytes = Read(source);
  const std::string growing = (dir_ / "growing.dcm").string();
  std::ofstream out(growing, std::ios::binary);
  int fd = ::open(growing.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  DatasetHasher hasher;
  ASSERT_TRUE(hasher.CatchUp(fd).ok());  // nothing written yet
  for (size_t at = 0; at < bytes.size(); at += 1000) {
    out.write(bytes.data() + at,
              static_cast<std::streamsize>(std::min<size_t>(1000, bytes.size() - at)));
    out.flush();
    ASSERT_TRUE(hasher.CatchUp(fd).ok());
  }
  ::close(fd);
  DatasetDigest digest = hasher.Finish();
  auto parsed = dicom::ReadInstance(source);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(digest.file_size, bytes.size());
  EXPECT_EQ(digest.dataset_offset, parsed->dataset_offset);
  EXPECT_EQ(digest.sha256_hex, ExpectedSha(source, parsed->dataset_offset));
}

TEST_F(DatasetHasherTest, FilesWithoutAFileMetaGroupAreHashedWhole) {
  const std::string short_file = Write("short", "not a DICOM file");
  DatasetDigest short_digest = HashInChunks(Read(short_file), 5);
  EXPECT_EQ(short_digest.dataset_offset, 0u);
  EXPECT_EQ(short_digest.sha256_hex, ExpectedSha(short_file, 0));

  const std::string no_magic = Write("no-magic", std::string(300, 'x'));
  DatasetDigest no_magic_digest = HashInChunks(Read(no_magic), 100);
  EXPECT_EQ(no_magic_digest.dataset_offset, 0u);
  EXPECT_EQ(no_magic_digest.file_size, 300u);
  EXPECT_EQ(no_magic_digest.sha256_hex, ExpectedSha(no_magic, 0));

  DatasetHasher empty;
  EXPECT_EQ(empty.Finish().sha256_hex, ExpectedSha(Write("empty", ""), 0));
}

}  // namespace
}  // namespace strata::ingest
