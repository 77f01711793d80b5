import { call, seg, splitCallbacks } from './util.js'

/**
 * One key-value namespace (defined by an admin), with bucky's names beside the short ones:
 * setObject/getObject/removeObject/isObjectExists.
 */
export class Kv {
  constructor(client, ns) {
    this._client = client
    this.ns = ns
  }

  _path(key) {
    return `/v1/kv/${seg(this.ns)}` + (key === undefined ? '' : '/' + seg(key))
  }

  /** The value, or `opts.default` (null) when the key is absent; `{entry: true}` for the entry. */
  get(key, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      try {
        const { data } = await this._client.http.request('GET', this._path(key), { query: { user: o.user } })
        return o.entry ? data : data.value
      } catch (e) {
        if (e.status === 404 && e.code === 'NOT_FOUND' && !isNamespaceMissing(e)) {
          return o.entry ? null : o.default === undefined ? null : o.default
        }
        throw e
      }
    })
  }

  /** The whole entry `{key, value, _v, created_at, updated_at, expires_at?}`, or null. */
  getEntry(key, opts) {
    const [cb, o] = splitCallbacks(opts)
    return withCb(cb, this.get(key, Object.assign({}, o, { entry: true })))
  }

  /**
   * Writes; `{ttl}` seconds to live, `{_v}` only while the entry is at that version,
   * `{createOnly: true}` only if absent (409 `CONFLICT` otherwise). Resolves to the stored
   * entry.
   */
  set(key, value, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      const v = versionOpt(o)
      const body = { value: value === undefined ? null : value }
      if (o.ttl != null) body.ttl = o.ttl
      if (v != null) body._v = v
      const headers = o.createOnly ? { 'if-none-match': '*' } : undefined
      const { data } = await this._client.http.request('PUT', this._path(key), {
        body,
        headers,
        query: { user: o.user },
        // A conditional write repeated after it landed would answer CONFLICT: sent once.
        idempotent: v == null && !o.createOnly,
      })
      return data
    })
  }

  /** Deletes; resolves to true, or false when the key was absent. `{_v}` only at that version. */
  remove(key, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      const v = versionOpt(o)
      const headers = v != null ? { 'if-match': String(v) } : undefined
      try {
        await this._client.http.request('DELETE', this._path(key), { headers, query: { user: o.user }, idempotent: v == null })
        return true
      } catch (e) {
        // Absent — unless an earlier try whose answer was lost deleted it.
        if (e.status === 404 && e.code === 'NOT_FOUND' && !isNamespaceMissing(e)) return !!e.afterLostAnswer
        throw e
      }
    })
  }

  /** Whether the key is there (HEAD). */
  exists(key, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      try {
        await this._client.http.request('HEAD', this._path(key), { query: { user: o.user } })
        return true
      } catch (e) {
        if (e.status === 404) return false
        throw e
      }
    })
  }

  /** A page of entries in key order: `{items, cursor?}`; `{prefix, limit, cursor}`. */
  list(opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      const { data } = await this._client.http.request('GET', this._path(), {
        query: { prefix: o.prefix, limit: o.limit, cursor: o.cursor, user: o.user },
      })
      return data
    })
  }

  // bucky's names
  setObject(key, value, opts) {
    return this.set(key, value, opts)
  }

  getObject(key, opts) {
    return this.get(key, opts)
  }

  removeObject(key, opts) {
    return this.remove(key, opts)
  }

  isObjectExists(key, opts) {
    return this.exists(key, opts)
  }
}

/**
 * The version a write is conditional on: `_v`, as a record's. It was `version`; an old
 * name must never quietly turn a conditional write into an unconditional one.
 */
function versionOpt(o) {
  if (Object.prototype.hasOwnProperty.call(o, 'version') || Object.prototype.hasOwnProperty.call(o, 'v')) {
    throw new TypeError('the version option is _v (v and version were renamed)')
  }
  return o._v
}

function withCb(cb, p) {
  return call(cb, () => p)
}

/**
 * The server answers 404 `NOT_FOUND` both for an absent key and for a namespace nobody
 * defined; only the message tells them apart. An undefined namespace is a set-up error and
 * must not read as an empty value.
 */
function isNamespaceMissing(e) {
  return /^no kv namespace/.test(e.message || '')
}
