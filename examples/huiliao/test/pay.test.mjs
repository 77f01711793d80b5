// 会聊's paid action end to end: the room's admin pins the notice for a day with WeChat Pay.
// A real server (its pay settings in harness.mjs: `pins` for sale, `chatroom.paid` as the
// on_paid hook), the project applied with `yunqiao apply`, phones running the real pages;
// wx.requestPayment is the SDK shim's, which pays through the server's WeChat mock as
// WeChat's client would (the mock then sends WeChat Pay's signed notification).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { Phone, apply, startServer, until } from './harness.mjs'

let server
const phones = []
let alice, bob
let roomId
const RUN = Math.random().toString(36).slice(2, 8)

before(async () => {
  server = await startServer()
  const a = apply(server)
  assert.equal(a.status, 0, a.stderr)
})

after(async () => {
  await Promise.all(phones.map((p) => p.close()))
  if (server) await server.stop()
})

/** A call from inside a phone through the app's SDK client → {ok, value} | {ok: false, code, status}. */
function inPhone(phone, fn, arg) {
  return phone.run(
    async ({ app, arg: a }) => {
      try {
        // eslint-disable-next-line no-new-func
        return { ok: true, value: await new Function('app', 'arg', `return (${a.src})(app, arg)`)(app, a.arg) }
      } catch (e) {
        return { ok: false, code: e.code, status: e.status, details: e.details }
      }
    },
    { src: fn.toString(), arg },
  )
}

const toasted = (phone, title) => until(async () => (await phone.ui()).some((u) => u.api === 'showToast' && u.title === title), `${phone.user}: toast ${title}`)

test('the admin pays to pin the notice: a cancel pins nothing, paying pins it for a day on every page', async () => {
  ;[alice, bob] = await Promise.all([`pin_alice_${RUN}`, `pin_bob_${RUN}`].map((u) => Phone.start(server, u)))
  phones.push(alice, bob)
  await alice.open('/pages/index/index')
  await alice.until((d) => !d.busy, 'the home page ready')
  await alice.input('#room-name', '付费置顶')
  await alice.input('#hours', '8')
  await alice.tap('#create')
  await alice.onPage('pages/room/room')
  let a = await alice.until((d) => d.ready, 'the room page ready')
  roomId = a.room.id
  assert.equal(a.room.pinned, false)
  assert.equal(await alice.exists('#pin-notice'), false, 'no notice: nothing to pin')

  await alice.tap('#edit-notice')
  await alice.input('#notice-input', '下午两点在三楼开始')
  await alice.tap('#save-notice')
  await alice.until((d) => d.room.notice === '下午两点在三楼开始' && !d.editingNotice, 'the notice saved')
  assert.equal(await alice.exists('#pin-notice'), true, 'the admin may pin it')

  // The user closes WeChat's payment sheet.
  await alice.run(({ shim }) => {
    shim.ctl.payAnswer = 'cancel'
  })
  await alice.tap('#pin-notice')
  await toasted(alice, '已取消支付')
  a = await alice.until((d) => !d.paying, 'done paying')
  assert.equal(a.room.pinned, false)
  assert.equal(a.error, '')
  let orders = await inPhone(alice, async (app) => (await app.yq.pay.list()).items)
  assert.deepEqual(
    orders.value.map((o) => [o.state, o.amount, o.item.table]),
    [['PENDING', 100, 'pins']],
    'one pending order at the server’s price',
  )

  // Again, and this time pays: the same order is paid (no second one), the hook pins.
  await alice.run(({ shim }) => {
    shim.ctl.payAnswer = 'pay'
  })
  await alice.tap('#pin-notice')
  a = await alice.until((d) => d.room.pinned, 'the notice pinned (the room’s live record)')
  assert.ok(Math.abs(a.room.pinnedUntil - (Date.now() + 24 * 3600e3)) < 600e3, 'for a day')
  await toasted(alice, '支付成功，公告置顶一天')
  assert.equal(await alice.exists('#pinned'), true)
  assert.equal(await alice.exists('#pin-notice'), false)
  orders = await inPhone(alice, async (app) => (await app.yq.pay.list()).items)
  assert.equal(orders.value.length, 1, 'one order')
  assert.equal(orders.value[0].state, 'PAID')
  const sheets = await alice.run(({ shim }) => shim.ctl.paySheets.map((s) => [s.out_trade_no, s.errMsg]))
  assert.deepEqual(sheets, [
    [orders.value[0].out_trade_no, 'requestPayment:fail cancel'],
    [orders.value[0].out_trade_no, 'requestPayment:ok'],
  ])

  // A member sees the pin; members cannot pin.
  await bob.open('/pages/index/index')
  await bob.until((d) => !d.busy, 'the home page ready')
  await bob.input('#join-id', roomId)
  await bob.tap('#join')
  await bob.onPage('pages/room/room')
  await bob.until((d) => d.ready && d.room.pinned, 'bob sees the pinned notice')
  assert.equal(await bob.exists('#pinned'), true)
  assert.equal(await bob.exists('#pin-notice'), false)
  for (const p of [alice, bob]) assert.deepEqual(await p.errors(), [], `${p.user}: nothing uncaught`)
})

