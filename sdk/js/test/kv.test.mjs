import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'

import { admin, client, PLATFORMS, uniq, user } from './harness.mjs'

for (const platform of PLATFORMS) {
  describe(`kv (${platform})`, () => {
    let shared
    let prefs
    before(async () => {
      shared = uniq('kv')
      prefs = uniq('prefs')
      await admin('PUT', `/v1/kv/${shared}`, { read: 'users', write: 'users' })
      await admin('PUT', `/v1/kv/${prefs}`, { scope: 'user' })
    })

    test('set, get, exists, remove — and the bucky names', async () => {
      const c = await user(platform)
      const kv = c.kv(shared)
      const e = await kv.set('greeting', { text: '你好' })
      assert.equal(e._v, 1)
      assert.equal(e.version, undefined, 'an entry\'s version is _v')
      assert.ok(Date.parse(e.updated_at) > 0, 'times are RFC 3339')
      assert.deepEqual(await kv.get('greeting'), { text: '你好' })
      assert.equal(await kv.exists('greeting'), true)
      assert.equal((await kv.getEntry('greeting'))._v, 1)
      assert.equal(await kv.remove('greeting'), true)
      assert.equal(await kv.exists('greeting'), false)
      assert.equal(await kv.get('greeting'), null)
      assert.equal(await kv.get('greeting', { default: 'none' }), 'none')
      assert.equal(await kv.remove('greeting'), false)

      await kv.setObject('obj', [1, 2, 3])
      assert.deepEqual(await kv.getObject('obj'), [1, 2, 3])
      assert.equal(await kv.isObjectExists('obj'), true)
      assert.equal(await kv.removeObject('obj'), true)
      assert.equal(await kv.isObjectExists('obj'), false)

      await kv.set('nothing', null)
      assert.equal(await kv.exists('nothing'), true, 'null is a value')
      assert.equal(await kv.get('nothing', { default: 'absent' }), null)
    })

    test('versions, create-only, ttl', async () => {
      const c = await user(platform)
      const kv = c.kv(shared)
      const key = uniq('k')
      await kv.set(key, 1, { createOnly: true })
      const twice = await kv.set(key, 2, { createOnly: true }).catch((x) => x)
      assert.equal(twice.status, 409)
      assert.equal(twice.code, 'CONFLICT')
      const v2 = await kv.set(key, 2, { _v: 1 })
      assert.equal(v2._v, 2)
      const stale = await kv.set(key, 3, { _v: 1 }).catch((x) => x)
      assert.equal(stale.status, 409)
      assert.deepEqual(stale.details, { field: '_v', current_v: 2 })
      const staleDelete = await kv.remove(key, { _v: 1 }).catch((x) => x)
      assert.equal(staleDelete.status, 409)
      // The option was `version`: the old name is refused, never sent as an unconditional write.
      for (const old of [{ version: 1 }, { v: 1 }]) {
        const refused = await kv.set(key, 'overwritten', old).catch((x) => x)
        assert.ok(refused instanceof TypeError, String(refused))
        assert.match(refused.message, /the version option is _v/)
        const notRemoved = await kv.remove(key, old).catch((x) => x)
        assert.ok(notRemoved instanceof TypeError, String(notRemoved))
      }
      let failed = null
      await new Promise((resolve) => kv.setObject(key, 'x', { version: 2, fail: (e) => ((failed = e), resolve()) }))
      assert.ok(failed instanceof TypeError, 'wx-style callbacks hear it too')
      assert.equal(await kv.get(key), 2, 'nothing was written')
      const t = await kv.set(key, 'temp', { ttl: 3600 })
      assert.ok(Date.parse(t.expires_at) > Date.now() + 3000e3)
      const bad = await kv.set(key, 'x', { ttl: 0 }).catch((x) => x)
      assert.equal(bad.status, 400)
      assert.equal(bad.details.field, 'ttl')
    })

    test('keys with odd characters round-trip', async () => {
      const c = await user(platform)
      const kv = c.kv(shared)
      for (const key of ['a?b', 'x%y', 'user:1|theme', 'emoji~!*()']) {
        await kv.set(key, key)
        assert.equal(await kv.get(key), key)
      }
    })

    test('per-user scope: alice and bob have their own keys', async () => {
      const alice = await user(platform)
      const bob = await user(platform)
      await alice.kv(prefs).set('theme', 'dark')
      assert.equal(await bob.kv(prefs).get('theme'), null)
      await bob.kv(prefs).set('theme', 'light')
      assert.equal(await alice.kv(prefs).get('theme'), 'dark')
      const anon = await client(platform)
      const e = await anon.kv(prefs).get('theme').catch((x) => x)
      assert.equal(e.status, 401)
    })

    test('list with a prefix, page by page', async () => {
      const c = await user(platform)
      const kv = c.kv(prefs)
      for (const k of ['p.a', 'p.b', 'p.c', 'q.a']) await kv.set(k, k)
      const first = await kv.list({ prefix: 'p.', limit: 2 })
      assert.deepEqual(
        first.items.map((e) => e.key),
        ['p.a', 'p.b'],
      )
      const rest = await kv.list({ prefix: 'p.', limit: 2, cursor: first.cursor })
      assert.deepEqual(
        rest.items.map((e) => e.key),
        ['p.c'],
      )
    })

    test('a namespace nobody defined is an error, not an empty value', async () => {
      const c = await user(platform)
      const e = await c.kv(uniq('undefined')).get('k').catch((x) => x)
      assert.equal(e.code, 'NOT_FOUND')
      const r = await c.kv(uniq('undefined')).remove('k').catch((x) => x)
      assert.equal(r.code, 'NOT_FOUND')
    })
  })
}
