import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'

import { YunqiaoError } from '../src/index.js'
import { admin, client, makeTable, PLATFORMS, proxy, server, uniq, until, user } from './harness.mjs'

/** Publishes as the server does for cloud functions: POST /v1/events/{topic}. */
function serverPublish(topic, data) {
  return admin('POST', `/v1/events/${topic}`, { data })
}

/** Asserts `got` is exactly 1..n, once each, in order. */
function assertExactly(got, n, what) {
  const want = Array.from({ length: n }, (_, i) => i + 1)
  const dupes = got.filter((x, i) => got.indexOf(x) !== i)
  const missing = want.filter((x) => got.indexOf(x) < 0)
  assert.deepEqual({ dupes, missing }, { dupes: [], missing: [] }, `${what}: nothing lost, nothing doubled`)
  assert.deepEqual(got, want, `${what}: in order`)
}

for (const platform of PLATFORMS) {
  describe(`channel (${platform})`, () => {
    let notes
    before(async () => {
      notes = await makeTable(
        {
          fields: [
            { name: 'title', type: 'string' },
            { name: 'status', type: 'string', index: true },
            { name: 'n', type: 'integer' },
          ],
          acl: { record: 'rwd:r:r' },
        },
        'notes',
      )
    })

    test('direct messages: send, listen, the server attaches the sender; liveUsers', async () => {
      const alice = await user(platform)
      const bob = await user(platform)
      const got = []
      const all = []
      alice.channel.listen('chat', (body, from) => got.push({ body, from }))
      alice.channel.listen('*', (body, from, frame) => all.push(frame.cmd))
      await alice.channel.connect()
      const ack = await bob.channel.send('chat', { text: '你好' }, alice.auth.user.id)
      assert.equal(ack.delivered, 1)
      await bob.channel.send('wave', null, { user: alice.auth.user.id })
      await until(() => all.length === 2, 15000, 'two messages')
      assert.equal(got.length, 1)
      assert.deepEqual(got[0].body, { text: '你好' })
      assert.equal(got[0].from.user.id, bob.auth.user.id, 'sender from the server')
      assert.ok(got[0].from.connection)
      assert.deepEqual(all, ['chat', 'wave'])
      const users = await bob.channel.liveUsers()
      const ids = users.map((u) => u.id)
      assert.ok(ids.includes(alice.auth.user.id) && ids.includes(bob.auth.user.id))
      assert.equal(users[0].openid, undefined, 'public profiles only')
      const bad = await bob.channel.send('chat', 1, {}).catch((x) => x)
      assert.equal(bad.code, 'INVALID_ARGUMENT')
    })

    test('subscribe / publish and bucky aliases attach / fireEvent / detach, on one socket', async () => {
      const p = await proxy((await server()).wsUrl)
      const alice = await user(platform, undefined, { wsUrl: p.url })
      const bob = await user(platform)
      const topic = uniq('room').replace(/_/g, '.')
      const other = uniq('room').replace(/_/g, '.')
      const a = []
      const b = []
      const sub = await alice.channel.subscribe(topic, (data, frame) => a.push({ data, from: frame.from }))
      assert.equal(sub.topic, topic)
      const fn = (data) => b.push(data)
      await alice.channel.attach(other, fn)
      const r = await bob.channel.publish(topic, { n: 1 })
      assert.equal(r.delivered, 1)
      assert.equal(typeof r.seq, 'number')
      await bob.channel.fireEvent(other, 'x')
      await until(() => a.length === 1 && b.length === 1, 15000, 'both events')
      assert.equal(a[0].from.user.id, bob.auth.user.id)
      assert.equal(p.connections, 1, 'one socket for every subscription')
      if (platform === 'wx') assert.equal(alice.shim.ctl.sockets, 1)

      await alice.channel.detach(other, fn)
      await bob.channel.publish(other, 'after detach')
      await bob.channel.publish(topic, { n: 2 })
      await until(() => a.length === 2, 15000, 'the second event')
      assert.deepEqual(b, ['x'], 'nothing after detach')
      await sub.unsubscribe()
      const none = await bob.channel.publish(topic, { n: 3 })
      assert.equal(none.delivered, 0)
    })

    test('presence: joins and leaves on a topic, online/offline app-wide', async () => {
      const alice = await user(platform)
      const bob = await user(platform)
      const topic = uniq('lobby').replace(/_/g, '.')
      const joins = []
      const sub = await alice.channel.subscribe(topic, null, { presence: true, onPresence: (p) => joins.push(p) })
      await bob.channel.subscribe(topic, () => {})
      await until(() => joins.some((j) => j.state === 'join' && j.user.id === bob.auth.user.id), 15000, 'bob joins')
      const online = await alice.channel.online(topic)
      assert.ok(online.users.some((u) => u.id === bob.auth.user.id))
      await bob.channel.unsubscribe(topic)
      await until(() => joins.some((j) => j.state === 'leave' && j.user.id === bob.auth.user.id), 15000, 'bob leaves')
      await sub.unsubscribe()

      const states = []
      await alice.channel.subscribe('presence', (p) => states.push(p))
      const carol = await user(platform)
      await carol.channel.connect()
      await until(() => states.some((p) => p.state === 'online' && p.user.id === carol.auth.user.id), 15000, 'carol online')
      carol.close()
      await until(() => states.some((p) => p.state === 'offline' && p.user.id === carol.auth.user.id), 15000, 'carol offline')
    })

    test('table(name).watch(where): create, update, leave, enter, delete', async () => {
      const alice = await user(platform)
      const bob = await user(platform)
      const events = []
      const live = await alice.table(notes).watch({ status: 'open' })
      for (const ev of ['create', 'update', 'enter', 'leave', 'delete']) live.on(ev, (rec) => events.push([ev, rec]))
      const changes = []
      live.on('change', (op) => changes.push(op))
      const t = bob.table(notes)
      const r = await t.create({ title: 'a', status: 'open' })
      await t.create({ title: 'hidden', status: 'closed' })
      await t.update(r._id, { title: 'b' })
      await t.update(r._id, { status: 'closed' })
      await t.update(r._id, { status: 'open' })
      await t.remove(r._id)
      await until(() => events.length === 5, 15000, 'five changes')
      assert.deepEqual(
        events.map((e) => e[0]),
        ['create', 'update', 'leave', 'enter', 'delete'],
      )
      assert.equal(events[0][1].title, 'a')
      assert.equal(events[1][1].title, 'b')
      assert.deepEqual(events[2][1], { _id: r._id })
      assert.deepEqual(changes, ['create', 'update', 'leave', 'enter', 'delete'])

      // The same filter shares the subscription; another filter on one client is refused.
      const same = await alice.channel.table(notes).watch({ status: 'open' })
      const conflict = await alice.channel
        .table(notes)
        .watch({ status: 'closed' })
        .catch((x) => x)
      assert.ok(conflict instanceof YunqiaoError)
      assert.equal(conflict.code, 'WATCH_CONFLICT')
      const seenBySame = []
      same.on('create', (rec) => seenBySame.push(rec.title))
      await t.create({ title: 'c', status: 'open' })
      await until(() => seenBySame.length === 1 && events.length === 6, 15000, 'both watchers')
      await live.unsubscribe()
      await same.unsubscribe()

      // A query's equalities watch too.
      const q = await alice.table(notes).where('status', 'draft').watch()
      const drafts = []
      q.on('create', (rec) => drafts.push(rec.title))
      await t.create({ title: 'd', status: 'draft' })
      await until(() => drafts.length === 1, 15000, 'draft')
      await q.unsubscribe()
    })

    test('refusals: forbidden topics, logged-out clients', async () => {
      const pattern = uniq('staff') + '.*'
      await admin('PUT', `/v1/topics/rules/${pattern}`, { subscribe: 'nobody', publish: 'nobody' })
      const alice = await user(platform)
      const topic = pattern.replace('*', 'x')
      const e = await alice.channel.subscribe(topic, () => {}).catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.equal(e.code, 'FORBIDDEN')
      const pub = await alice.channel.publish(topic, 1).catch((x) => x)
      assert.equal(pub.code, 'FORBIDDEN')
      // The socket is still good.
      const ok = await alice.channel.publish(uniq('free').replace(/_/g, '.'), 1)
      assert.equal(ok.seq, null)

      const anon = await client(platform)
      const u = await anon.channel.subscribe('room.1', () => {}).catch((x) => x)
      assert.equal(u.code, 'UNAUTHENTICATED')
    })

    test('reconnect and resume: connections cut mid-stream, nothing lost, nothing doubled', async () => {
      const p = await proxy((await server()).wsUrl)
      const alice = await user(platform, undefined, { wsUrl: p.url })
      const topic = uniq('stream').replace(/_/g, '.')
      const got = []
      const reconnecting = []
      let reconnects = 0
      alice.channel.on('reconnecting', (r) => reconnecting.push(r))
      alice.channel.on('reconnect', () => reconnects++)
      await alice.channel.subscribe(topic, (n) => got.push(n))
      const N = 60
      for (let n = 1; n <= N; n++) {
        if (n % 15 === 0) p.cut()
        await serverPublish(topic, n)
      }
      await until(() => got.length >= N, 30000, `all ${N} events`)
      await until(() => reconnects >= 1, 15000, 'a reconnect')
      // Anything doubled would come before a last event published after everything.
      await serverPublish(topic, N + 1)
      await until(() => got.includes(N + 1), 15000, 'the sentinel')
      assertExactly(got, N + 1, 'topic events')
      assert.ok(p.connections >= 2, 'it did reconnect')
      const o = alice.channel.options
      for (const { attempt, delay } of reconnecting) {
        assert.ok(delay >= 0 && delay <= Math.min(o.reconnectCap, o.reconnectBase * (2 ** attempt - 1)), `jittered, capped backoff (${attempt}: ${delay})`)
      }
      assert.equal(alice.channel._attempt, 0, 'the attempt count starts over once subscribed again')
    })

    test('resume drops repeated sequence numbers; resync when frames were not kept', async () => {
      const p = await proxy((await server()).wsUrl)
      const alice = await user(platform, undefined, { wsUrl: p.url })
      const topic = uniq('dup').replace(/_/g, '.')
      const got = []
      const resyncs = []
      const sub = await alice.channel.subscribe(topic, (n) => got.push(n))
      sub.on('resync', () => resyncs.push(1))
      for (let n = 1; n <= 10; n++) await serverPublish(topic, n)
      await until(() => got.length === 10, 15000, 'ten events')
      const ts = alice.channel._topics.get(topic)
      // Make the resume ask for frames it has already seen: the server replays them, the
      // SDK must drop every one.
      ts.lastSeq -= 6
      p.cut()
      await until(() => alice.channel.state === 'open' && ts.status === 'active' && p.connections >= 2, 15000, 'resubscribed')
      await serverPublish(topic, 11)
      await until(() => got.includes(11), 15000, 'event 11')
      assertExactly(got, 11, 'after a resume that replays seen frames')
      assert.equal(resyncs.length, 0)

      // A `since` the server has no frames for answers resync: the app must re-read.
      ts.lastSeq = 1e9
      p.cut()
      await until(() => resyncs.length === 1, 15000, 'resync')
    })

    test('table events resume too: records created while the socket is down arrive once', async () => {
      const p = await proxy((await server()).wsUrl)
      const alice = await user(platform, undefined, { wsUrl: p.url })
      const bob = await user(platform)
      const room = uniq('r')
      const got = []
      const resyncs = []
      const live = await alice.table(notes).watch({ status: room })
      live.on('create', (rec) => got.push(rec.n))
      live.on('resync', () => resyncs.push(got.length))
      const N = 30
      for (let n = 1; n <= N; n++) {
        if (n === 8 || n === 20) p.cut()
        await bob.table(notes).create({ title: 'x', status: room, n })
      }
      await until(() => got.length >= N || resyncs.length > 0, 30000, `${N} creates`)
      await bob.table(notes).create({ title: 'last', status: room, n: N + 1 })
      await until(() => got.includes(N + 1), 15000, 'the sentinel')
      if (resyncs.length === 0) {
        assertExactly(got, N + 1, 'table events')
      } else {
        // The server may answer a resume with resync (documented: the app re-reads).
        // Then: nothing doubled live, and re-reading finds every record.
        const dupes = got.filter((x, i) => got.indexOf(x) !== i)
        assert.deepEqual(dupes, [], 'table events after a resync: nothing doubled')
        const page = await alice.table(notes).where('status', room).limit(100).fetch()
        const ns = page.items.map((r) => r.n).sort((a, b) => a - b)
        assert.deepEqual(ns, Array.from({ length: N + 1 }, (_, i) => i + 1), 'after a resync, a re-read finds every record')
      }
    })

    test('a dead connection (no close, no traffic) is found by the heartbeat', async () => {
      const p = await proxy((await server()).wsUrl)
      const alice = await user(platform, undefined, { wsUrl: p.url, channel: { heartbeat: 150, pongTimeout: 300 } })
      const topic = uniq('hb').replace(/_/g, '.')
      const got = []
      await alice.channel.subscribe(topic, (n) => got.push(n))
      await serverPublish(topic, 1)
      await until(() => got.length === 1, 15000, 'event 1')
      p.stall()
      await serverPublish(topic, 2)
      await serverPublish(topic, 3)
      await until(() => got.length === 3, 20000, 'events 2 and 3 after the heartbeat gave up on the stalled socket')
      assertExactly(got, 3, 'across a stalled connection')
      assert.ok(p.connections >= 2)
    })

    test('app hide closes the socket, app show resumes what was missed', async () => {
      const alice = await user(platform)
      const topic = uniq('bg').replace(/_/g, '.')
      const got = []
      await alice.channel.subscribe(topic, (n) => got.push(n))
      await serverPublish(topic, 1)
      await until(() => got.length === 1, 15000, 'event 1')
      if (platform === 'wx') alice.shim.hide()
      else alice.pause()
      assert.equal(alice.channel.state, 'paused')
      if (platform === 'wx') await until(() => alice.shim.ctl.sockets === 0, 15000, 'the SocketTask closed')
      for (let n = 2; n <= 5; n++) await serverPublish(topic, n)
      assert.deepEqual(got, [1], 'nothing while hidden')
      if (platform === 'wx') alice.shim.show()
      else alice.resume()
      await until(() => got.length === 5, 15000, 'the missed events')
      assertExactly(got, 5, 'across hide and show')
    })

    test('close() stops for good; a later subscribe opens a new socket', async () => {
      const p = await proxy((await server()).wsUrl)
      const alice = await user(platform, undefined, { wsUrl: p.url })
      const topic = uniq('c').replace(/_/g, '.')
      await alice.channel.subscribe(topic, () => {})
      alice.close()
      assert.equal(alice.channel.state, 'closed')
      assert.equal(alice.channel._timer, null, 'no reconnect scheduled')
      await until(() => p.open === 0, 15000, 'the socket closed')
      const got = []
      await alice.channel.subscribe(topic, (n) => got.push(n))
      await serverPublish(topic, 7)
      await until(() => got.length === 1, 15000, 'event after reopening')
    })

    test('a new login reconnects the socket as the new user', async () => {
      const c = await user(platform)
      const first = await c.channel.connect()
      await c.login({ mockUser: uniq('second') })
      const second = await c.channel.connect()
      assert.notEqual(second.user.id, first.user.id)
      assert.equal(second.user.id, c.auth.user.id)
    })
  })
}
