// WeChat Pay through the SDK (issue 24, item 6), against the real server (any face) and its
// WeChat mock: `pay.order` creates the order (the server prices it), opens the payment
// sheet — wx.requestPayment in the wx shim, which pays through the mock as WeChat's client
// would (the mock then sends WeChat Pay's signed notification); on web a `requestPayment`
// option doing the same — and resolves once the server says PAID.
//
// The server needs the pay settings below: set here for the `yunqiao serve` the harness
// spawns; on the Lambda face the Makefile hands them to the face (YUNQIAO_FACE_ENV).
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'

import { YunqiaoError } from '../src/index.js'
import { admin, client, PLATFORMS, server, sleep, until, user } from './harness.mjs'

export const PAY_ENV = {
  YUNQIAO_PAY_TABLES: 'sdk_pay_items',
  YUNQIAO_PAY_ON_PAID: 'sdk_pay.paid',
  YUNQIAO_PAY_CLIENT_AMOUNT_MIN: '1',
  YUNQIAO_PAY_CLIENT_AMOUNT_MAX: '5000',
}
if (!process.env.YUNQIAO_TEST_BASE_URL) Object.assign(process.env, PAY_ENV)

// on_paid: one log row per paid order (the server runs it once per order).
const SHOP = `
import { db } from "yunqiao"
export async function paid(e) {
  await db.admin().table("sdk_pay_log").create({ no: e.order.out_trade_no, amount: e.order.amount, buyer: e.order.buyer })
}
`

const PRICE = 1234
let tea
let mock

before(async () => {
  const s = await server()
  mock = s.wechatMock
  assert.ok(mock, 'the WeChat mock URL (YUNQIAO_TEST_WECHAT_MOCK on the Lambda face)')
  await admin('PUT', '/v1/tables/sdk_pay_items', {
    fields: [
      { name: 'title', type: 'string' },
      { name: 'price', type: 'integer' },
    ],
    acl: { record: 'rwd:r:r' },
  })
  await admin('PUT', '/v1/tables/sdk_pay_log', {
    fields: [
      { name: 'no', type: 'string' },
      { name: 'amount', type: 'integer' },
      { name: 'buyer', type: 'string' },
    ],
    acl: { record: 'rwd:-:-' },
  })
  await admin('PUT', '/v1/tables/sdk_pay_other', { fields: [{ name: 'price', type: 'integer' }], acl: { record: 'rwd:r:r' } })
  await admin('PUT', '/v1/functions/sdk_pay', { source: SHOP, access: 'nobody' })
  tea = (await admin('POST', '/v1/tables/sdk_pay_items/records', { title: '茶叶 tea', price: PRICE }))._id
})

const item = () => ({ item: { table: 'sdk_pay_items', id: tea } })

/** The on_paid rows of order `no`. */
async function logged(no) {
  const r = await admin('POST', '/v1/tables/sdk_pay_log/query', { where: [['no', 'eq', no]], limit: 10 })
  return r.items
}

/**
 * A buyer on `platform` and the payment sheet's controls: on wx the shim's own
 * wx.requestPayment (`ctl.payAnswer`, `ctl.payVariant`, `ctl.paySheets`); on web a
 * `requestPayment` option that does what the shim does, through the same mock.
 */
