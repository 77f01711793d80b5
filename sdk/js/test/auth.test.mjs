import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { createClient, memoryStorage, webAdapter, wxAdapter, YunqiaoError } from '../src/index.js'
import { client, createWx, PLATFORMS, server, uniq, user } from './harness.mjs'

for (const platform of PLATFORMS) {
  describe(`auth (${platform})`, () => {
    test('login as a mock user: the token is kept in the platform storage', async () => {
      const storage = memoryStorage()
      const shim = createWx()
      const c = await client(platform, { storage, shim })
      assert.equal(c.auth.isLoggedIn(), false)
      const name = uniq('alice')
      const r = await c.login({ mockUser: name })
      assert.match(r.token, /\S{20,}/)
      assert.equal(c.auth.token, r.token)
      assert.equal(c.auth.user.id, r.user.id)
      assert.ok(c.auth.expiresAt > Date.now() + 24 * 3600e3, 'expiry read from expires_at')
      const stored = platform === 'wx' ? shim.wx.getStorageSync('yunqiao:session') : storage.get('yunqiao:session')
      assert.equal(stored.token, r.token)

      // The mock's openid is stable per name: the same user again.
      const c2 = await client(platform)
      const r2 = await c2.login({ mockUser: name })
      assert.equal(r2.user.id, r.user.id)
      assert.notEqual(r2.token, r.token)

      // A client on the same storage picks the session up.
      const c3 = await client(platform, { storage, shim })
      assert.equal(c3.auth.isLoggedIn(), true)
      const me = await c3.auth.me()
      assert.equal(me.id, r.user.id)
    })

    test('createClient({mockUser}) makes login() log in as that user', async () => {
      const name = uniq('dev')
      const a = await client(platform, { mockUser: name })
      const b = await client(platform, { mockUser: name })
      const ra = await a.login()
      const rb = await b.login()
      assert.equal(ra.user.id, rb.user.id)
    })

    test('me, bindPhone, errors with code, status and details', async () => {
      const c = await user(platform)
      const me = await c.auth.me()
      assert.equal(me.id, c.auth.user.id)
      const digits = '139' + String(Date.now() * 1000 + Math.floor(Math.random() * 1000)).slice(-8)
      const u = await c.auth.bindPhone(`mock-phone:${digits}`)
      assert.match(u.phone, new RegExp(digits))
      assert.equal(c.auth.user.phone, u.phone)
      const e = await c.auth.bindPhone('not-a-phone-code').then(
        () => null,
        (x) => x,
      )
      assert.ok(e instanceof YunqiaoError)
      assert.equal(e.status, 400)
      assert.equal(e.details.field, 'code')
      assert.ok(e.requestId, 'x-request-id kept')
    })

    // On wx (no PATCH in wx.request) the SDK sends POST + X-HTTP-Method-Override: PATCH.
    test('profile update', async () => {
      const c = await user(platform)
      const u = await c.auth.update({ nickname: '小明', profile: { city: '杭州', lang: 'zh' } })
      assert.equal(u.nickname, '小明')
      const u2 = await c.auth.update({ profile: { lang: null } })
      assert.deepEqual(u2.profile, { city: '杭州' })
      assert.equal(c.auth.user.nickname, '小明')
      if (platform === 'wx') {
        const sent = c.shim.ctl.requests.filter((r) => r.url.endsWith('/v1/auth/me')).map((r) => r.method)
        assert.deepEqual(sent, ['POST', 'POST'], 'tunnelled as POST (the override header says PATCH)')
      }
    })

    test('the token is refreshed before it expires, once for concurrent calls', async () => {
      const storage = memoryStorage()
      const shim = createWx()
      // A margin longer than the 30-day session: every call finds the token close to expiry.
      const c = await client(platform, { refreshMargin: 31 * 24 * 3600e3, storage, shim })
      await c.login({ mockUser: uniq('r') })
      const first = c.auth.token
      let refreshes = 0
      const req = c.adapter.request
      c.adapter.request = (r) => {
        if (r.url.endsWith('/v1/auth/refresh')) refreshes++
        return req.call(c.adapter, r)
      }
      const answers = await Promise.all([c.auth.me(), c.auth.me(), c.auth.me(), c.auth.me()])
      assert.equal(refreshes, 1, 'one refresh for four concurrent calls')
      assert.ok(answers.every((a) => a.id === c.auth.user.id))
      assert.notEqual(c.auth.token, first)
      const stored = platform === 'wx' ? shim.wx.getStorageSync('yunqiao:session') : storage.get('yunqiao:session')
      assert.equal(stored.token, c.auth.token)
      // The new token works on its own.
      const s = await server()
      const res = await fetch(s.baseUrl + '/v1/auth/me', { headers: { authorization: 'Bearer ' + c.auth.token } })
      assert.equal(res.status, 200)
    })

    test('logout ends the session on the server and here', async () => {
      const c = await user(platform)
      const token = c.auth.token
      let changed = 0
      c.auth.on('change', (u) => {
        if (u === null) changed++
      })
      await c.logout()
      assert.equal(c.auth.isLoggedIn(), false)
      assert.equal(changed, 1)
      const s = await server()
      const res = await fetch(s.baseUrl + '/v1/auth/me', { headers: { authorization: 'Bearer ' + token } })
      assert.equal(res.status, 401)
      const e = await c.auth.me().catch((x) => x)
      assert.equal(e.code, 'UNAUTHENTICATED')
      assert.equal(e.status, 401)
    })

    test('a token the server refuses ends the stored session', async () => {
      const storage = memoryStorage()
      storage.set('yunqiao:session', { token: 'yq_forged', expires_at: Date.now() + 10 * 24 * 3600e3, user: { id: 'x' } })
      const shim = createWx()
      shim.wx.setStorageSync('yunqiao:session', storage.get('yunqiao:session'))
      const c = await client(platform, { storage, shim })
      assert.equal(c.auth.isLoggedIn(), true)
      const e = await c.auth.me().catch((x) => x)
      assert.equal(e.status, 401)
      assert.equal(e.code, 'INVALID_TOKEN')
      assert.equal(c.auth.isLoggedIn(), false)
    })

    test('login codes: used once, WeChat errors mapped', async () => {
      const c = await client(platform)
      const code = `mock:${uniq('once')}:n1`
      await c.login({ code })
      const again = await c.login({ code }).catch((x) => x)
      assert.equal(again.code, 'INVALID_LOGIN_CODE')
      assert.equal(again.status, 401)
      const busy = await c.login({ code: 'mock-error:45011' }).catch((x) => x)
      assert.equal(busy.status, 429)
    })

    test('wx-style callbacks: success and complete, or fail and complete', async () => {
      const c = await client(platform)
      const seen = []
      const r = await new Promise((resolve) => {
        c.login({
          mockUser: uniq('cb'),
          success: (res) => seen.push(['success', res.user.id]),
          complete: (res) => resolve(res),
        })
      })
      assert.deepEqual(seen, [['success', r.user.id]])
      const err = await new Promise((resolve) => {
        c.login({ code: 'mock-error:40029', fail: (e) => resolve(e) })
      })
      assert.ok(err instanceof YunqiaoError)
      assert.equal(err.code, 'INVALID_LOGIN_CODE')
      assert.match(err.errMsg, /^INVALID_LOGIN_CODE: /)
    })

    test('transport failures are NETWORK_ERROR with status 0', async () => {
      const shim = createWx()
      const adapter = platform === 'wx' ? wxAdapter(shim.wx) : webAdapter({ storage: 'memory' })
      // A port nothing listens on: the server's, once closed, is not predictable; 9 is discard.
      const c = createClient({ baseUrl: 'http://127.0.0.1:9', adapter, timeout: 5000 })
      const e = await c.login({ mockUser: 'nobody' }).catch((x) => x)
      assert.ok(e instanceof YunqiaoError)
      assert.equal(e.code, 'NETWORK_ERROR')
      assert.equal(e.status, 0)
    })
  })
}

test('wx: login() without a mock user goes through wx.login', async () => {
  const shim = createWx({ loginUser: uniq('wxlogin') })
  const c = await client('wx', { shim })
  const r1 = await c.login()
  assert.equal(shim.ctl.loginCount, 1)
  const c2 = await client('wx', { shim: createWx({ loginUser: shim.ctl.loginUser }) })
  const r2 = await c2.login()
  assert.equal(r2.user.id, r1.user.id, 'the same WeChat user both times')
})

test('web: login() with no WeChat and no mock user says so', async () => {
  const c = await client('web')
  const e = await c.login().catch((x) => x)
  assert.equal(e.code, 'LOGIN_UNAVAILABLE')
})

test('autoLogin logs in before the first call that needs a token', async () => {
  const c = await client('wx', { autoLogin: true, shim: createWx({ loginUser: uniq('auto') }) })
  const me = await c.auth.me()
  assert.equal(me.id, c.auth.user.id)
  assert.equal(c.shim.ctl.loginCount, 1)
})
