// The console in headless Chromium against a real `yunqiao serve`, in English and in
// Chinese: sign in, define a table (the server's validation error shown on its field),
// add and edit records (a `_v` conflict from a second tab), query with paging, set a
// user's groups, watch a table change arrive in the channel debugger, deploy and invoke
// a function; screenshots of the main pages; the key in no URL and no log line.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { png } from '../../sdk/js/test/images.mjs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ADMIN_KEY, FACE, screenshot, startBrowser, startServer } from './harness.mjs';

/** The WeChat mock of the face under test (the Lambda face's is given; the server's is its own). */
const GIVEN_MOCK = (process.env.YUNQIAO_TEST_WECHAT_MOCK || '').replace(/\/+$/, '');

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** Every URL the pages asked for, in both languages. */
const urls = /** @type {string[]} */ ([]);

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const LANGS = [
  { lang: 'en', locale: 'en-US', title: 'yunqiao console', saved: 'Saved', tables: 'Tables', match: 'records match', online: 'open' },
  { lang: 'zh', locale: 'zh-CN', title: '云桥控制台', saved: '已保存', tables: '数据表', match: '条匹配', online: '已连接' },
];

/** A page in a fresh tab of `ctx`, signed in with the admin key (typed, like a person). */
async function signedIn(/** @type {import('playwright-core').BrowserContext} */ ctx) {
  const page = await ctx.newPage();
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (w) => urls.push(w.url()));
  page.on('pageerror', (e) => assert.fail('page error: ' + e.message));
  await page.goto(server.baseUrl + '/console');
  await page.locator('#signin-token').fill(ADMIN_KEY);
  await page.locator('#signin-submit').click();
  await page.locator('nav').waitFor();
  return page;
}

/** Waits for `selector`, or fails with the alert the page shows instead. */
async function shows(/** @type {import('playwright-core').Page} */ page, /** @type {string} */ selector) {
  const alert = page.locator('[role=alert]');
  await page.locator(`${selector}, [role=alert]`).first().waitFor();
  if (!(await page.locator(selector).count())) assert.fail(`${selector}: ${await alert.first().textContent()}`);
}

/** Opens record `n` of `table` in the editor of `page` (a fresh load, one condition). */
async function openRecord(/** @type {import('playwright-core').Page} */ page, /** @type {string} */ table, /** @type {number} */ n) {
  await page.goto(server.baseUrl + `/console/#/tables/${table}/data`);
  await page.reload();
  await page.locator('#add-cond').click();
  await page.locator('.cond select[data-k=f]').selectOption('n');
  await page.locator('.cond [data-k=v]').fill(String(n));
  await page.locator('#run-query').click();
  await page.waitForFunction(() => document.querySelectorAll('#records tbody tr').length === 1);
  await page.locator('[data-edit]').click();
  await page.locator('#record-json').waitFor();
}

