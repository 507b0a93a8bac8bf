#!/usr/bin/env bash
# Sets up Strata, starts `strata serve` with embedded defaults (DIMSE on port 11112, AE
# STRATA, data in ./strata-data), sends a synthetic study with dcmtk's storescu, and shows it
# found by findscu. The server keeps running until Ctrl-C.
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
"$strata" synth --preset demo --out "$demo"
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
echo "== audit log: the last accesses (strata audit)"
sleep 0.5
"$strata" audit --after 0 | tail -n 5
echo "== Strata is serving DIMSE on 127.0.0.1:11112 (AE STRATA) and DICOMweb on"
echo "   http://127.0.0.1:8080/dicomweb; the OHIF viewer is at http://127.0.0.1:8080/"
echo "   (sign in as user 'demo' with the token $token). Ctrl-C stops it."
wait $server
