// A stored instance as DICOM JSON (PS3.18 F.2), for WADO-RS /metadata.
//
// The adapter over DCMTK's JSON writer. Thread-safety: a free function, safe to call
// concurrently on different files.
#pragma once

#include <string>

#include "core/status.h"

namespace strata::dicom {

// The data set of the Part 10 file at `path` (file meta information excluded) as one DICOM
// JSON object. Bulk data (pixel data, float/double pixel data, waveform, overlay and audio
// data, encapsulated documents) is not inlined: it gets {"BulkDataURI": bulk_data_base + "/"
// + tag} (e.g. ".../bulkdata/7FE00010"). Large values are not read from the file. Failure:
// kNotFound for a missing file, kInvalidArgument for a file that is not DICOM.
Result<std::string> InstanceToJson(const std::string& path, const std::string& bulk_data_base);

}  // namespace strata::dicom
