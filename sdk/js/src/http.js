import { codeForStatus, YunqiaoError } from './errors.js'
import { queryString } from './util.js'

/** JSON over the adapter's request, with the session's token and one error shape. */
export class Http {
  constructor(client) {
    this.client = client
  }

  /**
   * @param {string} method
   * @param {string} path  starting with /v1
   * @param {{body?: any, query?: object, headers?: object, auth?: boolean, noRefresh?: boolean}} [opts]
   * @returns {Promise<{status: number, headers: Record<string,string>, data: any, requestId?: string}>}
   */
  async request(method, path, opts = {}) {
    const c = this.client
    const headers = Object.assign({ accept: 'application/json' }, opts.headers || {})
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    let token = null
    if (opts.auth !== false) token = await c.auth._token(!!opts.noRefresh)
    if (token) headers.authorization = 'Bearer ' + token
    let m = method
    const methods = c.adapter.methods
    if (methods && methods.indexOf(m) < 0) {
      // wx.request has no PATCH: tunnel it (see the README's notes on wx).
      headers['x-http-method-override'] = m
      m = 'POST'
    }
    const res = await c.adapter.request({
      url: c.baseUrl + path + queryString(opts.query),
      method: m,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      timeout: c.options.timeout,
    })
    let data = null
    if (res.text) {
      try {
        data = JSON.parse(res.text)
      } catch (e) {
        data = res.text
      }
    }
    const requestId = res.headers['x-request-id']
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
      if (res.status === 401 && token) c.auth._rejected(token)
      throw err
    }
    return { status: res.status, headers: res.headers, data, requestId }
  }
}
