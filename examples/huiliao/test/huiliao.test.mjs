// 会聊 end to end: a real `yunqiao serve`, the project applied with `yunqiao apply`, and three
// phones (alice, bob, carol) running the real mini-program pages under miniprogram-simulate
// with a `wx` that does real HTTP and WebSockets. Nothing of the server is mocked.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import { imageSize, png } from './.vendor/images.mjs'
import { Phone, apply, http, sleep, startServer, until } from './harness.mjs'

/** Pictures the phones pick (wx.chooseMedia, the avatar button): real PNGs on disk. */
const album = mkdtempSync(join(tmpdir(), 'huiliao-album-'))
after(() => rmSync(album, { recursive: true, force: true }))
function photo(name, w, h, seed) {
  const bytes = png(w, h, seed)
  const path = join(album, name)
  writeFileSync(path, bytes)
  return { path, bytes }
}

/** The bytes behind a URL, following redirects, as WeChat's <image> loads them. */
async function load(url) {
  const res = await fetch(url)
  assert.equal(res.status, 200, `GET ${url}`)
  return Buffer.from(await res.arrayBuffer())
}

let server
const phones = []
let alice, bob, carol
/** The first room: alice's, joined by bob (then carol). */
let roomId
const ids = {}

before(async () => {
  server = await startServer()
})

after(async () => {
  await Promise.all(phones.map((p) => p.close()))
  if (server) await server.stop()
})

/** A function call from inside a phone, through the app's SDK client → {ok, value} | {ok: false, code, status}. */
function callIn(phone, module, name, args) {
  return phone.run(
    async ({ app, arg }) => {
      try {
        return { ok: true, value: await app.yq.fn.call(arg.module, arg.name, arg.args) }
      } catch (e) {
        return { ok: false, code: e.code, status: e.status, details: e.details }
      }
    },
    { module, name, args },
  )
}

const texts = (d) => d.messages.map((m) => m.text)
const member = (d, nickname) => d.members.find((m) => m.nickname === nickname)

test('yunqiao apply sets the project up, and applying it again changes nothing', () => {
  const first = apply(server)
  assert.equal(first.status, 0, first.stderr)
  for (const item of ['function chatroom', 'function chatuser', 'function history', 'table rooms', 'table members', 'table messages', 'kv profiles', 'topic rule room.*', 'topic rule direct']) {
    assert.ok(first.lines.some((l) => l.startsWith(item + ': created')), `${item} created:\n${first.stdout}`)
  }
  const again = apply(server)
  assert.equal(again.status, 0, again.stderr)
  assert.equal(again.lines.length, first.lines.length)
  for (const l of again.lines) assert.match(l, /: unchanged/, again.stdout)
})

test('the modules are deployed with their settings: users call them, the sweep is an admins-only schedule', async () => {
  const r = await http(server, 'GET', '/v1/functions/chatroom', { token: server.adminKey })
  assert.equal(r.status, 200, JSON.stringify(r.data))
  const byName = Object.fromEntries(r.data.exports.map((e) => [e.name, e]))
  for (const e of ['createRoom', 'join', 'info', 'listMyRooms', 'leave', 'destroy', 'setNotice']) assert.equal(byName[e].access, 'users', e)
  assert.equal(byName.sweep.access, 'admins')
  assert.equal(byName.sweep.schedule, '0 */10 * * * *')
  assert.equal(r.data.timeout_ms, 20000)
  for (const m of ['chatuser', 'history']) {
    const x = await http(server, 'GET', `/v1/functions/${m}`, { token: server.adminKey })
    assert.equal(x.status, 200)
    assert.ok(x.data.exports.every((e) => e.access === 'users'), m)
  }
})

test('three phones open 会聊, log in (mock users) and set their nicknames', async () => {
  ;[alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((u) => Phone.start(server, u)))
  phones.push(alice, bob, carol)
  for (const [p, nick] of [[alice, 'Alice'], [bob, 'Bob'], [carol, 'Carol']]) {
    await p.open('/pages/index/index')
    await p.until((d) => d.nickname && !d.busy, 'the nickname loaded')
    await p.input('#nickname', nick)
    await p.tap('#save-nickname')
    await until(async () => (await p.ui()).some((u) => u.api === 'showToast' && u.title === '已保存'), `${p.user}: saved toast`)
    const me = await callIn(p, 'chatuser', 'me', [])
    assert.equal(me.value.nickname, nick)
    ids[p.user] = me.value.id
  }
  assert.equal(new Set(Object.values(ids)).size, 3, 'three different users')
})

