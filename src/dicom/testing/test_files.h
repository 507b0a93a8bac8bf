// Small DICOM files for tests of modules above src/dicom, written with DCMTK here so that
// those tests need no DCMTK themselves. Not thread-safe across identical paths.
#pragma once

#include <string>

#include "dicom/instance_metadata.h"

namespace strata::dicom::testing {

// Writes a tiny Secondary Capture Part 10 file (explicit VR little endian, 4x4 8-bit pixels
// filled with `pixel_seed`) with the given identifying attributes. Empty UIDs are left out,
// to build files missing them. Returns false if DCMTK cannot write the file.
bool WriteTestInstance(const std::string& path, const InstanceMetadata& m, int pixel_seed = 0);

// Metadata with valid, distinct UIDs derived from the three numbers.
InstanceMetadata MakeMetadata(int patient, int study, int series, int instance);

}  // namespace strata::dicom::testing
