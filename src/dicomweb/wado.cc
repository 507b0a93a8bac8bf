// WADO-RS (PS3.18 10.4): a study, series or instance as multipart/related; type=
// "application/dicom", each part a stored Part 10 file streamed from the object store (or as
// application/zip, study_zip.cc), and /metadata. Also the helpers shared by the other WADO-RS
// handlers (retrieve_util.h).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "dicom/dicom_file.h"
#include "dicom/dicom_json.h"
#include "dicom/transcode.h"
#include "dicomweb/handlers.h"
#include "dicomweb/multipart.h"
#include "dicomweb/pending_bytes.h"
#include "dicomweb/retrieve_util.h"

namespace strata::dicomweb {
namespace {

constexpr char kExplicitLe[] = "1.2.840.10008.1.2.1";

// How the client wants objects: as stored (transfer-syntax=*, Strata's default when the Accept
// header names none), or in one named transfer syntax.
struct Wanted {
  bool as_stored = true;
  std::string transfer_syntax;  // when !as_stored
};

}  // namespace

std::vector<std::string> SplitTopLevel(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      out.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  out.push_back(current);
  return out;
}

namespace {

// Whether each stored transfer syntax can be sent as `wanted`.
bool CanServe(const Wanted& wanted, const std::vector<catalog::InstanceLocation>& locations) {
  if (wanted.as_stored) return true;
  for (const auto& loc : locations) {
    if (loc.transfer_syntax_uid == wanted.transfer_syntax) continue;
    if (wanted.transfer_syntax != kExplicitLe || !dicom::CanDecode(loc.transfer_syntax_uid)) {
      return false;
    }
  }
  return true;
}

// PS3.18 8.7.3 (simplified): the first acceptable media range wins. nullopt: 406.
Result<std::optional<Wanted>> Negotiate(const std::string& accept,
                                        const std::vector<catalog::InstanceLocation>& locations) {
  if (accept.empty()) return std::optional<Wanted>(Wanted{});
  for (const std::string& range : SplitTopLevel(accept)) {
    auto media = ParseMediaType(range);
    if (!media.ok()) return media.status();
    const std::string type = media->Param("type");
    const bool dicom_type = media->type == "application/dicom" ||
                            ((media->type == "multipart/related" || media->type == "multipart/*") &&
                             (type.empty() || type == "application/dicom")) ||
                            media->type == "*/*";
    if (!dicom_type) continue;
    const std::string ts = media->Param("transfer-syntax");
    Wanted wanted;
    if (!ts.empty() && ts != "*") {
      wanted.as_stored = false;
      wanted.transfer_syntax = ts;
    }
    if (CanServe(wanted, locations)) return std::optional<Wanted>(wanted);
  }
  return std::optional<Wanted>();
}

}  // namespace

std::string NewBoundary() {
  std::random_device rd;
  std::string b = "strata-";
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) b += kHex[rd() % 16];
  return b;
}

namespace {

// Streams the parts one after the other; each object is opened (and transcoded, into a
// temporary file) only when its turn comes, so memory holds one chunk at a time.
class MultipartBody {
 public:
  MultipartBody(blob::BlobStore& blobs, std::vector<catalog::InstanceLocation> locations,
                Wanted wanted, std::string boundary)
      : blobs_(blobs),
        locations_(std::move(locations)),
        wanted_(std::move(wanted)),
        boundary_(std::move(boundary)) {}
  ~MultipartBody() { CloseCurrent(); }

