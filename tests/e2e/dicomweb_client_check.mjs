// Drives Strata's DICOMweb routes with the npm dicomweb-client (an independent DICOMweb client)
// and prints what it got as one JSON line; test_dicomweb_client.py judges it.
//
//   node dicomweb_client_check.mjs <request.json>
//
// request.json: {"url": "http://127.0.0.1:port/dicomweb", "token": "...",
//   "study": uid, "series": uid, "instance": uid   (an instance stored over DIMSE),
//   "stow": ["/path/a.dcm", ...]                     (Part 10 files to store with STOW-RS)}
// Each step records {ok, ...facts} or {ok: false, error}; one failing step does not stop the
// others. Exit code 0 when the report was printed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import xhr2 from 'xhr2';
import dicomweb from 'dicomweb-client';

// dicomweb-client uses XMLHttpRequest, which node lacks (ECOSYSTEM.md §3).
globalThis.XMLHttpRequest = xhr2;

const request = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const client = new dicomweb.api.DICOMwebClient({
  url: request.url,
  headers: request.token ? { Authorization: `Bearer ${request.token}` } : {},
});
const origin = new URL(request.url).origin;
const ids = {
  studyInstanceUID: request.study,
  seriesInstanceUID: request.series,
  sopInstanceUID: request.instance,
};

const sha256 = (buffer) => createHash('sha256').update(Buffer.from(buffer)).digest('hex');
const bytes = (buffer) => new Uint8Array(buffer);
const value = (obj, tag) => (obj[tag] && obj[tag].Value ? obj[tag].Value[0] : undefined);

// A rendered picture's size and magic bytes; the client returns it alone or as a one-part list.
function picture(response, from, to, encoding) {
  const data = Array.isArray(response) ? response[0] : response;
  return { parts: Array.isArray(response) ? response.length : 1, size: data.byteLength,
           magic: Buffer.from(bytes(data).slice(from, to)).toString(encoding) };
}

const report = {};
async function step(name, fn) {
  try {
    report[name] = { ok: true, ...(await fn()) };
  } catch (e) {
    report[name] = { ok: false, error: String(e && (e.message || e.status || e)) };
  }
}

await step('searchForStudies', async () => {
  const studies = await client.searchForStudies();
  return { studies: studies.map((s) => value(s, '0020000D')) };
});
await step('searchForSeries', async () => {
  const series = await client.searchForSeries({ studyInstanceUID: request.study });
  return { series: series.map((s) => value(s, '0020000E')) };
});
await step('searchForInstances', async () => {
  const instances = await client.searchForInstances({
    studyInstanceUID: request.study, seriesInstanceUID: request.series });
  return { instances: instances.map((s) => value(s, '00080018')) };
});
let pixelBulkDataUri;
await step('retrieveInstanceMetadata', async () => {
  const [meta] = await client.retrieveInstanceMetadata(ids);
  pixelBulkDataUri = meta['7FE00010'] && meta['7FE00010'].BulkDataURI;
  return { sop: value(meta, '00080018'), rows: value(meta, '00280010'),
           columns: value(meta, '00280011'), pixelBulkDataUri };
});
await step('retrieveSeriesMetadata', async () => {
  const meta = await client.retrieveSeriesMetadata(ids);
  return { count: meta.length };
});
await step('retrieveStudyMetadata', async () => {
  const meta = await client.retrieveStudyMetadata(ids);
  return { count: meta.length };
});
await step('retrieveInstance', async () => {
  const part10 = await client.retrieveInstance(ids);
  return { size: part10.byteLength, sha256: sha256(part10),
           dicm: Buffer.from(bytes(part10).slice(128, 132)).toString('latin1') };
});
await step('retrieveSeries', async () => {
  const parts = await client.retrieveSeries(ids);
  return { count: parts.length, sha256: parts.map(sha256) };
});
await step('retrieveStudy', async () => {
  const parts = await client.retrieveStudy(ids);
  return { count: parts.length };
});
await step('retrieveInstanceFrames', async () => {
  const frames = await client.retrieveInstanceFrames({ ...ids, frameNumbers: [1] });
  return { count: frames.length, size: frames[0].byteLength, sha256: sha256(frames[0]) };
});
await step('retrieveBulkData', async () => {
  const uri = pixelBulkDataUri.startsWith('/') ? origin + pixelBulkDataUri : pixelBulkDataUri;
  const parts = await client.retrieveBulkData({ BulkDataURI: uri });
  return { count: parts.length, size: parts[0].byteLength, sha256: sha256(parts[0]) };
});
await step('retrieveInstanceRendered', async () => {
  const jpeg = await client.retrieveInstanceRendered({
    ...ids, mediaTypes: [{ mediaType: 'image/jpeg' }] });
  return picture(jpeg, 0, 2, 'hex');
});
await step('retrieveInstanceFramesRendered', async () => {
  const png = await client.retrieveInstanceFramesRendered({
    ...ids, frameNumbers: [1], mediaTypes: [{ mediaType: 'image/png' }] });
  return picture(png, 1, 4, 'latin1');
});
await step('retrieveInstanceThumbnail', async () => {
  const jpeg = await client.retrieveInstanceThumbnail({
    ...ids, mediaTypes: [{ mediaType: 'image/jpeg' }] });
  return picture(jpeg, 0, 2, 'hex');
});
await step('storeInstances', async () => {
  const datasets = request.stow.map((path) => {
    const b = readFileSync(path);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  });
  const response = await client.storeInstances({ datasets });
  const text = typeof response === 'string' ? response : Buffer.from(response).toString('utf8');
  const json = text ? JSON.parse(text) : {};
  const refs = (json['00081199'] && json['00081199'].Value) || [];
  return { stored: refs.map((r) => value(r, '00081155')), failed: json['00081198'] || null };
});

console.log(JSON.stringify(report));
