"""WADO-RS beyond whole objects, against the real `strata serve`: /frames (native, JPEG-LS,
JPEG lossless, RLE, JPEG 2000; multi-frame with and without a Basic Offset Table and with
several fragments per frame), /bulkdata (the BulkDataURIs /metadata hands out), /rendered and
/thumbnail (JPEG, PNG, window, viewport, quality) and a study as application/zip. Requests go
through Python's http.client and through curl.

Test objects: pydicom's corpus, and a 3-frame MR built here and compressed with dcmtk's
dcmcjpls/dcmcjpeg/dcmcrle; the decompressed frames must equal the native frames byte for byte
(all codecs used are lossless).
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import generate_pixel_data_fragment

import harness
from harness import E2ETestCase, StrataServer

EXPLICIT_LE = "1.2.840.10008.1.2.1"
JPEG_LS = "1.2.840.10008.1.2.4.80"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
RLE = "1.2.840.10008.1.2.5"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
OHIF_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax="*"'
OCTET = 'multipart/related; type="application/octet-stream"'


def fragments(path: Path) -> tuple[list[int], list[bytes]]:
    """(Basic Offset Table, fragments) of an encapsulated Pixel Data element."""
    ds = pydicom.dcmread(str(path))
    data = ds.PixelData
    tag, length = struct.unpack_from("<II", data, 0)
    table = list(struct.unpack_from(f"<{length // 4}I", data, 8))
    stream = pydicom.filebase.DicomBytesIO(data)
    stream.is_little_endian = True
    stream.seek(8 + length)  # the fragments follow the offset table item
    return table, list(generate_pixel_data_fragment(stream))


def stored_frames(path: Path, frames: int) -> list[bytes]:
    """The frames of an encapsulated file, grouped independently of Strata: by the offset
    table when present, else one fragment per frame, else by JPEG SOI markers."""
    table, frags = fragments(path)
    if frames == 1:
        return [b"".join(frags)]
    if table:
        starts, pos = [], 0
        for i, f in enumerate(frags):
            if pos in table:
                starts.append(i)
            pos += 8 + len(f)
    elif len(frags) == frames:
        starts = list(range(frames))
    else:
        starts = [i for i, f in enumerate(frags) if f[:2] == b"\xff\xd8"]
    starts.append(len(frags))
    return [b"".join(frags[starts[k]:starts[k + 1]]) for k in range(frames)]


class RetrieveRoutesTest(E2ETestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = harness.temp_dir("strata-routes-")
        mr = pydicom.dcmread(str(harness.PYDICOM_TEST_FILES / "MR_small.dcm"))
        base = mr.pixel_array
        cls.native_frames = [np.ascontiguousarray(a, dtype="<i2").tobytes()
                             for a in (base, base[::-1], base.T.copy())]
        study = harness.new_uid()
        series = harness.new_uid()

        def make(name: str, source: str | Path, **attrs) -> Path:
            attrs.setdefault("SeriesInstanceUID", series)
            return harness.derive_instance(source, cls.work / name, StudyInstanceUID=study,
                                           PatientID=mr.PatientID, PatientName=mr.PatientName,
                                           **attrs)

        # A 3-frame native MR, then lossless compressed copies of it.
        multi = make("mf_native.dcm", harness.PYDICOM_TEST_FILES / "MR_small.dcm")
        ds = pydicom.dcmread(str(multi))
        ds.NumberOfFrames = 3
        ds.PixelData = b"".join(cls.native_frames)
        ds.save_as(str(multi), write_like_original=False)
        cls.files = {"mf_native": multi}
        for name, tool in (("mf_jls_bot", ["dcmcjpls", "+fs", "1", "+ot"]),
                           ("mf_jls_nobot", ["dcmcjpls", "+fs", "1", "-ot"]),
                           ("mf_jpeg_ll", ["dcmcjpeg", "+e1"]),
                           ("mf_rle", ["dcmcrle"])):
            src = make(name + ".src.dcm", multi, SOPInstanceUID=harness.new_uid())
            out = cls.work / f"{name}.dcm"
            subprocess.run([*tool, str(src), str(out)], check=True)
            src.unlink()
            cls.files[name] = out
        for name, corpus in (("jls", "MR_small_jpeg_ls_lossless.dcm"),
                             ("j2k", "MR_small_jp2klossless.dcm"),
                             ("rle", "MR_small_RLE.dcm"),
                             ("bigendian", "MR_small_bigendian.dcm"),
                             ("rgb_rle_2frame", "SC_rgb_rle_2frame.dcm")):
            # Corpus objects of other modalities go in series of their own.
            cls.files[name] = make(f"{name}.dcm", harness.PYDICOM_TEST_FILES / corpus,
                                   SeriesInstanceUID=series if name != "rgb_rle_2frame"
                                   else harness.new_uid())
        cls.uids = {name: harness.sop_instance_uid(p) for name, p in cls.files.items()}
        cls.series_of = {name: str(pydicom.dcmread(str(p), stop_before_pixels=True)
                                   .SeriesInstanceUID) for name, p in cls.files.items()}
        cls.study, cls.series = study, series
        cls.server = StrataServer("dicomweb_retrieve_routes").start()
        cls.port = cls.server.http_port
        body, ctype = harness.multipart_related([p.read_bytes() for p in cls.files.values()])
        cls.stow = harness.http_request(cls.port, "POST", "/dicomweb/studies", body,
                                        {"Content-Type": ctype})

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    # Helpers --------------------------------------------------------------------------------

    def instance_path(self, name: str) -> str:
        return (f"/dicomweb/studies/{self.study}/series/{self.series_of[name]}/instances/"
                f"{self.uids[name]}")

    def get(self, path: str, accept: str | None = None, role: str | None = "reader"):
        headers = {"Accept": accept} if accept is not None else {}
        return harness.http_request(self.port, "GET", path, headers=headers, role=role)

    def frames(self, name: str, frame_list: str, accept: str | None) -> list[tuple[dict, bytes]]:
        r = self.get(f"{self.instance_path(name)}/frames/{frame_list}", accept)
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertTrue(r.headers["content-type"].startswith("multipart/related"))
        return harness.parse_multipart(r.body, r.headers["content-type"])

    def curl(self, path: str, accept: str, out: Path) -> tuple[int, str]:
        """GET with curl: (HTTP status, content type); body into `out`."""
        token = harness.TEST_TOKENS["reader"]
        r = harness.run_tool(["curl", "-sS", "-o", str(out), "-w", "%{http_code} %{content_type}",
                              "-H", f"Accept: {accept}", "-H", f"Authorization: Bearer {token}",
                              f"http://{harness.HOST}:{self.port}{path}"], timeout=60)
        self.assertToolOk(r)
        status, _, ctype = r.stdout.partition(" ")
        return int(status), ctype

    # Frames ---------------------------------------------------------------------------------

    def test_stow_stored_everything(self):
        self.assertEqual(self.stow.status, 200, self.stow.body)

    def test_native_frames_are_the_pixel_bytes(self):
        parts = self.frames("mf_native", "3,1", OCTET)
        self.assertEqual([p for _, p in parts], [self.native_frames[2], self.native_frames[0]])
        for headers, _ in parts:
            self.assertEqual(headers["content-type"],
                             f"application/octet-stream; transfer-syntax={EXPLICIT_LE}")
        # As stored (OHIF's Accept) is the same for a native object.
        parts = self.frames("mf_native", "2", OHIF_ACCEPT)
        self.assertEqual(parts[0][1], self.native_frames[1])

    def test_big_endian_frames_come_little_endian(self):
        expected = np.ascontiguousarray(
            pydicom.dcmread(str(self.files["bigendian"])).pixel_array, dtype="<i2").tobytes()
        self.assertEqual(self.frames("bigendian", "1", OCTET)[0][1], expected)

    def test_compressed_frames_decompressed_equal_native(self):
        for name in ("mf_jls_bot", "mf_jls_nobot", "mf_jpeg_ll", "mf_rle"):
            with self.subTest(name):
                parts = self.frames(name, "1,2,3", OCTET)
                self.assertEqual([p for _, p in parts], self.native_frames)
                self.assertEqual(parts[0][0]["content-type"],
                                 f"application/octet-stream; transfer-syntax={EXPLICIT_LE}")
        native = np.ascontiguousarray(
            pydicom.dcmread(str(harness.PYDICOM_TEST_FILES / "MR_small.dcm")).pixel_array,
            dtype="<i2").tobytes()
        for name in ("jls", "j2k", "rle"):
            with self.subTest(name):
                self.assertEqual(self.frames(name, "1", None)[0][1], native)

    def test_stored_frames_as_ohif_asks(self):
        cases = {"mf_jls_bot": ("image/jls", JPEG_LS), "mf_jls_nobot": ("image/jls", JPEG_LS),
                 "mf_jpeg_ll": ("image/jpeg", JPEG_LOSSLESS_SV1), "mf_rle": ("image/x-dicom-rle", RLE),
                 "j2k": ("image/jp2", J2K_LOSSLESS)}
        for name, (media, ts) in cases.items():
            with self.subTest(name):
                frames = 1 if name == "j2k" else 3
                self.assertEqual(harness.transfer_syntax(self.files[name]), ts)
                expected = stored_frames(self.files[name], frames)
                if name.startswith("mf_jls"):  # several fragments per frame
                    self.assertGreater(len(fragments(self.files[name])[1]), frames)
                if name == "mf_jls_bot":
                    self.assertTrue(fragments(self.files[name])[0], "no offset table")
                if name == "mf_jls_nobot":
                    self.assertFalse(fragments(self.files[name])[0], "an offset table")
                wanted = ",".join(str(i) for i in range(frames, 0, -1))
                parts = self.frames(name, wanted, OHIF_ACCEPT)
                self.assertEqual([p for _, p in parts], expected[::-1])
                for headers, _ in parts:
                    self.assertEqual(headers["content-type"], f"{media}; transfer-syntax={ts}")
                # The compressed media type itself is accepted too.
                parts = self.frames(name, "1", f'multipart/related; type="{media}"')
                self.assertEqual(parts[0][1], expected[0])

    def test_color_rle_frames(self):
        # pydicom's own RLE decoder gives color-by-pixel frames.
        arr = pydicom.dcmread(str(self.files["rgb_rle_2frame"])).pixel_array
        parts = self.frames("rgb_rle_2frame", "1,2", OCTET)
        self.assertEqual([p for _, p in parts], [arr[0].tobytes(), arr[1].tobytes()])

    def test_frame_errors(self):
        path = self.instance_path("mf_jls_bot")
        r = self.get(path + "/frames/4", OHIF_ACCEPT)
        self.assertEqual(r.status, 404, r.body)
        self.assertIn("frame 4", r.json()["reason"])
        for garbage in ("0", "1,,2", "x", "1-3", "-1"):
            r = self.get(f"{path}/frames/{garbage}", OHIF_ACCEPT)
            self.assertEqual(r.status, 400, (garbage, r.body))
        r = self.get(path + "/frames/1", 'multipart/related; type="image/jpeg"')
        self.assertEqual(r.status, 406, r.body)
        r = self.get(path + "/frames/1", "application/dicom")
        self.assertEqual(r.status, 406, r.body)
        r = self.get(f"/dicomweb/studies/{self.study}/series/{self.series}/instances/"
                     f"{harness.new_uid()}/frames/1", OCTET)
        self.assertEqual(r.status, 404)
        self.assertEqual(self.get(path + "/frames/1", OCTET, role=None).status, 401)
        # The server kept serving.
        self.assertEqual(len(self.frames("mf_native", "1", OCTET)), 1)

    # Bulk data ------------------------------------------------------------------------------

    def test_bulkdata_uris_from_metadata_resolve(self):
        r = self.get(self.instance_path("mf_native") + "/metadata", "application/dicom+json")
        self.assertEqual(r.status, 200)
        uri = r.json()[0]["7FE00010"]["BulkDataURI"]
        path = uri[uri.index("/dicomweb/"):] if "://" in uri else uri
        r = self.get(path, OCTET)
        self.assertEqual(r.status, 200, r.body[:300])
        parts = harness.parse_multipart(r.body, r.headers["content-type"])
        self.assertEqual(len(parts), 1)
        self.assertEqual(parts[0][1], b"".join(self.native_frames))
        # Encapsulated Pixel Data comes frame by frame, as stored when asked.
        r = self.get(self.instance_path("mf_jls_bot") + "/metadata")
        uri = r.json()[0]["7FE00010"]["BulkDataURI"]
        r = self.get(uri[uri.index("/dicomweb/"):] if "://" in uri else uri, OHIF_ACCEPT)
        self.assertEqual(r.status, 200)
        parts = harness.parse_multipart(r.body, r.headers["content-type"])
        self.assertEqual([p for _, p in parts], stored_frames(self.files["mf_jls_bot"], 3))
        base = self.instance_path("mf_native") + "/bulkdata/"
        self.assertEqual(self.get(base + "60003000").status, 404)
        self.assertEqual(self.get(base + "7FE0001").status, 400)
        self.assertEqual(self.get(base + "zzzzzzzz").status, 400)
        self.assertEqual(self.get(base + "7FE00010", "image/png").status, 406)

    # Rendered and thumbnail -----------------------------------------------------------------

    def png_size(self, data: bytes) -> tuple[int, int]:
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        return struct.unpack(">II", data[16:24])

    def jpeg_size(self, data: bytes) -> tuple[int, int]:
        self.assertEqual(data[:2], b"\xff\xd8")
        pos = 2
        while pos < len(data):
            marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[pos + 5:pos + 9])
                return w, h
            pos += 2 + length
        self.fail("no SOF marker")

    def test_rendered_instance_and_frames(self):
        path = self.instance_path("mf_native")
        r = self.get(path + "/rendered", "image/jpeg")
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.headers["content-type"], "image/jpeg")
        self.assertEqual(self.jpeg_size(r.body), (64, 64))
        r = self.get(path + "/frames/2/rendered?viewport=32,32", "image/png")
        self.assertEqual(r.headers["content-type"], "image/png")
        self.assertEqual(self.png_size(r.body), (32, 32))
        frame1 = self.get(path + "/frames/1/rendered", "image/png").body
        frame2 = self.get(path + "/frames/2/rendered", "image/png").body
        self.assertNotEqual(frame1, frame2)
        # Crop a 32x16 region and fit it into 64x64: aspect kept -> 64x32.
        r = self.get(path + "/rendered?viewport=64,64,0,0,32,16", "image/png")
        self.assertEqual(self.png_size(r.body), (64, 32))
        narrow = self.get(path + "/rendered?window=600,100,linear", "image/png").body
        wide = self.get(path + "/rendered?window=600,4000,linear", "image/png").body
        self.assertNotEqual(narrow, wide)
        low = self.get(path + "/rendered?quality=5", "image/jpeg").body
        high = self.get(path + "/rendered?quality=100", "image/jpeg").body
        self.assertLess(len(low), len(high))
        for name in ("j2k", "jls", "rgb_rle_2frame"):
            r = self.get(self.instance_path(name) + "/rendered", "image/png")
            self.assertEqual(r.status, 200, (name, r.body[:300]))

    def test_rendered_errors(self):
        path = self.instance_path("mf_native")
        self.assertEqual(self.get(path + "/rendered", "image/gif").status, 406)
        self.assertEqual(self.get(path + "/rendered", "application/dicom").status, 406)
        for query in ("window=1,2", "window=a,b,linear", "window=40,400,cubic",
                      "viewport=0,10", "viewport=10", "quality=0", "quality=101",
                      "viewport=10,10,60,60,20,20"):
            r = self.get(f"{path}/rendered?{query}", "image/jpeg")
            self.assertEqual(r.status, 400, (query, r.body))
        self.assertEqual(self.get(path + "/frames/9/rendered").status, 404)
        self.assertEqual(self.get(path + "/frames/1,2/rendered").status, 400)

    def test_thumbnails_with_curl(self):
        out = self.server.artefacts
        for level, path in (("study", f"/dicomweb/studies/{self.study}/thumbnail"),
                            ("series", f"/dicomweb/studies/{self.study}/series/{self.series}"
                                       f"/thumbnail"),
                            ("instance", self.instance_path("jls") + "/thumbnail"),
                            ("frame", self.instance_path("mf_rle") + "/frames/2/thumbnail")):
            target = out / f"thumbnail_{level}.jpg"
            status, ctype = self.curl(path, "image/jpeg", target)
            self.assertEqual((status, ctype), (200, "image/jpeg"), level)
            w, h = self.jpeg_size(target.read_bytes())
            self.assertLessEqual(max(w, h), 128)
        status, _ = self.curl(self.instance_path("jls") + "/thumbnail", "text/html",
                              out / "thumbnail_406.json")
        self.assertEqual(status, 406)

    # Zip ------------------------------------------------------------------------------------

    def test_study_as_zip_with_curl(self):
        target = self.server.artefacts / "study.zip"
        status, ctype = self.curl(f"/dicomweb/studies/{self.study}", "application/zip", target)
        self.assertEqual((status, ctype), (200, "application/zip"))
        with zipfile.ZipFile(target) as z:
            self.assertIsNone(z.testzip())
            names = sorted(z.namelist())
            expected = sorted(f"{self.study}/{self.series_of[n]}/{uid}.dcm"
                              for n, uid in self.uids.items())
            self.assertEqual(names, expected)
            for name, path in self.files.items():
                stored = z.read(f"{self.study}/{self.series_of[name]}/{self.uids[name]}.dcm")
                self.assertEqual(pydicom.dcmread(io.BytesIO(stored)).SOPInstanceUID,
                                 self.uids[name])
                self.assertEqual(harness.compare_dataset_bytes(path, self._write(stored)), None)
        r = harness.run_tool(["unzip", "-tq", str(target)])
        self.assertToolOk(r)
        # Zip only when it comes first among acceptable ranges.
        r = self.get(f"/dicomweb/studies/{self.study}",
                     'multipart/related; type="application/dicom", application/zip')
        self.assertTrue(r.headers["content-type"].startswith("multipart/related"))

    def _write(self, data: bytes) -> Path:
        path = self.work / f"zip-{len(data)}-{hash(data) & 0xFFFF}.dcm"
        path.write_bytes(data)
        return path


if __name__ == "__main__":
    harness.main()
