// What the page does, called by tests/browser/drive.js through page.evaluate.
// analytics.js (window.AnalyticsNext, the package's UMD build) loads with inline settings
// (cdnSettings: nothing from Segment's CDN) and sends to the API named by cfg.apiHost.
'use strict';

const sent = []; // {kind, type, event, messageId} of every event analytics.js emitted

function kindOf(obj) {
  if (obj.type === 'track') return obj.event === 'Order Completed' ? 'order' : 'track';
  return obj.type;
}

async function loadAnalytics(cfg) {
  const segment = { apiKey: cfg.writeKey, apiHost: cfg.apiHost, protocol: 'http' };
  if (cfg.batching) {
    segment.deliveryStrategy = { strategy: 'batching', config: cfg.batching };
  }
  const [analytics] = await window.AnalyticsNext.AnalyticsBrowser.load(
    {
      writeKey: cfg.writeKey,
      cdnURL: cfg.cdnURL, // lazily loaded chunks come from the page's server
      cdnSettings: { integrations: { 'Segment.io': segment } },
    },
    { initialPageview: false },
  );
  analytics.addSourceMiddleware(({ payload, next }) => {
    const obj = payload.obj;
    sent.push({ kind: kindOf(obj), type: obj.type, event: obj.event, messageId: obj.messageId });
    next(payload);
  });
  return analytics;
}

function fourCalls(analytics, cfg) {
  const run = cfg.run;
  return [
    () => analytics.identify(cfg.userId, { name: 'Browser User', email: `${run}@example.com` }),
    () => analytics.page('Shop', 'Home', { path: '/', run }),
    () => analytics.track('Clicked Login Button', { button: 'header', run }),
    () =>
      analytics.track('Order Completed', {
        order_id: `${run}-o-1`,
        total: 42.5,
        currency: 'USD',
        products: [{ product_id: 'p-1', sku: 'SKU-1', name: 'Mug', price: 21.25, quantity: 2 }],
      }),
  ];
}

// Standard delivery (/v1/i, /v1/p, /v1/t) one after another, or batching (/v1/b).
window.sendFour = async function (cfg) {
  const analytics = await loadAnalytics(cfg);
  const calls = fourCalls(analytics, cfg);
  if (cfg.batching) {
    await Promise.all(calls.map((call) => call()));
  } else {
    for (const call of calls) await call();
  }
  return sent;
};

// Buffer a track in batching mode (flushes only after a minute), and queue a raw beacon on
// pagehide: both can only leave while the page unloads. The beacon, like any sendBeacon,
// cannot set headers: the write key is in its text/plain body.
window.armUnload = async function (cfg) {
  const analytics = await loadAnalytics(cfg);
  window.addEventListener('pagehide', () => {
    const beacon = {
      writeKey: cfg.writeKey,
      type: 'track',
      event: 'Beacon On Unload',
      userId: cfg.userId,
      messageId: `${cfg.run}-beacon`,
      properties: { run: cfg.run },
      timestamp: new Date().toISOString(),
    };
    navigator.sendBeacon(`http://${cfg.apiHost}/t`, JSON.stringify(beacon));
  });
  await analytics.identify(cfg.userId);
  await analytics.track('Left The Page', { run: cfg.run });
  return sent;
};

// From an origin outside AllowedOrigins: a preflighted fetch (must fail: its preflight is
// refused) and a beacon (no preflight; the function must refuse it by its Origin).
window.sendForeign = async function (cfg) {
  const body = (kind) =>
    JSON.stringify({
      writeKey: cfg.writeKey,
      type: 'track',
      event: 'Foreign Origin',
      userId: cfg.userId,
      messageId: `${cfg.run}-${kind}`,
      properties: { run: cfg.run },
    });
  let fetchOutcome;
  try {
    const answer = await fetch(`http://${cfg.apiHost}/t`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Authorization: `Basic ${btoa(cfg.writeKey + ':')}` },
      body: body('foreign-fetch'),
    });
    fetchOutcome = `answered ${answer.status}`;
  } catch (error) {
    fetchOutcome = `blocked: ${error}`;
  }
  const queued = navigator.sendBeacon(`http://${cfg.apiHost}/t`, body('foreign-beacon'));
  return { fetchOutcome, beaconQueued: queued };
};
