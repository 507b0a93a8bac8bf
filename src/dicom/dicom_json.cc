#include "dicom/dicom_json.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcjson.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

namespace strata::dicom {
namespace {

// Values larger than this stay in the file until (unless) the writer needs them.
constexpr Uint32 kMaxReadLength = 4096;

bool IsBulkData(const DcmTagKey& tag) {
  return tag == DCM_PixelData || tag == DCM_FloatPixelData || tag == DCM_DoubleFloatPixelData ||
         tag == DCM_WaveformData || tag == DCM_EncapsulatedDocument ||
         tag == DCM_SpectroscopyData ||
         ((tag.getGroup() & 0xFF01) == 0x6000 && tag.getElement() == 0x3000);  // OverlayData
}

// Compact JSON with BulkDataURIs for bulk data (DCMTK asks per attribute).
class BulkDataJsonFormat : public DcmJsonFormatCompact {
 public:
  explicit BulkDataJsonFormat(std::string base)
      : DcmJsonFormatCompact(/*printMetaInfo=*/OFFalse), base_(std::move(base)) {}

  OFBool asBulkDataURI(const DcmTagKey& tag, OFString& uri) override {
    if (!IsBulkData(tag)) return OFFalse;
    char hex[9];
    std::snprintf(hex, sizeof(hex), "%04X%04X", tag.getGroup(), tag.getElement());
    uri = (base_ + "/" + hex).c_str();
    return OFTrue;
  }

 private:
  std::string base_;
};

}  // namespace

Result<std::string> InstanceToJson(const std::string& path, const std::string& bulk_data_base) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("no such file '" + path + "'");
  DcmFileFormat file;
  OFCondition cond = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxReadLength);
  if (cond.bad()) {
    return InvalidArgument("'" + path + "' is not readable DICOM: " + cond.text());
  }
  BulkDataJsonFormat format(bulk_data_base);
  std::ostringstream out;
  // DcmDataset::writeJson writes the attributes only; the object's braces are the caller's.
  out << '{';
  cond = file.getDataset()->writeJson(out, format);
  out << '}';
  if (cond.bad()) return InvalidArgument(std::string("cannot write DICOM JSON: ") + cond.text());
  return out.str();
}

}  // namespace strata::dicom
