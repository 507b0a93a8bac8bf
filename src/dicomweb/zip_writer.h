// ZipStreamWriter: writes a ZIP archive (APPNOTE 6.3.x) as a stream, for a whole study as
// application/zip. Entries are stored (no compression: DICOM pixel data rarely shrinks much)
// with a data descriptor after each entry, so nothing has to be known or buffered before an
// entry's bytes go out; the CRC-32 is computed while they stream. ZIP64 records are written
// for an entry whose size or offset does not fit 32 bits and for the archive's end when the
// central directory needs them. Memory: one small record per entry (name, CRC, sizes,
// offset) for the central directory at the end.
//
// Use: for each entry, send BeginEntry(), then the entry's bytes while passing each piece to
// Update(), then EndEntry(); finally send Finish(). Thread-safety: one writer per archive,
// used from one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::dicomweb {

// CRC-32 (ISO-HDLC, as in ZIP and gzip) of `size` bytes, continuing from `crc` (0 to start).
uint32_t Crc32(uint32_t crc, const char* data, size_t size);

class ZipStreamWriter {
 public:
  // force_zip64: write ZIP64 records even for small entries (tests; some tools want it).
  explicit ZipStreamWriter(bool force_zip64 = false) : force_zip64_(force_zip64) {}

  // The local file header of a new entry named `name` (UTF-8, '/' separated) whose data will
  // be `expected_size` bytes (decides whether the entry needs ZIP64).
  // REQUIRES: no entry open.
  std::string BeginEntry(const std::string& name, uint64_t expected_size);
  // Accounts for the next `size` bytes of the open entry's data (sent by the caller).
  void Update(const char* data, size_t size);
  // The data descriptor closing the open entry. kInternal if the entry grew past 4 GiB
  // although expected_size said it would not.
  Result<std::string> EndEntry();
  // The central directory and end records. REQUIRES: no entry open.
  std::string Finish();

  uint64_t bytes_written() const { return offset_; }

 private:
  struct Entry {
    std::string name;
    uint32_t crc = 0;
    uint64_t size = 0;
    uint64_t offset = 0;  // of the local header
    bool zip64 = false;
  };

  bool force_zip64_;
  std::vector<Entry> entries_;
  uint64_t offset_ = 0;  // bytes of the archive produced so far
};

}  // namespace strata::dicomweb
