import { YunqiaoError } from './errors.js'
import { call, Emitter, nonce, parseTime, splitCallbacks, withCallbacks } from './util.js'

const DAY = 24 * 3600 * 1000

/**
 * WeChat login and the session: the token lives in the platform's storage (wx storage,
 * localStorage or memory) and is refreshed before it expires.
 *
 * Events: `change` (user or null) after login, refresh of the user, and logout.
 */
export class Auth extends Emitter {
  constructor(client) {
    super()
    this.client = client
    const o = client.options
    this._fixed = o.token || null
    this._key = (o.storagePrefix == null ? 'yunqiao:' : o.storagePrefix) + 'session'
    this._margin = o.refreshMargin == null ? 7 * DAY : o.refreshMargin
    this._refreshing = null
    this._loggingIn = null
    this._session = null
    try {
      const s = client.adapter.storage.get(this._key)
      if (s && typeof s === 'object' && typeof s.token === 'string') this._session = s
    } catch (e) {
      this._session = null
    }
  }

  /** The session token (or the fixed token given to createClient), or null. */
  get token() {
    return this._fixed || (this._session ? this._session.token : null)
  }

  /** The logged-in user as last seen, or null. */
  get user() {
    return this._session ? this._session.user : null
  }

  /** When the session token expires (ms since the epoch), or null. */
  get expiresAt() {
    return this._session ? this._session.expires_at : null
  }

  isLoggedIn() {
    return !!this.token
  }

  /**
   * Logs in: `{code}` as given, else `{mockUser}` (or createClient's `mockUser`) as the
   * built-in WeChat mock's `mock:<name>:<nonce>`, else the platform's login (wx.login).
   */
  login(opts) {
    const [cb, o] = splitCallbacks(opts)
    const mock = o.mockUser || (o.code ? null : this.client.options.mockUser)
    // Calls while a login is under way share it (one wx.login, one POST), unless they ask
    // for someone else: an explicit code, or another mock user.
    const key = o.code ? null : 'as:' + (mock || '')
    const cur = this._loggingIn
    if (key && cur && cur.key === key) return withCallbacks(cur.promise, cb)
    const promise = (async () => {
      let code = o.code
      if (!code && mock) code = `mock:${mock}:${nonce()}`
      if (!code) code = await this.client.adapter.login()
      const { data } = await this.client.http.request('POST', '/v1/auth/login', { body: { code }, auth: false })
      this._save(data)
      return data
    })()
    const entry = { key, promise }
    this._loggingIn = entry
    const done = () => {
      if (this._loggingIn === entry) this._loggingIn = null
    }
    promise.then(done, done)
    return withCallbacks(promise, cb)
  }

  /** The caller's user, fresh from the server (GET /v1/auth/me). */
  me(opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      const { data } = await this.client.http.request('GET', '/v1/auth/me')
      this._setUser(data)
      return data
    })
  }

  /** Changes `nickname`, `avatar_url` or keys of `profile` (`null` removes a key). */
  update(patch, opts) {
    const [cb] = splitCallbacks(opts || (patch && (patch.success || patch.fail || patch.complete) ? patch : null))
    const [, body] = splitCallbacks(patch)
    return call(cb, async () => {
      const { data } = await this.client.http.request('PATCH', '/v1/auth/me', { body })
      this._setUser(data)
      return data
    })
  }

  /**
   * A new avatar from a local image: `file` is a wx temporary path (the event of a
   * `<button open-type="chooseAvatar">` or its `detail.avatarUrl` will do), a Blob or
   * bytes. Uploaded as a public file, then `PATCH /v1/auth/me {avatar_file}`: the server
   * sets `avatar_url` to the file's stable URL. Resolves to the user.
   */
  setAvatar(file, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      if (file && typeof file === 'object' && file.detail && typeof file.detail.avatarUrl === 'string') file = file.detail.avatarUrl
      if (!file) throw new YunqiaoError('INVALID_ARGUMENT', 'setAvatar takes an image: a temporary path (chooseAvatar), a Blob or bytes')
      const up = Object.assign({}, o, { public: true })
      const info = await this.client.files.upload(file, up)
      const { data } = await this.client.http.request('PATCH', '/v1/auth/me', { body: { avatar_file: info.id } })
      this._setUser(data)
      return data
    })
  }

  /** Binds the phone number behind a `<button open-type="getPhoneNumber">` code. */
  bindPhone(code, opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      if (code && typeof code === 'object' && code.detail) code = code.detail.code // the button's event
      if (!code) throw new YunqiaoError('INVALID_ARGUMENT', 'bindPhone takes the code from getPhoneNumber')
      const { data } = await this.client.http.request('POST', '/v1/auth/phone', { body: { code } })
      this._setUser(data)
      return data
    })
  }

  /** A new token for this session (the SDK does this by itself before expiry). */
  refresh(opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, () => {
      if (!this._refreshing) {
        this._refreshing = this.client.http
          .request('POST', '/v1/auth/refresh', { noRefresh: true })
          .then(({ data }) => {
            this._save(data)
            return data
          })
          .finally(() => {
            this._refreshing = null
          })
      }
      return this._refreshing
    })
  }

  /** Ends the session on the server and forgets it here; closes live channels. */
  logout(opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      if (this._session) {
        try {
          // Ending a session twice ends it once: safe to send again.
          await this.client.http.request('POST', '/v1/auth/logout', { noRefresh: true, idempotent: true })
        } catch (e) {
          if (e.status !== 401) throw e
        }
      }
      this._clear()
      return true
    })
  }

  // ---- internal --------------------------------------------------------------------

  _save(view) {
    const prev = this._session
    this._session = { token: view.token, expires_at: parseTime(view.expires_at), user: view.user }
    this._store()
    const changed = !prev || prev.token !== view.token
    this.emit('change', view.user, { tokenChanged: changed, userChanged: !prev || !prev.user || prev.user.id !== view.user.id })
  }

  _setUser(user) {
    if (!this._session || !user) return
    this._session.user = user
    this._store()
    this.emit('change', user, { tokenChanged: false, userChanged: false })
  }

  _store() {
    try {
      if (this._session) this.client.adapter.storage.set(this._key, this._session)
      else this.client.adapter.storage.remove(this._key)
    } catch (e) {
      console.error('[yunqiao] could not write the session to storage', e)
    }
  }

  _clear() {
    const had = !!this._session
    this._session = null
    this._store()
    if (had) this.emit('change', null, { tokenChanged: true, userChanged: true })
  }

  /**
   * The server refused `token` as INVALID_TOKEN (bad, expired, ended): if it is still the
   * session's, the session is over. No other error ends it.
   */
  _rejected(token) {
    if (this._session && this._session.token === token) this._clear()
  }

  /** The token for a request, refreshed first when it is close to its expiry. */
  async _token(noRefresh) {
    if (this._fixed) return this._fixed
    if (!this._session && this._loggingIn) {
      try {
        await this._loggingIn.promise
      } catch (e) {
        // the caller's request then goes without a token and gets the server's 401
      }
    }
    if (!this._session && this.client.options.autoLogin && !noRefresh) {
      await this.login()
    }
    const s = this._session
    if (!s) return null
    if (!noRefresh && s.expires_at && s.expires_at - Date.now() < this._margin) {
      try {
        await this.refresh()
      } catch (e) {
        // A failed refresh leaves the old token, good until it expires; a refused one
        // has cleared the session already.
      }
    }
    return this._session ? this._session.token : null
  }
}
