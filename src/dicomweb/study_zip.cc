// A study (or series, or instance) as one application/zip download (PS3.18 8.7.3.1 lists
// application/zip for retrieving instances): entries "<study>/<series>/<sop>.dcm", each the
// stored Part 10 file unchanged, streamed one chunk at a time through ZipStreamWriter.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "dicomweb/multipart.h"
#include "dicomweb/pending_bytes.h"
#include "dicomweb/retrieve_util.h"
#include "dicomweb/zip_writer.h"

namespace strata::dicomweb {
namespace {

class ZipBody {
 public:
  ZipBody(blob::BlobStore& blobs, std::vector<catalog::InstanceLocation> locations)
      : blobs_(blobs), locations_(std::move(locations)) {}

  Result<size_t> Next(char* buf, size_t size) {
    size_t written = 0;
    while (written < size) {
      if (!pending_.empty()) {
        written += pending_.CopyTo(buf + written, size - written);
        continue;
      }
      if (file_.is_open()) {
        file_.read(buf + written, static_cast<std::streamsize>(size - written));
        const auto n = static_cast<size_t>(file_.gcount());
        zip_.Update(buf + written, n);
        written += n;
        if (n == 0) {
          if (file_.bad()) return Unavailable("reading a stored object failed");
          file_.close();
          object_.reset();
          STRATA_ASSIGN_OR_RETURN(pending_, zip_.EndEntry());
        }
        continue;
      }
      if (done_) break;
      if (next_ == locations_.size()) {
        pending_ = zip_.Finish();
        done_ = true;
        continue;
      }
      STRATA_RETURN_IF_ERROR(OpenNext());
    }
    return written;
  }

 private:
  Status OpenNext() {
    const catalog::InstanceLocation& loc = locations_[next_++];
    STRATA_ASSIGN_OR_RETURN(object_, blobs_.Open(loc.blob_key));
    std::error_code ec;
    const auto length = std::filesystem::file_size(object_->path(), ec);
    if (ec) return Unavailable("stored object " + loc.blob_key + " cannot be read");
    file_.open(object_->path(), std::ios::binary);
    if (!file_) return Unavailable("stored object " + loc.blob_key + " cannot be opened");
    pending_ = zip_.BeginEntry(loc.study_instance_uid + "/" + loc.series_instance_uid + "/" +
                                   loc.sop_instance_uid + ".dcm",
                               length);
    return OkStatus();
  }

  blob::BlobStore& blobs_;
  std::vector<catalog::InstanceLocation> locations_;
  ZipStreamWriter zip_;
  size_t next_ = 0;
  bool done_ = false;
  PendingBytes pending_;
  std::unique_ptr<blob::LocalObject> object_;
  std::ifstream file_;
};

}  // namespace

Result<bool> PrefersZip(const std::string& accept) {
  if (accept.empty()) return false;
  for (const std::string& range : SplitTopLevel(accept)) {
    auto media = ParseMediaType(range);
    if (!media.ok()) return media.status();
    if (media->type == "application/zip") return true;
    const std::string type = media->Param("type");
    if (media->type == "application/dicom" || media->type == "*/*" ||
        ((media->type == "multipart/related" || media->type == "multipart/*") &&
         (type.empty() || type == "application/dicom"))) {
      return false;
    }
  }
  return false;
}

Response RetrieveZip(Services& services, std::vector<catalog::InstanceLocation> locations) {
  auto body = std::make_shared<ZipBody>(services.blobs, std::move(locations));
  Response response;
  response.headers.emplace_back("Content-Type", "application/zip");
  response.headers.emplace_back("Content-Disposition", "attachment; filename=\"study.zip\"");
  response.body_source = [body](char* buf, size_t size) { return body->Next(buf, size); };
  return response;
}

}  // namespace strata::dicomweb
