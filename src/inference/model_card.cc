#include "inference/model_card.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace strata::inference {
namespace {

using Json = nlohmann::json;

constexpr int kMaxInputSide = 4096;
constexpr size_t kMaxLabels = 1000;
constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxCodeStringLength = 16;  // VR CS (PS3.5 6.2)
constexpr size_t kMaxUidLength = 64;         // VR UI (PS3.5 6.2)
// A 1x1 grid says nothing about where; 32 x 32 is already 1024 extra inferences per image.
constexpr int kMinHeatmapGrid = 2;
constexpr int kMaxHeatmapGrid = 32;

Status FieldError(const std::string& path, const std::string& what) {
  return InvalidArgument("model card: " + path + ": " + what);
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Rejects fields the card format does not define, so a misspelt optional field is an error
// rather than a silently ignored setting.
Status CheckKnownFields(const Json& object, const std::string& path,
                        std::initializer_list<std::string_view> known) {
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      return FieldError(Join(path, item.key()), "unknown field");
    }
  }
  return OkStatus();
}

Result<const Json*> RequiredObject(const Json& parent, const std::string& path,
                                   std::string_view key) {
  const std::string field = Join(path, key);
  auto it = parent.find(key);
  if (it == parent.end()) return FieldError(field, "missing");
  if (!it->is_object()) return FieldError(field, "must be an object");
  return &*it;
}

Result<const Json*> Required(const Json& parent, const std::string& path, std::string_view key) {
  auto it = parent.find(key);
  if (it == parent.end()) return FieldError(Join(path, key), "missing");
  return &*it;
}

Result<std::string> AsString(const Json& value, const std::string& path) {
  if (!value.is_string()) return FieldError(path, "must be a string");
  return value.get<std::string>();
}

Result<double> AsNumber(const Json& value, const std::string& path) {
  if (!value.is_number()) return FieldError(path, "must be a number");
  const double number = value.get<double>();
  if (!std::isfinite(number)) return FieldError(path, "must be finite");
  return number;
}

Result<int> AsInt(const Json& value, const std::string& path, int lo, int hi) {
  if (!value.is_number_integer()) return FieldError(path, "must be an integer");
  // Non-negative JSON integers parse as unsigned, negative ones as signed.
  const bool in_range = value.is_number_unsigned()
                            ? value.get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                  static_cast<int64_t>(value.get<uint64_t>()) >= lo
                            : value.get<int64_t>() >= lo && value.get<int64_t>() <= hi;
  if (!in_range) {
    return FieldError(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return static_cast<int>(value.get<int64_t>());
}

Result<bool> AsBool(const Json& value, const std::string& path) {
  if (!value.is_boolean()) return FieldError(path, "must be true or false");
  return value.get<bool>();
}

Result<std::vector<double>> AsNumberList(const Json& value, const std::string& path) {
  if (!value.is_array()) return FieldError(path, "must be an array of numbers");
  std::vector<double> numbers;
  for (size_t i = 0; i < value.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(double number, AsNumber(value[i], Index(path, i)));
    numbers.push_back(number);
  }
  return numbers;
}

bool IsName(const std::string& s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  if (!std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

bool IsVersion(const std::string& s) {
  return !s.empty() && s.size() <= kMaxNameLength &&
         std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127; });
}

// Code String values as stored in DICOM: upper case, digits, space and underscore (PS3.5 6.2).
bool IsCodeString(const std::string& s) {
  return !s.empty() && s.size() <= kMaxCodeStringLength &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '_';
         });
}

