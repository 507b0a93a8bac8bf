#include "ingest/dataset_hasher.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "dicom/dicom_file.h"

namespace strata::ingest {

void DatasetHasher::Update(const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  if (!offset_known_) {
    const size_t take = std::min(size, dicom::kPart10HeadBytes - head_.size());
    head_.append(bytes, take);
    fed_ += take;
    bytes += take;
    size -= take;
    if (head_.size() < dicom::kPart10HeadBytes) return;
    HashHead();
  }
  HashPiece(fed_, bytes, size);
  fed_ += size;
}

void DatasetHasher::HashHead() {
  offset_known_ = true;
  dataset_offset_ = dicom::DatasetOffsetOfHead(head_);
  HashPiece(0, head_.data(), head_.size());
  head_.clear();
}

void DatasetHasher::HashPiece(uint64_t start, const char* bytes, size_t size) {
  // Bytes before the data set (preamble and file meta group) are not hashed.
  const uint64_t skip = dataset_offset_ > start ? dataset_offset_ - start : 0;
  if (skip < size) sha_.Update(bytes + skip, size - static_cast<size_t>(skip));
}

Status DatasetHasher::CatchUp(int fd) {
  constexpr size_t kChunkBytes = 128 << 10;
  thread_local auto buffer = std::make_unique_for_overwrite<char[]>(kChunkBytes);
  while (true) {
    ssize_t got = ::pread(fd, buffer.get(), kChunkBytes, static_cast<off_t>(fed_));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Unavailable(std::string("reading a staged file: ") + std::strerror(errno));
    if (got == 0) return OkStatus();
    Update(buffer.get(), static_cast<size_t>(got));
  }
}

DatasetDigest DatasetHasher::Finish() {
  // A file shorter than the head has no data set offset: all of it is hashed.
  if (!offset_known_) HashHead();
  return {dataset_offset_, fed_, blob::HexEncode(sha_.Final())};
}

}  // namespace strata::ingest
