// Cloud functions through the SDK, against the real server (any face: only HTTP through
// the harness's base URL and admin key). The modules are deployed with the admin key in
// `before`, under names unique to the run, so re-runs on a shared face never collide.
//   client.fn(module).export(...args) → POST /v1/fn/{module}/{export} {"args": [...]} → result
//   client.callFunction({name, data})  → POST /v1/fn/{name} {"data": ...} → main(data)
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'

import { YunqiaoError } from '../src/index.js'
import { admin, client, makeTable, PLATFORMS, uniq, until, user } from './harness.mjs'

// One ES module; it may import only "yunqiao". Every export answers anyone unless it says
// otherwise, so identity and rights are the function's to show.
const SOURCE = `
import { db, context, FunctionError, YunqiaoError } from "yunqiao"

export function createRoom(name, opts, tags) {
  return { name, opts, tags, argc: arguments.length, module: context.module, export: context.export, trigger: context.trigger }
}
export function echo(...args) { return args }
export function nothing() {}
export async function later(ms) { await Promise.resolve(); return { waited: ms } }

export function main(data) {
  return { data, request_id: context.request_id, export: context.export, caller: context.caller }
}
export function whoami() { return context.caller }
export function members() { return { ok: true, groups: context.caller.groups } }
export function signedIn() { return context.caller.id }

export function full(asked) {
  throw new FunctionError("ROOM_FULL", "the room is full", 409, { max: 2, asked })
}
export function refuse() { throw new FunctionError("NOT_TODAY", "not today") }
export function pin() { throw new FunctionError("PIN_REQUIRED", "enter your pin", 401, { digits: 6 }) }
export function boom() {
  console.error("about to fail")
  const room = null
  return room.name
}

export async function readNote(table, id) { return db.table(table).get(id) }
export async function readNoteAsAdmin(table, id) { return db.admin().table(table).get(id) }
export async function addNote(table, text) { return db.table(table).create({ text }) }
export async function tryRead(table, id) {
  try {
    return { found: await db.table(table).get(id) }
  } catch (e) {
    return { isYunqiaoError: e instanceof YunqiaoError, code: e.code, status: e.status }
  }
}
`

let MOD
let GROUP
let notes

before(async () => {
  MOD = uniq('fn')
  GROUP = 'staff'
  const deployed = await admin('PUT', `/v1/functions/${MOD}`, {
    source: SOURCE,
    access: 'anyone',
    exports: {
      members: { access: `group:${GROUP}` },
      signedIn: { access: 'users' },
    },
  })
  assert.equal(deployed.name, MOD)
  assert.equal(deployed.version, 1)
  assert.ok(Math.abs(Date.parse(deployed.deployed_at) - Date.now()) < 600e3, `deployed_at is RFC 3339: ${deployed.deployed_at}`)
  const byName = Object.fromEntries(deployed.exports.map((e) => [e.name, e.access]))
  assert.equal(byName.members, `group:${GROUP}`)
  assert.equal(byName.createRoom, 'anyone')
  // Owner-only records: nobody but the creator (and admins) reads them.
  notes = await makeTable({ fields: [{ name: 'text', type: 'string' }], acl: { record: 'rwd:-:-' } }, 'notes')
})

/** A client as a fresh mock user, with the login's answer. */
async function loggedIn(platform) {
  const c = await client(platform)
  const me = await c.login({ mockUser: uniq('u') })
  return { c, me }
}

/** Counts the requests a client makes (through its adapter, on either platform). */
function counting(c) {
  const adapter = c.adapter
  const orig = adapter.request
  const seen = []
  adapter.request = (req) => {
    seen.push(req)
    return orig.call(adapter, req)
  }
  return seen
}

