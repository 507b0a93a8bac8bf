#include "inference/model_card.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace strata::inference {
namespace {

using Json = nlohmann::json;

Json ValidCard() {
  return Json::parse(R"({
    "name": "chest-xr.v2",
    "version": "2.1.0-rc1",
    "description": "test card",
    "input": {"width": 224, "height": 192, "channels": 3},
    "preprocessing": {
      "window": {"mode": "fixed", "center": 40, "width": 400},
      "invert_monochrome1": false,
      "resize": "linear",
      "normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    },
    "labels": [{"name": "effusion", "threshold": 0.4}, {"name": "nodule", "threshold": 0.7}],
    "applies_to": {"modalities": ["CR", "DX"], "sop_classes": ["1.2.840.10008.5.1.4.1.1.1"],
                   "body_parts": ["CHEST"]},
    "heatmap": {"method": "occlusion", "grid": 12}
  })");
}

TEST(ModelCardTest, ParsesEveryField) {
  auto card = ParseModelCard(ValidCard().dump());
  ASSERT_TRUE(card.ok()) << card.status().ToString();
  EXPECT_EQ(card->name, "chest-xr.v2");
  EXPECT_EQ(card->version, "2.1.0-rc1");
  EXPECT_EQ(card->description, "test card");
  EXPECT_EQ(card->input.width, 224);
  EXPECT_EQ(card->input.height, 192);
  EXPECT_EQ(card->input.channels, 3);
  EXPECT_EQ(card->preprocessing.window.mode, WindowMode::kFixed);
  EXPECT_EQ(card->preprocessing.window.center, 40);
  EXPECT_EQ(card->preprocessing.window.width, 400);
  EXPECT_FALSE(card->preprocessing.invert_monochrome1);
  EXPECT_EQ(card->preprocessing.resize, ResizeMethod::kLinear);
  EXPECT_EQ(card->preprocessing.mean, (std::vector<double>{0.485, 0.456, 0.406}));
  EXPECT_EQ(card->preprocessing.std, (std::vector<double>{0.229, 0.224, 0.225}));
  ASSERT_EQ(card->labels.size(), 2u);
  EXPECT_EQ(card->labels[1].name, "nodule");
  EXPECT_EQ(card->labels[1].threshold, 0.7);
  EXPECT_EQ(card->applies_to.modalities, (std::vector<std::string>{"CR", "DX"}));
  EXPECT_EQ(card->applies_to.sop_classes, (std::vector<std::string>{"1.2.840.10008.5.1.4.1.1.1"}));
  EXPECT_EQ(card->applies_to.body_parts, (std::vector<std::string>{"CHEST"}));
  ASSERT_TRUE(card->heatmap.has_value());
  EXPECT_EQ(card->heatmap->grid, 12);
}

TEST(ModelCardTest, OptionalFieldsMayBeLeftOut) {
  Json j = ValidCard();
  j.erase("description");
  j["applies_to"].erase("sop_classes");
  j["applies_to"].erase("body_parts");
  j["preprocessing"]["window"] = {{"mode", "min_max"}};
  j.erase("heatmap");
  auto card = ParseModelCard(j.dump());
  ASSERT_TRUE(card.ok()) << card.status().ToString();
  EXPECT_TRUE(card->description.empty());
  EXPECT_TRUE(card->applies_to.sop_classes.empty());
  EXPECT_TRUE(card->applies_to.body_parts.empty());
  EXPECT_EQ(card->preprocessing.window.mode, WindowMode::kMinMax);
  EXPECT_FALSE(card->heatmap.has_value());
  EXPECT_EQ(ModelCardToJson(*card).find("heatmap"), std::string::npos);
}

TEST(ModelCardTest, JsonRoundTrips) {
  for (const char* mode : {"fixed", "from_file", "min_max"}) {
    Json j = ValidCard();
    if (std::string(mode) != "fixed") j["preprocessing"]["window"] = {{"mode", mode}};
    auto card = ParseModelCard(j.dump());
    ASSERT_TRUE(card.ok()) << card.status().ToString();
    auto again = ParseModelCard(ModelCardToJson(*card));
    ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << ModelCardToJson(*card);
    EXPECT_EQ(ModelCardToJson(*again), ModelCardToJson(*card));
    EXPECT_EQ(again->preprocessing.window.mode, card->preprocessing.window.mode);
    ASSERT_TRUE(again->heatmap.has_value());
    EXPECT_EQ(again->heatmap->grid, 12);
  }
}

TEST(ModelCardTest, TheCommittedDemoCardIsValid) {
  auto card = LoadModelCard(std::string(STRATA_DEMO_MODEL_DIR) + "/model_card.json");
  ASSERT_TRUE(card.ok()) << card.status().ToString();
  EXPECT_EQ(card->name, "demo-chest-anomaly");
  EXPECT_EQ(card->labels.size(), 1u);
  ASSERT_TRUE(card->heatmap.has_value());  // the demo shows off the heat map
  EXPECT_EQ(card->heatmap->grid, 8);
}

TEST(ModelCardTest, MissingFileIsNotFound) {
  auto card = LoadModelCard("/nonexistent/model_card.json");
  EXPECT_EQ(card.status().code(), StatusCode::kNotFound);
}

TEST(ModelCardTest, DecideComparesEachScoreWithItsThreshold) {
  auto card = ParseModelCard(ValidCard().dump());
  ASSERT_TRUE(card.ok());
  EXPECT_EQ(Decide(*card, {0.4f, 0.69f}), (std::vector<bool>{true, false}));
  EXPECT_EQ(Decide(*card, {0.39f, 0.7f}), (std::vector<bool>{false, true}));
}

struct BadCard {
  const char* what;
  std::function<void(Json&)> mutate;
  const char* expected_message;  // must appear in the error
};

class ModelCardRejectsTest : public ::testing::TestWithParam<BadCard> {};

TEST_P(ModelCardRejectsTest, NamesTheField) {
  Json j = ValidCard();
  GetParam().mutate(j);
  auto card = ParseModelCard(j.dump());
  ASSERT_FALSE(card.ok()) << GetParam().what;
  EXPECT_EQ(card.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(card.status().message().find(GetParam().expected_message), std::string::npos)
      << GetParam().what << ": " << card.status().message();
}

const BadCard kBadCards[] = {
    {"root not an object", [](Json& j) { j = Json::array(); }, "must be a JSON object"},
    {"unknown top-level field", [](Json& j) { j["threshold"] = 1; }, "threshold: unknown field"},
    {"missing name", [](Json& j) { j.erase("name"); }, "name: missing"},
    {"name with spaces", [](Json& j) { j["name"] = "Chest XR"; }, "name: must be"},
    {"name not a string", [](Json& j) { j["name"] = 7; }, "name: must be a string"},
    {"empty version", [](Json& j) { j["version"] = ""; }, "version: must be"},
    {"description not a string", [](Json& j) { j["description"] = Json::array(); },
     "description: must be a string"},
    {"missing input", [](Json& j) { j.erase("input"); }, "input: missing"},
    {"input not an object", [](Json& j) { j["input"] = 5; }, "input: must be an object"},
    {"zero width", [](Json& j) { j["input"]["width"] = 0; },
     "input.width: must be between 1 and 4096"},
    {"fractional width", [](Json& j) { j["input"]["width"] = 12.5; },
     "input.width: must be an integer"},
    {"huge height", [](Json& j) { j["input"]["height"] = 100000; },
     "input.height: must be between 1 and 4096"},
    {"missing height", [](Json& j) { j["input"].erase("height"); }, "input.height: missing"},
    {"two channels", [](Json& j) { j["input"]["channels"] = 2; }, "input.channels: must be 1 or 3"},
    {"unknown input field", [](Json& j) { j["input"]["depth"] = 1; }, "input.depth: unknown field"},
    {"missing preprocessing", [](Json& j) { j.erase("preprocessing"); }, "preprocessing: missing"},
    {"unknown window mode", [](Json& j) { j["preprocessing"]["window"]["mode"] = "auto"; },
     "preprocessing.window.mode: must be"},
    {"fixed window without width", [](Json& j) { j["preprocessing"]["window"].erase("width"); },
     "preprocessing.window.width: missing"},
    {"fixed window of width 0", [](Json& j) { j["preprocessing"]["window"]["width"] = 0; },
     "preprocessing.window.width: must be >= 1"},
    {"fixed window centre not a number",
     [](Json& j) { j["preprocessing"]["window"]["center"] = "40"; },
     "preprocessing.window.center: must be a number"},
    {"centre given with a file window",
     [](Json& j) {
       j["preprocessing"]["window"] = {{"mode", "from_file"}, {"center", 3}};
     },
     "preprocessing.window.center: unknown field"},
    {"inversion not a boolean", [](Json& j) { j["preprocessing"]["invert_monochrome1"] = "yes"; },
     "preprocessing.invert_monochrome1: must be true or false"},
    {"unknown resize", [](Json& j) { j["preprocessing"]["resize"] = "cubic"; },
     "preprocessing.resize: must be"},
    {"misspelt normalization",
     [](Json& j) {
       j["preprocessing"]["normalisation"] = j["preprocessing"]["normalization"];
       j["preprocessing"].erase("normalization");
     },
     "preprocessing.normalisation: unknown field"},
    {"mean per channel", [](Json& j) { j["preprocessing"]["normalization"]["mean"] = {0.5}; },
     "preprocessing.normalization.mean: needs one value per input channel (3)"},
    {"std not positive",
     [](Json& j) {
       j["preprocessing"]["normalization"]["std"] = {0.2, 0.0, 0.2};
     },
     "preprocessing.normalization.std[1]: must be > 0"},
    {"std not numbers",
     [](Json& j) {
       j["preprocessing"]["normalization"]["std"] = {"a", "b", "c"};
     },
     "preprocessing.normalization.std[0]: must be a number"},
    {"missing labels", [](Json& j) { j.erase("labels"); }, "labels: missing"},
    {"no labels", [](Json& j) { j["labels"] = Json::array(); }, "labels: must name at least one"},
    {"label not an object", [](Json& j) { j["labels"][0] = "effusion"; },
     "labels[0]: must be an object"},
    {"duplicate label", [](Json& j) { j["labels"][1]["name"] = "effusion"; },
     "labels[1].name: duplicate"},
    {"empty label name", [](Json& j) { j["labels"][0]["name"] = ""; },
     "labels[0].name: must be 1 to 64"},
    {"threshold above 1", [](Json& j) { j["labels"][0]["threshold"] = 1.5; },
     "labels[0].threshold: must be between 0 and 1"},
    {"missing threshold", [](Json& j) { j["labels"][1].erase("threshold"); },
     "labels[1].threshold: missing"},
    {"missing applies_to", [](Json& j) { j.erase("applies_to"); }, "applies_to: missing"},
    {"no modalities", [](Json& j) { j["applies_to"]["modalities"] = Json::array(); },
     "applies_to.modalities: must name at least one"},
    {"lower-case modality", [](Json& j) { j["applies_to"]["modalities"] = {"cr"}; },
     "applies_to.modalities[0]: must be a DICOM modality code"},
    {"malformed SOP class", [](Json& j) { j["applies_to"]["sop_classes"] = {"1.2.03"}; },
     "applies_to.sop_classes[0]: must be a valid UID"},
    {"body part not a string", [](Json& j) { j["applies_to"]["body_parts"] = {5}; },
     "applies_to.body_parts[0]: must be a string"},
    {"unknown applies_to field", [](Json& j) { j["applies_to"]["ae_titles"] = {"PACS"}; },
     "applies_to.ae_titles: unknown field"},
    {"heatmap not an object", [](Json& j) { j["heatmap"] = true; }, "heatmap: must be an object"},
    {"heatmap without method", [](Json& j) { j["heatmap"].erase("method"); },
     "heatmap.method: missing"},
    {"unknown heatmap method", [](Json& j) { j["heatmap"]["method"] = "gradcam"; },
     "heatmap.method: must be \"occlusion\""},
    {"heatmap without grid", [](Json& j) { j["heatmap"].erase("grid"); }, "heatmap.grid: missing"},
    {"heatmap grid of 1", [](Json& j) { j["heatmap"]["grid"] = 1; },
     "heatmap.grid: must be between 2 and 32"},
    {"heatmap grid of 33", [](Json& j) { j["heatmap"]["grid"] = 33; },
     "heatmap.grid: must be between 2 and 32"},
    {"fractional heatmap grid", [](Json& j) { j["heatmap"]["grid"] = 4.5; },
     "heatmap.grid: must be an integer"},
    {"unknown heatmap field", [](Json& j) { j["heatmap"]["alpha"] = 0.5; },
     "heatmap.alpha: unknown field"},
};

INSTANTIATE_TEST_SUITE_P(EachField, ModelCardRejectsTest, ::testing::ValuesIn(kBadCards));

TEST(ModelCardTest, RejectsMalformedJson) {
  for (const char* text : {"", "{", "{\"name\": }", "[1, 2", "nul"}) {
    auto card = ParseModelCard(text);
    ASSERT_FALSE(card.ok()) << text;
    EXPECT_EQ(card.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(card.status().message().find("not valid JSON"), std::string::npos)
        << card.status().message();
  }
}

}  // namespace
}  // namespace strata::inference