async function buyer(platform, opts = {}) {
  if (platform === 'wx') {
    const c = await user('wx', undefined, opts)
    return { c, ctl: c.shim.ctl }
  }
  const ctl = { payAnswer: /** @type {any} */ ('pay'), payVariant: 'good', paySheets: /** @type {any[]} */ ([]) }
  const requestPayment = async (payment, order) => {
    const sheet = { package: payment.package, out_trade_no: order.out_trade_no, answer: '', errMsg: '' }
    ctl.paySheets.push(sheet)
    const answer = typeof ctl.payAnswer === 'function' ? await ctl.payAnswer(payment, order.out_trade_no) : ctl.payAnswer
    sheet.answer = answer
    if (answer === 'cancel') throw { errMsg: (sheet.errMsg = 'requestPayment:fail cancel') }
    if (answer !== 'pay') throw { errMsg: (sheet.errMsg = `requestPayment:fail ${answer}`) }
    const res = await fetch(`${mock}/mock/pay/${order.out_trade_no}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ variant: ctl.payVariant }),
    })
    if (res.status !== 200) throw { errMsg: (sheet.errMsg = `requestPayment:fail ${res.status} ${await res.text()}`) }
    sheet.errMsg = 'requestPayment:ok'
  }
  const c = await user('web', undefined, Object.assign({}, opts, { pay: Object.assign({ requestPayment }, opts.pay || {}) }))
  return { c, ctl }
}

async function rejection(p) {
  try {
    await p
  } catch (e) {
    return e
  }
  assert.fail('expected a rejection')
}

for (const platform of PLATFORMS) {
  describe(`pay on ${platform}`, () => {
    test('a priced record: ordered, paid through the sheet, PAID by polling (no channel opened); on_paid ran once', async () => {
      const { c, ctl } = await buyer(platform)
      const o = await c.pay.order(Object.assign(item(), { quantity: 2 }))
      assert.equal(o.state, 'PAID')
      assert.equal(o.amount, 2 * PRICE, 'the server priced it')
      assert.equal(o.description, '茶叶 tea')
      assert.deepEqual(o.item, { table: 'sdk_pay_items', id: tea })
      assert.equal(o.buyer, c.auth.user.id)
      assert.match(o.transaction_id, /^4200\d{24}$/)
      assert.equal(ctl.paySheets.length, 1)
      assert.equal(ctl.paySheets[0].out_trade_no, o.out_trade_no)
      assert.equal(ctl.paySheets[0].errMsg, 'requestPayment:ok')
      assert.equal(c.channel.state, 'idle', 'paying opens no socket')
      if (platform === 'wx') assert.equal(ctl.sockets, 0)
      const rows = await until(async () => {
        const r = await logged(o.out_trade_no)
        return r.length ? r : null
      }, 15000, 'on_paid')
      assert.equal(rows.length, 1)
      assert.equal(rows[0].amount, 2 * PRICE)
      // get, list; a paid order does not close
      assert.deepEqual(await c.pay.get(o.out_trade_no), o)
      const l = await c.pay.list()
      assert.deepEqual(
        l.items.map((x) => [x.out_trade_no, x.state]),
        [[o.out_trade_no, 'PAID']],
      )
      assert.equal(l.cursor, null)
      const shut = await rejection(c.pay.close(o.out_trade_no))
      assert.ok(shut instanceof YunqiaoError)
      assert.equal(shut.code, 'PAY_ORDER_NOT_PENDING')
      // Buying the same thing again is a second purchase: a new order.
      const again = await c.pay.order(Object.assign(item(), { quantity: 2 }))
      assert.notEqual(again.out_trade_no, o.out_trade_no)
      assert.equal(again.state, 'PAID')
      assert.equal((await c.pay.list()).items.length, 2)
      assert.equal((await logged(o.out_trade_no)).length, 1, 'on_paid ran once for the first order')
    })

    test('the notification never comes: the poll asks the server, which asks WeChat Pay', async () => {
      const { c, ctl } = await buyer(platform)
      ctl.payVariant = 'drop'
      const o = await c.pay.order(item(), { pollBase: 50 })
      assert.equal(o.state, 'PAID')
      assert.equal(o.amount, PRICE)
      await until(async () => (await logged(o.out_trade_no)).length === 1, 15000, 'on_paid after the dropped notification')
    })

    test('the user cancels: PAY_CANCELLED, the order stays pending; paying again pays that order, not a second one', async () => {
      const { c, ctl } = await buyer(platform)
      ctl.payAnswer = 'cancel'
      const e = await rejection(c.pay.order(item()))
      assert.ok(e instanceof YunqiaoError)
      assert.equal(e.code, 'PAY_CANCELLED')
      const no = e.details.out_trade_no
      assert.ok(no)
      assert.equal((await c.pay.get(no)).state, 'PENDING')
      ctl.payAnswer = 'pay'
      const o = await c.pay.order(item())
      assert.equal(o.out_trade_no, no, 'the same order')
      assert.equal(o.state, 'PAID')
      assert.equal(ctl.paySheets.length, 2)
      assert.equal(ctl.paySheets[1].out_trade_no, no)
      const l = await c.pay.list()
      assert.deepEqual(
        l.items.map((x) => [x.out_trade_no, x.state]),
        [[no, 'PAID']],
        'one order',
      )
      // with callbacks, as wx code writes it
      ctl.payAnswer = 'cancel'
      const got = await new Promise((resolve) => {
        c.pay.order({ amount: 66 }, { fail: (err) => resolve(err), success: () => resolve(null) })
      })
      assert.equal(got && got.code, 'PAY_CANCELLED')
    })

    test('a second tap while paying joins the first: one order, one sheet', async () => {
      const { c, ctl } = await buyer(platform)
      let open = null
      const opened = new Promise((r) => (open = r))
      ctl.payAnswer = async () => {
        open()
        await sleep(100) // the user looks at the sheet
        return 'pay'
      }
      const a = c.pay.order(Object.assign(item(), { quantity: 3 }))
      await opened
      const b = c.pay.order(Object.assign(item(), { quantity: 3 }))
      const [x, y] = await Promise.all([a, b])
      assert.equal(x.out_trade_no, y.out_trade_no)
      assert.equal(x.amount, 3 * PRICE)
      assert.equal(ctl.paySheets.length, 1)
      assert.equal((await c.pay.list()).items.length, 1)
    })

    test('the order closes: PAY_CLOSED, before the sheet pays and while the client waits', async () => {
      const { c, ctl } = await buyer(platform)
      // closed while the sheet is open: WeChat refuses to pay it
      ctl.payAnswer = async (_p, no) => {
        await c.pay.close(no)
        return 'pay'
      }
      const e = await rejection(c.pay.order(item()))
      assert.equal(e.code, 'PAY_CLOSED', e.message)
      const no = e.details.out_trade_no
      assert.equal((await c.pay.get(no)).state, 'CLOSED')
      // closed after a sheet that said ok (the client's poll finds it closed)
      const e2 = await rejection(
        c.pay.order(item(), {
          pollBase: 20,
          requestPayment: async (_p, order) => {
            await c.pay.close(order.out_trade_no)
          },
        }),
      )
      assert.equal(e2.code, 'PAY_CLOSED', e2.message)
      assert.equal(e2.details.order.state, 'CLOSED')
      // a closed order is not paid again: the next call orders anew
      ctl.payAnswer = 'pay'
      const o = await c.pay.order(item())
      assert.notEqual(o.out_trade_no, no)
      assert.notEqual(o.out_trade_no, e2.details.out_trade_no)
      assert.equal(o.state, 'PAID')
    })

    test('not confirmed in time: PAY_TIMEOUT with the order number; the next call finds it paid', async () => {
      const { c } = await buyer(platform)
      let seen = null
      // a sheet that says ok though nothing was paid (yet)
      const e = await rejection(
        c.pay.order(item(), {
          timeout: 200,
          pollBase: 20,
          pollCap: 50,
          requestPayment: async (_p, order) => {
            seen = order.out_trade_no
          },
        }),
      )
      assert.equal(e.code, 'PAY_TIMEOUT', e.message)
      assert.equal(e.details.out_trade_no, seen)
      assert.equal((await c.pay.get(seen)).state, 'PENDING')
      // WeChat Pay got it after all (paid, its notification lost)
      const r = await fetch(`${mock}/mock/pay/${seen}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"variant":"drop"}' })
      assert.equal(r.status, 200)
      let sheets = 0
      const o = await c.pay.order(item(), {
        requestPayment: async () => {
          sheets++
        },
      })
      assert.equal(o.out_trade_no, seen)
      assert.equal(o.state, 'PAID')
      assert.equal(sheets, 0, 'no sheet for an order already paid')
    })

    test('a client amount where allowed; refusals before any sheet opens', async () => {
      const { c, ctl } = await buyer(platform)
      const tip = await c.pay.order({ amount: 88, description: '打赏 tip' })
      assert.equal(tip.state, 'PAID')
      assert.equal(tip.amount, 88)
      assert.equal(tip.description, '打赏 tip')
      const sheets = ctl.paySheets.length
      for (const [spec, code] of [
        [{ amount: 999999 }, 'PAY_AMOUNT_NOT_ALLOWED'],
        [{ item: item().item, amount: 1 }, 'PAY_AMOUNT_NOT_ALLOWED'],
        [{ item: { table: 'sdk_pay_other', id: 'x' } }, 'PAY_ITEM_NOT_PRICED'],
        [{ item: { table: 'sdk_pay_items', id: 'nope' } }, 'NOT_FOUND'],
        [Object.assign(item(), { quantity: 100 }), 'INVALID_ARGUMENT'],
      ]) {
        const e = await rejection(c.pay.order(spec))
        assert.equal(e.code, code, JSON.stringify(spec))
        assert.ok(e.status >= 400 && e.status < 500, `${code}: a 4xx`)
      }
      for (const spec of [null, {}, { item: { table: 'sdk_pay_items' } }, Object.assign(item(), { quantity: 0 }), Object.assign(item(), { quantity: '2' }), { amount: 1.5 }]) {
        const e = await rejection(c.pay.order(spec))
        assert.equal(e.code, 'INVALID_ARGUMENT', JSON.stringify(spec))
        assert.equal(e.status, 0, 'refused by the SDK, not sent')
      }
      assert.equal(ctl.paySheets.length, sheets, 'no sheet opened')
      assert.equal((await c.pay.list()).items.length, 1, 'only the tip was ordered')
      const anon = await client(platform, platform === 'web' ? { pay: { requestPayment: async () => {} } } : {})
      const e = await rejection(anon.pay.order(item()))
      assert.equal(e.code, 'UNAUTHENTICATED')
    })

    test("another user's pay.paid message is not the server's: it confirms nothing", async () => {
      const { c } = await buyer(platform)
      const bob = await user(platform)
      await c.channel.connect()
      let seen = 0
      c.channel.listen('pay.paid', () => seen++)
      // a sheet that says ok though nothing was paid, while Bob sends a PAID look-alike
      const e = await rejection(
        c.pay.order(item(), {
          timeout: 300,
          pollFirst: 20,
          pollBase: 20,
          pollCap: 50,
          requestPayment: async (_p, order) => {
            const fake = Object.assign({}, order, { state: 'PAID', transaction_id: '4200000000000000000000000000' })
            const ack = await bob.channel.send('pay.paid', fake, c.auth.user.id)
            assert.equal(ack.delivered, 1)
            await until(() => seen === 1, 15000, 'the forged message delivered')
          },
        }),
      )
      assert.equal(e.code, 'PAY_TIMEOUT', 'the forged message did not count')
      assert.equal((await c.pay.get(e.details.out_trade_no)).state, 'PENDING')
    })

    test("the server's pay.paid frame (as the server sends it) confirms without a poll", async () => {
      const { c } = await buyer(platform)
      await c.channel.connect()
      const gets = []
      const request = c.http.request.bind(c.http)
      c.http.request = (method, path, opts) => {
        if (method === 'GET' && path.startsWith('/v1/pay/orders/')) gets.push(path)
        return request(method, path, opts)
      }
      let sent = null
      const o = await c.pay.order(item(), {
        pollFirst: 600000,
        timeout: 600000,
        requestPayment: async (_p, order) => {
          // WeChat paid; the server's message to the buyer, frame for frame
          sent = Object.assign({}, order, { state: 'PAID', transaction_id: '4200000000000000000000000001', paid_at: new Date().toISOString() })
          c.channel._onMessage(JSON.stringify({ type: 'message', cmd: 'pay.paid', body: sent, from: { system: 'pay' } }))
        },
      })
      assert.deepEqual(o, sent)
      assert.deepEqual(gets, [], 'no poll')
    })

    test(
      "with the channel open, the server's pay.paid message confirms without polling",
      async () => {
        const { c } = await buyer(platform)
        await c.channel.connect()
        const gets = []
        const http = c.http
        const request = http.request.bind(http)
        http.request = (method, path, opts) => {
          if (method === 'GET' && path.startsWith('/v1/pay/orders/')) gets.push(path)
          return request(method, path, opts)
        }
        // polling only after the deadline: only the message can confirm in time
        const o = await c.pay.order(item(), { pollFirst: 600000, timeout: 20000 * (process.env.YUNQIAO_TEST_BASE_URL ? 6 : 2) })
        assert.equal(o.state, 'PAID')
        assert.deepEqual(gets, [], 'confirmed by the message')
      },
    )
  })
}

test('web without a payment sheet: UNSUPPORTED, and nothing is ordered', async () => {
  const c = await user('web')
  const e = await rejection(c.pay.order(item()))
  assert.equal(e.code, 'UNSUPPORTED')
  assert.match(e.message, /requestPayment/)
  assert.deepEqual((await c.pay.list()).items, [])
})
