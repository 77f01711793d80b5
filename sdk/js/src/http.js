import { codeForStatus, YunqiaoError } from './errors.js'
import { queryString } from './util.js'

/** Methods whose repetition does what one does (RFC 9110 §9.2.2). */
const IDEMPOTENT = ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']

/** Retry defaults: 2 retries (3 tries), backoff from 300 ms, at most 5 s between tries. */
export const RETRY_DEFAULTS = { retries: 2, base: 300, cap: 5000 }

/** `scheme://host[:port]`, lower-cased, or null for a relative URL (no URL class on wx). */
function origin(url) {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]+)/i.exec(url)
  return m ? m[1].toLowerCase() : null
}

/** `Retry-After` as ms (delta-seconds or an HTTP date), or null. */
export function retryAfterMs(v, now = Date.now()) {
  if (v == null || v === '') return null
  const s = String(v).trim()
  if (/^\d+$/.test(s)) return Number(s) * 1000
  const t = Date.parse(s)
  return isNaN(t) ? null : Math.max(0, t - now)
}

function retryOptions(o) {
  const r = o.retry
  if (r === false || r === 0) return Object.assign({}, RETRY_DEFAULTS, { retries: 0 })
  const out = Object.assign({}, RETRY_DEFAULTS, r && typeof r === 'object' ? r : {})
  if (typeof r === 'number') out.retries = r
  return out
}

/**
 * JSON over the adapter's transport, with the session's token, one error shape, and
 * retries of what is safe to repeat:
 *
 * - An idempotent request (GET, HEAD, PUT, DELETE; a POST the SDK knows only reads, e.g. a
 *   query) is sent again after a transport failure (no answer, a timeout, wx's
 *   `fail interrupted` when the app went to the background), a 429 or a 503, up to
 *   `retry.retries` times, waiting a jittered, capped exponential backoff — or what the
 *   server's `Retry-After` asks, unless that is longer than `retry.cap` (then the error is
 *   the caller's). While the app is in the background, a retry waits for it to come back.
 * - Anything else (POST, PATCH, a conditional write) is sent once: a write that got no
 *   answer may have landed, so the SDK never repeats it; its error says `retryable: false`.
 */
export class Http {
  constructor(client) {
    this.client = client
    this.retry = retryOptions(client.options)
    this._sleep = typeof this.retry.sleep === 'function' ? this.retry.sleep : (ms) => new Promise((r) => setTimeout(r, ms))
    this._random = typeof this.retry.random === 'function' ? this.retry.random : Math.random
    this._hidden = false
    this._shown = []
    const a = client.adapter
    if (a.onHide && a.onShow) {
      a.onHide(() => {
        this._hidden = true
      })
      a.onShow(() => {
        this._hidden = false
        for (const f of this._shown.splice(0)) f()
      })
    }
  }

  /**
   * @param {string} method
   * @param {string} path  starting with /v1
   * @param {{body?: any, query?: object, headers?: object, auth?: boolean, noRefresh?: boolean, idempotent?: boolean}} [opts]
   * @returns {Promise<{status: number, headers: Record<string,string>, data: any, requestId?: string}>}
   */
  async request(method, path, opts = {}) {
    const c = this.client
    const idem = opts.idempotent != null ? !!opts.idempotent : IDEMPOTENT.indexOf(method) >= 0
    const { res, token } = await this._tries(idem, opts, (headers) => {
      headers.accept = 'application/json'
      if (opts.body !== undefined) headers['content-type'] = 'application/json'
      let m = method
      const methods = c.adapter.methods
      if (methods && methods.indexOf(m) < 0) {
        // wx.request has no PATCH: tunnel it (see the README's notes on wx).
        headers['x-http-method-override'] = m
        m = 'POST'
      }
      return c.adapter.request({
        url: c.baseUrl + path + queryString(opts.query),
        method: m,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        timeout: c.options.timeout,
      })
    })
    return this._answer(res, token, idem)
  }

  /**
   * A multipart upload through the adapter (wx.uploadFile; fetch with FormData): `fields`
   * first, then the file as part `name`. Sent once, unless `idempotent` says a repeat is
   * safe (a signed form to one key: a second post replaces the bytes with the same bytes);
   * then retried as a GET is. The session's token goes only to the server's own origin,
   * never to a foreign URL (a presigned storage POST).
   *
   * @param {string} url  absolute, or a path on the server (`/v1/...`)
   * @param {{filePath?: string, file?: any, name?: string, filename?: string, type?: string, fields?: Record<string, string>, headers?: Record<string, string>, timeout?: number, auth?: boolean, onProgress?: Function, idempotent?: boolean}} [opts]
   */
  async upload(url, opts = {}) {
    const c = this.client
    if (typeof c.adapter.upload !== 'function') throw new YunqiaoError('UNSUPPORTED', `the ${c.adapter.name} adapter cannot upload`)
    const full = url.charAt(0) === '/' ? c.baseUrl + url : url
    const own = origin(full) === origin(c.baseUrl)
    const o = Object.assign({}, opts, { auth: own && opts.auth !== false })
    const idem = !!opts.idempotent
    const { res, token } = await this._tries(idem, o, (headers) =>
      c.adapter.upload({
        url: full,
        filePath: opts.filePath,
        file: opts.file,
        name: opts.name || 'file',
        filename: opts.filename,
        type: opts.type,
        fields: opts.fields,
        headers,
        timeout: opts.timeout || Math.max(c.options.timeout || 0, 60000),
        onProgress: opts.onProgress,
      }),
    )
    return this._answer(res, token, idem)
  }

