/** Small helpers shared by every module. Nothing here touches a platform API. */

const CALLBACK_KEYS = ['success', 'fail', 'complete']

/** Whether `o` carries any of wx's `success`/`fail`/`complete` callbacks. */
export function hasCallbacks(o) {
  return !!o && typeof o === 'object' && CALLBACK_KEYS.some((k) => typeof o[k] === 'function')
}

/** An object of callbacks only (every own key one of success/fail/complete). */
export function isCallbackObject(o) {
  if (!hasCallbacks(o) || Array.isArray(o)) return false
  return Object.keys(o).every((k) => CALLBACK_KEYS.indexOf(k) >= 0)
}

/** Splits `{success, fail, complete, ...rest}` into the callbacks and the rest. */
export function splitCallbacks(o) {
  if (!o || typeof o !== 'object') return [null, o || {}]
  const cb = {}
  const rest = {}
  let any = false
  for (const k of Object.keys(o)) {
    if (CALLBACK_KEYS.indexOf(k) >= 0) {
      if (typeof o[k] === 'function') {
        cb[k] = o[k]
        any = true
      }
    } else rest[k] = o[k]
  }
  return [any ? cb : null, rest]
}

function safely(fn, arg) {
  try {
    fn(arg)
  } catch (e) {
    // A throwing user callback must not turn into an unhandled rejection or swallow the
    // result for other callbacks: report it and go on.
    console.error('[yunqiao] a callback threw', e)
  }
}

/**
 * Returns `promise`, and calls wx-style callbacks when given. With callbacks the promise
 * is marked handled, so a caller using only `fail` never meets an unhandled rejection.
 */
export function withCallbacks(promise, cb) {
  if (!cb) return promise
  promise.then(
    (res) => {
      if (cb.success) safely(cb.success, res)
      if (cb.complete) safely(cb.complete, res)
    },
    (err) => {
      if (cb.fail) safely(cb.fail, err)
      if (cb.complete) safely(cb.complete, err)
    },
  )
  return promise
}

/** Runs `fn` (sync or async) and returns its promise, with callbacks applied. */
export function call(cb, fn) {
  let p
  try {
    p = Promise.resolve(fn())
  } catch (e) {
    p = Promise.reject(e)
  }
  return withCallbacks(p, cb)
}

/** A short random string: mini-programs have no crypto.getRandomValues. */
export function nonce(n = 12) {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789'
  let s = ''
  for (let i = 0; i < n; i++) s += abc[Math.floor(Math.random() * abc.length)]
  return Date.now().toString(36) + s
}

/** `a=1&b=2` from an object, skipping undefined and null (no URLSearchParams in wx). */
export function queryString(params) {
  if (!params) return ''
  const parts = []
  for (const k of Object.keys(params)) {
    const v = params[k]
    if (v === undefined || v === null) continue
    parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)))
  }
  return parts.length ? '?' + parts.join('&') : ''
}

export function seg(s) {
  return encodeURIComponent(String(s))
}

/** A minimal event emitter: `on` returns an unsubscribe function. */
export class Emitter {
  constructor() {
    this._handlers = {}
  }

  on(event, fn) {
    ;(this._handlers[event] || (this._handlers[event] = [])).push(fn)
    return this
  }

  off(event, fn) {
    const list = this._handlers[event]
    if (!list) return this
    if (!fn) delete this._handlers[event]
    else this._handlers[event] = list.filter((f) => f !== fn)
    return this
  }

  once(event, fn) {
    const wrap = (...args) => {
      this.off(event, wrap)
      fn(...args)
    }
    return this.on(event, wrap)
  }

  listenerCount(event) {
    return (this._handlers[event] || []).length
  }

  emit(event, ...args) {
    const list = this._handlers[event]
    if (!list || !list.length) return false
    for (const fn of list.slice()) {
      try {
        fn(...args)
      } catch (e) {
        console.error(`[yunqiao] a ${event} handler threw`, e)
      }
    }
    return true
  }
}

/** Stable JSON for comparing plain values (object keys sorted). */
export function stableJson(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  if (Array.isArray(v)) return '[' + v.map(stableJson).join(',') + ']'
  return (
    '{' +
    Object.keys(v)
      .sort()
      .map((k) => JSON.stringify(k) + ':' + stableJson(v[k]))
      .join(',') +
    '}'
  )
}

export function parseTime(s) {
  if (typeof s === 'number') return s
  const t = Date.parse(s)
  return isNaN(t) ? 0 : t
}
