#include "dicom/transcode.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

namespace strata::dicom {
namespace {

bool IsJpeg2000(const std::string& ts) {
  return ts == UID_JPEG2000LosslessOnlyTransferSyntax || ts == UID_JPEG2000TransferSyntax ||
         ts == UID_JPEG2000Part2MulticomponentImageCompressionLosslessOnlyTransferSyntax ||
         ts == UID_JPEG2000Part2MulticomponentImageCompressionTransferSyntax;
}

bool IsDcmtkDecodable(const std::string& ts) {
  return ts == UID_DeflatedExplicitVRLittleEndianTransferSyntax ||
         ts == UID_JPEGProcess1TransferSyntax || ts == UID_JPEGProcess2_4TransferSyntax ||
         ts == UID_JPEGProcess14TransferSyntax || ts == UID_JPEGProcess14SV1TransferSyntax ||
         ts == UID_JPEGLSLosslessTransferSyntax || ts == UID_JPEGLSLossyTransferSyntax ||
         ts == UID_RLELosslessTransferSyntax;
}

// ---- OpenJPEG over an in-memory code stream ----

struct MemoryStream {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

OPJ_SIZE_T StreamRead(void* buffer, OPJ_SIZE_T bytes, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->pos >= s->size) return static_cast<OPJ_SIZE_T>(-1);
  const size_t n = std::min<size_t>(bytes, s->size - s->pos);
  std::memcpy(buffer, s->data + s->pos, n);
  s->pos += n;
  return n;
}

OPJ_OFF_T StreamSkip(OPJ_OFF_T bytes, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  const auto target = static_cast<int64_t>(s->pos) + bytes;
  s->pos = static_cast<size_t>(std::clamp<int64_t>(target, 0, static_cast<int64_t>(s->size)));
  return bytes;
}

OPJ_BOOL StreamSeek(OPJ_OFF_T bytes, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (bytes < 0 || static_cast<size_t>(bytes) > s->size) return OPJ_FALSE;
  s->pos = static_cast<size_t>(bytes);
  return OPJ_TRUE;
}

struct DecodedFrame {
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t components = 0;
  std::vector<std::vector<int32_t>> planes;
};

Result<DecodedFrame> DecodeJ2kFrame(const std::vector<uint8_t>& code) {
  // JP2 files start with a signature box; DICOM mandates a raw code stream, some writers differ.
  const bool jp2 =
      code.size() >= 12 && code[0] == 0 && code[1] == 0 && code[2] == 0 && code[3] == 0x0C;
  std::unique_ptr<opj_codec_t, decltype(&opj_destroy_codec)> codec(
      opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K), opj_destroy_codec);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!codec || !opj_setup_decoder(codec.get(), &params)) {
    return Internal("cannot set up the JPEG 2000 decoder");
  }
  MemoryStream memory{code.data(), code.size(), 0};
  std::unique_ptr<opj_stream_t, decltype(&opj_stream_destroy)> stream(
      opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE), opj_stream_destroy);
  opj_stream_set_read_function(stream.get(), StreamRead);
  opj_stream_set_skip_function(stream.get(), StreamSkip);
  opj_stream_set_seek_function(stream.get(), StreamSeek);
  opj_stream_set_user_data(stream.get(), &memory, nullptr);
  opj_stream_set_user_data_length(stream.get(), code.size());
  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) {
    return DataLoss("JPEG 2000 header is corrupt");
  }
  std::unique_ptr<opj_image_t, decltype(&opj_image_destroy)> image(raw, opj_image_destroy);
  if (!opj_decode(codec.get(), stream.get(), image.get()) ||
      !opj_end_decompress(codec.get(), stream.get())) {
    return DataLoss("JPEG 2000 code stream is corrupt");
  }
  DecodedFrame frame;
  frame.components = image->numcomps;
  if (frame.components == 0) return DataLoss("JPEG 2000 image has no components");
  frame.width = image->comps[0].w;
  frame.height = image->comps[0].h;
  for (uint32_t c = 0; c < frame.components; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (comp.w != frame.width || comp.h != frame.height || comp.data == nullptr) {
      return Unimplemented("JPEG 2000 with subsampled components is not supported");
    }
    frame.planes.emplace_back(comp.data, comp.data + size_t{comp.w} * comp.h);
  }
  return frame;
}