  Result<size_t> Next(char* buf, size_t size) {
    size_t written = 0;
    while (written < size) {
      if (!pending_.empty()) {
        written += pending_.CopyTo(buf + written, size - written);
        continue;
      }
      if (file_.is_open()) {
        file_.read(buf + written, static_cast<std::streamsize>(size - written));
        size_t n = static_cast<size_t>(file_.gcount());
        written += n;
        if (n == 0) {
          if (file_.bad()) return Unavailable("reading a stored object failed");
          CloseCurrent();
          pending_ = "\r\n";
        }
        continue;
      }
      if (done_) break;
      if (next_ == locations_.size()) {
        pending_ = "--" + boundary_ + "--\r\n";
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
    std::string path = object_->path();
    std::string ts = loc.transfer_syntax_uid;
    if (!wanted_.as_stored && ts != wanted_.transfer_syntax) {
      dicom::RegisterTranscodeCodecs();
      STRATA_ASSIGN_OR_RETURN(temp_path_, blobs_.StagingPath());
      STRATA_RETURN_IF_ERROR(dicom::TranscodeFile(path, wanted_.transfer_syntax, temp_path_));
      path = temp_path_;
      ts = wanted_.transfer_syntax;
    }
    std::error_code ec;
    const auto length = std::filesystem::file_size(path, ec);
    if (ec) return Unavailable("stored object " + loc.blob_key + " cannot be read");
    file_.open(path, std::ios::binary);
    if (!file_) return Unavailable("stored object " + loc.blob_key + " cannot be opened");
    pending_ = "--" + boundary_ + "\r\nContent-Type: application/dicom; transfer-syntax=" + ts +
               "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
    return OkStatus();
  }

  void CloseCurrent() {
    if (file_.is_open()) file_.close();
    object_.reset();
    if (!temp_path_.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp_path_, ec);
      temp_path_.clear();
    }
  }

  blob::BlobStore& blobs_;
  std::vector<catalog::InstanceLocation> locations_;
  Wanted wanted_;
  std::string boundary_;
  size_t next_ = 0;
  bool done_ = false;
  PendingBytes pending_;
  std::unique_ptr<blob::LocalObject> object_;
  std::ifstream file_;
  std::string temp_path_;
};

}  // namespace

Result<std::vector<catalog::InstanceLocation>> LocateFromPath(Services& services,
                                                              const Request& request) {
  std::string uids[3];
  const char* names[3] = {"study", "series", "instance"};
  for (int i = 0; i < 3; ++i) {
    auto it = request.path_params.find(names[i]);
    if (it == request.path_params.end()) continue;
    if (!dicom::IsValidUid(it->second)) {
      return InvalidArgument(std::string("invalid ") + names[i] + " UID '" + it->second + "'");
    }
    uids[i] = it->second;
  }
  std::vector<catalog::InstanceLocation> locations;
  STRATA_RETURN_IF_ERROR(services.catalog.Read([&](catalog::ReadTxn& txn) -> Status {
    STRATA_ASSIGN_OR_RETURN(locations, txn.Locate(uids[0], uids[1], uids[2]));
    return OkStatus();
  }));
  // Locate matches on the most specific UID; the path must name the instance's real parents.
  std::erase_if(locations, [&](const catalog::InstanceLocation& loc) {
    return loc.study_instance_uid != uids[0] ||
           (!uids[1].empty() && loc.series_instance_uid != uids[1]);
  });
  if (locations.empty()) {
    const int level = !uids[2].empty() ? 2 : !uids[1].empty() ? 1 : 0;
    return NotFound(std::string("no such ") + names[level] + " " + uids[level]);
  }
  return locations;
}

Status StartRehydrations(blob::BlobStore& blobs,
                         const std::vector<catalog::InstanceLocation>& locations) {
  Status slowest;
  for (const auto& loc : locations) {
    auto info = blobs.Stat(loc.blob_key);
    if (!info.ok() || info->tier != blob::StorageTier::kArchive) continue;
    auto opened = blobs.Open(loc.blob_key);  // starts the rehydration
    if (opened.ok() || opened.status().code() != StatusCode::kUnavailable) continue;
    if (slowest.ok() || opened.status().retry_after_seconds().value_or(0) >
                            slowest.retry_after_seconds().value_or(0)) {
      slowest = opened.status();
    }
  }
  return slowest;
}

Response HandleWado(Services& services, Request& request) {
  auto located = LocateFromPath(services, request);
  if (!located.ok()) return Response::Error(located.status());
  std::vector<catalog::InstanceLocation> locations = std::move(located).value();
  Status readable = StartRehydrations(services.blobs, locations);
  if (!readable.ok()) return Response::Error(readable);
  auto zip = PrefersZip(request.Header("accept"));
  if (!zip.ok()) return Response::Error(400, "Accept: " + zip.status().message());
  if (*zip) return RetrieveZip(services, std::move(locations));
  auto wanted = Negotiate(request.Header("accept"), locations);
  if (!wanted.ok()) return Response::Error(400, "Accept: " + wanted.status().message());
  if (!*wanted) {
    return Response::Error(
        406, "cannot send these objects as asked by Accept '" + request.Header("accept") +
                 "': Strata sends multipart/related; type=\"application/dicom\" as stored "
                 "(transfer-syntax=*) or in explicit VR little endian (" +
                 kExplicitLe + ") when the stored syntax can be decoded");
  }
  const std::string boundary = NewBoundary();
  auto body =
      std::make_shared<MultipartBody>(services.blobs, std::move(locations), **wanted, boundary);
  Response response;
  response.status = 200;
  response.headers.emplace_back(
      "Content-Type", "multipart/related; type=\"application/dicom\"; boundary=" + boundary);
  // shared_ptr: the body source is a copyable std::function that owns the stream state.
  response.body_source = [body](char* buf, size_t size) { return body->Next(buf, size); };
  return response;
}

namespace {

// Streams "[" + one DICOM JSON object per instance + "]", building one object at a time.
class MetadataBody {
 public:
  MetadataBody(blob::BlobStore& blobs, std::vector<catalog::InstanceLocation> locations)
      : blobs_(blobs), locations_(std::move(locations)) {}

  Result<size_t> Next(char* buf, size_t size) {
    size_t written = 0;
    while (written < size) {
      if (!pending_.empty()) {
        written += pending_.CopyTo(buf + written, size - written);
        continue;
      }
      if (done_) break;
      if (next_ == locations_.size()) {
        pending_ = next_ == 0 ? "[]" : "]";
        done_ = true;
        continue;
      }
      const catalog::InstanceLocation& loc = locations_[next_];
      STRATA_ASSIGN_OR_RETURN(auto object, blobs_.Open(loc.blob_key));
      const std::string base = "/dicomweb/studies/" + loc.study_instance_uid + "/series/" +
                               loc.series_instance_uid + "/instances/" + loc.sop_instance_uid +
                               "/bulkdata";
      STRATA_ASSIGN_OR_RETURN(std::string json, dicom::InstanceToJson(object->path(), base));
      pending_ = (next_ == 0 ? "[" : ",") + json;
      ++next_;
    }
    return written;
  }

 private:
  blob::BlobStore& blobs_;
  std::vector<catalog::InstanceLocation> locations_;
  size_t next_ = 0;
  bool done_ = false;
  PendingBytes pending_;
};

}  // namespace

Response HandleMetadata(Services& services, Request& request) {
  auto located = LocateFromPath(services, request);
  if (!located.ok()) return Response::Error(located.status());
  std::vector<catalog::InstanceLocation> locations = std::move(located).value();
  auto body = std::make_shared<MetadataBody>(services.blobs, std::move(locations));
  Response response;
  response.headers.emplace_back("Content-Type", "application/dicom+json");
  response.body_source = [body](char* buf, size_t size) { return body->Next(buf, size); };
  return response;
}

}  // namespace strata::dicomweb
