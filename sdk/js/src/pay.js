import { YunqiaoError } from './errors.js'
import { call, seg, splitCallbacks, stableJson } from './util.js'

/**
 * `pay.order`'s defaults (client-wide through `createClient({pay: {...}})`, per call
 * through `order(spec, {...})`).
 */
export const PAY_DEFAULTS = {
  /** ms from the payment sheet's success until the order must read PAID (else PAY_TIMEOUT). */
  timeout: 60000,
  /** Polling GET /v1/pay/orders/{no}: attempt k waits min(pollCap, pollBase × 2^k) ms. */
  pollBase: 500,
  pollCap: 5000,
  /**
   * With the live channel open, the first poll waits this long for the server's
   * `pay.paid` message before asking (each poll asks WeChat Pay while the order is
   * pending).
   */
  pollFirst: 1000,
  /** `(payment, order) => Promise`: stands in for wx.requestPayment (web, Node, tests). */
  requestPayment: null,
  /** Pay again an order an earlier call left unpaid (cancelled, timed out) instead of ordering twice. */
  reuse: true,
}

const SETTINGS = Object.keys(PAY_DEFAULTS)

function invalid(message, field) {
  return new YunqiaoError('INVALID_ARGUMENT', message, { status: 0, details: field ? { field } : null })
}

/** The order's body, checked here so a bad call never reaches the payment sheet. */
function orderBody(spec) {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) {
    throw invalid('pay.order takes {item: {table, id}, quantity?} or {amount}')
  }
  const b = {}
  if (spec.item !== undefined) {
    const i = spec.item
    if (!i || typeof i !== 'object' || typeof i.table !== 'string' || !i.table || typeof i.id !== 'string' || !i.id) {
      throw invalid('item is {table, id}', 'item')
    }
    b.item = { table: i.table, id: i.id }
  }
  if (spec.quantity !== undefined) {
    if (!Number.isInteger(spec.quantity) || spec.quantity < 1) throw invalid('quantity is a whole number from 1', 'quantity')
    b.quantity = spec.quantity
  }
  if (spec.amount !== undefined) {
    if (!Number.isInteger(spec.amount) || spec.amount < 1) throw invalid('amount is a whole number of fen from 1', 'amount')
    b.amount = spec.amount
  }
  if (spec.description !== undefined) {
    if (typeof spec.description !== 'string') throw invalid('description is a string', 'description')
    b.description = spec.description
  }
  if (!b.item && b.amount === undefined) throw invalid('pay.order takes {item: {table, id}, quantity?} or {amount}')
  return b
}

function payError(code, message, no, extra) {
  return new YunqiaoError(code, message, { details: Object.assign({ out_trade_no: no }, extra || {}) })
}

/**
 * What a failed payment sheet means: the user closed it (`requestPayment:fail cancel`) →
 * PAY_CANCELLED; anything else → PAY_FAILED (its `errMsg` in details). A YunqiaoError from
 * an adapter or a `requestPayment` option is kept, with the order number added.
 */
function sheetError(e, no) {
  if (e instanceof YunqiaoError) {
    e.details = Object.assign({}, e.details && typeof e.details === 'object' ? e.details : {}, { out_trade_no: no })
    return e
  }
  const msg = (e && (e.errMsg || e.message)) || String(e)
  if (/fail[ :]*cancel/i.test(msg)) return payError('PAY_CANCELLED', 'the payment was cancelled', no, { errMsg: msg })
  return payError('PAY_FAILED', `the payment failed: ${msg}`, no, { errMsg: msg })
}

/**
 * WeChat Pay (issue 24), the client's half: `order(spec)` creates the order on the server
 * (which sets the price), opens WeChat's payment sheet (`wx.requestPayment`) with the
 * parameters the server signed, and resolves with the order once the server says PAID —
 * on its `pay.paid` message when the live channel is open, or by polling the order (each
 * read asks WeChat Pay while the order is pending, so a lost notification still confirms).
 * The payment sheet's own success is never taken as payment: only the server's word is.
 */
export class Pay {
  constructor(client, opts) {
    this._client = client
    this.options = Object.assign({}, PAY_DEFAULTS)
    for (const k of SETTINGS) if (opts && opts[k] !== undefined) this.options[k] = opts[k]
    /** Calls in flight by body: a second tap joins the first. */
    this._inflight = new Map()
    /** Orders left unpaid by body (cancelled, timed out): paid again, not ordered twice. */
    this._unpaid = new Map()
  }