// UID syntax (PS3.5 9.1): digit components separated by dots, no leading zeros.
bool IsUid(const std::string& s) {
  if (s.empty() || s.size() > kMaxUidLength) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('.', start);
    if (end == std::string::npos) end = s.size();
    const std::string_view part(s.data() + start, end - start);
    if (part.empty() || (part.size() > 1 && part[0] == '0')) return false;
    if (!std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

Result<std::vector<std::string>> AsCheckedStringList(const Json& value, const std::string& path,
                                                     bool (*valid)(const std::string&),
                                                     const char* what) {
  if (!value.is_array()) return FieldError(path, "must be an array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(std::string s, AsString(value[i], Index(path, i)));
    if (!valid(s)) return FieldError(Index(path, i), std::string("must be ") + what);
    out.push_back(std::move(s));
  }
  return out;
}

Result<InputShape> ParseInput(const Json& root) {
  STRATA_ASSIGN_OR_RETURN(const Json* input, RequiredObject(root, "", "input"));
  STRATA_RETURN_IF_ERROR(CheckKnownFields(*input, "input", {"width", "height", "channels"}));
  InputShape shape;
  STRATA_ASSIGN_OR_RETURN(const Json* width, Required(*input, "input", "width"));
  STRATA_ASSIGN_OR_RETURN(shape.width, AsInt(*width, "input.width", 1, kMaxInputSide));
  STRATA_ASSIGN_OR_RETURN(const Json* height, Required(*input, "input", "height"));
  STRATA_ASSIGN_OR_RETURN(shape.height, AsInt(*height, "input.height", 1, kMaxInputSide));
  STRATA_ASSIGN_OR_RETURN(const Json* channels, Required(*input, "input", "channels"));
  STRATA_ASSIGN_OR_RETURN(shape.channels, AsInt(*channels, "input.channels", 1, 3));
  if (shape.channels == 2) return FieldError("input.channels", "must be 1 or 3");
  return shape;
}

Result<WindowSpec> ParseWindow(const Json& preprocessing) {
  const std::string path = "preprocessing.window";
  STRATA_ASSIGN_OR_RETURN(const Json* window,
                          RequiredObject(preprocessing, "preprocessing", "window"));
  STRATA_ASSIGN_OR_RETURN(const Json* mode_value, Required(*window, path, "mode"));
  STRATA_ASSIGN_OR_RETURN(const std::string mode, AsString(*mode_value, path + ".mode"));
  WindowSpec spec;
  if (mode == "from_file" || mode == "min_max") {
    spec.mode = mode == "from_file" ? WindowMode::kFromFile : WindowMode::kMinMax;
    STRATA_RETURN_IF_ERROR(CheckKnownFields(*window, path, {"mode"}));
    return spec;
  }
  if (mode != "fixed") {
    return FieldError(path + ".mode", "must be \"from_file\", \"fixed\" or \"min_max\"");
  }
  spec.mode = WindowMode::kFixed;
  STRATA_RETURN_IF_ERROR(CheckKnownFields(*window, path, {"mode", "center", "width"}));
  STRATA_ASSIGN_OR_RETURN(const Json* center, Required(*window, path, "center"));
  STRATA_ASSIGN_OR_RETURN(spec.center, AsNumber(*center, path + ".center"));
  STRATA_ASSIGN_OR_RETURN(const Json* width, Required(*window, path, "width"));
  STRATA_ASSIGN_OR_RETURN(spec.width, AsNumber(*width, path + ".width"));
  // PS3.3 C.11.2.1.2.1: Window Width shall be >= 1 for the LINEAR function.
  if (spec.width < 1) return FieldError(path + ".width", "must be >= 1");
  return spec;
}

Result<Preprocessing> ParsePreprocessing(const Json& root, int channels) {
  const std::string path = "preprocessing";
  STRATA_ASSIGN_OR_RETURN(const Json* pre, RequiredObject(root, "", "preprocessing"));
  STRATA_RETURN_IF_ERROR(
      CheckKnownFields(*pre, path, {"window", "invert_monochrome1", "resize", "normalization"}));
  Preprocessing p;
  STRATA_ASSIGN_OR_RETURN(p.window, ParseWindow(*pre));
  STRATA_ASSIGN_OR_RETURN(const Json* invert, Required(*pre, path, "invert_monochrome1"));
  STRATA_ASSIGN_OR_RETURN(p.invert_monochrome1, AsBool(*invert, path + ".invert_monochrome1"));
  STRATA_ASSIGN_OR_RETURN(const Json* resize_value, Required(*pre, path, "resize"));
  STRATA_ASSIGN_OR_RETURN(const std::string resize, AsString(*resize_value, path + ".resize"));
  if (resize == "area") {
    p.resize = ResizeMethod::kArea;
  } else if (resize == "linear") {
    p.resize = ResizeMethod::kLinear;
  } else {
    return FieldError(path + ".resize", "must be \"area\" or \"linear\"");
  }

  const std::string norm_path = path + ".normalization";
  STRATA_ASSIGN_OR_RETURN(const Json* norm, RequiredObject(*pre, path, "normalization"));
  STRATA_RETURN_IF_ERROR(CheckKnownFields(*norm, norm_path, {"mean", "std"}));
  STRATA_ASSIGN_OR_RETURN(const Json* mean, Required(*norm, norm_path, "mean"));
  STRATA_ASSIGN_OR_RETURN(p.mean, AsNumberList(*mean, norm_path + ".mean"));
  STRATA_ASSIGN_OR_RETURN(const Json* std_value, Required(*norm, norm_path, "std"));
  STRATA_ASSIGN_OR_RETURN(p.std, AsNumberList(*std_value, norm_path + ".std"));
  const std::string per_channel =
      "needs one value per input channel (" + std::to_string(channels) + ")";
  if (p.mean.size() != static_cast<size_t>(channels)) {
    return FieldError(norm_path + ".mean", per_channel);
  }
  if (p.std.size() != static_cast<size_t>(channels)) {
    return FieldError(norm_path + ".std", per_channel);
  }
  for (size_t i = 0; i < p.std.size(); ++i) {
    if (!(p.std[i] > 0)) return FieldError(Index(norm_path + ".std", i), "must be > 0");
  }
  return p;
}

Result<std::vector<Label>> ParseLabels(const Json& root) {
  STRATA_ASSIGN_OR_RETURN(const Json* labels, Required(root, "", "labels"));
  if (!labels->is_array()) return FieldError("labels", "must be an array of objects");
  if (labels->empty()) return FieldError("labels", "must name at least one output");
  if (labels->size() > kMaxLabels) {
    return FieldError("labels", "at most " + std::to_string(kMaxLabels) + " labels");
  }
  std::vector<Label> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < labels->size(); ++i) {
    const std::string path = Index("labels", i);
    const Json& item = (*labels)[i];
    if (!item.is_object()) return FieldError(path, "must be an object");
    STRATA_RETURN_IF_ERROR(CheckKnownFields(item, path, {"name", "threshold"}));
    Label label;
    STRATA_ASSIGN_OR_RETURN(const Json* name, Required(item, path, "name"));
    STRATA_ASSIGN_OR_RETURN(label.name, AsString(*name, path + ".name"));
    if (label.name.empty() || label.name.size() > kMaxNameLength) {
      return FieldError(path + ".name", "must be 1 to 64 characters");
    }
    if (!seen.insert(label.name).second) {
      return FieldError(path + ".name", "duplicate label \"" + label.name + "\"");
    }
    STRATA_ASSIGN_OR_RETURN(const Json* threshold, Required(item, path, "threshold"));
    STRATA_ASSIGN_OR_RETURN(label.threshold, AsNumber(*threshold, path + ".threshold"));
    if (label.threshold < 0 || label.threshold > 1) {
      return FieldError(path + ".threshold", "must be between 0 and 1");
    }
    out.push_back(std::move(label));
  }
  return out;
}

Result<AppliesTo> ParseAppliesTo(const Json& root) {
  const std::string path = "applies_to";
  STRATA_ASSIGN_OR_RETURN(const Json* applies, RequiredObject(root, "", "applies_to"));
  STRATA_RETURN_IF_ERROR(
      CheckKnownFields(*applies, path, {"modalities", "sop_classes", "body_parts"}));
  AppliesTo a;
  STRATA_ASSIGN_OR_RETURN(const Json* modalities, Required(*applies, path, "modalities"));
  STRATA_ASSIGN_OR_RETURN(a.modalities,
                          AsCheckedStringList(*modalities, path + ".modalities", IsCodeString,
                                              "a DICOM modality code such as \"CR\""));
  if (a.modalities.empty()) return FieldError(path + ".modalities", "must name at least one");
  if (auto it = applies->find("sop_classes"); it != applies->end()) {
    STRATA_ASSIGN_OR_RETURN(a.sop_classes,
                            AsCheckedStringList(*it, path + ".sop_classes", IsUid, "a valid UID"));
  }
  if (auto it = applies->find("body_parts"); it != applies->end()) {
    STRATA_ASSIGN_OR_RETURN(a.body_parts,
                            AsCheckedStringList(*it, path + ".body_parts", IsCodeString,
                                                "a Body Part Examined code such as \"CHEST\""));
  }
  return a;
}

Result<HeatmapSpec> ParseHeatmap(const Json& heatmap) {
  const std::string path = "heatmap";
  if (!heatmap.is_object()) return FieldError(path, "must be an object");
  STRATA_RETURN_IF_ERROR(CheckKnownFields(heatmap, path, {"method", "grid"}));
  STRATA_ASSIGN_OR_RETURN(const Json* method_value, Required(heatmap, path, "method"));
  STRATA_ASSIGN_OR_RETURN(const std::string method, AsString(*method_value, path + ".method"));
  if (method != "occlusion") return FieldError(path + ".method", "must be \"occlusion\"");
  HeatmapSpec spec;
  STRATA_ASSIGN_OR_RETURN(const Json* grid, Required(heatmap, path, "grid"));
  STRATA_ASSIGN_OR_RETURN(spec.grid,
                          AsInt(*grid, path + ".grid", kMinHeatmapGrid, kMaxHeatmapGrid));
  return spec;
}

Result<ModelCard> ParseRoot(const Json& root) {
  if (!root.is_object()) return InvalidArgument("model card: must be a JSON object");
  STRATA_RETURN_IF_ERROR(CheckKnownFields(root, "",
                                          {"name", "version", "description", "input",
                                           "preprocessing", "labels", "applies_to", "heatmap"}));
  ModelCard card;
  STRATA_ASSIGN_OR_RETURN(const Json* name, Required(root, "", "name"));
  STRATA_ASSIGN_OR_RETURN(card.name, AsString(*name, "name"));
  if (!IsName(card.name)) {
    return FieldError("name", "must be 1 to 64 of [a-z0-9._-], starting with a letter or digit");
  }
  STRATA_ASSIGN_OR_RETURN(const Json* version, Required(root, "", "version"));
  STRATA_ASSIGN_OR_RETURN(card.version, AsString(*version, "version"));
  if (!IsVersion(card.version)) {
    return FieldError("version", "must be 1 to 64 printable characters without spaces");
  }
  if (auto it = root.find("description"); it != root.end()) {
    STRATA_ASSIGN_OR_RETURN(card.description, AsString(*it, "description"));
  }
  STRATA_ASSIGN_OR_RETURN(card.input, ParseInput(root));
  STRATA_ASSIGN_OR_RETURN(card.preprocessing, ParsePreprocessing(root, card.input.channels));
  STRATA_ASSIGN_OR_RETURN(card.labels, ParseLabels(root));
  STRATA_ASSIGN_OR_RETURN(card.applies_to, ParseAppliesTo(root));
  if (auto it = root.find("heatmap"); it != root.end()) {
    STRATA_ASSIGN_OR_RETURN(card.heatmap, ParseHeatmap(*it));
  }
  return card;
}

std::string_view WindowModeName(WindowMode mode) {
  switch (mode) {
    case WindowMode::kFromFile:
      return "from_file";
    case WindowMode::kFixed:
      return "fixed";
    case WindowMode::kMinMax:
      return "min_max";
  }
  return "from_file";
}

}  // namespace