test('alice creates a room; bob joins it by its id; both see the members and who is here', async () => {
  await alice.input('#room-name', '小程序开发者大会')
  await alice.input('#hours', '8')
  await alice.tap('#create')
  await alice.onPage('pages/room/room')
  const a = await alice.until((d) => d.ready, 'the room page ready')
  roomId = a.room.id
  assert.match(roomId, /^[0-9]{6}$/)
  assert.equal(a.room.name, '小程序开发者大会')
  assert.equal(a.room.isAdmin, true)
  assert.ok(Math.abs(a.room.expiresAt - (Date.now() + 8 * 3600e3)) < 60e3, 'expires in 8 hours')
  assert.equal(await alice.exists('#destroy'), true, 'the admin may destroy')

  await bob.input('#join-id', roomId)
  await bob.tap('#join')
  await bob.onPage('pages/room/room')
  const b = await bob.until((d) => d.ready && member(d, 'Alice') && member(d, 'Bob'), 'bob sees both members')
  assert.equal(b.room.isAdmin, false)
  assert.equal(await bob.exists('#destroy'), false, 'members may not destroy')
  assert.equal(await bob.exists('#edit-notice'), false, 'members may not edit the notice')
  assert.equal(member(b, 'Alice').admin, true)

  // presence: each has the room open and a live connection
  await alice.until((d) => member(d, 'Bob') && member(d, 'Bob').online, 'alice sees bob here')
  await bob.until((d) => member(d, 'Alice') && member(d, 'Alice').online && d.onlineCount === 2, 'bob sees alice here')
})

test('messages arrive live on every member’s page', async () => {
  await alice.input('#draft', '大家好，欢迎来到会场')
  await alice.tap('#send')
  await bob.until((d) => texts(d).includes('大家好，欢迎来到会场'), 'bob gets alice’s message live')
  await alice.until((d) => d.draft === '' && texts(d).includes('大家好，欢迎来到会场'), 'alice sees her own')

  await bob.input('#draft', '你好 Alice！')
  await bob.tap('#send')
  const a = await alice.until((d) => texts(d).includes('你好 Alice！'), 'alice gets bob’s message live')
  // Two phones hear a message in no set order: bob's own page may show it a moment later.
  const b = await bob.until((d) => texts(d).includes('你好 Alice！'), 'bob sees his own message')
  assert.deepEqual(texts(a), ['大家好，欢迎来到会场', '你好 Alice！'])
  assert.deepEqual(texts(b), texts(a), 'both pages show the same conversation, in order')
  assert.deepEqual(a.messages.map((m) => m.mine), [true, false])
  assert.deepEqual(b.messages.map((m) => m.mine), [false, true])
  assert.deepEqual(a.messages.map((m) => m.nick), ['Alice', 'Bob'])
  // and it is on the screen, not only in the data
  assert.match(await bob.text('#messages'), /你好 Alice！/)
})

test('history pages back, page by page, to the first message', async () => {
  // 45 more messages, sent through the app's SDK (faster than typing them)
  await alice.run(async ({ app, arg }) => {
    for (let i = 1; i <= 45; i++) await app.history.send(arg, `第 ${i} 条`)
  }, roomId)
  const all = ['大家好，欢迎来到会场', '你好 Alice！', ...Array.from({ length: 45 }, (_, i) => `第 ${i + 1} 条`)]
  await bob.until((d) => texts(d).length === 47, 'bob got all 47 live')

  // bob opens the room afresh from his list of rooms on the home page: the newest page,
  // then back through the history
  await bob.open('/pages/index/index')
  await bob.until((d) => d.rooms.some((r) => r.id === roomId && !r.admin), 'the room in bob’s list')
  await bob.tap(`#room-${roomId}`)
  await bob.onPage('pages/room/room')
  let b = await bob.until((d) => d.ready && d.messages.length > 0, 'the room reopened')
  assert.deepEqual(texts(b), all.slice(-20))
  assert.equal(b.more, true)
  await bob.tap('#older')
  b = await bob.until((d) => d.messages.length === 40 && !d.loadingOlder, 'the second page')
  assert.deepEqual(texts(b), all.slice(-40))
  assert.equal(b.more, true)
  await bob.tap('#older')
  b = await bob.until((d) => d.messages.length === 47 && !d.loadingOlder, 'the third page')
  assert.deepEqual(texts(b), all, 'every message once, oldest first')
  assert.equal(b.more, false)
  assert.equal(await bob.exists('#older'), false, 'nothing older to load')

  // the function pages the same way
  const page = await callIn(bob, 'history', 'page', [roomId, { limit: 5, before: b.messages[10].id }])
  assert.equal(page.ok, true)
  assert.deepEqual(page.value.items.map((m) => m.text), all.slice(5, 10))
  assert.equal(page.value.more, true)
  ids.message = b.messages[0].id
})