  /**
   * `order({item: {table, id}, quantity})` or `order({amount, description})` (where the
   * server allows client amounts) → the PAID order. Rejects with PAY_CANCELLED (the user
   * closed the sheet), PAY_FAILED, PAY_CLOSED (the order was closed), PAY_TIMEOUT (not
   * confirmed within `timeout`; `details.out_trade_no` to ask later with `get`),
   * UNSUPPORTED (no wx.requestPayment and no `requestPayment` option), or the server's
   * error (PAY_ITEM_NOT_PRICED, PAY_AMOUNT_NOT_ALLOWED, PAY_UNAVAILABLE, …).
   */
  order(spec, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, () => {
      const body = orderBody(spec)
      const s = Object.assign({}, this.options)
      for (const k of SETTINGS) if (o[k] !== undefined) s[k] = o[k]
      const a = this._client.adapter
      const sheet =
        typeof s.requestPayment === 'function'
          ? s.requestPayment
          : typeof a.requestPayment === 'function'
            ? (payment) => a.requestPayment(payment)
            : null
      if (!sheet) {
        throw new YunqiaoError(
          'UNSUPPORTED',
          `the ${a.name || 'custom'} adapter has no payment sheet: pay in a mini-program (wx.requestPayment), or pass {requestPayment(payment, order)}`,
        )
      }
      const key = stableJson(body)
      const running = this._inflight.get(key)
      if (running) return running
      const p = this._run(key, body, s, sheet)
      this._inflight.set(key, p)
      const forget = () => {
        if (this._inflight.get(key) === p) this._inflight.delete(key)
      }
      p.then(forget, forget)
      return p
    })
  }

  /** An order of the caller's (or any, for an admin); asks WeChat Pay while it is pending. */
  get(outTradeNo, opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      if (typeof outTradeNo !== 'string' || !outTradeNo) throw invalid('get takes an out_trade_no', 'out_trade_no')
      const { data } = await this._client.http.request('GET', `/v1/pay/orders/${seg(outTradeNo)}`)
      return data
    })
  }

  /** The caller's orders, newest first: `{items, cursor}` (`cursor` null at the end). */
  list(opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      const query = {}
      if (o.limit != null) query.limit = o.limit
      if (o.cursor != null) query.cursor = o.cursor
      const { data } = await this._client.http.request('GET', '/v1/pay/orders', { query })
      return data
    })
  }

  /** Closes a pending order (at WeChat Pay too) → the order, CLOSED; PAY_ORDER_NOT_PENDING once paid. */
  close(outTradeNo, opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      if (typeof outTradeNo !== 'string' || !outTradeNo) throw invalid('close takes an out_trade_no', 'out_trade_no')
      const { data } = await this._client.http.request('POST', `/v1/pay/orders/${seg(outTradeNo)}/close`)
      for (const [k, u] of this._unpaid) if (u.order.out_trade_no === outTradeNo) this._unpaid.delete(k)
      return data
    })
  }

  // ---- internal --------------------------------------------------------------------

  async _run(key, body, s, sheet) {
    let created = null
    const left = s.reuse ? this._unpaid.get(key) : null
    if (left) {
      // An earlier call left this order unpaid: pay it (the signed parameters stay valid
      // while the order is pending), unless it was paid meanwhile or has closed.
      let now = null
      try {
        now = await this.get(left.order.out_trade_no)
      } catch (e) {
        if (e.code !== 'NOT_FOUND') throw e
      }
      if (now && now.state === 'PAID') {
        this._unpaid.delete(key)
        return now
      }
      if (now && now.state === 'PENDING') created = { order: now, payment: left.payment }
      else this._unpaid.delete(key)
    }
    if (!created) {
      const { data } = await this._client.http.request('POST', '/v1/pay/orders', { body })
      created = data
    }
    const order = created.order
    const no = order.out_trade_no
    this._unpaid.set(key, created)
    // Listen before the sheet opens: the server's message may come before wx's success.
    const watch = this._watch(no)
    try {
      try {
        await sheet(Object.assign({}, created.payment), order)
      } catch (e) {
        const err = sheetError(e, no)
        if (err.code === 'PAY_CANCELLED') throw err
        // A sheet that failed oddly may still have paid (or the order closed): ask once.
        const now = await this.get(no).catch(() => null)
        if (now && now.state === 'PAID') return this._paid(key, now)
        if (now && now.state === 'CLOSED') throw this._closed(key, no, now)
        throw err
      }
      let paid
      try {
        paid = await this._confirm(no, s, watch)
      } catch (e) {
        if (e.code === 'PAY_CLOSED') this._unpaid.delete(key)
        throw e
      }
      return this._paid(key, paid)
    } finally {
      watch.stop()
    }
  }

  _paid(key, order) {
    this._unpaid.delete(key)
    return order
  }

  _closed(key, no, order) {
    this._unpaid.delete(key)
    return payError('PAY_CLOSED', 'the order was closed before it was paid', no, { order })
  }

  /**
   * Waits for the server's `pay.paid` message for order `no` — only if the live channel is
   * open (or opening): paying never opens a socket. `{message, stop}`; `message` resolves
   * with the order it carries.
   */
  _watch(no) {
    const ch = this._client.channel
    let stop = () => {}
    let live = false
    const message = new Promise((resolve) => {
      if (!ch || (ch.state !== 'open' && ch.state !== 'connecting')) return
      live = true
      stop = ch.listen('pay.paid', (order, from) => {
        // Only the server's own message (a user's direct message says {user}).
        if (from && from.system === 'pay' && order && order.out_trade_no === no && order.state === 'PAID') resolve(order)
      })
    })
    return { message, live, stop: () => stop() }
  }

  /** The PAID order, from the message or from polling; PAY_CLOSED, PAY_TIMEOUT. */
  async _confirm(no, s, watch) {
    const end = Date.now() + s.timeout
    let got = null
    watch.message.then((o) => {
      got = o
    })
    // A nap ends early when the message comes; its timer never outlives the call.
    let timer = null
    const nap = (ms) =>
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, Math.min(ms, end - Date.now())))
        watch.message.then(resolve)
      }).then(() => clearTimeout(timer))
    for (let k = 0; ; k++) {
      const wait = k === 0 ? (watch.live ? s.pollFirst : 0) : Math.min(s.pollCap, s.pollBase * Math.pow(2, k - 1))
      if (wait > 0) await nap(wait)
      if (got) return got
      if (Date.now() >= end && k > 0) {
        throw payError('PAY_TIMEOUT', `the payment was not confirmed within ${s.timeout} ms: ask again with pay.get`, no)
      }
      let o = null
      try {
        o = await this.get(no)
      } catch (e) {
        // A network hiccup or an overloaded server: ask again at the next step.
        if (!(e.code === 'NETWORK_ERROR' || e.retryable || e.status >= 500)) throw e
      }
      if (got) return got
      if (o && o.state === 'PAID') return o
      if (o && o.state === 'CLOSED') throw payError('PAY_CLOSED', 'the order was closed before it was paid', no, { order: o })
    }
  }
}