test('nothing but a paid order pins: users cannot write the room, the offer or the price, nor call the hook', async () => {
  // a second room of alice's, with a notice, never paid for
  const made = await inPhone(alice, async (app) => {
    const r = await app.chatroom.createRoom('不付费', { expiresInHours: 8 })
    await app.chatroom.setNotice(r.id, '没有付钱')
    return r
  })
  assert.ok(made.ok, JSON.stringify(made))
  const room = made.value
  const offer = await inPhone(alice, (app, id) => app.chatroom.pinOffer(id), room.id)
  assert.ok(offer.ok, JSON.stringify(offer))
  assert.equal(offer.value.price, 100)
  const again = await inPhone(alice, (app, id) => app.chatroom.pinOffer(id), room.id)
  assert.equal(again.value.id, offer.value.id, 'the same unpaid offer')
  await inPhone(bob, (app, id) => app.chatroom.join(id), room.id)

  const tries = {
    // a member is not the admin
    bobOffer: await inPhone(bob, (app, id) => app.chatroom.pinOffer(id), room.id),
    // the hook is the server's: nobody calls it, with any event
    hook: await inPhone(
      alice,
      (app, a) => app.chatroom.paid({ op: 'paid', order: { state: 'PAID', out_trade_no: 'yqforged000001', item: { table: 'pins', id: a.pin }, quantity: 1, amount: 100, buyer: a.me } }),
      { pin: offer.value.id, me: (await inPhone(alice, async (app) => app.yq.auth.user.id)).value },
    ),
    // the room and the offer are the functions' to write
    pinRoom: await inPhone(alice, (app, a) => app.yq.table('rooms').update(a, { pinned_until: Date.now() + 864e5 }), room.record),
    cheapOffer: await inPhone(alice, (app, id) => app.yq.table('pins').update(id, { price: 1 }), offer.value.id),
    ownOffer: await inPhone(alice, (app, id) => app.yq.table('pins').create({ room: id, buyer: app.yq.auth.user.id, title: 'x', price: 1 }), room.id),
    // the price is the server's
    clientAmount: await inPhone(alice, (app, id) => app.yq.pay.order({ item: { table: 'pins', id }, amount: 1 }), offer.value.id),
    tip: await inPhone(alice, (app) => app.yq.pay.order({ amount: 1 })),
    notForSale: await inPhone(alice, (app, id) => app.yq.pay.order({ item: { table: 'rooms', id } }), room.record),
  }
  assert.deepEqual(
    Object.fromEntries(Object.entries(tries).map(([k, r]) => [k, r.ok ? 'ok' : r.code])),
    {
      bobOffer: 'ROOM_ADMIN_ONLY',
      hook: 'FUNCTION_FORBIDDEN',
      pinRoom: 'FORBIDDEN',
      cheapOffer: 'FORBIDDEN',
      ownOffer: 'FORBIDDEN',
      clientAmount: 'PAY_AMOUNT_NOT_ALLOWED',
      tip: 'PAY_AMOUNT_NOT_ALLOWED',
      notForSale: 'PAY_ITEM_NOT_PRICED',
    },
  )
  const info = await inPhone(alice, (app, id) => app.chatroom.info(id), room.id)
  assert.equal(info.value.room.pinned, false, 'still not pinned')
  assert.equal(info.value.room.pinnedUntil, null)
  const orders = await inPhone(alice, async (app) => (await app.yq.pay.list()).items.length)
  assert.equal(orders.value, 1, 'no order was made but the first room’s')
})