test('a non-member cannot read the room: not through the functions, the table API or the live channel', async () => {
  const group = `room-${roomId}`
  // the functions
  for (const [mod, fn, args, code] of [
    ['history', 'page', [roomId, { limit: 20 }], 'NOT_A_MEMBER'],
    ['history', 'send', [roomId, 'let me in'], 'NOT_A_MEMBER'],
    ['chatroom', 'info', [roomId], 'ROOM_NOT_FOUND'],
    ['chatroom', 'setNotice', [roomId, 'hijacked'], 'ROOM_NOT_FOUND'],
    ['chatroom', 'destroy', [roomId], 'ROOM_NOT_FOUND'],
    ['chatuser', 'presence', [roomId, true], 'NOT_A_MEMBER'],
  ]) {
    const r = await callIn(carol, mod, fn, args)
    assert.equal(r.ok, false, `${mod}.${fn} refused`)
    assert.equal(r.code, code, `${mod}.${fn}`)
  }

  // the table API, through the SDK: the server's rules leave nothing to read
  const viaSdk = await carol.run(async ({ app, arg }) => {
    const yq = app.yq
    const out = {}
    out.messages = (await yq.table('messages').where('_group', arg.group).fetch()).items.length
    out.all = (await yq.table('messages').limit(100).fetch()).items.length
    out.rooms = (await yq.table('rooms').where('code', arg.roomId).fetch()).items.length
    out.members = (await yq.table('members').where('room', arg.roomId).fetch()).items.length
    try {
      await yq.table('messages').get(arg.message)
      out.get = 'read it'
    } catch (e) {
      out.get = e.code
    }
    try {
      await yq.table('messages').create({ _group: arg.group, room: arg.roomId, text: 'spoofed', from: 'x' })
      out.create = 'created'
    } catch (e) {
      out.create = e.code
    }
    return out
  }, { group, roomId, message: ids.message })
  assert.deepEqual(viaSdk, { messages: 0, all: 0, rooms: 0, members: 0, get: 'NOT_FOUND', create: 'FORBIDDEN' })

  // the table API over plain HTTP, with carol's token
  const token = await carol.run(({ app }) => app.yq.auth.token)
  const q = await http(server, 'POST', '/v1/tables/messages/query', { token, body: { where: [['_group', 'eq', group]] } })
  assert.equal(q.status, 200)
  assert.deepEqual(q.data.items, [])
  const g = await http(server, 'GET', `/v1/tables/messages/records/${ids.message}`, { token })
  assert.equal(g.status, 404)
  // members cannot write around the functions either: records belong to server code
  const bobToken = await bob.run(({ app }) => app.yq.auth.token)
  const w = await http(server, 'POST', '/v1/tables/messages/records', { token: bobToken, body: { _group: group, room: roomId, text: 'direct', from: ids.bob } })
  assert.equal(w.status, 403)
  const u = await http(server, 'POST', '/v1/batch', { token: bobToken, body: { ops: [{ op: 'update', table: 'messages', id: ids.message, data: { text: 'edited' } }] } })
  assert.equal(u.status, 403, JSON.stringify(u.data))

  // the live channel: no plain room topic to subscribe to, and table events of the room's
  // records are not delivered to her
  const live = await carol.run(async ({ app, arg }) => {
    const yq = app.yq
    const out = {}
    try {
      await yq.channel.subscribe(`room.${arg.roomId}`, () => {})
      out.topic = 'subscribed'
    } catch (e) {
      out.topic = e.code
    }
    globalThis.carolSaw = []
    globalThis.carolWatch = await yq.table('messages').watch({ _group: arg.group })
    globalThis.carolWatch.on('change', (op, r) => globalThis.carolSaw.push(op + ':' + (r.text || r._id)))
    const rooms = await yq.table('rooms').watch({ code: arg.roomId })
    rooms.on('change', (op, r) => globalThis.carolSaw.push('room ' + op))
    globalThis.carolRooms = rooms
    return out
  }, { group, roomId })
  assert.equal(live.topic, 'FORBIDDEN', 'room.* topics are closed by the project’s topic rule')

  await alice.input('#draft', '只有成员能看到这条')
  await alice.tap('#send')
  await bob.until((d) => texts(d).includes('只有成员能看到这条'), 'bob (a member) gets it live')
  await sleep(500)
  const saw = await carol.run(async () => {
    const s = globalThis.carolSaw
    await globalThis.carolWatch.unsubscribe()
    await globalThis.carolRooms.unsubscribe()
    return s
  })
  assert.deepEqual(saw, [], 'carol’s subscriptions got nothing of the room')
})