for (const platform of PLATFORMS) {
  describe(`fn (${platform})`, () => {
    test('fn(module).export(...args): several arguments in, an object out', async () => {
      const c = await client(platform)
      const seen = counting(c)
      const chatroom = c.fn(MOD)
      const r = await chatroom.createRoom('会聊', { ttl: 3600, gps: null, nested: { list: [1, '二', true] } }, ['a', 'b'])
      assert.deepEqual(r, {
        name: '会聊',
        opts: { ttl: 3600, gps: null, nested: { list: [1, '二', true] } },
        tags: ['a', 'b'],
        argc: 3,
        module: MOD,
        export: 'createRoom',
        trigger: 'call',
      })
      assert.equal(seen.length, 1)
      assert.equal(seen[0].method, 'POST')
      assert.equal(seen[0].url, `${c.baseUrl}/v1/fn/${MOD}/createRoom`)
      assert.deepEqual(JSON.parse(seen[0].body), { args: ['会聊', { ttl: 3600, gps: null, nested: { list: [1, '二', true] } }, ['a', 'b']] })

      assert.deepEqual(await chatroom.echo(), [], 'no arguments: an empty list')
      assert.deepEqual(await chatroom.echo(0, '', null, false), [0, '', null, false])
      assert.equal(await chatroom.nothing(), null, 'undefined comes back as null')
      assert.deepEqual(await chatroom.later(5), { waited: 5 }, 'an async export is awaited')
      assert.equal(chatroom.createRoom, chatroom.createRoom, 'methods are stable')
      assert.deepEqual(await c.fn.call(MOD, 'echo', ['r1', 2]), ['r1', 2], 'fn.call by name')
      assert.deepEqual(await c.fn.call(MOD, 'echo'), [])
    })

    test('callFunction({name, data}) in CloudBase’s shape: {result, requestID, errMsg}', async () => {
      const c = await client(platform)
      const r = await c.callFunction({ name: MOD, data: { a: 1, text: '你好' } })
      assert.deepEqual(Object.keys(r).sort(), ['errMsg', 'requestID', 'result'])
      assert.equal(r.errMsg, 'cloud.callFunction:ok')
      assert.deepEqual(r.result.data, { a: 1, text: '你好' })
      assert.equal(r.result.export, 'main', 'callFunction calls the export main')
      assert.deepEqual(r.result.caller, { kind: 'anonymous' })
      assert.equal(typeof r.requestID, 'string')
      assert.ok(r.requestID.length > 0)
      assert.equal(r.requestID, r.result.request_id, 'requestID is the request the function ran in')
      const none = await c.callFunction({ name: MOD })
      assert.equal(none.result.data, null, 'no data: null')
      const e = await c.callFunction({ name: uniq('nomod') }).catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.deepEqual([e.code, e.status], ['NOT_FOUND', 404])
      const bad = await /** @type {any} */ (c).callFunction({ data: 1 }).catch((x) => x)
      assert.equal(bad.code, 'INVALID_ARGUMENT', 'no name: refused before any request')
    })

    test('the caller inside the function is the logged-in user, else anonymous', async () => {
      const { c, me } = await loggedIn(platform)
      const caller = await c.fn(MOD).whoami()
      assert.equal(caller.kind, 'user')
      assert.equal(caller.id, me.user.id)
      assert.equal(caller.nickname, me.user.nickname)
      assert.deepEqual(caller.groups, [])
      assert.equal((await c.callFunction({ name: MOD })).result.caller.id, me.user.id)
      assert.equal(await c.fn(MOD).signedIn(), me.user.id, 'an export for users')

      // A second user is a second caller.
      const { c: other, me: them } = await loggedIn(platform)
      assert.equal((await other.fn(MOD).whoami()).id, them.user.id)
      assert.notEqual(them.user.id, me.user.id)

      await c.logout()
      assert.deepEqual(await c.fn(MOD).whoami(), { kind: 'anonymous' }, 'logged out: anonymous')
      const anon = await client(platform)
      assert.deepEqual(await anon.fn(MOD).whoami(), { kind: 'anonymous' })
      const e = await anon.fn(MOD).signedIn().catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.deepEqual([e.code, e.status], ['UNAUTHENTICATED', 401], 'an export for users refuses anonymous callers')
    })

    test('an export for group:staff refuses a normal user (403 FUNCTION_FORBIDDEN), answers a member', async () => {
      const { c, me } = await loggedIn(platform)
      const e = await c.fn(MOD).members().catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.deepEqual([e.code, e.status], ['FUNCTION_FORBIDDEN', 403])
      assert.ok(c.auth.isLoggedIn(), 'a refusal does not end the session')
      const anon = await client(platform)
      const a = await anon.fn(MOD).members().catch((x) => x)
      assert.deepEqual([a.code, a.status], ['UNAUTHENTICATED', 401], 'anonymous: log in first')

      await admin('PATCH', `/v1/admin/users/${me.user.id}`, { groups: [GROUP] })
      assert.deepEqual(await c.fn(MOD).members(), { ok: true, groups: [GROUP] })
    })

    test('a FunctionError arrives as a YunqiaoError with its code, status and details', async () => {
      const c = await client(platform)
      const e = await c.fn(MOD).full(3).catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.deepEqual([e.code, e.status, e.message], ['ROOM_FULL', 409, 'the room is full'])
      assert.deepEqual(e.details, { max: 2, asked: 3 })
      assert.equal(e.errMsg, 'ROOM_FULL: the room is full')
      const d = await c.fn(MOD).refuse().catch((x) => x)
      assert.deepEqual([d.code, d.status, d.message], ['NOT_TODAY', 400, 'not today'], 'the default status is 400')
      const cf = await c.callFunction({ name: MOD, data: null }).then(() => c.fn.call(MOD, 'full', [9])).catch((x) => x)
      assert.deepEqual([cf.code, cf.details.asked], ['ROOM_FULL', 9])
    })

    test('a function’s own 401 is its error: the session stays', async () => {
      const { c, me } = await loggedIn(platform)
      const e = await c.fn(MOD).pin().catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.deepEqual([e.code, e.status, e.details], ['PIN_REQUIRED', 401, { digits: 6 }])
      assert.ok(c.auth.isLoggedIn(), 'still logged in')
      assert.equal((await c.fn(MOD).whoami()).id, me.user.id)
      const cf = await c.callFunction({ name: MOD }).then(() => c.fn(MOD).pin()).catch((x) => x)
      assert.equal(cf.code, 'PIN_REQUIRED')
      assert.equal(c.auth.token, me.token)

      // A token the server no longer knows (logged out elsewhere) does end it.
      const out = await fetch(c.baseUrl + '/v1/auth/logout', { method: 'POST', headers: { authorization: 'Bearer ' + me.token } })
      assert.equal(out.status, 204)
      const gone = await c.fn(MOD).whoami().catch((x) => x)
      assert.deepEqual([gone.code, gone.status], ['INVALID_TOKEN', 401])
      assert.equal(c.auth.isLoggedIn(), false, 'a bad token ends the session')
      assert.deepEqual(await c.fn(MOD).whoami(), { kind: 'anonymous' })
    })

    test('an uncaught exception is FUNCTION_FAILED (500) with details.request_id, in the logs', async () => {
      const c = await client(platform)
      const e = await c.fn(MOD).boom().catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.deepEqual([e.code, e.status], ['FUNCTION_FAILED', 500])
      assert.equal(typeof e.details.request_id, 'string')
      assert.ok(e.details.request_id.length > 0)
      if (e.requestId) assert.equal(e.requestId, e.details.request_id, 'the answer’s x-request-id')
      assert.doesNotMatch(e.message, /room|TypeError|null/, 'no stack or exception text for the caller')
      const entry = await until(
        async () => (await admin('GET', `/v1/functions/${MOD}/logs?limit=50`)).items.find((x) => x.request_id === e.details.request_id),
        15000,
        'the failed call in the logs',
      )
      assert.equal(entry.export, 'boom')
      assert.equal(entry.outcome, 'FUNCTION_FAILED')
      assert.equal(entry.caller, 'anonymous')
      assert.ok(entry.logs.some((l) => l.level === 'error' && l.message === 'about to fail'), JSON.stringify(entry.logs))
    })

    test('an unknown export or module is NOT_FOUND', async () => {
      const c = await client(platform)
      const e = await c.fn(MOD).noSuchExport().catch((x) => x)
      assert.deepEqual([e.code, e.status], ['NOT_FOUND', 404])
      const m = await c.fn(uniq('nomod')).x().catch((x) => x)
      assert.deepEqual([m.code, m.status], ['NOT_FOUND', 404])
    })

    test('wx-style {success, fail, complete} callbacks', async () => {
      const c = await client(platform)
      const mod = c.fn(MOD)
      const done = []
      const r = await new Promise((resolve, reject) =>
        mod.echo('a', 2, { success: resolve, fail: reject, complete: (x) => done.push(['complete', x]) }),
      )
      assert.deepEqual(r, ['a', 2], 'the callbacks are not sent')
      const failed = await new Promise((resolve) =>
        mod.full(1, { success: () => resolve('success?'), fail: resolve, complete: (x) => done.push(['complete', x]) }),
      )
      assert.ok(failed instanceof YunqiaoError)
      assert.equal(failed.code, 'ROOM_FULL')
      assert.equal(failed.errMsg, 'ROOM_FULL: the room is full')
      await until(() => done.length === 2, 5000, 'both completes')
      assert.deepEqual(done[0], ['complete', ['a', 2]])
      assert.equal(done[1][1], failed)
      // With callbacks the promise still resolves; a fail-only caller never meets an
      // unhandled rejection.
      assert.deepEqual(await mod.echo({ success() {} }), [])
      let viaFail = null
      await mod.full(0, { fail: (x) => (viaFail = x) }).catch(() => {})
      await until(() => viaFail, 5000, 'fail')
      assert.equal(viaFail.code, 'ROOM_FULL')
      const kept = await mod.echo({ success: 1, other: 2 })
      assert.deepEqual(kept, [{ success: 1, other: 2 }], 'a data object that merely has such keys is sent')
      const viaCf = await new Promise((resolve, reject) => c.callFunction({ name: MOD, data: { x: 1 }, success: resolve, fail: reject }))
      assert.deepEqual([viaCf.errMsg, viaCf.result.data], ['cloud.callFunction:ok', { x: 1 }])
      const cfFail = await new Promise((resolve) => c.callFunction({ name: uniq('nomod'), success: () => resolve('success?'), fail: resolve }))
      assert.equal(cfFail.code, 'NOT_FOUND')
      const fn = await new Promise((resolve) => c.fn.call(MOD, 'echo', [1], { success: resolve }))
      assert.deepEqual(fn, [1])
    })

    test('db inside a function: the caller’s rights, db.admin() to escalate', async () => {
      const { c: alice, me: a } = await loggedIn(platform)
      const { c: bob, me: b } = await loggedIn(platform)
      const rec = await alice.table(notes).create({ text: 'alice only' })
      assert.equal(rec._owner, a.user.id)

      // alice's own record, read through the function with her rights
      assert.equal((await alice.fn(MOD).readNote(notes, rec._id)).text, 'alice only')
      // bob may not read it: with his rights the function gets NOT_FOUND, let through as is
      const e = await bob.fn(MOD).readNote(notes, rec._id).catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.deepEqual([e.code, e.status], ['NOT_FOUND', 404])
      assert.deepEqual(await bob.fn(MOD).tryRead(notes, rec._id), { isYunqiaoError: true, code: 'NOT_FOUND', status: 404 }, 'a YunqiaoError inside the function')
      const anon = await client(platform)
      const n = await anon.fn(MOD).readNote(notes, rec._id).catch((x) => x)
      assert.deepEqual([n.code, n.status], ['NOT_FOUND', 404], 'nor may anonymous callers')
      // db.admin(): the same read with admin rights finds it
      const found = await bob.fn(MOD).readNoteAsAdmin(notes, rec._id)
      assert.deepEqual([found._id, found._owner, found.text], [rec._id, a.user.id, 'alice only'])

      // a write with the caller's rights belongs to the caller
      const mine = await bob.fn(MOD).addNote(notes, 'bob’s')
      assert.equal(mine._owner, b.user.id)
      assert.equal((await bob.table(notes).get(mine._id)).text, 'bob’s')
      const hidden = await alice.table(notes).get(mine._id).catch((x) => x)
      assert.equal(hidden.code, 'NOT_FOUND')
      const w = await anon.fn(MOD).addNote(notes, 'x').catch((x) => x)
      assert.deepEqual([w.code, w.status], ['UNAUTHENTICATED', 401], 'anonymous may not create (create rule: users)')
    })

    test('the module proxy is not a thenable and not a call for symbols or JSON', async () => {
      const c = await client(platform)
      const seen = counting(c)
      const mod = c.fn(MOD)
      assert.equal(await mod, mod, 'awaiting the module is not a call')
      assert.equal(JSON.stringify({ mod }), '{"mod":{}}')
      assert.equal(String(mod[Symbol.toPrimitive]), 'undefined')
      assert.equal(seen.length, 0)
      assert.throws(() => c.fn(''), (x) => x instanceof YunqiaoError && x.code === 'INVALID_ARGUMENT')
    })
  })
}
