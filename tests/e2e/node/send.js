// Drives @segment/analytics-node, unchanged, against the local stack.
// Env: E2E_HOST (the API's base URL), E2E_WRITE_KEY, E2E_RUN (a tag for ids).
// Sends identify, track, page and Order Completed in one batch, awaits closeAndFlush()
// and prints one JSON line with what the client saw: its http_request / http_response
// events and any 'error' it emitted.
'use strict';
const { Analytics } = require('@segment/analytics-node');

const run = process.env.E2E_RUN || 'node';
const userId = `node-user-${run}`;
const seen = { requests: [], responses: [], errors: [] };

const analytics = new Analytics({
  writeKey: process.env.E2E_WRITE_KEY,
  host: process.env.E2E_HOST,
  path: '/v1/batch',
  maxEventsInBatch: 4,
  flushInterval: 200,
  httpRequestTimeout: 10000,
});
analytics.on('http_request', (r) => {
  seen.requests.push({ url: r.url, method: r.method, headers: r.headers });
});
analytics.on('http_response', (r) => {
  seen.responses.push({ status: r.status, url: r.url });
});
analytics.on('error', (e) => {
  seen.errors.push({ code: e.code, reason: String(e.reason) });
});

analytics.identify({
  userId,
  messageId: `${run}-identify`,
  traits: { email: 'node@example.com', name: 'Node Client' },
});
analytics.track({
  userId,
  messageId: `${run}-track`,
  event: 'Clicked Login Button',
  properties: { button: 'header' },
});
analytics.page({
  userId,
  messageId: `${run}-page`,
  name: 'Home',
  properties: { url: 'https://shop.example.com/', path: '/' },
});
analytics.track({
  userId,
  messageId: `${run}-order`,
  event: 'Order Completed',
  properties: {
    order_id: `${run}-o-1`,
    total: 42.5,
    currency: 'USD',
    products: [{ product_id: 'p-1', sku: 'SKU-1', name: 'Mug', price: 21.25, quantity: 2 }],
  },
});

analytics
  .closeAndFlush({ timeout: 20000 })
  .then(() => {
    process.stdout.write(JSON.stringify(seen) + '\n');
  })
  .catch((err) => {
    seen.errors.push({ code: 'closeAndFlush', reason: String(err) });
    process.stdout.write(JSON.stringify(seen) + '\n');
    process.exitCode = 1;
  });