for (const L of LANGS) {
  describe(`the console in ${L.lang}`, () => {
    /** @type {import('playwright-core').BrowserContext} */
    let ctx;
    /** @type {import('playwright-core').Page} */
    let page;
    const table = `notes_${L.lang}`;
    before(async () => {
      // The language comes from the browser's.
      ctx = await browser.newContext({ locale: L.locale, viewport: { width: 1366, height: 800 } });
      // Waits are for events, not for time; a busy machine only makes them longer.
      ctx.setDefaultTimeout(120000);
    });
    after(async () => ctx?.close());

    test('signs in by keyboard, in the browser’s language; a wrong key is refused', async () => {
      page = await ctx.newPage();
      page.on('request', (r) => urls.push(r.url()));
      page.on('websocket', (w) => urls.push(w.url()));
      await page.goto(server.baseUrl + '/console/');
      await page.getByRole('heading', { name: L.title }).waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.lang), L.lang === 'zh' ? 'zh-CN' : 'en');
      // Keyboard only: the key field takes focus first, Enter submits.
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'signin-token');
      await page.keyboard.type('wrong-key-0123456789abcdef');
      await page.keyboard.press('Enter');
      await page.locator('[role=alert][data-code=INVALID_TOKEN], [role=alert][data-code=UNAUTHENTICATED]').waitFor();
      await page.locator('#signin-token').fill(ADMIN_KEY);
      await page.keyboard.press('Enter');
      await page.locator('#nav-tables').waitFor();
      assert.equal(await page.locator('#nav-tables').textContent(), L.tables);
      // Kept in this tab only, and out of the address bar.
      assert.equal(await page.evaluate(() => sessionStorage.getItem('yunqiao.console.token')), ADMIN_KEY);
      assert.ok(!page.url().includes(ADMIN_KEY));
      await screenshot(page, `${L.lang}-signed-in`);
    });

    test('defines a table: the server’s validation error shows on the field', async () => {
      await page.goto(server.baseUrl + '/console/#/tables');
      await page.locator('#new-table').fill(table);
      await page.locator('#new-table-go').click();
      const row = page.locator('#schema-fields tbody tr').first();
      await row.locator('[data-k=name]').fill('title');
      await row.locator('[data-k=length]').fill('0');
      await page.locator('#add-field').click();
      const row2 = page.locator('#schema-fields tbody tr').nth(1);
      await row2.locator('[data-k=name]').fill('n');
      await row2.locator('select[data-k=type]').selectOption('integer');
      await row2.locator('[data-k=index]').check();
      await page.locator('#acl-record').fill('rwd:r:r');
      await page.locator('#schema-save').click();
      // The server's own message, on the field it names.
      await page.locator('#field-error').waitFor();
      assert.match(await page.locator('#field-error').textContent() || '', /length is 1 to/);
      assert.equal(await page.locator('tr[data-field=title] [data-k=length]').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.locator('tr[data-field=n] [data-k=length]').getAttribute('aria-invalid'), null);
      await screenshot(page, `${L.lang}-schema-error`);
      await page.locator('tr[data-field=title] [data-k=length]').fill('100');
      await page.locator('#schema-save').click();
      await shows(page, '#schema-note');
      assert.match(await page.locator('#schema-note').textContent() || '', new RegExp(L.saved));
      const t = await server.api('GET', `/v1/tables/${table}`);
      assert.deepEqual(
        t.body.fields.map((/** @type {any} */ f) => [f.name, f.type, f.length ?? null, !!f.index]),
        [['title', 'string', 100, false], ['n', 'integer', null, true]],
      );
      assert.equal(t.body.acl.record, 'rwd:r:r');
      await screenshot(page, `${L.lang}-schema`);
    });

    test('adds a record, queries with conditions, order and cursor paging', async () => {
      await page.goto(server.baseUrl + `/console/#/tables/${table}/data`);
      await page.locator('#new-record').click();
      await page.locator('#record-json').fill('{"title": "first 你好", "n": 0}');
      await page.locator('#record-save').click();
      await page.locator('#record-editor').waitFor({ state: 'detached' });
      const made = await server.api('POST', `/v1/tables/${table}/query`, { where: [['n', 'eq', 0]] });
      assert.equal(made.body.items[0].title, 'first 你好');
      // 24 more, through the API.
      for (let n = 1; n < 25; n++) {
        const r = await server.api('POST', `/v1/tables/${table}/records`, { title: `note ${n}`, n });
        assert.equal(r.status, 201);
      }
      /** The n column of the rows shown. */
      const shown = async () => {
        await page.locator('#run-query[aria-busy=false]').waitFor();
        return page.locator('#records tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.querySelector('td[data-col=n]')?.textContent)));
      };
      // The whole table: counted.
      await page.locator('#run-query').click();
      await page.locator('#query-status[data-total="25"]').waitFor();
      assert.match(await page.locator('#query-status').textContent() || '', new RegExp(`25.*${L.match}|${L.match}.*25`));
      // Conditions and order: paged by cursor (no count kept for a range: said so).
      await page.locator('#add-cond').click();
      const cond = page.locator('.cond').first();
      await cond.locator('select[data-k=f]').selectOption('n');
      await cond.locator('select[data-k=op]').selectOption('gte');
      await cond.locator('[data-k=v]').fill('3');
      await page.locator('#order-field').selectOption('n');
      await page.locator('#order-dir').selectOption('desc');
      await page.locator('#limit').fill('10');
      await page.locator('#run-query').click();
      await page.locator('#no-count').waitFor();
      assert.deepEqual(await shown(), [24, 23, 22, 21, 20, 19, 18, 17, 16, 15]);
      await page.locator('#page-next').click();
      await page.locator('#records tbody tr:first-child td[data-col=n]', { hasText: '14' }).waitFor();
      assert.deepEqual(await shown(), [14, 13, 12, 11, 10, 9, 8, 7, 6, 5]);
      await page.locator('#page-next').click();
      await page.locator('#records tbody tr:first-child td[data-col=n]', { hasText: '4' }).waitFor();
      assert.deepEqual(await shown(), [4, 3]);
      assert.equal(await page.locator('#page-next').isDisabled(), true);
      await page.locator('#page-prev').click();
      await page.locator('#records tbody tr:first-child td[data-col=n]', { hasText: '14' }).waitFor();
      assert.deepEqual(await shown(), [14, 13, 12, 11, 10, 9, 8, 7, 6, 5]);
      // One equality on an indexed field: counted again.
      await cond.locator('select[data-k=op]').selectOption('eq');
      await cond.locator('[data-k=v]').fill('7');
      await page.locator('#run-query').click();
      await page.locator('#query-status[data-total="1"]').waitFor();
      assert.deepEqual(await shown(), [7]);
      await screenshot(page, `${L.lang}-data`);
    });

    test('edits a record; a change from a second tab meanwhile is a `_v` conflict shown', async () => {
      const target = (await server.api('POST', `/v1/tables/${table}/query`, { where: [['n', 'eq', 7]] })).body.items[0];
      // Tab A opens the record.
      await openRecord(page, table, 7);
      // Tab B (its own sign-in: the key is per tab) changes it first.
      const b = await signedIn(ctx);
      await openRecord(b, table, 7);
      const textB = JSON.parse(await b.locator('#record-json').inputValue());
      assert.equal(textB._v, target._v);
      await b.locator('#record-json').fill(JSON.stringify({ ...textB, title: 'from tab B' }));
      await b.locator('#record-save').click();
      await b.locator('#record-editor').waitFor({ state: 'detached' });
      await b.close();
      // Tab A saves over its stale copy: refused, and said so.
      const textA = JSON.parse(await page.locator('#record-json').inputValue());
      await page.locator('#record-json').fill(JSON.stringify({ ...textA, title: 'from tab A' }));
      await page.locator('#record-save').click();
      await page.locator('#conflict').waitFor();
      await screenshot(page, `${L.lang}-conflict`);
      assert.equal((await server.api('GET', `/v1/tables/${table}/records/${target._id}`)).body.title, 'from tab B');
      // Reload shows B's version; A's change made again then goes in.
      await page.locator('#conflict-reload').click();
      await page.waitForFunction(() => /** @type {HTMLTextAreaElement} */ (document.getElementById('record-json')).value.includes('from tab B'));
      const fresh = JSON.parse(await page.locator('#record-json').inputValue());
      await page.locator('#record-json').fill(JSON.stringify({ ...fresh, title: 'from tab A' }));
      await page.locator('#record-save').click();
      await page.locator('#record-editor').waitFor({ state: 'detached' });
      const now = (await server.api('GET', `/v1/tables/${table}/records/${target._id}`)).body;
      assert.equal(now.title, 'from tab A');
      assert.equal(now._v, target._v + 2);
    });

    test('deletes a record after confirming', async () => {
      const target = (await server.api('POST', `/v1/tables/${table}/query`, { where: [['n', 'eq', 24]] })).body.items[0];
      await openRecord(page, table, 24);
      await page.locator('#record-delete').click();
      assert.equal((await server.api('GET', `/v1/tables/${table}/records/${target._id}`)).status, 200, 'one press does not delete');
      await page.locator('#record-delete-confirm').click();
      await page.locator('#record-editor').waitFor({ state: 'detached' });
      assert.equal((await server.api('GET', `/v1/tables/${table}/records/${target._id}`)).status, 404);
    });

    test('sets a user’s groups', async () => {
      const login = await fetch(server.baseUrl + '/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: `mock:groupie-${L.lang}:1` }),
      }).then((r) => r.json());
      const id = login.user.id;
      await page.goto(server.baseUrl + '/console/#/users');
      const input = page.locator(`[data-groups="${id}"]`);
      await input.fill('editors, staff');
      await page.locator(`[data-save-groups="${id}"]`).click();
      await page.locator(`tr[data-user="${id}"] .ok`).waitFor();
      assert.deepEqual((await server.api('GET', `/v1/admin/users/${id}`)).body.groups, ['editors', 'staff']);
      await screenshot(page, `${L.lang}-users`);
    });

    test('the channel debugger shows a table change live, and who is online', async () => {
      // On the Lambda face the socket is API Gateway's (the stand-in's WebSocket API, which
      // the about page names), signed in through the same subprotocol.
      await page.goto(server.baseUrl + '/console/#/channel');
      await page.locator('#socket-state[data-state=open]').waitFor();
      assert.match(await page.locator('#socket-state').textContent() || '', new RegExp(L.online));
      await page.locator('#sub-topic').fill(`table:${table}`);
      await page.locator('#sub-go').click();
      await page.locator('#frames li.in', { hasText: `"topic":"table:${table}"` }).filter({ hasText: '"ack"' }).waitFor();
      const r = await server.api('POST', `/v1/tables/${table}/records`, { title: `live ${L.lang}`, n: 99 });
      assert.equal(r.status, 201);
      const frame = page.locator('#frames li.in', { hasText: `live ${L.lang}` });
      await frame.waitFor();
      const text = (await frame.locator('code').textContent()) || '';
      const f = JSON.parse(text);
      assert.equal(f.type, 'change');
      assert.equal(f.topic, `table:${table}`);
      assert.equal(f.record._id, r.body._id);
      // Publish on a plain topic it listens to, and ask who is online.
      await page.locator('#sub-topic').fill('debug.room');
      await page.locator('#sub-go').click();
      await page.locator('#pub-topic').fill('debug.room');
      await page.locator('#pub-data').fill(`{"hello": "${L.lang}"}`);
      await page.locator('#pub-go').click();
      await page.locator('#frames li.in', { hasText: '"event"' }).filter({ hasText: `"hello":"${L.lang}"` }).waitFor();
      // A user online (a socket of their own, in another tab): listed, and reached by a
      // direct message.
      const who = await fetch(server.baseUrl + '/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: `mock:online-${L.lang}:1` }),
      }).then((r) => r.json());
      const peer = await ctx.newPage();
      await peer.goto(server.baseUrl + '/console/');
      await peer.evaluate(
        ({ url, token }) =>
          new Promise((resolve, reject) => {
            const w = new WebSocket(`${url}?token=${token}`);
            /** @type {any} */ (window).frames_ = [];
            w.onmessage = (e) => /** @type {any} */ (window).frames_.push(String(e.data));
            w.onopen = resolve;
            w.onerror = reject;
            /** @type {any} */ (window).ws_ = w;
          }),
        { url: server.wsUrl, token: who.token },
      );
      await page.locator('#online-go').click();
      await page.locator(`#online code`, { hasText: who.user.id }).waitFor();
      await page.locator('#dm-to').fill(who.user.id);
      await page.locator('#dm-cmd').fill('poke');
      await page.locator('#dm-body').fill(`{"from": "console ${L.lang}"}`);
      await page.locator('#dm-go').click();
      await page.locator('#frames li.in', { hasText: '"delivered":1' }).waitFor();
      await peer.waitForFunction((lang) => /** @type {any} */ (window).frames_.some((/** @type {string} */ f) => f.includes('"cmd":"poke"') && f.includes(`console ${lang}`)), L.lang);
      await peer.close();
      await screenshot(page, `${L.lang}-channel`);
    });

    test('deploys a function, invokes it with arguments, reads its logs', async () => {
      const mod = `greet_${L.lang}`;
      await page.goto(server.baseUrl + '/console/#/functions');
      await page.locator('#new-module').fill(mod);
      await page.locator('#new-module-go').click();
      // The page has asked for the module (a new one: the example source is shown).
      await page.waitForFunction(() => /** @type {HTMLTextAreaElement | null} */ (document.querySelector('#source'))?.value.includes('export function'));
      await page.locator('#source').fill("export function hello(name) {\n  console.log('greeting', name);\n  return { greeting: 'hello ' + name };\n}\n");
      await page.locator('#deploy').click();
      await shows(page, '#deploy-note');
      assert.equal(await page.locator('#module-version').textContent(), '1');
      await page.locator('#args').fill('["云桥"]');
      await page.locator('#invoke').click();
      await shows(page, '#result');
      assert.deepEqual(JSON.parse((await page.locator('#result').textContent()) || ''), { greeting: 'hello 云桥' });
      // A broken source: the server's compile error, and the deployed version kept.
      await page.locator('#source').fill('export function (');
      await page.locator('#deploy').click();
      await page.locator('[role=alert]').first().waitFor();
      assert.equal((await server.api('GET', `/v1/functions/${mod}`)).body.version, 1);
      // The run's log: its export, outcome and console line.
      await page.locator('#load-logs').click();
      const row = page.locator('#logs tbody tr').first();
      await row.waitFor();
      const text = (await row.textContent()) || '';
      assert.match(text, /hello\s*call\s*ok/);
      assert.match(text, /greeting 云桥/);
      await screenshot(page, `${L.lang}-functions`);
    });

    test('files show with thumbnails the server made', async () => {
      const bytes = png(320, 200, L.lang === 'en' ? 1 : 2);
      const start = await server.api('POST', '/v1/files', { name: `cat-${L.lang}.png`, size: bytes.length, content_type: 'image/png' });
      assert.equal(start.status, 201, JSON.stringify(start.body));
      const form = start.body.upload || start.body.form;
      const fd = new FormData();
      for (const [k, v] of Object.entries(form.fields || {})) fd.append(k, /** @type {string} */ (v));
      fd.append(form.file_field || 'file', new Blob([bytes], { type: 'image/png' }), `cat-${L.lang}.png`);
      const posted = await fetch(new URL(form.url, server.baseUrl), { method: 'POST', body: fd });
      assert.ok(posted.ok, `the form post: ${posted.status}`);
      const id = start.body.file.id;
      assert.equal((await server.api('POST', `/v1/files/${id}/complete`)).status, 200);
      await page.goto(server.baseUrl + '/console/#/files');
      const img = page.locator(`img.thumb[alt="cat-${L.lang}.png"]`);
      await img.waitFor();
      await page.waitForFunction((name) => {
        const i = /** @type {HTMLImageElement | null} */ (document.querySelector(`img.thumb[alt="${name}"]`));
        return !!i && i.complete && i.naturalWidth > 0;
      }, `cat-${L.lang}.png`);
      const size = await img.evaluate((i) => [/** @type {HTMLImageElement} */ (i).naturalWidth, /** @type {HTMLImageElement} */ (i).naturalHeight]);
      assert.deepEqual(size, [100, 100], 'the 100x100 thumbnail, not the 320x200 original');
      await screenshot(page, `${L.lang}-files`);
    });

    test('the other pages show', async () => {
      await server.api('PUT', '/v1/kv/settings', { read: 'admins', write: 'admins', scope: 'shared' });
      await server.api('PUT', '/v1/kv/settings/theme', { value: { dark: true } });
      await server.api('PUT', '/v1/topics/rules/debug.*', { subscribe: 'users', publish: 'users' });
      for (const [hash, sel, text] of [
        ['health', `#health-face[data-face=${FACE}]`, null],
        ['kv', '#kv-namespaces', 'settings'],
        ['kv/settings', '#kv-entries', 'theme'],
        ['topics', '#rules', 'debug.*'],
        ['functions/outbox', '#outbox', null],
        ['tables', '#tables-list', table],
      ]) {
        await page.goto(server.baseUrl + '/console/#/' + hash);
        const el = page.locator(/** @type {string} */ (sel));
        await el.waitFor({ state: 'attached' });
        if (text) await el.getByText(/** @type {string} */ (text), { exact: false }).first().waitFor();
        await screenshot(page, `${L.lang}-${hash.replace(/\//g, '-')}`);
      }
      assert.equal(await page.locator('#nav-health').count(), 1);
    });
  });
}

