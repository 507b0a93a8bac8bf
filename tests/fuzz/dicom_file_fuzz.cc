// Fuzzes the DICOM Part 10 reader used on every received object.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "dicom/dicom_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/strata_dicom_fuzz_" + std::to_string(::getpid()) + ".dcm";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto parsed = strata::dicom::ReadInstance(path);
  if (parsed.ok() && parsed->metadata.sop_instance_uid.empty()) __builtin_trap();
  return 0;
}
