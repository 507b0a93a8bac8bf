// DatasetHasher: the content hash of a Part 10 file computed while the file is written, so that
// ingest need not read the whole file back before it can acknowledge it.
//
// The hash is the one ingest records: SHA-256 of the bytes from dicom::DatasetOffsetOfHead to
// the end of the file. A receiver feeds every byte of the file in order (Update) or lets the
// hasher read what has reached the file so far (CatchUp), then attaches Finish() to its
// IngestRequest. Ingest uses the digest only when its offset and size match the file it parses.
//
// Thread-safety: one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "blob/crypto_util.h"
#include "core/status.h"

namespace strata::ingest {

struct DatasetDigest {
  uint64_t dataset_offset = 0;
  uint64_t file_size = 0;  // bytes fed, the whole file
  std::string sha256_hex;
};

class DatasetHasher {
 public:
  // The next `size` bytes of the file.
  void Update(const void* data, size_t size);

  // Feeds what the file at `fd` holds beyond the bytes fed so far (another writer appends to
  // it). kUnavailable when it cannot be read.
  Status CatchUp(int fd);

  // The digest of the bytes fed. Call once.
  DatasetDigest Finish();

 private:
  // Learns the data set offset from the head and hashes the head's part of the data set.
  void HashHead();
  // Hashes the part of the data set in `size` bytes that start at file offset `start`.
  void HashPiece(uint64_t start, const char* bytes, size_t size);

  std::string head_;  // the first bytes, until the data set offset is known
  bool offset_known_ = false;
  uint64_t dataset_offset_ = 0;
  uint64_t fed_ = 0;
  blob::Sha256Hasher sha_;
};

}  // namespace strata::ingest