test('an admin user signs in with a WeChat login code; a user outside the admin group is refused', async () => {
  const login = (/** @type {string} */ code) =>
    fetch(server.baseUrl + '/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) }).then((r) => r.json());
  const boss = (await login('mock:boss:1')).user;
  assert.equal((await server.api('PATCH', `/v1/admin/users/${boss.id}`, { groups: ['admin'] })).status, 200);
  const ctx = await browser.newContext({ locale: 'en-US' });
  ctx.setDefaultTimeout(120000);
  const page = await ctx.newPage();
  page.on('request', (r) => urls.push(r.url()));
  await page.goto(server.baseUrl + '/console/');
  await page.locator('summary').click();
  await page.locator('#signin-code').fill('mock:nobody:1');
  await page.locator('#signin-code').press('Enter');
  await page.getByRole('alert').getByText('not an admin').waitFor();
  await page.locator('#signin-code').fill('mock:boss:2');
  await page.locator('#signin-code').press('Enter');
  await page.locator('#nav-users').click();
  await page.locator(`tr[data-user="${boss.id}"]`).waitFor();
  // The session token, not the key, is what this tab holds.
  const held = await page.evaluate(() => sessionStorage.getItem('yunqiao.console.token'));
  assert.ok(held && held !== ADMIN_KEY);
  await ctx.close();
});

test('switching the language redraws in the other one and is remembered', async () => {
  const ctx = await browser.newContext({ locale: 'en-US' });
  ctx.setDefaultTimeout(120000);
  const page = await signedIn(ctx);
  await page.locator('#lang').selectOption('zh');
  await page.locator('#nav-tables', { hasText: '数据表' }).waitFor();
  await page.reload();
  await page.locator('#nav-tables', { hasText: '数据表' }).waitFor();
  await page.locator('#signout').click();
  await page.locator('#signin-token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('yunqiao.console.token')), null);
  await ctx.close();
});

test('the pay log lists a paid order; the app goes out as a download and back in as an upload', async () => {
  // A plan for sale, ordered by a user and paid through the WeChat mock.
  const mock = GIVEN_MOCK || server.baseUrl + '/__mock/wechat';
  const defined = await server.api('PUT', '/v1/tables/console_plans', {
    fields: [{ name: 'title', type: 'string' }, { name: 'price', type: 'integer', min: 1 }],
    acl: { record: 'rwd:r:r', create: 'admins' },
  });
  assert.ok(defined.status < 300, JSON.stringify(defined.body));
  const plan = (await server.api('POST', '/v1/tables/console_plans/records', { title: '月卡', price: 990 })).body;
  const login = await fetch(server.baseUrl + '/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'mock:payer:1' }) }).then((r) => r.json());
  const ordered = await server.api('POST', '/v1/pay/orders', { item: { table: 'console_plans', id: plan._id } }, login.token);
  assert.equal(ordered.status, 201, JSON.stringify(ordered.body));
  const no = ordered.body.order.out_trade_no;
  const paid = await fetch(`${mock}/mock/pay/${no}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.ok(paid.ok, `the mock pays: ${paid.status}`);

  const ctx = await browser.newContext({ locale: 'en-US', acceptDownloads: true });
  ctx.setDefaultTimeout(120000);
  const page = await signedIn(ctx);
  await page.locator('#nav-pay').click();
  await page.locator('#orders tbody tr', { hasText: no }).filter({ hasText: 'PAID' }).waitFor();
  await screenshot(page, 'en-pay');

  // Export: a download of the whole app, an archive of format 1 holding the plan.
  await page.locator('#nav-transfer').click();
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('#export-go').click()]);
  const file = join(mkdtempSync(join(tmpdir(), 'console-export-')), 'app.tar.gz');
  await dl.saveAs(file);
  const tar = gunzipSync(readFileSync(file)).toString('latin1');
  assert.ok(tar.startsWith('manifest.json'), 'the manifest comes first');
  assert.match(tar, /"format": *"yunqiao-export"/);
  assert.ok(tar.includes('tables/console_plans.ndjson'));
  await page.locator('[role=status]', { hasText: 'Exported' }).waitFor();

  // Import: the same archive uploaded changes nothing, and says so.
  await page.locator('#import-file').setInputFiles(file);
  await page.locator('#import-go').click();
  const done = page.locator('[role=status]', { hasText: 'Imported' });
  await done.waitFor();
  const report = JSON.parse((await done.locator('pre').textContent()) || '{}');
  assert.equal(report.items.records.created, 0, JSON.stringify(report));
  assert.ok(report.items.records.unchanged >= 1, JSON.stringify(report));
  await screenshot(page, 'en-transfer');
  await ctx.close();
});

test('the admin key is in no URL the console asked for and in no log line', () => {
  assert.ok(urls.length > 50, `the pages made requests (${urls.length})`);
  assert.ok(urls.some((u) => u.startsWith('ws://')), 'the channel debugger’s socket is among them');
  for (const u of urls) assert.ok(!u.includes(ADMIN_KEY) && !u.includes(encodeURIComponent(ADMIN_KEY)), u);
  const logs = server.logs();
  if (logs === null) return; // the Lambda face: server/tests/secrets_in_logs.rs looks there
  assert.ok(logs.includes('/console'), 'requests are logged');
  assert.ok(!logs.includes(ADMIN_KEY), 'the key is not logged');
});
