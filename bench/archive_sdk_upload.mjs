// The reference for bench/archive_bench.py: a plain parallel upload of every file of a
// directory to Azure Blob Storage with Microsoft's @azure/storage-blob SDK.
//
//   node bench/archive_sdk_upload.mjs --endpoint http://127.0.0.1:PORT/devstoreaccount1 \
//        --container C --concurrency N [--account A] [--key-env VAR] DIR
//
// N files are in flight at once (a shared queue, N workers). Each file goes up with
// BlockBlobClient.uploadFile using Strata's single-put limit and block size (4 MiB each,
// src/blob/azure_blob_store.h) and Strata's parallel Put Block calls per object (3). The
// container is created before the clock starts. Nothing is verified after the upload, and
// no Content-MD5 is sent (the SDK's default). Prints {objects, bytes, seconds} as JSON.
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

const MIB = 1024 * 1024;
const SINGLE_PUT_LIMIT = 4 * MIB;
const BLOCK_SIZE = 4 * MIB;
const BLOCK_THREADS = 3;

function parseArgs(argv) {
  const args = { account: "devstoreaccount1", keyEnv: "STRATA_BENCH_ACCOUNT_KEY", concurrency: 4,
                 dirs: [] };
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    if (!flag.startsWith("--")) { args.dirs.push(flag); continue; }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--endpoint") args.endpoint = value;
    else if (flag === "--container") args.container = value;
    else if (flag === "--account") args.account = value;
    else if (flag === "--key-env") args.keyEnv = value;
    else if (flag === "--concurrency") args.concurrency = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  if (!args.endpoint || !args.container || args.dirs.length === 0 || !(args.concurrency >= 1)) {
    throw new Error("usage: archive_sdk_upload.mjs --endpoint URL --container C " +
                    "[--concurrency N] [--account A] [--key-env VAR] DIR...");
  }
  return args;
}

async function listFiles(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await listFiles(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const key = process.env[args.keyEnv];
  if (!key) throw new Error(`$${args.keyEnv} is not set`);
  const files = [];
  for (const dir of args.dirs) {
    for (const file of await listFiles(dir)) files.push({ file, size: (await stat(file)).size });
  }
  files.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));

  const service = new BlobServiceClient(args.endpoint,
                                        new StorageSharedKeyCredential(args.account, key));
  const container = service.getContainerClient(args.container);
  await container.createIfNotExists();

  let next = 0;
  let bytes = 0;
  const worker = async () => {
    for (let i = next++; i < files.length; i = next++) {
      const { file, size } = files[i];
      // Blob name: the path of the file under the data set.
      const name = path.relative(args.dirs[0], file).split(path.sep).join("/");
      await container.getBlockBlobClient(name).uploadFile(file, {
        blockSize: BLOCK_SIZE,
        maxSingleShotSize: SINGLE_PUT_LIMIT,
        concurrency: BLOCK_THREADS,
      });
      bytes += size;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ path: "sdk", objects: files.length, bytes, seconds,
                               concurrency: args.concurrency }));
}

main().catch((e) => {
  console.error(`archive_sdk_upload: ${e.stack || e}`);
  process.exit(1);
});
