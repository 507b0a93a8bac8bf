#include "dicomweb/zip_writer.h"

#include <array>

namespace strata::dicomweb {
namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kDataDescriptorSignature = 0x08074b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kMax32 = 0xFFFFFFFF;
constexpr uint16_t kMax16 = 0xFFFF;
// Bit 3: sizes and CRC follow in a data descriptor; bit 11: the name is UTF-8.
constexpr uint16_t kFlags = (1 << 3) | (1 << 11);
constexpr uint16_t kVersionZip20 = 20;
constexpr uint16_t kVersionZip64 = 45;
// Made by UNIX (3), so that the external attributes carry a file mode.
constexpr uint16_t kVersionMadeBy = (3 << 8) | kVersionZip64;
constexpr uint32_t kFileMode = 0100644u << 16;
// 1980-01-01 00:00: archives do not depend on the wall clock.
constexpr uint16_t kDosTime = 0;
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;

void Put16(std::string& out, uint16_t v) {
  out += static_cast<char>(v & 0xFF);
  out += static_cast<char>(v >> 8);
}
void Put32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void Put64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

}  // namespace

uint32_t Crc32(uint32_t crc, const char* data, size_t size) {
  const auto& table = CrcTable();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) {
    crc = table[(crc ^ static_cast<uint8_t>(data[i])) & 0xFF] ^ (crc >> 8);
  }
  return ~crc;
}

std::string ZipStreamWriter::BeginEntry(const std::string& name, uint64_t expected_size) {
  Entry entry;
  entry.name = name;
  entry.offset = offset_;
  entry.zip64 = force_zip64_ || expected_size >= kMax32 || offset_ >= kMax32;
  std::string out;
  Put32(out, kLocalHeaderSignature);
  Put16(out, entry.zip64 ? kVersionZip64 : kVersionZip20);
  Put16(out, kFlags);
  Put16(out, 0);  // stored
  Put16(out, kDosTime);
  Put16(out, kDosDate);
  Put32(out, 0);  // CRC-32 and sizes: in the data descriptor
  Put32(out, entry.zip64 ? kMax32 : 0);
  Put32(out, entry.zip64 ? kMax32 : 0);
  Put16(out, static_cast<uint16_t>(name.size()));
  Put16(out, entry.zip64 ? 20 : 0);
  out += name;
  if (entry.zip64) {  // ZIP64 extended information: sizes follow in the descriptor
    Put16(out, 0x0001);
    Put16(out, 16);
    Put64(out, 0);
    Put64(out, 0);
  }
  entries_.push_back(std::move(entry));
  offset_ += out.size();
  return out;
}

void ZipStreamWriter::Update(const char* data, size_t size) {
  Entry& entry = entries_.back();
  entry.crc = Crc32(entry.crc, data, size);
  entry.size += size;
  offset_ += size;
}

Result<std::string> ZipStreamWriter::EndEntry() {
  Entry& entry = entries_.back();
  if (!entry.zip64 && entry.size >= kMax32) {
    return Internal("zip entry '" + entry.name + "' grew past 4 GiB without ZIP64 records");
  }
  std::string out;
  Put32(out, kDataDescriptorSignature);
  Put32(out, entry.crc);
  if (entry.zip64) {
    Put64(out, entry.size);
    Put64(out, entry.size);
  } else {
    Put32(out, static_cast<uint32_t>(entry.size));
    Put32(out, static_cast<uint32_t>(entry.size));
  }
  offset_ += out.size();
  return out;
}

std::string ZipStreamWriter::Finish() {
  std::string out;
  const uint64_t directory_offset = offset_;
  for (const Entry& entry : entries_) {
    Put32(out, kCentralHeaderSignature);
    Put16(out, kVersionMadeBy);
    Put16(out, entry.zip64 ? kVersionZip64 : kVersionZip20);
    Put16(out, kFlags);
    Put16(out, 0);
    Put16(out, kDosTime);
    Put16(out, kDosDate);
    Put32(out, entry.crc);
    Put32(out, entry.zip64 ? kMax32 : static_cast<uint32_t>(entry.size));
    Put32(out, entry.zip64 ? kMax32 : static_cast<uint32_t>(entry.size));
    Put16(out, static_cast<uint16_t>(entry.name.size()));
    Put16(out, entry.zip64 ? 28 : 0);
    Put16(out, 0);  // comment
    Put16(out, 0);  // disk
    Put16(out, 0);  // internal attributes
    Put32(out, kFileMode);
    Put32(out, entry.zip64 ? kMax32 : static_cast<uint32_t>(entry.offset));
    out += entry.name;
    if (entry.zip64) {  // the fields set to 0xFFFFFFFF above, in APPNOTE order
      Put16(out, 0x0001);
      Put16(out, 24);
      Put64(out, entry.size);
      Put64(out, entry.size);
      Put64(out, entry.offset);
    }
  }
  const uint64_t directory_size = out.size();
  const uint64_t count = entries_.size();
  const bool zip64_end =
      force_zip64_ || count >= kMax16 || directory_offset >= kMax32 || directory_size >= kMax32;
  if (zip64_end) {
    const uint64_t end_offset = directory_offset + directory_size;
    Put32(out, kZip64EndSignature);
    Put64(out, 44);  // size of the rest of this record
    Put16(out, kVersionMadeBy);
    Put16(out, kVersionZip64);
    Put32(out, 0);  // this disk
    Put32(out, 0);  // disk with the directory
    Put64(out, count);
    Put64(out, count);
    Put64(out, directory_size);
    Put64(out, directory_offset);
    Put32(out, kZip64LocatorSignature);
    Put32(out, 0);
    Put64(out, end_offset);
    Put32(out, 1);  // disks
  }
  Put32(out, kEndSignature);
  Put16(out, 0);
  Put16(out, 0);
  Put16(out, zip64_end ? kMax16 : static_cast<uint16_t>(count));
  Put16(out, zip64_end ? kMax16 : static_cast<uint16_t>(count));
  Put32(out, zip64_end ? kMax32 : static_cast<uint32_t>(directory_size));
  Put32(out, zip64_end ? kMax32 : static_cast<uint32_t>(directory_offset));
  Put16(out, 0);  // comment
  offset_ += out.size();
  return out;
}

}  // namespace strata::dicomweb
