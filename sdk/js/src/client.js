import { Auth } from './auth.js'
import { Channel } from './channel.js'
import { YunqiaoError } from './errors.js'
import { callExport, callFunction, moduleProxy } from './fn.js'
import { Files } from './files.js'
import { Http } from './http.js'
import { Kv } from './kv.js'
import { Pay } from './pay.js'
import { Stor } from './storage.js'
import { Batch, Query, Table } from './tables.js'
import { webAdapter } from './adapters/web.js'
import { globalWx, wxAdapter } from './adapters/wx.js'

function pickAdapter(o) {
  const a = o.adapter
  if (a && typeof a === 'object') return a
  const wxOpts = { maxRequests: o.maxRequests }
  if (a === 'wx') return wxAdapter(o.wx, wxOpts)
  if (a === 'web') return webAdapter(o)
  if (o.wx) return wxAdapter(o.wx, wxOpts)
  const w = globalWx()
  if (w && typeof w.request === 'function') return wxAdapter(w, wxOpts)
  return webAdapter(o)
}

/**
 * One client per server: `createClient({baseUrl})`. Everything hangs off it: `auth`,
 * `table(name)`, `batch()`, `kv(ns)`, `files`, `channel`, `fn(module)`, `callFunction`, `storage`,
 * `pay` (WeChat Pay: `order`, `get`, `list`, `close`; `options.pay` sets its defaults).
 */
export class Client {
  constructor(options) {
    const o = Object.assign({}, options || {})
    if (!o.baseUrl || typeof o.baseUrl !== 'string') {
      throw new YunqiaoError('INVALID_ARGUMENT', 'createClient needs {baseUrl}, e.g. http://127.0.0.1:8787')
    }
    if (o.timeout == null) o.timeout = 30000
    this.options = o
    this.baseUrl = o.baseUrl.replace(/\/+$/, '')
    this.wsUrl = o.wsUrl || this.baseUrl.replace(/^http/, 'ws') + '/v1/ws'
    this.adapter = pickAdapter(o)
    this.http = new Http(this)
    this.auth = new Auth(this)
    this.storage = new Stor(this.adapter.storage)
    this.files = new Files(this)
    this.channel = new Channel(this, o.channel)
    this.pay = new Pay(this, o.pay)
    const self = this
    /** `fn('chatroom').createRoom(...)`; `fn.call('chatroom', 'createRoom', [args])`. */
    this.fn = Object.assign((module) => moduleProxy(self, module), {
      call: (module, name, args, cb) => callExport(self, module, name, args || [], cb),
    })
  }

  /** Shorthand for `auth.login(opts)`. */
  login(opts) {
    return this.auth.login(opts)
  }

  logout(opts) {
    return this.auth.logout(opts)
  }

  table(name) {
    if (typeof name !== 'string' || !name) throw new YunqiaoError('INVALID_ARGUMENT', 'table takes a table name')
    return new Table(this, name)
  }

  /** A query rebuilt from `query.toJSON()`, or from the string `JSON.stringify(query)` made. */
  query(json) {
    return Query.from(this, json)
  }

  /** An all-or-nothing batch across tables. */
  batch() {
    return new Batch(this)
  }

  kv(ns) {
    if (typeof ns !== 'string' || !ns) throw new YunqiaoError('INVALID_ARGUMENT', 'kv takes a namespace')
    return new Kv(this, ns)
  }

  /** CloudBase's `callFunction({name, data})` → `{result}`: `POST /v1/fn/{name}`. */
  callFunction(opts) {
    return callFunction(this, opts)
  }

  /** Closes live channels until `resume()` (done by itself on app hide). */
  pause() {
    this.channel.pause()
  }

  resume() {
    this.channel.resume()
  }

  /** Closes the live channel for good (tests, scripts). */
  close() {
    this.channel.close()
  }
}

export function createClient(options) {
  return new Client(options)
}
