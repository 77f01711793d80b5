// 会聊 and WeChat's server side, end to end (a real server, its WeChat mock, phones running
// the real pages): a room's QR code decodes to its scene and, "scanned", opens the room; a
// risky message is refused with a toast and nothing is written; a new notice reaches, as a
// subscribe message, the member who opted in and nobody else.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import jsQR from 'jsqr'
import { PNG } from 'pngjs'

import { Phone, apply, http, startServer, until } from './harness.mjs'

let server
const phones = []
let alice, bob, carol
let roomId

const RISKY = '内容未通过安全检查，没有发送'

before(async () => {
  server = await startServer()
  const r = apply(server)
  assert.equal(r.status, 0, r.stderr)
  ;[alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((u) => Phone.start(server, u)))
  phones.push(alice, bob, carol)
})

after(async () => {
  await Promise.all(phones.map((p) => p.close()))
  if (server) await server.stop()
})

async function mock(path) {
  const r = await fetch(server.wechatMock + path)
  assert.equal(r.status, 200, path)
  return r.json()
}

/** A phone's camera on an image URL: the text of the one QR code in it. */
async function scan(url) {
  const r = await fetch(url)
  assert.equal(r.status, 200, `GET ${url}`)
  const png = PNG.sync.read(Buffer.from(await r.arrayBuffer()))
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height)
  assert.ok(code, 'a QR code in the image')
  return code.data
}

const toasted = (p, title) => until(async () => (await p.ui()).some((u) => u.api === 'showToast' && u.title === title), `${p.user}: toast ${title}`)
const texts = (d) => d.messages.map((m) => m.text)

test("a room's QR code decodes to its scene, and scanning it opens the room", async () => {
  await alice.open('/pages/index/index')
  await alice.until((d) => d.nickname && !d.busy, 'the index page loaded')
  await alice.input('#room-name', '扫码进房')
  await alice.input('#hours', '8')
  await alice.tap('#create')
  await alice.onPage('pages/room/room')
  roomId = (await alice.until((d) => d.ready, 'the room page ready')).room.id

  await alice.tap('#show-qrcode')
  const shown = await alice.until((d) => d.qrcode || d.error, 'the QR code shown')
  assert.equal(shown.error, '')
  assert.match(shown.qrcode, new RegExp(`^${server.baseUrl}/v1/files/[0-9a-z]{26}/content$`))
  assert.equal(await alice.exists('#qrcode'), true)
  const scene = await scan(shown.qrcode)
  assert.equal(scene, `r=${roomId}`)

  // WeChat opens the page with the scene URL-encoded in options.scene.
  for (const p of [bob, carol]) {
    await p.open('/pages/room/room?scene=' + encodeURIComponent(scene))
    const d = await p.until((x) => x.ready, `${p.user} entered by the QR code`)
    assert.equal(d.room.id, roomId)
  }
  await alice.until((d) => d.members.length === 3, 'alice sees both join')

  // A member asks again: the same image, WeChat asked once.
  await bob.tap('#show-qrcode')
  const again = await bob.until((d) => d.qrcode || d.error, 'bob sees the QR code')
  assert.equal(again.error, '')
  assert.equal(again.qrcode, shown.qrcode)
  assert.equal((await mock('/mock/stats')).qrcode_calls, 1)
})

test('a risky message is refused with a toast, and nothing is written', async () => {
  const risky = '加我微信 [risky] 低价出票'
  await bob.input('#draft', risky)
  await bob.tap('#send')
  await toasted(bob, RISKY)
  const d = await bob.data()
  assert.equal(d.draft, risky, 'the draft is kept to edit')
  // A fine message after it arrives; the risky one never did.
  await bob.input('#draft', '几点开始？')
  await bob.tap('#send')
  const a = await alice.until((x) => texts(x).includes('几点开始？'), 'alice gets the next message')
  assert.ok(!texts(a).includes(risky))
  const q = await http(server, 'POST', '/v1/tables/messages/query', { token: server.adminKey, body: { where: [['_group', 'eq', 'room-' + roomId]], limit: 50 } })
  assert.equal(q.status, 200, JSON.stringify(q.data))
  assert.deepEqual(q.data.items.map((m) => m.text), ['几点开始？'])
})

test('a new notice reaches the member who opted in, as a subscribe message, and nobody else', async () => {
  await carol.subscribeAnswer('reject')
  await carol.tap('#subscribe')
  await toasted(carol, '没有订阅')
  await bob.tap('#subscribe')
  await toasted(bob, '有新公告时会通知你')
  await bob.until((d) => d.subscribed, 'bob subscribed')
  const [bobOpenid] = await bob.openids()
  assert.ok(bobOpenid)
  assert.deepEqual((await mock('/mock/subscribe-messages')).messages, [])

  // A risky notice: a toast, the notice unchanged, nobody told.
  await alice.tap('#edit-notice')
  await alice.input('#notice-input', '[risky] 会后加群')
  await alice.tap('#save-notice')
  await toasted(alice, RISKY)
  assert.equal((await alice.data()).room.notice, '')

  await alice.input('#notice-input', '下午两点在 B 厅开始')
  await alice.tap('#save-notice')
  await bob.until((d) => d.room.notice === '下午两点在 B 厅开始', 'bob sees the notice live')
  // The live update can arrive before setNotice has sent its messages: alice's editor
  // closes when the function has answered, sent them included.
  await alice.until((d) => !d.editingNotice && d.room.notice === '下午两点在 B 厅开始', "alice's setNotice answered")
  const sent = (await mock('/mock/subscribe-messages')).messages
  assert.equal(sent.length, 1, JSON.stringify(sent))
  assert.equal(sent[0].touser, bobOpenid)
  assert.equal(sent[0].template_id, 'huiliao-notice')
  assert.equal(sent[0].page, `pages/room/room?id=${roomId}`)
  assert.equal(sent[0].data.thing1.value, '扫码进房')
  assert.equal(sent[0].data.thing2.value, '下午两点在 B 厅开始')
})
