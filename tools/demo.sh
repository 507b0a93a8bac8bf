#!/usr/bin/env bash
# Sets up Strata, registers the demo AI model, starts `strata serve` with embedded defaults
# (DIMSE on port 11112, AE STRATA, data in ./strata-data), sends a synthetic chest study with
# dcmtk's storescu, shows it found by findscu and QIDO-RS, and shows the AI finding: the
# model's result and the DICOM SR Strata stored in the study. Runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
strata=${STRATA_BUILD_DIR:-build}/src/app/strata
export TCP_NODELAY=1  # dcmtk's tools leave Nagle's algorithm on otherwise
# The demo listens on this machine only; a deployment sets dimse.bind / http.bind itself.
export STRATA_DIMSE_BIND=${STRATA_DIMSE_BIND:-127.0.0.1} STRATA_HTTP_BIND=${STRATA_HTTP_BIND:-127.0.0.1}

# An API token for the demo: Strata keeps only its SHA-256 (from the environment here; a
# deployment lists its tokens in strata.toml [auth] tokens, made with `strata token new`).
made=$("$strata" token new --name demo --role admin)
token=$(sed -n 's/^secret: //p' <<<"$made")
export "$(grep '^STRATA_AUTH_TOKENS=' <<<"$made")"

# The OHIF viewer fetched by tools/setup.sh, served by Strata at http://127.0.0.1:8080/.
export STRATA_VIEWER_DIR=${STRATA_VIEWER_DIR:-$PWD/.deps/ohif/dist}

# The demo chest-radiograph model (synthetic training data; not a clinical model).
echo "== strata model register: the demo model"
"$strata" model register --onnx models/demo-chest-anomaly/model.onnx \
  --card models/demo-chest-anomaly/model_card.json --by demo

log=strata-serve.log
echo "== starting strata serve (JSON-lines log in $log)"
"$strata" serve 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 50); do
  echoscu -aec STRATA 127.0.0.1 11112 2>/dev/null && break
  sleep 0.2
done
echoscu -aec STRATA 127.0.0.1 11112

demo=$(mktemp -d)
# Chest radiographs, one with a synthetic lesion the demo model is trained to find.
"$strata" synth --preset demo --lesion-fraction 0.5 --out "$demo"
rm -f "$demo/lesion_manifest.csv"  # the synthetic ground truth; storescu sends DICOM files only
echo "== storescu: sending the demo study"
storescu -aec STRATA +sd +r 127.0.0.1 11112 "$demo"
echo "== findscu: every study in the archive"
findscu -S -aec STRATA 127.0.0.1 11112 -k QueryRetrieveLevel=STUDY -k PatientID \
  -k PatientName -k StudyInstanceUID -k StudyDate -k ModalitiesInStudy \
  -k NumberOfStudyRelatedInstances 2>&1 | grep -E '\(0010,|\(0020,000d|\(0008,0020|\(0008,0061|\(0020,1208|Find Response'
rm -rf "$demo"
echo "== QIDO-RS: the same studies over DICOMweb"
curl -s -H "Authorization: Bearer $token" \
  "http://127.0.0.1:8080/dicomweb/studies?includefield=PatientName" | head -c 600; echo
echo "== AI: the demo model's findings (GET /ai/v1/results), one per radiograph"
results=""
for _ in $(seq 100); do
  results=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:8080/ai/v1/results")
  [ "$(grep -o '"report_sop_instance_uid":"2' <<<"$results" | wc -l)" -ge 2 ] && break
  sleep 0.2
done
python3 -c '
import json, sys
for r in json.loads(sys.argv[1])["results"]:
    f = r["findings"][0]
    print("  %s: %s p=%.3f -> %s (%s %s, %s); SR %s" % (
        r["sop_instance_uid"], f["label"], f["probability"],
        "POSITIVE" if f["positive"] else "negative", r["model"], r["model_version"],
        r["engine"], r["report_sop_instance_uid"]))
' "$results"
echo "== the findings report (DICOM Comprehensive SR) as stored in the study, via WADO-RS"
report=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1])["results"][0]; print(r["study_instance_uid"], r["report_sop_instance_uid"])' "$results")
read -r study sr <<<"$report"
sr_file=$(mktemp)
series=$(curl -s -H "Authorization: Bearer $token" \
  "http://127.0.0.1:8080/dicomweb/studies/$study/instances?SOPInstanceUID=$sr" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["0020000E"]["Value"][0])')
curl -s -H "Authorization: Bearer $token" -H 'Accept: multipart/related; type="application/dicom"' \
  "http://127.0.0.1:8080/dicomweb/studies/$study/series/$series/instances/$sr" |
  python3 -c 'import sys; b=sys.stdin.buffer.read(); s=b.find(b"\r\n\r\n")+4; e=b.rfind(b"\r\n--"); sys.stdout.buffer.write(b[s:e])' >"$sr_file"
dsrdump "$sr_file" | sed -n '/^<CONTAINER/,$p'
rm -f "$sr_file"
echo "== audit log: the last accesses (strata audit)"
sleep 0.5
"$strata" audit --after 0 | tail -n 5
echo "== Strata is serving DIMSE on 127.0.0.1:11112 (AE STRATA) and DICOMweb on"
echo "   http://127.0.0.1:8080/dicomweb; the OHIF viewer is at http://127.0.0.1:8080/"
echo "   (sign in as user 'demo' with the token $token). Ctrl-C stops it."
wait $server