test('the notice board: only the admin edits it, and a change reaches every member', async () => {
  // carol joins now, from the home page
  await carol.input('#join-id', roomId)
  await carol.tap('#join')
  await carol.onPage('pages/room/room')
  await carol.until((d) => d.ready && d.members.length === 3, 'carol in, three members')
  await alice.until((d) => member(d, 'Carol') && member(d, 'Carol').online, 'alice sees carol arrive')

  const refused = await callIn(bob, 'chatroom', 'setNotice', [roomId, 'Bob was here'])
  assert.equal(refused.code, 'ROOM_ADMIN_ONLY')
  assert.equal(refused.status, 403)

  await alice.tap('#edit-notice')
  await alice.until((d) => d.editingNotice, 'the notice editor')
  const notice = '14:00 主会场：开幕式\n15:30 分会场 B：小程序云开发'
  await alice.input('#notice-input', notice)
  await alice.tap('#save-notice')
  for (const p of [alice, bob, carol]) {
    await p.until((d) => d.room.notice === notice && !d.editingNotice, `${p.user} sees the new notice`)
    assert.match(await p.text('#notice-text'), /开幕式/)
  }
})

test('pictures: alice picks a photo; it is uploaded and sent, and every member sees its thumbnail', async () => {
  const pic = photo('conference.png', 320, 240, 7)
  await alice.media(pic.path)
  await alice.tap('#picture')
  const withPicture = (d) => d.messages.find((m) => m.picture && m.thumb)
  const a = await alice.until(withPicture, 'alice sees her picture')
  const m = withPicture(a)
  assert.equal(m.mine, true)
  assert.equal(a.uploading, -1, 'the upload is over')
  // The bytes went up through wx.uploadFile (the shim's multipart POST), once.
  const tasks = await alice.run(({ shim }) => shim.ctl.requests.filter((r) => r.api === 'uploadFile').length)
  assert.equal(tasks, 1)
  // A public file of alice's, ready, of exactly the picked bytes.
  const file = await http(server, 'GET', `/v1/files/${m.picture}`)
  assert.equal(file.status, 200, 'anyone may read it: a public file')
  assert.deepEqual([file.data.status, file.data.public, file.data.owner, file.data.size], ['ready', true, ids.alice, pic.bytes.length])
  assert.ok((await load(file.data.url)).equals(pic.bytes))

  for (const p of [bob, carol]) {
    const d = await p.until((x) => x.messages.some((y) => y.picture === m.picture && y.thumb), `${p.user} sees the thumbnail`)
    const seen = d.messages.find((y) => y.picture === m.picture)
    assert.deepEqual([seen.nick, seen.mine, seen.text], ['Alice', false, ''])
    assert.equal(await p.exists(`#p-${seen.id}`), true, 'on the screen')
    const shown = await load(seen.thumb)
    assert.deepEqual(imageSize(shown), { type: 'png', width: 100, height: 100 }, 'a 100x100 thumbnail')
  }
  // A tap opens the whole picture in WeChat's viewer.
  await bob.tap(`#p-${m.id}`)
  const viewed = await until(async () => (await bob.ui()).find((u) => u.api === 'previewImage'), 'bob previews it')
  assert.ok((await load(viewed.urls[0])).equals(pic.bytes))
  // A picture is a file id the function checks; a message is text, a picture, or both.
  const bad = await callIn(bob, 'history', 'send', [roomId, '', { picture: '../../etc/passwd' }])
  assert.deepEqual([bad.ok, bad.code], [false, 'INVALID_ARGUMENT'])
  const empty = await callIn(bob, 'history', 'send', [roomId, '  '])
  assert.deepEqual([empty.ok, empty.code], [false, 'INVALID_ARGUMENT'])
})