Result<ModelCard> ParseModelCard(std::string_view json_text) {
  Json root;
  try {
    root = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string("model card: not valid JSON: ") + e.what());
  }
  return ParseRoot(root);
}

Result<ModelCard> LoadModelCard(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("model card: cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  auto card = ParseModelCard(text.str());
  if (!card.ok()) return card.status().WithContext(path);
  return card;
}

std::string ModelCardToJson(const ModelCard& card) {
  Json root;
  root["name"] = card.name;
  root["version"] = card.version;
  if (!card.description.empty()) root["description"] = card.description;
  root["input"] = {{"width", card.input.width},
                   {"height", card.input.height},
                   {"channels", card.input.channels}};
  const Preprocessing& p = card.preprocessing;
  Json window = {{"mode", WindowModeName(p.window.mode)}};
  if (p.window.mode == WindowMode::kFixed) {
    window["center"] = p.window.center;
    window["width"] = p.window.width;
  }
  root["preprocessing"] = {{"window", window},
                           {"invert_monochrome1", p.invert_monochrome1},
                           {"resize", p.resize == ResizeMethod::kArea ? "area" : "linear"},
                           {"normalization", {{"mean", p.mean}, {"std", p.std}}}};
  Json labels = Json::array();
  for (const Label& label : card.labels) {
    labels.push_back({{"name", label.name}, {"threshold", label.threshold}});
  }
  root["labels"] = labels;
  Json applies = {{"modalities", card.applies_to.modalities}};
  if (!card.applies_to.sop_classes.empty()) applies["sop_classes"] = card.applies_to.sop_classes;
  if (!card.applies_to.body_parts.empty()) applies["body_parts"] = card.applies_to.body_parts;
  root["applies_to"] = applies;
  if (card.heatmap) root["heatmap"] = {{"method", "occlusion"}, {"grid", card.heatmap->grid}};
  return root.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::vector<bool> Decide(const ModelCard& card, const std::vector<float>& scores) {
  STRATA_CHECK(scores.size() == card.labels.size())
      << scores.size() << " scores for " << card.labels.size() << " labels";
  std::vector<bool> positive(scores.size());
  // Compared at the scores' float precision, so that a score of 0.7f reaches a threshold of 0.7.
  for (size_t i = 0; i < scores.size(); ++i) {
    positive[i] = scores[i] >= static_cast<float>(card.labels[i].threshold);
  }
  return positive;
}

}  // namespace strata::inference
