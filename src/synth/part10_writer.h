// Part10Writer: encodes one DICOM Part 10 file (PS3.10 §7) in Explicit VR Little Endian
// straight into a byte buffer, without DCMTK, so that synthetic files are fast to make and
// byte-for-byte reproducible.
//
// Usage: construct with the SOP class/instance UIDs (the file meta information group is written
// at once), add data set elements in ascending tag order, optionally fill pixel data in place,
// then Take() the bytes. Only the element forms the generator needs are supported (strings,
// US, SS, OW pixel data); no sequences.
//
// Thread-safety: none; one writer per thread. Callers must add tags in strictly ascending order
// and group > 0x0002 (checked: a violation is a programmer error and aborts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dicom/tags.h"

namespace strata::synth {

// Explicit VR Little Endian (PS3.5 A.2).
inline constexpr std::string_view kExplicitVrLittleEndian = "1.2.840.10008.1.2.1";

class Part10Writer {
 public:
  // `reserve_bytes` is a capacity hint (e.g. the pixel data size).
  Part10Writer(std::string_view sop_class_uid, std::string_view sop_instance_uid,
               size_t reserve_bytes);

  // A string value with a two-letter VR (AE, CS, DA, DS, IS, LO, PN, SH, TM, UI, ...).
  // Odd lengths are padded: UI with NUL, everything else with a space (PS3.5 6.2).
  // REQUIRES: the value fits the 16-bit length of short-form VRs.
  void AddString(dicom::Tag tag, std::string_view vr, std::string_view value);
  void AddUs(dicom::Tag tag, uint16_t value);
  void AddSs(dicom::Tag tag, int16_t value);
  // Appends (7FE0,0010) OW of `count` 16-bit samples and returns where to write their
  // 2 * count little-endian bytes; the pointer is valid until the next call on this writer.
  char* AddPixelData16(size_t count);

  // The finished file. The writer is empty afterwards.
  std::string Take();

 private:
  void Header(dicom::Tag tag, std::string_view vr, uint32_t length);
  void Put16(uint16_t v);
  void Put32(uint32_t v);

  std::string out_;
  dicom::Tag last_tag_ = 0;
};

}  // namespace strata::synth