test('avatars: carol picks one with the chooseAvatar button; it shows on her profile and in the room', async (t) => {
  const face = photo('carol.png', 96, 96, 3)
  // carol goes back to the home page, picks an avatar, and comes back to the room
  await carol.run(({ page }) => page.back())
  await carol.onPage('pages/index/index')
  await carol.until((d) => !d.busy && d.nickname, 'home loaded')
  await carol.event('#avatar', 'chooseavatar', { avatarUrl: face.path })
  const home = await carol.until((d) => d.avatar && !d.busy, 'carol’s avatar on her profile')
  assert.match(home.avatar, /\/v1\/files\/[0-9a-z]{26}\/content$/i)
  assert.ok((await load(home.avatar)).equals(face.bytes), 'the stable URL serves it, no token needed')
  const me = await carol.run(({ app }) => app.yq.auth.user.avatar_url)
  assert.equal(me, home.avatar)
  assert.equal(await carol.exists('#avatar-image'), true)

  await alice.until((d) => member(d, 'Carol') && member(d, 'Carol').avatar === home.avatar, 'alice sees carol’s avatar in the member list')
  await carol.tap(`#room-${roomId}`)
  await carol.onPage('pages/room/room')
  await carol.until((d) => d.ready && d.members.length === 3, 'carol back in the room')
  await carol.input('#draft', '换了个头像')
  await carol.tap('#send')
  const a = await alice.until((d) => d.messages.some((m) => m.text === '换了个头像'), 'alice gets carol’s message')
  assert.equal(a.messages.find((m) => m.text === '换了个头像').avatar, home.avatar, 'beside her message too')
  await alice.until((d) => member(d, 'Carol') && member(d, 'Carol').online, 'carol is here again')
})

test('a dropped connection resumes without losing or doubling a message', async () => {
  // count what bob's page's live query delivers, beside the page itself, and when bob's
  // channel was down
  await bob.run(({ app, page }) => {
    globalThis.creates = []
    globalThis.down = null
    globalThis.up = null
    page.messagesLive.on('create', (m) => globalThis.creates.push(m.text))
    app.yq.channel.on('close', () => {
      if (!globalThis.down) globalThis.down = Date.now()
    })
    app.yq.channel.on('reconnect', () => {
      if (!globalThis.up) globalThis.up = Date.now()
    })
  })
  const stream = Array.from({ length: 30 }, (_, i) => `stream ${i + 1}`)
  const sending = alice.run(async ({ app, arg }) => {
    const sentAt = []
    for (const t of arg.stream) {
      await app.history.send(arg.roomId, t)
      sentAt.push(Date.now())
      await new Promise((r) => setTimeout(r, 40))
    }
    return sentAt
  }, { roomId, stream })
  await bob.until((d) => texts(d).filter((t) => t.startsWith('stream ')).length >= 5, 'bob hears the stream')
  // bob's network goes away mid-stream (700 ms; 2 s on the Lambda face, where one send
  // takes a few hundred ms): his socket dies without a close handshake, and reconnecting
  // fails until the network is back
  const dropped = await bob.offline(process.env.YUNQIAO_TEST_BASE_URL ? 2000 : 700)
  assert.equal(dropped, 1, 'one socket for the whole app')
  const sentAt = await sending

  const b = await bob.until((d) => texts(d).filter((t) => t.startsWith('stream ')).length === 30, 'bob has the whole stream', 30000)
  assert.deepEqual(texts(b).filter((t) => t.startsWith('stream ')), stream, 'nothing lost, in order')
  await sleep(600) // anything doubled would arrive by now
  const seen = await bob.run(() => ({ creates: globalThis.creates, down: globalThis.down, up: globalThis.up }))
  assert.ok(seen.down && seen.up && seen.up > seen.down, 'the SDK reconnected by itself')
  const missed = sentAt.filter((t) => t > seen.down && t < seen.up).length
  // How many depends on the machine's speed; that any were, and all arrived once, does not.
  assert.ok(missed >= 1, `messages were sent while bob was away (${missed}): the resume replayed them`)
  const streamed = seen.creates.filter((t) => t.startsWith('stream '))
  assert.deepEqual(streamed, stream, 'the live query delivered each message once, in order')
  const d = await bob.data()
  assert.equal(new Set(d.messages.map((m) => m.id)).size, d.messages.length, 'no message twice on the page')
  await alice.until((x) => texts(x).filter((t) => t.startsWith('stream ')).length === 30, 'alice has it too')
})

