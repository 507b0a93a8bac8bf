"""AI heat maps end to end: the demo model's card asks for an 8 x 8 occlusion heat map, so every
chest radiograph it scores also gets a Secondary Capture of the image with the heat blended in.

Registers the demo model while `strata serve` runs, stores synthetic chest CRs with and without
lesions (`strata synth --preset demo`, ground truth in lesion_manifest.csv) with storescu, then
checks for each image:
- one SC (1.2.840.10008.5.1.4.1.1.7) in the source's study, listed by QIDO-RS and C-FIND,
  retrieved with getscu; it parses with pydicom, is RGB at the source's size, copies patient
  and study, references the source, says it is machine-generated and not for diagnosis;
- /ai/v1/results/{id} names it as heatmap_sop_instance_uid;
- for an image with a lesion (scored positive), the heat (the SC's colour: max - min of R, G, B
  per pixel; the grey source has none) peaks within about a grid cell of the lesion's centre.
Prints the heat map's cost per image from the server's log.
"""

from __future__ import annotations

import csv
import math
import sys
import unittest
from pathlib import Path

import harness
from harness import StrataServer, http_request, wait_for

MODEL_DIR = Path(__file__).resolve().parent.parent.parent / "models" / "demo-chest-anomaly"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
GRID = 8  # the demo card's heatmap.grid


