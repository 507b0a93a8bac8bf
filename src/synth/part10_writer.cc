#include "synth/part10_writer.h"

#include <cstring>

#include "core/status.h"

namespace strata::synth {
namespace {

// The implementation class UID is a fixed 2.25 UUID-derived value naming this writer.
constexpr std::string_view kImplementationClassUid = "2.25.255974398813735414785469327358305467993";
constexpr std::string_view kImplementationVersionName = "STRATA_SYNTH_1";
constexpr size_t kPreambleBytes = 128;

// VRs with a 2-byte reserved field and a 32-bit length in explicit VR (PS3.5 7.1.2).
bool IsLongVr(std::string_view vr) {
  return vr == "OB" || vr == "OD" || vr == "OF" || vr == "OL" || vr == "OW" || vr == "SQ" ||
         vr == "UC" || vr == "UR" || vr == "UT" || vr == "UN";
}

size_t Padded(size_t n) { return n + (n & 1); }

}  // namespace

Part10Writer::Part10Writer(std::string_view sop_class_uid, std::string_view sop_instance_uid,
                           size_t reserve_bytes) {
  out_.reserve(reserve_bytes + 1024);
  out_.assign(kPreambleBytes, '\0');
  out_ += "DICM";
  // File meta information (PS3.10 7.1); (0002,0000) holds the length of what follows it.
  const size_t group_length_at = out_.size();
  Header(dicom::MakeTag(0x0002, 0x0000), "UL", 4);
  Put32(0);
  const size_t group_start = out_.size();
  Header(dicom::MakeTag(0x0002, 0x0001), "OB", 2);
  out_.push_back('\0');
  out_.push_back('\1');
  AddString(dicom::MakeTag(0x0002, 0x0002), "UI", sop_class_uid);
  AddString(dicom::MakeTag(0x0002, 0x0003), "UI", sop_instance_uid);
  AddString(dicom::MakeTag(0x0002, 0x0010), "UI", kExplicitVrLittleEndian);
  AddString(dicom::MakeTag(0x0002, 0x0012), "UI", kImplementationClassUid);
  AddString(dicom::MakeTag(0x0002, 0x0013), "SH", kImplementationVersionName);
  const uint32_t group_length = static_cast<uint32_t>(out_.size() - group_start);
  for (int i = 0; i < 4; ++i) {
    out_[group_length_at + 8 + i] = static_cast<char>((group_length >> (8 * i)) & 0xff);
  }
}

void Part10Writer::Put16(uint16_t v) {
  out_.push_back(static_cast<char>(v & 0xff));
  out_.push_back(static_cast<char>(v >> 8));
}

void Part10Writer::Put32(uint32_t v) {
  Put16(static_cast<uint16_t>(v & 0xffff));
  Put16(static_cast<uint16_t>(v >> 16));
}

void Part10Writer::Header(dicom::Tag tag, std::string_view vr, uint32_t length) {
  STRATA_CHECK(tag > last_tag_ || (tag >> 16) == 0x0002) << "tags must ascend";
  STRATA_CHECK(vr.size() == 2) << vr;
  if ((tag >> 16) != 0x0002) last_tag_ = tag;
  Put16(static_cast<uint16_t>(tag >> 16));
  Put16(static_cast<uint16_t>(tag & 0xffff));
  out_.append(vr);
  if (IsLongVr(vr)) {
    Put16(0);
    Put32(length);
  } else {
    STRATA_CHECK(length <= 0xffff) << "value too long for " << vr;
    Put16(static_cast<uint16_t>(length));
  }
}

void Part10Writer::AddString(dicom::Tag tag, std::string_view vr, std::string_view value) {
  Header(tag, vr, static_cast<uint32_t>(Padded(value.size())));
  out_.append(value);
  if (value.size() & 1) out_.push_back(vr == "UI" ? '\0' : ' ');
}

void Part10Writer::AddUs(dicom::Tag tag, uint16_t value) {
  Header(tag, "US", 2);
  Put16(value);
}

void Part10Writer::AddSs(dicom::Tag tag, int16_t value) {
  Header(tag, "SS", 2);
  Put16(static_cast<uint16_t>(value));
}

char* Part10Writer::AddPixelData16(size_t count) {
  Header(dicom::MakeTag(0x7FE0, 0x0010), "OW", static_cast<uint32_t>(count * 2));
  const size_t at = out_.size();
  out_.resize(at + count * 2);
  return out_.data() + at;
}

std::string Part10Writer::Take() {
  std::string bytes = std::move(out_);
  out_.clear();
  last_tag_ = 0;
  return bytes;
}

}  // namespace strata::synth