test('presence: a member who puts the app away shows as away, and back', async () => {
  await carol.hide()
  await alice.until((d) => member(d, 'Carol') && !member(d, 'Carol').online, 'alice sees carol away')
  await carol.show()
  await alice.until((d) => member(d, 'Carol') && member(d, 'Carol').online, 'alice sees carol back')
  // carol missed nothing meanwhile: what was sent while she was away is on her page
  await alice.input('#draft', '卡罗尔回来了吗？')
  await alice.tap('#send')
  await carol.until((d) => texts(d).includes('卡罗尔回来了吗？'), 'carol hears it')
})

test('leave: bob leaves; the others see him go and he can no longer read the room', async () => {
  await bob.tap('#leave')
  await bob.onPage('pages/index/index')
  await alice.until((d) => !member(d, 'Bob') && d.members.length === 2, 'alice sees bob gone')
  await carol.until((d) => !member(d, 'Bob'), 'carol sees bob gone')
  const r = await callIn(bob, 'history', 'page', [roomId, {}])
  assert.equal(r.code, 'NOT_A_MEMBER')
  const n = await bob.run(async ({ app, arg }) => (await app.yq.table('messages').where('_group', arg).fetch()).items.length, `room-${roomId}`)
  assert.equal(n, 0, 'the table rules took him out with the group')
  const home = await bob.until((d) => !d.rooms.some((x) => x.id === roomId), 'his room list no longer has it')
  assert.ok(home)
})

test('destroy: the admin only; every member’s page closes and nobody can read the room any more', async () => {
  const refused = await callIn(carol, 'chatroom', 'destroy', [roomId])
  assert.equal(refused.code, 'ROOM_ADMIN_ONLY')
  assert.equal(await carol.exists('#destroy'), false)

  await alice.tap('#destroy')
  await alice.onPage('pages/index/index')
  assert.ok((await alice.ui()).some((u) => u.api === 'showModal' && u.title === '解散房间'), 'asked first')
  const c = await carol.until((d) => d.closed, 'carol’s page closes')
  assert.equal(c.closed, '房间已被管理员解散')
  assert.equal(await carol.exists('#send'), false, 'no composer on a closed room')

  for (const p of [alice, carol]) {
    const r = await callIn(p, 'history', 'page', [roomId, {}])
    assert.equal(r.code, 'NOT_A_MEMBER', `${p.user} can no longer read`)
  }
  const again = await callIn(bob, 'chatroom', 'join', [roomId])
  assert.equal(again.code, 'ROOM_CLOSED')
  const adminView = await http(server, 'POST', '/v1/tables/messages/query', { token: server.adminKey, body: { where: [['_group', 'eq', `room-${roomId}`]], limit: 1 } })
  assert.equal(adminView.data.items.length, 1, 'the messages are still there (for admins only)')
})