// The code stream of each frame of encapsulated pixel data (PS3.5 A.4).
Result<std::vector<std::vector<uint8_t>>> SplitFrames(DcmPixelSequence& sequence,
                                                      uint32_t frame_count) {
  const unsigned long items = sequence.card();
  if (items < 2) return DataLoss("encapsulated pixel data has no fragments");
  std::vector<std::vector<uint8_t>> fragments;
  for (unsigned long i = 1; i < items; ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* bytes = nullptr;
    if (sequence.getItem(item, i).bad() || item->getUint8Array(bytes).bad()) {
      return DataLoss("unreadable pixel data fragment");
    }
    fragments.emplace_back(bytes, bytes + item->getLength());
  }
  std::vector<std::vector<uint8_t>> frames;
  auto starts_frame = [](const std::vector<uint8_t>& f) {  // J2K SOC + SIZ, or a JP2 box
    return f.size() >= 4 && ((f[0] == 0xFF && f[1] == 0x4F && f[2] == 0xFF && f[3] == 0x51) ||
                             (f[0] == 0 && f[1] == 0 && f[2] == 0 && f[3] == 0x0C));
  };
  if (frame_count == 1) {
    frames.emplace_back();
    for (const auto& f : fragments) frames[0].insert(frames[0].end(), f.begin(), f.end());
  } else if (fragments.size() == frame_count) {
    frames = std::move(fragments);
  } else {
    for (auto& f : fragments) {
      if (frames.empty() || starts_frame(f)) {
        frames.push_back(std::move(f));
      } else {
        frames.back().insert(frames.back().end(), f.begin(), f.end());
      }
    }
  }
  if (frames.size() != frame_count) {
    return DataLoss("pixel data holds " + std::to_string(frames.size()) + " frames, expected " +
                    std::to_string(frame_count));
  }
  return frames;
}

// Replaces JPEG 2000 pixel data in `dataset` with native pixel data.
Status DecodeJpeg2000(DcmDataset& dataset) {
  Uint16 rows = 0, columns = 0, samples = 1, bits_allocated = 0, pixel_representation = 0;
  (void)dataset.findAndGetUint16(DCM_Rows, rows);
  (void)dataset.findAndGetUint16(DCM_Columns, columns);
  (void)dataset.findAndGetUint16(DCM_SamplesPerPixel, samples);
  (void)dataset.findAndGetUint16(DCM_BitsAllocated, bits_allocated);
  (void)dataset.findAndGetUint16(DCM_PixelRepresentation, pixel_representation);
  Sint32 frame_count = 1;
  if (dataset.findAndGetSint32(DCM_NumberOfFrames, frame_count).bad() || frame_count < 1) {
    frame_count = 1;
  }
  if (bits_allocated != 8 && bits_allocated != 16) {
    return Unimplemented("JPEG 2000 decoding supports 8 or 16 bits allocated, not " +
                         std::to_string(bits_allocated));
  }
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad()) {
    return InvalidArgument("no pixel data");
  }
  auto* pixel_data = static_cast<DcmPixelData*>(element);
  DcmPixelSequence* sequence = nullptr;
  const DcmXfer original(dataset.getOriginalXfer());
  if (pixel_data->getEncapsulatedRepresentation(original.getXfer(), nullptr, sequence).bad() ||
      sequence == nullptr) {
    return DataLoss("JPEG 2000 pixel data is not encapsulated");
  }
  STRATA_ASSIGN_OR_RETURN(auto frames, SplitFrames(*sequence, static_cast<uint32_t>(frame_count)));

  const size_t bytes_per_sample = bits_allocated / 8;
  const size_t frame_samples = size_t{rows} * columns * samples;
  std::vector<uint8_t> native(frame_samples * bytes_per_sample * frames.size());
  for (size_t f = 0; f < frames.size(); ++f) {
    STRATA_ASSIGN_OR_RETURN(DecodedFrame frame, DecodeJ2kFrame(frames[f]));
    if (frame.width != columns || frame.height != rows || frame.components != samples) {
      return DataLoss("JPEG 2000 frame geometry disagrees with Rows/Columns/SamplesPerPixel");
    }
    uint8_t* out = native.data() + f * frame_samples * bytes_per_sample;
    const size_t pixels = size_t{rows} * columns;
    // Color-by-pixel (PlanarConfiguration 0) output.
    for (size_t p = 0; p < pixels; ++p) {
      for (uint32_t c = 0; c < samples; ++c) {
        const int32_t v = frame.planes[c][p];
        const size_t index = (p * samples + c) * bytes_per_sample;
        if (bytes_per_sample == 1) {
          out[index] = static_cast<uint8_t>(v);
        } else {
          const auto u = static_cast<uint16_t>(v);
          out[index] = static_cast<uint8_t>(u & 0xFF);  // little endian in memory
          out[index + 1] = static_cast<uint8_t>(u >> 8);
        }
      }
    }
  }
  auto replacement = std::make_unique<DcmPixelData>(DCM_PixelData);
  OFCondition cond;
  if (bytes_per_sample == 1) {
    cond = replacement->putUint8Array(native.data(), static_cast<unsigned long>(native.size()));
  } else {
    std::vector<Uint16> words(native.size() / 2);
    for (size_t i = 0; i < words.size(); ++i) {
      words[i] = static_cast<Uint16>(native[2 * i] | (native[2 * i + 1] << 8));
    }
    cond = replacement->putUint16Array(words.data(), static_cast<unsigned long>(words.size()));
  }
  if (cond.bad()) return Internal(std::string("cannot store decoded pixels: ") + cond.text());
  (void)dataset.insert(replacement.release(), /*replaceOld=*/true);
  if (samples > 1) {
    (void)dataset.putAndInsertUint16(DCM_PlanarConfiguration, 0);
    OFString photometric;
    (void)dataset.findAndGetOFString(DCM_PhotometricInterpretation, photometric);
    // OpenJPEG undoes the reversible/irreversible component transform itself.
    if (photometric == "YBR_RCT" || photometric == "YBR_ICT") {
      (void)dataset.putAndInsertString(DCM_PhotometricInterpretation, "RGB");
    }
  }
  return OkStatus();
}

}  // namespace

void RegisterTranscodeCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

bool IsNativeTransferSyntax(const std::string& ts) {
  return ts == UID_LittleEndianImplicitTransferSyntax ||
         ts == UID_LittleEndianExplicitTransferSyntax || ts == UID_BigEndianExplicitTransferSyntax;
}

bool CanDecode(const std::string& ts) {
  return IsNativeTransferSyntax(ts) || IsDcmtkDecodable(ts) || IsJpeg2000(ts);
}

Result<std::string> ChooseTransferSyntax(const std::string& stored,
                                         const std::vector<std::string>& accepted) {
  auto has = [&](const std::string& ts) {
    return std::find(accepted.begin(), accepted.end(), ts) != accepted.end();
  };
  if (has(stored)) return stored;
  if (!CanDecode(stored)) {
    return FailedPrecondition("stored transfer syntax " + stored +
                              " not accepted by the peer and cannot be decoded");
  }
  for (const char* ts :
       {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax,
        UID_BigEndianExplicitTransferSyntax}) {
    if (has(ts)) return std::string(ts);
  }
  return FailedPrecondition("peer accepted neither transfer syntax " + stored +
                            " nor an uncompressed one");
}

Status TranscodeFile(const std::string& source_path, const std::string& target_ts,
                     const std::string& dest_path) {
  if (!IsNativeTransferSyntax(target_ts)) {
    return InvalidArgument("transcoding target must be uncompressed, not " + target_ts);
  }
  RegisterTranscodeCodecs();
  DcmFileFormat file;
  OFCondition cond = file.loadFile(source_path.c_str());
  if (cond.bad()) return InvalidArgument("cannot read " + source_path + ": " + cond.text());
  DcmDataset& dataset = *file.getDataset();
  const std::string stored = DcmXfer(dataset.getOriginalXfer()).getXferID();
  if (!CanDecode(stored)) return Unimplemented("cannot decode transfer syntax " + stored);
  if (IsJpeg2000(stored)) STRATA_RETURN_IF_ERROR(DecodeJpeg2000(dataset));

  const E_TransferSyntax target = DcmXfer(target_ts.c_str()).getXfer();
  if (!IsJpeg2000(stored)) {
    cond = dataset.chooseRepresentation(target, nullptr);
    if (cond.bad()) return DataLoss("cannot decode pixel data: " + std::string(cond.text()));
  }
  if (!dataset.canWriteXfer(target)) {
    return DataLoss("data set cannot be written in " + target_ts);
  }
  // Drop the old meta header so that DCMTK writes one for the new transfer syntax.
  file.getMetaInfo()->clear();
  cond = file.saveFile(dest_path.c_str(), target);
  if (cond.bad()) return Unavailable("cannot write " + dest_path + ": " + cond.text());
  return OkStatus();
}

}  // namespace strata::dicom