class AiHeatmapTest(unittest.TestCase):
    def setUp(self):
        self.server = StrataServer(self.id(), config={"ai": {"workers": 1}})
        self.server.start()
        self.addCleanup(self.server.stop)

    def get(self, path: str):
        r = http_request(self.server.http_port, "GET", path, role="reader")
        self.assertEqual(r.status, 200, r.text())
        return r.json()

    def test_heat_map_per_image_points_at_the_lesion(self):
        import numpy
        import pydicom

        reg = harness.run_tool([harness.strata_bin(), "model", "register", "--config",
                                str(self.server.config_path), "--onnx",
                                str(MODEL_DIR / "model.onnx"), "--card",
                                str(MODEL_DIR / "model_card.json"), "--by", "e2e-admin"])
        self.assertTrue(reg.ok, reg.describe())

        # Two patients, two views each; seed 5 gives two images with a lesion, two without.
        out = harness.temp_dir("strata-ai-heatmap-")
        files = harness.synth(out, preset="demo", patients=2, seed=5,
                              extra=["--lesion-fraction", "0.5"])
        with open(out / "lesion_manifest.csv", newline="") as f:
            truth = {row["sop_instance_uid"]: row for row in csv.DictReader(f)}
        sources = {}
        for path in files:
            ds = pydicom.dcmread(str(path))
            sources[str(ds.SOPInstanceUID)] = ds
        self.assertEqual(set(truth), set(sources))
        self.assertEqual(sorted(r["lesion"] for r in truth.values()), ["0", "0", "1", "1"])
        stored = self.server.store(files)
        self.assertTrue(stored.ok, stored.describe())

        studies = {str(ds.StudyInstanceUID) for ds in sources.values()}

        def heatmaps() -> dict | None:
            found = {}
            for study in studies:
                r = http_request(self.server.http_port, "GET",
                                 f"/dicomweb/studies/{study}/instances?SOPClassUID="
                                 f"{SECONDARY_CAPTURE}", role="reader")
                if r.status == 200 and r.body:
                    for item in r.json():
                        found[item["00080018"]["Value"][0]] = (study,
                                                               item["0020000E"]["Value"][0])
            return found if len(found) == len(files) else None

        listed = wait_for(heatmaps, timeout=90)
        self.assertIsNotNone(listed, "heat maps not stored:\n" + self.server.log_tail())

        results = {}
        for study in studies:
            for r in self.get(f"/ai/v1/results?study={study}")["results"]:
                results[r["sop_instance_uid"]] = r
        self.assertEqual(set(results), set(sources))

        retrieved = harness.temp_dir("strata-ai-heatmap-get-")
        checked_lesions = 0
        for sop_uid, source in sources.items():
            detail = self.get(f"/ai/v1/results/{results[sop_uid]['id']}")
            sc_uid = detail.get("heatmap_sop_instance_uid")
            self.assertIn(sc_uid, listed, detail)
            study, series = listed[sc_uid]
            self.assertEqual(study, str(source.StudyInstanceUID))

            # Findable by C-FIND in the source's study, retrievable by C-GET.
            found = self.server.find("IMAGE", {"StudyInstanceUID": study,
                                               "SeriesInstanceUID": series,
                                               "SOPInstanceUID": sc_uid, "SOPClassUID": ""})
            self.assertEqual([str(r.SOPClassUID) for r in found.responses],
                             [SECONDARY_CAPTURE], found.tool.describe())
            got = self.server.get("IMAGE", {"StudyInstanceUID": study,
                                            "SeriesInstanceUID": series,
                                            "SOPInstanceUID": sc_uid}, retrieved)
            self.assertEqual(got.counts().get("Completed"), 1, got.tool.describe())
            paths = [p for p in retrieved.rglob("*") if p.is_file() and sc_uid in p.name]
            self.assertEqual(len(paths), 1, list(retrieved.rglob("*")))
            sc = pydicom.dcmread(str(paths[0]))

            self.assertEqual(sc.SOPClassUID, SECONDARY_CAPTURE)
            self.assertEqual(sc.file_meta.TransferSyntaxUID, "1.2.840.10008.1.2.1")
            self.assertEqual(sc.Modality, "OT")
            self.assertEqual(sc.ConversionType, "WSD")
            self.assertEqual(sc.BurnedInAnnotation, "NO")
            self.assertIn("NOT FOR DIAGNOSIS", sc.ImageComments)
            self.assertIn("demo-chest-anomaly 1.0.0", sc.DerivationDescription)
            self.assertIn("occlusion", sc.DerivationDescription)
            self.assertEqual(sc.PatientID, source.PatientID)
            self.assertEqual(sc.PatientName, source.PatientName)
            self.assertEqual(sc.StudyInstanceUID, source.StudyInstanceUID)
            self.assertEqual(sc.AccessionNumber, source.AccessionNumber)
            self.assertNotEqual(sc.SeriesInstanceUID, source.SeriesInstanceUID)
            self.assertEqual(len(sc.SourceImageSequence), 1)
            self.assertEqual(sc.SourceImageSequence[0].ReferencedSOPInstanceUID, sop_uid)
            self.assertEqual(sc.SourceImageSequence[0].ReferencedSOPClassUID,
                             source.SOPClassUID)
            self.assertEqual((sc.SamplesPerPixel, sc.PhotometricInterpretation, sc.BitsAllocated),
                             (3, "RGB", 8))
            self.assertEqual((sc.Rows, sc.Columns), (source.Rows, source.Columns))

            rgb = sc.pixel_array.astype(numpy.int32)
            colour = rgb.max(axis=2) - rgb.min(axis=2)
            row = truth[sop_uid]
            if row["lesion"] != "1":
                continue
            self.assertTrue(results[sop_uid]["positive"], results[sop_uid])
            self.assertGreater(colour.max(), 60, "a positive image's heat map shows heat")
            # The hottest region: the centroid of the pixels within 80 % of the peak colour.
            ys, xs = numpy.nonzero(colour >= 0.8 * colour.max())
            hot_x, hot_y = xs.mean() + 0.5, ys.mean() + 0.5
            cx, cy = float(row["center_x"]), float(row["center_y"])
            cell = max(sc.Columns, sc.Rows) / GRID
            distance = math.hypot(hot_x - cx, hot_y - cy)
            sys.stderr.write(f"[heatmap] lesion at ({cx:.0f}, {cy:.0f}) r {row['radius']}, "
                             f"heat at ({hot_x:.0f}, {hot_y:.0f}): {distance:.0f} px "
                             f"(cell {cell:.0f} px)\n")
            self.assertLess(distance, 1.5 * cell, f"heat far from the lesion in {sop_uid}")
            checked_lesions += 1
        self.assertEqual(checked_lesions, 2)

        stored_events = self.server.log_events("ai_heatmap_stored")
        self.assertEqual(len(stored_events), len(files), self.server.log_tail())
        self.assertEqual(self.server.log_events("ai_heatmap_failed"), [])
        ms = [e["ms"] for e in stored_events]
        occlusion = [e["occlusion_ms"] for e in stored_events]
        scoring = [r["latency_ms"] for r in results.values()]
        sys.stderr.write(f"[heatmap] {len(ms)} heat maps, {sum(ms) / len(ms):.1f} ms per image "
                         f"(of which {sum(occlusion) / len(occlusion):.1f} ms for the "
                         f"{GRID * GRID + 1} inferences; the rest writes and stores the SC), "
                         f"after {sum(scoring) / len(scoring):.1f} ms to score the image\n")


if __name__ == "__main__":
    harness.main()
