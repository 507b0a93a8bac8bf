// Opens a study in the OHIF viewer served by `strata serve`, in headless Debian chromium
// (npm playwright-core), and reports as one JSON line whether the image was drawn.
//
//   node ohif_viewer.mjs <viewer URL> <screenshot.png> [timeout seconds]
//
// Environment: STRATA_E2E_HTTP_CREDENTIALS="name:secret" (optional) is given to the browser
// as HTTP credentials (answers the server's Basic challenge); STRATA_CHROMIUM overrides
// /usr/bin/chromium. Exit code 0 when the driver ran (the JSON says what happened), 2 on a
// usage or launch error. The verdict is the calling test's (test_ohif_viewer.py).
import { chromium } from 'playwright-core';

const [url, screenshotPath, timeoutArg] = process.argv.slice(2);
if (!url || !screenshotPath) {
  console.error('usage: node ohif_viewer.mjs <url> <screenshot.png> [timeout seconds]');
  process.exit(2);
}
const timeoutMs = Number(timeoutArg || 90) * 1000;

const contextOptions = { viewport: { width: 1280, height: 800 } };
const credentials = process.env.STRATA_E2E_HTTP_CREDENTIALS || '';
if (credentials) {
  const colon = credentials.indexOf(':');
  contextOptions.httpCredentials = {
    username: credentials.slice(0, colon),
    password: credentials.slice(colon + 1),
  };
}

const report = {
  url, drawn: false, canvas: null, pageErrors: [], consoleErrors: [], requests: [],
  framesAccept: [], elapsedMs: 0,
};
let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.STRATA_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--use-angle=swiftshader',
           '--enable-unsafe-swiftshader', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
} catch (e) {
  console.error(`cannot launch chromium: ${e.message}`);
  process.exit(2);
}
const started = Date.now();
try {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  page.on('pageerror', (e) => report.pageErrors.push(String(e && e.stack || e)));
  page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
  page.on('request', (r) => {
    if (r.url().includes('/frames/')) report.framesAccept.push(r.headers()['accept'] || '');
  });
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/dicomweb/')) report.requests.push({ path, status: r.status() });
  });
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: timeoutMs });

  // The image is drawn once the viewport's canvas (the largest cornerstone canvas; the
  // study browser's thumbnails are small ones) shows more than a handful of distinct grey
  // levels (a blank or uniformly filled canvas has one or two).
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    report.canvas = await page.evaluate(() => {
      let viewport = null;
      for (const canvas of document.querySelectorAll('canvas.cornerstone-canvas')) {
        const rect = canvas.getBoundingClientRect();
        const area = rect.width * rect.height;
        if (!viewport || area > viewport.area) viewport = { canvas, area, rect };
      }
      if (!viewport || viewport.canvas.width < 64 || viewport.canvas.height < 64) return null;
      const { canvas, rect } = viewport;
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      if (!ctx) return { width: canvas.width, height: canvas.height, levels: 0, litSamples: 0 };
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const levels = new Set();
      let lit = 0;
      for (let i = 0; i < data.length; i += 4 * 7) {
        const v = (data[i] + data[i + 1] + data[i + 2]) / 3;
        levels.add(Math.round(v));
        if (v > 8) lit += 1;
      }
      return { width: canvas.width, height: canvas.height, shownWidth: Math.round(rect.width),
               shownHeight: Math.round(rect.height), levels: levels.size, litSamples: lit };
    });
    const framesOk = report.requests.some((r) => r.path.includes('/frames/') && r.status === 200);
    // Under load the study browser's thumbnail can be drawn before the viewport's canvas
    // exists: only a canvas the size of a viewport counts.
    const viewportSized = report.canvas && report.canvas.shownWidth >= 400;
    if (viewportSized && report.canvas.levels >= 16 && report.canvas.litSamples > 100 && framesOk) {
      report.drawn = true;
      break;
    }
    await page.waitForTimeout(500);
  }
  // Let late errors surface, then keep the picture.
  await page.waitForTimeout(1000);
  await page.screenshot({ path: screenshotPath });
} catch (e) {
  report.pageErrors.push(`driver: ${e.message}`);
} finally {
  report.elapsedMs = Date.now() - started;
  await browser.close();
}
console.log(JSON.stringify(report));
