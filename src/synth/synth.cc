#include "synth/synth.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <numbers>
#include <utility>
#include <vector>

#include "dicom/tags.h"
#include "synth/ids.h"
#include "synth/part10_writer.h"
#include "synth/pixels.h"

namespace strata::synth {
namespace {

using dicom::MakeTag;
using dicom::Tag;
namespace tags = dicom::tags;

// Storage SOP classes (PS3.4 B.5).
constexpr std::string_view kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";
constexpr std::string_view kCrImageStorage = "1.2.840.10008.5.1.4.1.1.1";
constexpr std::string_view kDxForPresentationStorage = "1.2.840.10008.5.1.4.1.1.1.1";
constexpr std::string_view kMrImageStorage = "1.2.840.10008.5.1.4.1.1.4";

// Limits that keep identifiers within their fixed widths (see synth.h).
constexpr int64_t kMaxPatientIndex = 9'999'999;
constexpr int kMaxStudies = 99;
constexpr int kMaxSeries = 999;
constexpr int kMaxInstances = 99'999;

// Salts separating the hash streams of different entities.
enum Salt : uint64_t {
  kSaltPatient = 1,
  kSaltStudy = 2,
  kSaltSeries = 3,
  kSaltInstance = 4,
  kSaltFrame = 5,
  kSaltPixels = 6,
  kSaltLesion = 7,
};

enum class Modality { kCt, kCr, kDx, kMr };

struct ModalityProfile {
  std::string_view code;
  std::string_view sop_class;
  int rows;
  int columns;
  int bits_stored;
  int series;     // default series per study
  int instances;  // default instances per series
};

const ModalityProfile& Profile(Modality m) {
  static const ModalityProfile kCt{"CT", kCtImageStorage, 512, 512, 12, 2, 60};
  static const ModalityProfile kCr{"CR", kCrImageStorage, 2500, 2000, 12, 2, 1};
  static const ModalityProfile kDx{"DX", kDxForPresentationStorage, 2560, 2048, 12, 2, 1};
  static const ModalityProfile kMr{"MR", kMrImageStorage, 256, 256, 12, 3, 24};
  switch (m) {
    case Modality::kCt:
      return kCt;
    case Modality::kCr:
      return kCr;
    case Modality::kDx:
      return kDx;
    case Modality::kMr:
      return kMr;
  }
  return kCt;
}

struct Exam {
  std::string_view body_part;
  std::string_view description;
};

constexpr std::array<Exam, 3> kCtExams{{{"CHEST", "CT CHEST W/O CONTRAST"},
                                        {"ABDOMEN", "CT ABDOMEN PELVIS W CONTRAST"},
                                        {"HEAD", "CT HEAD W/O CONTRAST"}}};
constexpr std::array<Exam, 3> kXrExams{{{"CHEST", "XR CHEST PA AND LATERAL"},
                                        {"KNEE", "XR KNEE 2 VIEWS"},
                                        {"HAND", "XR HAND 3 VIEWS"}}};
constexpr std::array<Exam, 3> kMrExams{{{"BRAIN", "MR BRAIN W/O CONTRAST"},
                                        {"KNEE", "MR KNEE W/O CONTRAST"},
                                        {"LSPINE", "MR LUMBAR SPINE W/O CONTRAST"}}};
constexpr std::array<std::string_view, 24> kFamilyNames{
    "SMITH",  "JOHNSON", "WILLIAMS", "BROWN",  "JONES",   "GARCIA",   "MILLER", "DAVIS",
    "MARTIN", "BERNARD", "DUBOIS",   "MULLER", "SCHMIDT", "ROSSI",    "ROMANO", "NOVAK",
    "JANSEN", "PEETERS", "SILVA",    "SANTOS", "NIELSEN", "KOWALSKI", "SATO",   "TANAKA"};
constexpr std::array<std::string_view, 12> kFemaleNames{"MARY",  "ANNA",  "SOPHIE", "EMMA",
                                                        "LAURA", "MARIA", "JULIA",  "CLAIRE",
                                                        "NORA",  "ELSA",  "IRIS",   "HANNA"};
constexpr std::array<std::string_view, 12> kMaleNames{"JOHN", "PETER", "LUCAS", "DAVID",
                                                      "MARC", "PAUL",  "HENRI", "JONAS",
                                                      "LUIS", "KARL",  "TOMAS", "ERIK"};
constexpr std::array<std::string_view, 6> kReferringPhysicians{"HOUSE^GREGORY", "GREY^MEREDITH",
                                                               "KILDARE^JAMES", "QUINN^MICHAELA",
                                                               "WELBY^MARCUS",  "ROSS^DOUGLAS"};
constexpr std::array<std::string_view, 4> kCtSeries{"AXIAL 5.0mm", "AXIAL 1.25mm", "AXIAL 2.5mm",
                                                    "AXIAL 3.0mm"};
constexpr std::array<double, 4> kCtThickness{5.0, 1.25, 2.5, 3.0};
constexpr std::array<std::string_view, 4> kMrSeries{"AX T1", "AX T2 FLAIR", "SAG T2", "AX DWI"};
constexpr std::array<std::string_view, 4> kViews{"PA", "LL", "AP", "OBL"};

// Everything the presets decide, resolved from Options.
struct Plan {
  Preset preset;
  uint64_t seed;
  int64_t first_patient;
  int64_t patients;
  int studies;
  int series;     // 0: per modality
  int instances;  // 0: per modality
  int64_t max_bytes;
  double lesion_fraction;
};

Modality ChooseModality(Preset preset, Rng& rng) {
  switch (preset) {
    case Preset::kDemo:
      return Modality::kCr;
    case Preset::kCt:
      return Modality::kCt;
    case Preset::kMr:
      return Modality::kMr;
    case Preset::kCr:
      return rng.Between(0, 1) == 0 ? Modality::kCr : Modality::kDx;
    case Preset::kMixed:
    case Preset::kTiny: {
      const int r = rng.Between(0, 99);
      if (r < 35) return Modality::kCt;
      if (r < 55) return Modality::kCr;
      if (r < 75) return Modality::kDx;
      return Modality::kMr;
    }
  }
  return Modality::kCt;
}

struct Patient {
  int64_t index;
  std::string id;
  std::string name;
  std::string sex;
  std::string birth_date;
  int64_t latest_study_day;
};

struct Study {
  int index;
  Modality modality;
  Exam exam;
  std::string uid;
  std::string frame_uid;
  std::string accession;
  std::string date;
  int time_seconds;
  std::string_view referring;
  bool monochrome1;
};

struct Series {
  int number;
  std::string uid;
  std::string description;
  double thickness;
  bool sagittal;
  std::string_view view;
  int instances;
  int rows;
  int columns;
};

Patient MakePatient(const Plan& plan, int64_t index) {
  Rng rng(Hash(plan.seed, {kSaltPatient, static_cast<uint64_t>(index)}));
  Patient p;
  p.index = index;
  p.id = "SYN" + Padded(static_cast<int64_t>(plan.seed % 1000), 3) + "-" + Padded(index, 7);
  const bool female = rng.Between(0, 1) == 0;
  p.sex = female ? "F" : "M";
  p.name = std::string(rng.Pick(kFamilyNames)) + "^" +
           std::string(female ? rng.Pick(kFemaleNames) : rng.Pick(kMaleNames));
  // Latest studies fall in 2023-2024; priors go back from there.
  p.latest_study_day = DaysFromCivil(2025, 1, 1) - rng.Between(1, 730);
  const int age_years = rng.Between(18, 90);
  p.birth_date = DicomDate(p.latest_study_day - age_years * 365 - rng.Between(0, 364));
  return p;
}

std::string Accession(const Plan& plan, const Patient& p, int study) {
  return "A" + Padded(static_cast<int64_t>(plan.seed % 1000), 3) + Padded(p.index, 7) +
         Padded(study, 2);
}

// Study 0 is the latest; each later index is an earlier prior.
Study MakeStudy(const Plan& plan, const Patient& p, int index, int64_t day) {
  Rng rng(
      Hash(plan.seed, {kSaltStudy, static_cast<uint64_t>(p.index), static_cast<uint64_t>(index)}));
  Study s;
  s.index = index;
  s.modality = ChooseModality(plan.preset, rng);
  switch (s.modality) {
    case Modality::kCt:
      s.exam = rng.Pick(kCtExams);
      break;
    case Modality::kCr:
    case Modality::kDx:
      s.exam = plan.preset == Preset::kDemo ? kXrExams[0] : rng.Pick(kXrExams);
      break;
    case Modality::kMr:
      s.exam = rng.Pick(kMrExams);
      break;
  }
  const uint64_t pi = static_cast<uint64_t>(p.index);
  const uint64_t si = static_cast<uint64_t>(index);
  s.uid = Uid(plan.seed, {kSaltStudy, pi, si});
  s.frame_uid = Uid(plan.seed, {kSaltFrame, pi, si});
  s.accession = Accession(plan, p, index);
  s.date = DicomDate(day);
  s.time_seconds = rng.Between(7 * 3600, 18 * 3600);
  s.referring = rng.Pick(kReferringPhysicians);
  s.monochrome1 = s.modality == Modality::kCr && rng.Between(0, 1) == 0;
  return s;
}

Series MakeSeries(const Plan& plan, const Patient& p, const Study& s, int index) {
  const ModalityProfile& profile = Profile(s.modality);
  Series se;
  se.number = index + 1;
  se.uid = Uid(plan.seed, {kSaltSeries, static_cast<uint64_t>(p.index),
                           static_cast<uint64_t>(s.index), static_cast<uint64_t>(index)});
  se.thickness = 0;
  se.sagittal = false;
  se.view = kViews[index % kViews.size()];
  switch (s.modality) {
    case Modality::kCt:
      se.description = std::string(kCtSeries[index % kCtSeries.size()]);
      se.thickness = kCtThickness[index % kCtThickness.size()];
      break;
    case Modality::kMr:
      se.description = std::string(kMrSeries[index % kMrSeries.size()]);
      se.thickness = 4.0;
      se.sagittal = se.description.starts_with("SAG");
      break;
    case Modality::kCr:
    case Modality::kDx:
      se.description = std::string(s.exam.body_part) + " " + std::string(se.view);
      break;
  }
  se.instances = plan.instances > 0 ? plan.instances : profile.instances;
  se.rows = profile.rows;
  se.columns = profile.columns;
  if (plan.preset == Preset::kTiny) {
    se.rows = se.columns = 8;
    if (plan.instances == 0) se.instances = 5;
  } else if (plan.preset == Preset::kDemo) {
    se.rows = 320;
    se.columns = 256;
  }
  return se;
}

// Anatomy-like content in raw stored values; `z` in [0, 1] moves through a volume.
ImageSpec MakeImage(const Study& s, const Series& se, double z, uint64_t noise_seed) {
  ImageSpec img;
  img.rows = se.rows;
  img.columns = se.columns;
  img.bits_stored = Profile(s.modality).bits_stored;
  img.noise_seed = noise_seed;
  const double w = se.columns;
  const double h = se.rows;
  const double swell = 0.85 + 0.15 * std::sin(std::numbers::pi * z);
  Rng rng(noise_seed ^ 0x1234567ULL);
  const double lesion_x = w * (0.35 + 0.3 * rng.Unit());
  const double lesion_y = h * (0.35 + 0.3 * rng.Unit());
  switch (s.modality) {
    case Modality::kCt:
      // Stored value = HU + 1024 (RescaleIntercept -1024): air 0, soft tissue ~1064, bone ~2000.
      img.background = 0;
      img.noise_bits = 5;
      img.ellipses = {
          {w / 2, h / 2, 0.42 * w * swell, 0.32 * h * swell, 1064},
          {w * 0.33, h * 0.46, 0.11 * w * swell, 0.17 * h * swell, -850},
          {w * 0.67, h * 0.46, 0.11 * w * swell, 0.17 * h * swell, -850},
          {w / 2, h * 0.72, 0.045 * w, 0.045 * h, 900},
          {lesion_x, lesion_y, 0.02 * w + 2, 0.02 * h + 2, 60},
      };
      break;
    case Modality::kMr:
      img.background = 0;
      img.gradient_x = 180;  // coil bias field
      img.noise_bits = 5;
      img.ellipses = {
          {w / 2, h / 2, 0.38 * w * swell, 0.45 * h * swell, 700},
          {w / 2, h / 2, 0.32 * w * swell, 0.39 * h * swell, 450},
          {w * 0.45, h * 0.45, 0.04 * w, 0.12 * h * swell, -500},
          {w * 0.55, h * 0.45, 0.04 * w, 0.12 * h * swell, -500},
          {lesion_x, lesion_y, 0.03 * w + 1, 0.03 * h + 1, 300},
      };
      break;
    case Modality::kCr:
    case Modality::kDx:
      img.background = 250;
      img.gradient_y = 300;  // heel effect
      img.noise_bits = 6;
      img.ellipses = {
          {w / 2, h * 0.52, 0.40 * w, 0.44 * h, 1700},
          {w * 0.36, h * 0.45, 0.12 * w, 0.25 * h, -800},
          {w * 0.64, h * 0.45, 0.12 * w, 0.25 * h, -800},
          {w / 2, h * 0.5, 0.035 * w, 0.45 * h, 900},
          {lesion_x, lesion_y, 0.015 * w + 1, 0.015 * h + 1, 150},
      };
      img.invert = s.monochrome1;
      break;
  }
  if (se.rows <= 16) img.noise_bits = 2;
  return img;
}

// Draws the lesion truth of one chest radiograph from its own hash stream. The yes/no draw
// comes first and the geometry after it, so the geometry does not depend on the fraction.
// The lesion sits inside one of the lung-field ellipses MakeImage draws for CR/DX, fully within
// it, with a radius of 2.5-6 % of the image's smaller side.
LesionTruth DrawLesion(double fraction, uint64_t lesion_seed, const Series& se) {
  Rng rng(lesion_seed);
  LesionTruth truth;
  truth.present = rng.Unit() < fraction;
  const double w = se.columns;
  const double h = se.rows;
  const bool right_lung = rng.Between(0, 1) == 1;
  const double lung_x = w * (right_lung ? 0.64 : 0.36);
  const double lung_y = h * 0.45;
  const double radius = std::min(w, h) * (0.025 + 0.035 * rng.Unit());
  // Uniform over the lung ellipse shrunk by the radius.
  const double reach_x = std::max(0.0, 0.12 * w - radius);
  const double reach_y = std::max(0.0, 0.25 * h - radius);
  const double angle = 2 * std::numbers::pi * rng.Unit();
  const double distance = std::sqrt(rng.Unit());
  if (!truth.present) return truth;
  truth.center_x = lung_x + reach_x * distance * std::cos(angle);
  truth.center_y = lung_y + reach_y * distance * std::sin(angle);
  truth.radius = radius;
  return truth;
}

// Stored-value contrast of a lesion: enough to see, little enough to be a task (the lung field
// sits about 800 below the surrounding tissue; noise is about +-32).
int32_t LesionPeak(uint64_t lesion_seed) {
  Rng rng(lesion_seed ^ 0x9E3779B97F4A7C15ULL);
  return 250 + rng.Between(0, 350);
}

struct Attr {
  Tag tag;
  std::string_view vr;
  std::string value;  // for US and SS: the decimal value
};

void MakeFile(const Plan& plan, const Patient& p, const Study& s, const Series& se, int instance,
              GeneratedFile& file) {
  const ModalityProfile& profile = Profile(s.modality);
  const uint64_t pi = static_cast<uint64_t>(p.index);
  const uint64_t si = static_cast<uint64_t>(s.index);
  const uint64_t sei = static_cast<uint64_t>(se.number - 1);
  const uint64_t ii = static_cast<uint64_t>(instance);
  const std::string sop_uid = Uid(plan.seed, {kSaltInstance, pi, si, sei, ii});
  const bool volume = s.modality == Modality::kCt || s.modality == Modality::kMr;
  const bool ct = s.modality == Modality::kCt;
  const bool xr = s.modality == Modality::kCr || s.modality == Modality::kDx;
  const int series_seconds = std::min(s.time_seconds + 120 * (se.number - 1), 86399);
  const int content_seconds = std::min(series_seconds + instance / 4, 86399);

  std::vector<Attr> a;
  a.reserve(64);
  auto add = [&a](Tag tag, std::string_view vr, std::string value) {
    a.push_back({tag, vr, std::move(value)});
  };
  add(tags::kSpecificCharacterSet, "CS", "ISO_IR 100");
  add(MakeTag(0x0008, 0x0008), "CS",
      ct ? "ORIGINAL\\PRIMARY\\AXIAL"
         : (volume ? "ORIGINAL\\PRIMARY\\M\\ND" : "ORIGINAL\\PRIMARY"));
  add(tags::kSopClassUid, "UI", std::string(profile.sop_class));
  add(tags::kSopInstanceUid, "UI", sop_uid);
  add(tags::kStudyDate, "DA", s.date);
  add(tags::kSeriesDate, "DA", s.date);
  add(tags::kContentDate, "DA", s.date);
  add(tags::kStudyTime, "TM", DicomTime(s.time_seconds));
  add(tags::kSeriesTime, "TM", DicomTime(series_seconds));
  add(tags::kContentTime, "TM", DicomTime(content_seconds));
  add(tags::kAccessionNumber, "SH", s.accession);
  add(tags::kModality, "CS", std::string(profile.code));
  if (s.modality == Modality::kDx) add(MakeTag(0x0008, 0x0068), "CS", "FOR PRESENTATION");
  add(MakeTag(0x0008, 0x0070), "LO", "STRATA SYNTH");
  add(MakeTag(0x0008, 0x0080), "LO", "STRATA GENERAL HOSPITAL");
  add(tags::kReferringPhysicianName, "PN", std::string(s.referring));
  add(tags::kStudyDescription, "LO", std::string(s.exam.description));
  add(tags::kSeriesDescription, "LO", se.description);
  add(tags::kPatientName, "PN", p.name);
  add(tags::kPatientId, "LO", p.id);
  add(tags::kPatientBirthDate, "DA", p.birth_date);
  add(tags::kPatientSex, "CS", p.sex);
  add(tags::kBodyPartExamined, "CS", std::string(s.exam.body_part));
  if (volume) add(MakeTag(0x0018, 0x0050), "DS", Ds(se.thickness));
  if (ct || xr) add(MakeTag(0x0018, 0x0060), "DS", ct ? "120" : "90");
  if (xr) {
    add(MakeTag(0x0018, 0x1164), "DS", "0.139\\0.139");
    add(MakeTag(0x0018, 0x5101), "CS", std::string(se.view));
  }
  if (s.modality == Modality::kDx) add(MakeTag(0x0018, 0x7004), "CS", "SCINTILLATOR");
  add(tags::kStudyInstanceUid, "UI", s.uid);
  add(tags::kSeriesInstanceUid, "UI", se.uid);
  add(tags::kStudyId, "SH", std::to_string(s.index + 1));
  add(tags::kSeriesNumber, "IS", std::to_string(se.number));
  add(tags::kInstanceNumber, "IS", std::to_string(instance + 1));
  if (xr) add(MakeTag(0x0020, 0x0020), "CS", se.view == "LL" ? "P\\F" : "L\\F");
  const double spacing = volume ? (ct ? 0.7 : 0.9) * 512.0 / std::max(se.columns, 1) : 0.139;
  const double position = -0.5 * se.thickness * se.instances + se.thickness * instance;
  if (volume) {
    const double half_x = -0.5 * spacing * se.columns;
    const double half_y = -0.5 * spacing * se.rows;
    add(MakeTag(0x0020, 0x0032), "DS",
        se.sagittal ? Ds(position) + "\\" + Ds(half_x) + "\\" + Ds(-half_y)
                    : Ds(half_x) + "\\" + Ds(half_y) + "\\" + Ds(position));
    add(MakeTag(0x0020, 0x0037), "DS", se.sagittal ? "0\\1\\0\\0\\0\\-1" : "1\\0\\0\\0\\1\\0");
    add(MakeTag(0x0020, 0x0052), "UI", s.frame_uid);
    add(MakeTag(0x0020, 0x1040), "LO", "");
    add(MakeTag(0x0020, 0x1041), "DS", Ds(position));
  }
  add(MakeTag(0x0028, 0x0002), "US", "1");
  add(MakeTag(0x0028, 0x0004), "CS", s.monochrome1 ? "MONOCHROME1" : "MONOCHROME2");
  add(tags::kRows, "US", std::to_string(se.rows));
  add(tags::kColumns, "US", std::to_string(se.columns));
  if (volume) add(MakeTag(0x0028, 0x0030), "DS", Ds(spacing) + "\\" + Ds(spacing));
  add(MakeTag(0x0028, 0x0100), "US", "16");
  add(MakeTag(0x0028, 0x0101), "US", std::to_string(profile.bits_stored));
  add(MakeTag(0x0028, 0x0102), "US", std::to_string(profile.bits_stored - 1));
  add(MakeTag(0x0028, 0x0103), "US", "0");
  if (s.modality == Modality::kDx) {
    add(MakeTag(0x0028, 0x1040), "CS", "LOG");
    add(MakeTag(0x0028, 0x1041), "SS", "1");
  }
  add(MakeTag(0x0028, 0x1050), "DS", ct ? "40" : (volume ? "600" : "2048"));
  add(MakeTag(0x0028, 0x1051), "DS", ct ? "400" : (volume ? "1200" : "4096"));
  if (ct) {
    add(MakeTag(0x0028, 0x1052), "DS", "-1024");
    add(MakeTag(0x0028, 0x1053), "DS", "1");
    add(MakeTag(0x0028, 0x1054), "LO", "HU");
  }
  std::sort(a.begin(), a.end(), [](const Attr& x, const Attr& y) { return x.tag < y.tag; });

  const size_t pixel_count = static_cast<size_t>(se.rows) * static_cast<size_t>(se.columns);
  Part10Writer writer(profile.sop_class, sop_uid, pixel_count * 2);
  for (const Attr& attr : a) {
    if (attr.vr == "US") {
      writer.AddUs(attr.tag, static_cast<uint16_t>(std::stoi(attr.value)));
    } else if (attr.vr == "SS") {
      writer.AddSs(attr.tag, static_cast<int16_t>(std::stoi(attr.value)));
    } else {
      writer.AddString(attr.tag, attr.vr, attr.value);
    }
  }
  const double z = se.instances > 1 ? static_cast<double>(instance) / (se.instances - 1) : 0.5;
  ImageSpec image = MakeImage(s, se, z, Hash(plan.seed, {kSaltPixels, pi, si, sei, ii}));
  file.sop_instance_uid = sop_uid;
  file.lesion.reset();
  if (plan.lesion_fraction > 0 && xr && s.exam.body_part == "CHEST") {
    const uint64_t lesion_seed = Hash(plan.seed, {kSaltLesion, pi, si, sei, ii});
    const LesionTruth truth = DrawLesion(plan.lesion_fraction, lesion_seed, se);
    if (truth.present) {
      image.soft_discs.push_back(
          {truth.center_x, truth.center_y, truth.radius, LesionPeak(lesion_seed)});
    }
    file.lesion = truth;
  }
  RenderImage(image, writer.AddPixelData16(pixel_count));
  file.bytes = writer.Take();
}

Result<Plan> Resolve(const Options& o) {
  if (o.patients < 0 || o.first_patient < 0 || o.studies_per_patient < 0 ||
      o.series_per_study < 0 || o.instances_per_series < 0 || o.max_bytes < 0) {
    return InvalidArgument("synth: counts and limits must not be negative");
  }
  if (!(o.lesion_fraction >= 0 && o.lesion_fraction <= 1)) {
    return InvalidArgument("synth: lesion fraction must be between 0 and 1");
  }
  Plan plan;
  plan.preset = o.preset;
  plan.seed = o.seed;
  plan.first_patient = o.first_patient;
  const bool demo = o.preset == Preset::kDemo;
  const bool tiny = o.preset == Preset::kTiny;
  plan.patients = o.patients > 0 ? o.patients : (demo ? 1 : (tiny ? 100 : 10));
  plan.studies = o.studies_per_patient > 0
                     ? o.studies_per_patient
                     : (demo ? 1 : (o.preset == Preset::kMixed || tiny ? 3 : 2));
  plan.series = o.series_per_study;
  plan.instances = o.instances_per_series;
  plan.max_bytes = o.max_bytes;
  plan.lesion_fraction = o.lesion_fraction;
  if (plan.first_patient + plan.patients - 1 > kMaxPatientIndex) {
    return InvalidArgument("synth: patient indexes must stay below 10,000,000");
  }
  if (plan.studies > kMaxStudies || plan.series > kMaxSeries || plan.instances > kMaxInstances) {
    return InvalidArgument(
        "synth: at most 99 studies per patient, 999 series per study and 99999 instances per "
        "series");
  }
  return plan;
}

}  // namespace

Result<Preset> ParsePreset(std::string_view name) {
  for (Preset p :
       {Preset::kDemo, Preset::kMixed, Preset::kCt, Preset::kCr, Preset::kMr, Preset::kTiny}) {
    if (PresetName(p) == name) return p;
  }
  return InvalidArgument("synth: unknown preset '" + std::string(name) +
                         "' (demo, mixed, ct, cr, mr, tiny)");
}

std::string_view PresetName(Preset preset) {
  switch (preset) {
    case Preset::kDemo:
      return "demo";
    case Preset::kMixed:
      return "mixed";
    case Preset::kCt:
      return "ct";
    case Preset::kCr:
      return "cr";
    case Preset::kMr:
      return "mr";
    case Preset::kTiny:
      return "tiny";
  }
  return "demo";
}

Result<Summary> ForEachFile(const Options& options,
                            const std::function<Status(GeneratedFile&)>& sink) {
  STRATA_ASSIGN_OR_RETURN(const Plan plan, Resolve(options));
  Summary summary;
  for (int64_t pi = plan.first_patient; pi < plan.first_patient + plan.patients; ++pi) {
    const Patient patient = MakePatient(plan, pi);
    bool patient_counted = false;
    Rng gaps(Hash(plan.seed, {kSaltPatient, static_cast<uint64_t>(pi), 1}));
    int64_t day = patient.latest_study_day;
    for (int si = 0; si < plan.studies; ++si) {
      if (si > 0) day -= gaps.Between(90, 700);
      const Study study = MakeStudy(plan, patient, si, day);
      const int series_count =
          plan.series > 0 ? plan.series
                          : (plan.preset == Preset::kTiny ? 2 : Profile(study.modality).series);
      bool study_counted = false;
      for (int sei = 0; sei < series_count; ++sei) {
        const Series series = MakeSeries(plan, patient, study, sei);
        bool series_counted = false;
        for (int n = 0; n < series.instances; ++n) {
          if (plan.max_bytes > 0 && summary.bytes >= plan.max_bytes) return summary;
          GeneratedFile file;
          file.relative_path = patient.id + "/" + study.accession + "/" + Padded(series.number, 3) +
                               "/" + Padded(n + 1, 5) + ".dcm";
          MakeFile(plan, patient, study, series, n, file);
          const int64_t size = static_cast<int64_t>(file.bytes.size());
          STRATA_RETURN_IF_ERROR(sink(file));
          summary.files += 1;
          summary.bytes += size;
          if (!patient_counted) summary.patients += 1, patient_counted = true;
          if (!study_counted) summary.studies += 1, study_counted = true;
          if (!series_counted) summary.series += 1, series_counted = true;
        }
      }
    }
  }
  return summary;
}

namespace {

std::string LesionManifestRow(const GeneratedFile& file) {
  const LesionTruth& t = *file.lesion;
  std::string row =
      file.sop_instance_uid + "," + file.relative_path + "," + (t.present ? "1" : "0");
  if (!t.present) return row + ",,,\n";
  char numbers[96];
  std::snprintf(numbers, sizeof(numbers), ",%.2f,%.2f,%.2f\n", t.center_x, t.center_y, t.radius);
  return row + numbers;
}

}  // namespace

Result<Summary> WriteTree(const Options& options, const std::string& out_dir) {
  namespace fs = std::filesystem;
  std::string last_dir;
  std::string manifest = "sop_instance_uid,file,lesion,center_x,center_y,radius\n";
  auto summary = ForEachFile(options, [&](GeneratedFile& file) -> Status {
    if (file.lesion) manifest += LesionManifestRow(file);
    const fs::path path = fs::path(out_dir) / file.relative_path;
    const std::string dir = path.parent_path().string();
    if (dir != last_dir) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return Internal("synth: cannot create " + dir + ": " + ec.message());
      last_dir = dir;
    }
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return Internal("synth: cannot open " + path.string() + " for writing");
    const size_t written = std::fwrite(file.bytes.data(), 1, file.bytes.size(), f);
    const bool closed = std::fclose(f) == 0;
    if (written != file.bytes.size() || !closed)
      return Internal("synth: short write to " + path.string());
    return OkStatus();
  });
  if (!summary.ok() || options.lesion_fraction <= 0) return summary;
  std::error_code ec;
  fs::create_directories(out_dir, ec);  // a run may have produced no image
  if (ec) return Internal("synth: cannot create " + out_dir + ": " + ec.message());
  const fs::path manifest_path = fs::path(out_dir) / kLesionManifestName;
  std::FILE* f = std::fopen(manifest_path.c_str(), "wb");
  if (f == nullptr) return Internal("synth: cannot open " + manifest_path.string());
  const size_t written = std::fwrite(manifest.data(), 1, manifest.size(), f);
  const bool closed = std::fclose(f) == 0;
  if (written != manifest.size() || !closed) {
    return Internal("synth: short write to " + manifest_path.string());
  }
  return summary;
}

}  // namespace strata::synth