  /**
   * A download through the adapter (wx.downloadFile → `tempFilePath`; fetch → `blob`),
   * retried as a GET is. The token goes only to the server's own origin.
   *
   * @param {string} url
   * @param {{headers?: Record<string, string>, timeout?: number, filePath?: string, auth?: boolean}} [opts]
   */
  async download(url, opts = {}) {
    const c = this.client
    if (typeof c.adapter.download !== 'function') throw new YunqiaoError('UNSUPPORTED', `the ${c.adapter.name} adapter cannot download`)
    const full = url.charAt(0) === '/' ? c.baseUrl + url : url
    const own = origin(full) === origin(c.baseUrl)
    const o = Object.assign({}, opts, { auth: own && opts.auth !== false })
    const { res, token } = await this._tries(true, o, (headers) =>
      c.adapter.download({ url: full, headers, timeout: opts.timeout || c.options.timeout, filePath: opts.filePath }),
    )
    if (res.status >= 400) this._answer(res, token, true)
    return res
  }

  // ---- internal --------------------------------------------------------------------

  /**
   * Sends with `send(headers)` (fresh headers, the token added each try) until an answer
   * that is not to be retried. Resolves to `{res, token}`; rejects with the transport's
   * NETWORK_ERROR, marked `retryable` and with `attempts`.
   */
  async _tries(idem, opts, send) {
    const c = this.client
    const r = this.retry
    let lost = false // an earlier try got no answer: it may have been done
    for (let attempt = 0; ; attempt++) {
      const headers = Object.assign({}, opts.headers || {})
      let token = null
      if (opts.auth !== false) token = await c.auth._token(!!opts.noRefresh)
      if (token) headers.authorization = 'Bearer ' + token
      let res = null
      let failure = null
      try {
        res = await send(headers)
      } catch (e) {
        if (!(e instanceof YunqiaoError) || e.code !== 'NETWORK_ERROR') throw e
        failure = e
      }
      let wait = null
      if (failure) {
        failure.retryable = idem
        failure.attempts = attempt + 1
        if (!idem || attempt >= r.retries) throw failure
        wait = this._backoff(attempt)
        lost = true
      } else if ((res.status === 429 || res.status === 503) && idem && attempt < r.retries) {
        const after = retryAfterMs(res.headers && res.headers['retry-after'])
        if (after == null) wait = this._backoff(attempt)
        else if (after <= r.cap) wait = after
      }
      if (wait == null) {
        res.attempts = attempt + 1
        res.lost = lost
        return { res, token }
      }
      if (this._hidden) await new Promise((f) => this._shown.push(f))
      await this._sleep(wait)
    }
  }

  /** Attempt k (from 0) waits between half and all of min(cap, base × 2^k) ms. */
  _backoff(attempt) {
    const d = Math.min(this.retry.cap, this.retry.base * Math.pow(2, attempt))
    return Math.round(d / 2 + (this._random() * d) / 2)
  }

  /** The parsed answer, or its error thrown (`INVALID_TOKEN` ends the session). */
  _answer(res, token, idem) {
    let data = null
    if (res.text) {
      try {
        data = JSON.parse(res.text)
      } catch (e) {
        data = res.text
      }
    }
    const requestId = res.headers && res.headers['x-request-id']
    if (res.status >= 400) {
      const e = data && typeof data === 'object' ? data.error : null
      const err =
        e && e.code
          ? new YunqiaoError(e.code, e.message || e.code, { status: res.status, details: e.details, requestId })
          : new YunqiaoError(
              codeForStatus(res.status),
              typeof data === 'string' && data ? data.slice(0, 300) : `HTTP ${res.status}`,
              { status: res.status, requestId },
            )
      // The server refused the session's token (bad, expired, ended). Any other 401 — a
      // cloud function's or a before-hook's own, an export for users called anonymously —
      // leaves the session alone.
      if (err.code === 'INVALID_TOKEN' && token) this.client.auth._rejected(token)
      err.retryable = res.status === 429 || (res.status === 503 && idem)
      if (res.attempts) err.attempts = res.attempts
      // An earlier try of this request got no answer (it may have done the work).
      if (res.lost) err.afterLostAnswer = true
      throw err
    }
    return { status: res.status, headers: res.headers, data, requestId }
  }
}