test('GPS: a room for people nearby admits them and refuses those too far away', async () => {
  const venue = { lat: 31.2304, lng: 121.4737 }
  await alice.setLocation(venue)
  await bob.setLocation({ lat: 31.2311, lng: 121.4745 }) // about 110 m away
  await carol.setLocation({ lat: 31.2755, lng: 121.4737 }) // about 5 km away
  await carol.open('/pages/index/index')
  await bob.open('/pages/index/index')

  await alice.input('#room-name', '分会场 B')
  await alice.change('#limit-location', true)
  await alice.until((d) => d.limitLocation, 'the radius field')
  await alice.input('#radius', '300')
  await alice.tap('#create')
  await alice.onPage('pages/room/room')
  const a = await alice.until((d) => d.ready, 'the GPS room')
  assert.deepEqual(a.room.gps, { lat: venue.lat, lng: venue.lng, radiusM: 300 })
  const gpsRoom = a.room.id

  await bob.input('#join-id', gpsRoom)
  await bob.tap('#join')
  await bob.onPage('pages/room/room')
  await bob.until((d) => d.ready && d.room.id === gpsRoom, 'bob (nearby) is in')
  assert.ok((await bob.ui()).some((u) => u.api === 'getLocation'), 'the page asked for the location')

  await carol.input('#join-id', gpsRoom)
  await carol.tap('#join')
  const c = await carol.until((d) => d.error && !d.busy, 'carol refused')
  assert.match(c.error, /太远/)
  assert.match(c.error, /限 300 米内/)
  assert.equal(await carol.route(), 'pages/index/index')
  const far = await callIn(carol, 'chatroom', 'join', [gpsRoom, { lat: 31.2755, lng: 121.4737 }])
  assert.equal(far.code, 'TOO_FAR')
  assert.ok(far.details.distanceM > 4900 && far.details.distanceM < 5100, JSON.stringify(far.details))

  await carol.setLocation(null) // location refused
  await carol.tap('#join')
  const c2 = await carol.until((d) => d.error && d.error !== c.error && !d.busy, 'carol without a location')
  assert.match(c2.error, /位置/)
  const r = await callIn(carol, 'history', 'page', [gpsRoom, {}])
  assert.equal(r.code, 'NOT_A_MEMBER')
})

test('expiry: an expired room refuses to be joined and is swept by its schedule', async () => {
  await alice.open('/pages/index/index')
  await alice.until((d) => d.nickname === 'Alice' && !d.busy, 'home')
  await alice.input('#room-name', '一闪而过')
  await alice.input('#hours', '0.0005') // 1.8 s
  await alice.tap('#create')
  await alice.onPage('pages/room/room')
  const a = await alice.until((d) => d.ready, 'the short room')
  const shortRoom = a.room.id
  await sleep(Math.max(0, a.room.expiresAt - Date.now()) + 200)

  await bob.open('/pages/index/index')
  await bob.until((d) => !d.busy && d.nickname === 'Bob', 'bob home')
  await bob.input('#join-id', shortRoom)
  await bob.tap('#join')
  const b = await bob.until((d) => d.error && !d.busy, 'bob refused')
  assert.equal(b.error, '房间已过期')
  const send = await callIn(alice, 'history', 'send', [shortRoom, 'still there?'])
  assert.equal(send.code, 'ROOM_EXPIRED')

  // the schedule's export, run by hand as the admin: the room is closed, its members out
  const sweep = await http(server, 'POST', '/v1/fn/chatroom/sweep', { token: server.adminKey, body: { args: [] } })
  assert.equal(sweep.status, 200, JSON.stringify(sweep.data))
  assert.ok(sweep.data.result.closed >= 1)
  await alice.until((d) => d.closed === '房间已过期', 'alice’s page says so')
  const mine = await callIn(alice, 'chatroom', 'listMyRooms', [])
  assert.ok(!mine.value.some((r) => r.id === shortRoom), 'no longer among her rooms')
  const notMember = await callIn(bob, 'chatroom', 'sweep', [])
  assert.equal(notMember.code, 'FUNCTION_FORBIDDEN', 'users cannot run the sweep')
})

test('the mini-program threw nothing uncaught on any phone, and no function failed', async () => {
  for (const p of phones) assert.deepEqual(await p.errors(), [], p.user)
  for (const m of ['chatroom', 'chatuser', 'history']) {
    const r = await http(server, 'GET', `/v1/functions/${m}/logs?limit=200`, { token: server.adminKey })
    assert.equal(r.status, 200)
    assert.ok(r.data.items.length > 0, `${m} was called`)
    const failed = r.data.items.filter((x) => /^(FUNCTION_(FAILED|TIMEOUT|OUT_OF_MEMORY|STACK_OVERFLOW|RESULT_TOO_LARGE)|HOOK_DEPTH_EXCEEDED)$/.test(x.outcome))
    assert.deepEqual(failed, [], `${m}: calls that failed in the function`)
  }
})
