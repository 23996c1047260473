// Drives the system Chromium (puppeteer-core, no bundled browser) through the browser test's
// scenarios; run by tests/browser/test_analytics_js.py. Input: E2E_BROWSER, a JSON object
// {chromium, page, foreign, api, sandbox, writeKey, run, userId}. Output: one JSON line with,
// per scenario, the events analytics.js emitted and what the page saw (console messages,
// page errors, failed requests, the requests to the API and their answers).
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const NODE_DIR = path.resolve(__dirname, '..', 'e2e', 'node'); // its package-lock.json pins both
const nodeRequire = createRequire(path.join(NODE_DIR, 'package.json'));
const puppeteer = nodeRequire('puppeteer-core');

const cfg = JSON.parse(process.env.E2E_BROWSER);
const apiHost = `${new URL(cfg.api).host}/v1`; // Segment.io's apiHost: host and path, no scheme
const ARRIVAL_TIMEOUT_MS = 20000;
const QUIET_AFTER_MS = 1500; // time a duplicate (an analytics.js retry) would have to show up

function packageVersion(name) {
  const file = path.join(NODE_DIR, 'node_modules', name, 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

function watch(page) {
  const seen = { console: [], pageErrors: [], failed: [], requests: [], responses: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') {
      seen.console.push({ type: m.type(), text: m.text(), url: m.location().url || '' });
    }
  });
  page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
  page.on('requestfailed', (r) => {
    seen.failed.push({ url: r.url(), method: r.method(), error: (r.failure() || {}).errorText });
  });
  page.on('request', (r) => {
    seen.requests.push({ url: r.url(), method: r.method(), headers: r.headers() });
  });
  page.on('response', (r) => {
    seen.responses.push({ url: r.url(), method: r.request().method(), status: r.status() });
  });
  return seen;
}

async function openPage(browser, origin) {
  const context = await browser.createBrowserContext(); // fresh storage for each scenario
  const page = await context.newPage();
  const seen = watch(page);
  await page.goto(`${origin}/index.html`, { waitUntil: 'load' });
  return { context, page, seen };
}

function settings(extra) {
  return {
    writeKey: cfg.writeKey,
    apiHost,
    cdnURL: cfg.page,
    run: cfg.run,
    userId: cfg.userId,
    ...extra,
  };
}

async function sandboxEventIds() {
  const answer = await fetch(`${cfg.sandbox}/_sandbox/calls`);
  const calls = (await answer.json()).calls;
  return calls.map((c) => (c.call || {}).eventId).filter(Boolean);
}

async function waitForArrival(ids) {
  const deadline = Date.now() + ARRIVAL_TIMEOUT_MS;
  for (;;) {
    const arrived = new Set(await sandboxEventIds());
    const missing = ids.filter((id) => !arrived.has(id));
    if (missing.length === 0 || Date.now() > deadline) return missing;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    args: [
      ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--no-first-run',
      '--no-default-browser-check',
      // nothing but this machine resolves: a request to Segment's CDN would fail loudly
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
  const result = {
    versions: {
      chromium: await browser.version(),
      puppeteerCore: packageVersion('puppeteer-core'),
      analyticsNext: packageVersion('@segment/analytics-next'),
    },
    scenarios: {},
  };
  try {
    const run = async (name, origin, script, extra, after) => {
      const { context, page, seen } = await openPage(browser, origin);
      const returned = await page.evaluate(
        (fn, s) => window[fn](s),
        script,
        settings({ ...extra, run: `${cfg.run}-${name}`, userId: `${cfg.userId}-${name}` }),
      );
      if (after) await after(page);
      result.scenarios[name] = { returned, seen, context };
    };

    await run('standard', cfg.page, 'sendFour', {});
    await run('batching', cfg.page, 'sendFour', { batching: { size: 4, timeout: 500 } });
    await run('unload', cfg.page, 'armUnload', { batching: { size: 50, timeout: 60000 } }, (p) =>
      p.goto(`${cfg.page}/next.html`, { waitUntil: 'load' }),
    );
    // the beacon left on pagehide, after armUnload had answered
    result.scenarios.unload.returned.push({
      kind: 'beacon',
      type: 'track',
      event: 'Beacon On Unload',
      messageId: `${cfg.run}-unload-beacon`,
    });
    await run('foreign', cfg.foreign, 'sendForeign', {});

    const expected = ['standard', 'batching', 'unload'].flatMap((name) =>
      result.scenarios[name].returned.map((e) => e.messageId),
    );
    result.missing = await waitForArrival(expected);
    await new Promise((r) => setTimeout(r, QUIET_AFTER_MS));
  } finally {
    for (const scenario of Object.values(result.scenarios)) {
      delete scenario.context;
    }
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
