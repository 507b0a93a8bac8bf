// Fuzzes the DICOM Part 10 reader used on every received object, and checks that the hash a
// receiver computes while the bytes arrive (in pieces of any size) is the one ingest computes
// from the file.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "blob/crypto_util.h"
#include "dicom/dicom_file.h"
#include "ingest/dataset_hasher.h"

namespace {

// One scratch file per fuzzing process, removed when it exits.
struct ScratchFile {
  ScratchFile()
      : path((std::filesystem::temp_directory_path() /
              ("strata_dicom_fuzz_" + std::to_string(::getpid()) + ".dcm"))
                 .string()) {}
  ~ScratchFile() { ::unlink(path.c_str()); }
  const std::string path;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ScratchFile scratch;
  FILE* f = std::fopen(scratch.path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto parsed = strata::dicom::ReadInstance(scratch.path);
  if (parsed.ok() && parsed->metadata.sop_instance_uid.empty()) __builtin_trap();

  // The first byte picks the piece size, so that pieces split the head at every place.
  strata::ingest::DatasetHasher hasher;
  const size_t piece = size > 0 ? 1 + data[0] % 160 : 1;
  for (size_t at = 0; at < size; at += piece) hasher.Update(data + at, std::min(piece, size - at));
  const strata::ingest::DatasetDigest digest = hasher.Finish();
  const std::string head(reinterpret_cast<const char*>(data),
                         std::min(size, strata::dicom::kPart10HeadBytes));
  if (digest.dataset_offset != strata::dicom::DatasetOffsetOfHead(head)) __builtin_trap();
  if (parsed.ok() && digest.dataset_offset != parsed->dataset_offset) __builtin_trap();
  if (digest.dataset_offset <= size) {
    auto sha = strata::blob::Sha256HexOfFile(scratch.path, digest.dataset_offset);
    if (!sha.ok() || *sha != digest.sha256_hex) __builtin_trap();
  }
  return 0;
}
