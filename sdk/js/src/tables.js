import { YunqiaoError } from './errors.js'
import { call, hasCallbacks, seg, splitCallbacks, stableJson } from './util.js'

/** `{"$inc": n}`: an atomic increment (bounds re-checked by the server). */
export function $inc(n = 1) {
  return { $inc: n }
}
/** `{"$append": [...]}`: adds to a json list or a many-ref (refs are kept as a set). */
export function $append(...items) {
  return { $append: items.length === 1 && Array.isArray(items[0]) ? items[0] : items }
}
/** `{"$remove": [...]}`: removes from a json list or a many-ref. */
export function $remove(...items) {
  return { $remove: items.length === 1 && Array.isArray(items[0]) ? items[0] : items }
}

/** XpmJS' and SQL's spellings of the server's operators. */
const OPS = {
  '=': 'eq',
  '==': 'eq',
  eq: 'eq',
  '!=': 'ne',
  '<>': 'ne',
  ne: 'ne',
  '>': 'gt',
  gt: 'gt',
  '>=': 'gte',
  gte: 'gte',
  '<': 'lt',
  lt: 'lt',
  '<=': 'lte',
  lte: 'lte',
  in: 'in',
  nin: 'nin',
  'not in': 'nin',
  prefix: 'prefix',
  contains: 'contains',
  exists: 'exists',
}

function conditions(args, what) {
  const [f, op, v] = args
  if (f && typeof f === 'object' && !Array.isArray(f)) {
    // where({status: 'open', room: 'r1'}): equalities
    return Object.keys(f).map((k) => [k, 'eq', f[k]])
  }
  if (typeof f !== 'string' || !f) {
    throw new YunqiaoError('INVALID_QUERY', `${what} takes (field, op, value), (field, value) or an object`)
  }
  if (args.length === 2) return [[f, 'eq', op]]
  const norm = OPS[String(op).toLowerCase()]
  return [[f, norm || op, v]]
}

const EMPTY = Object.freeze({
  groups: Object.freeze([Object.freeze([])]),
  order: Object.freeze([]),
  limit: null,
  cursor: null,
  fields: null,
  expand: Object.freeze([]),
  page: null,
  per_page: null,
})

/** A serialised query as `JSON.stringify(query)` wrote it, or the object `query.toJSON()` gave. */
function parseQueryJSON(json) {
  if (typeof json !== 'string') return json
  try {
    return JSON.parse(json)
  } catch (e) {
    throw new YunqiaoError('INVALID_QUERY', `a serialised query is JSON: ${e.message}`)
  }
}

/**
 * An immutable query: every builder method returns a new query; `toJSON()` gives a plain
 * object that `client.query(json)` turns back into a query.
 *
 * Conditions follow SQL precedence: `where(a).where(b).orWhere(c)` is `(a AND b) OR c`.
 */
export class Query {
  constructor(client, table, state) {
    this._client = client
    this.table = table
    this._s = state || EMPTY
    Object.freeze(this)
  }

  static from(client, json) {
    json = parseQueryJSON(json)
    if (!json || typeof json.table !== 'string') {
      throw new YunqiaoError('INVALID_QUERY', 'a serialised query names its table')
    }
    const groups = []
    const where = json.where || []
    const any = json.any || []
    if (any.length) for (const g of any) groups.push(where.concat(g))
    else groups.push(where.slice())
    return new Query(client, json.table, {
      groups,
      order: json.order || [],
      limit: json.limit == null ? null : json.limit,
      cursor: json.cursor || null,
      fields: json.fields || null,
      expand: json.expand || [],
      page: json.page == null ? null : json.page,
      per_page: json.per_page == null ? null : json.per_page,
    })
  }

  _with(patch) {
    return new Query(this._client, this.table, Object.freeze(Object.assign({}, this._s, patch)))
  }

  /** `where(field, op, value)`, `where(field, value)` (equality) or `where({f: v, …})`. */
  where(...args) {
    const add = conditions(args, 'where')
    const groups = this._s.groups.slice()
    groups[groups.length - 1] = groups[groups.length - 1].concat(add)
    return this._with({ groups })
  }

  /** Starts an alternative: the query matches when any of the alternatives holds. */
  orWhere(...args) {
    const add = conditions(args, 'orWhere')
    const groups = this._s.groups.slice()
    if (groups.length === 1 && groups[0].length === 0) groups[0] = add
    else groups.push(add)
    return this._with({ groups })
  }

  /** `orderBy(field, 'asc' | 'desc')`; one indexed field (or `_id`/`_created`), then `_id`. */
  orderBy(field, dir = 'asc') {
    const d = String(dir).toLowerCase()
    return this._with({ order: this._s.order.concat([[field, d === 'desc' ? 'desc' : 'asc']]) })
  }

  /** At most `n` records (1–100; the server's default is 20). */
  limit(n) {
    return this._with({ limit: n })
  }

  /** Page-number paging: the answer has `total` and `last_page`. */
  paginate(perPage = 20, page = 1) {
    return this._with({ per_page: perPage, page, cursor: null })
  }

  /** Continues after an earlier answer: pass its `cursor` (or the answer itself). */
  after(cursor) {
    const c = cursor && typeof cursor === 'object' ? cursor.cursor : cursor
    return this._with({ cursor: c || null, page: null, per_page: null })
  }

  /** Replaces these ref fields with the records they point to. */
  expand(...fields) {
    const list = fields.length === 1 && Array.isArray(fields[0]) ? fields[0] : fields
    return this._with({ expand: this._s.expand.concat(list) })
  }

  /** Returns only these fields (system fields always come). */
  select(...fields) {
    const list = fields.length === 1 && Array.isArray(fields[0]) ? fields[0] : fields
    return this._with({ fields: list.length ? list : null })
  }

  /** The body `POST /v1/tables/{t}/query` takes. */
  body(extra) {
    const s = this._s
    const b = {}
    const groups = s.groups.filter((g, i) => g.length || i === 0)
    if (groups.length <= 1) {
      if (groups[0] && groups[0].length) b.where = groups[0].map((c) => c.slice())
    } else {
      // Conditions every alternative shares go to `where`, which the planner can use.
      const keys = groups.map((g) => g.map(stableJson))
      const common = groups[0].filter((c, i) => keys.every((k) => k.indexOf(keys[0][i]) >= 0))
      const ck = common.map(stableJson)
      const rest = groups.map((g) => g.filter((c) => ck.indexOf(stableJson(c)) < 0))
      if (common.length) b.where = common.map((c) => c.slice())
      if (!rest.some((g) => g.length === 0)) b.any = rest.map((g) => g.map((c) => c.slice()))
    }
    if (s.order.length) b.order = s.order.map((o) => o.slice())
    if (s.limit != null) b.limit = s.limit
    if (s.cursor) b.cursor = s.cursor
    if (s.fields) b.fields = s.fields.slice()
    if (s.expand.length) b.expand = s.expand.slice()
    if (s.page != null) b.page = s.page
    if (s.per_page != null) b.per_page = s.per_page
    return Object.assign(b, extra || {})
  }

  toJSON() {
    return Object.assign({ table: this.table }, this.body())
  }

  _run(extra) {
    return this._client.http
      .request('POST', `/v1/tables/${seg(this.table)}/query`, { body: this.body(extra), idempotent: true }) // a read
      .then((r) => r.data)
  }

  /**
   * Runs the query: `{items, cursor, total?, scanned, page?, per_page?, last_page?}`.
   * Field names given here are the fields to return (XpmJS' `fetch('name', 'company')`).
   */
  fetch(...args) {
    const cb = args.length && hasCallbacks(args[args.length - 1]) ? args.pop() : null
    const fields = args.length === 1 && Array.isArray(args[0]) ? args[0] : args
    const q = fields.length ? this.select(fields) : this
    return call(cb && splitCallbacks(cb)[0], () => q._run())
  }

  /** The first match, or null. */
  first(...args) {
    const cb = args.length && hasCallbacks(args[args.length - 1]) ? args.pop() : null
    const fields = args.length === 1 && Array.isArray(args[0]) ? args[0] : args
    const q = (fields.length ? this.select(fields) : this).limit(1)
    return call(cb && splitCallbacks(cb)[0], () => q._run().then((r) => r.items[0] || null))
  }

  /**
   * The number of matching records, from the counts the server maintains (no condition,
   * or one equality on an indexed field; otherwise `COUNT_UNAVAILABLE`).
   */
  count(opts) {
    const [cb] = splitCallbacks(opts)
    const q = this._with({ page: null, per_page: null, cursor: null })
    return call(cb, () => q._run({ count: true, limit: 1, fields: undefined }).then((r) => r.total))
  }

  /** Live changes of the records matching this query's equalities (see Channel). */
  watch(opts) {
    const where = {}
    const b = this.body()
    if (b.any) throw new YunqiaoError('INVALID_ARGUMENT', 'watch takes equalities only (no orWhere)')
    for (const [f, op, v] of b.where || []) {
      if (op !== 'eq') throw new YunqiaoError('INVALID_ARGUMENT', `watch takes equalities only (${f} ${op})`)
      where[f] = v
    }
    return this._client.channel.table(this.table).watch(where, opts)
  }
}

/**
 * An immutable, all-or-nothing batch (`POST /v1/batch`). From `client.batch()` every op
 * names its table; from `table.batch()` the table may be left out.
 */
export class Batch {
  constructor(client, table, ops) {
    this._client = client
    this._table = table || null
    this.ops = Object.freeze(ops || [])
    Object.freeze(this)
  }

  _add(op) {
    return new Batch(this._client, this._table, this.ops.concat([op]))
  }

  _t(args, tableForm) {
    // (table, ...rest) when the table is named, else (...rest) on table.batch()'s table.
    if (tableForm) return [args[0], args.slice(1)]
    if (!this._table) throw new YunqiaoError('INVALID_ARGUMENT', 'name the table of each batch op')
    return [this._table, args]
  }

  /** `create(table, data)`, or `create(data)` on `table.batch()`. */
  create(...args) {
    const [table, [data]] = this._t(args, typeof args[0] === 'string')
    if (!data || typeof data !== 'object') throw new YunqiaoError('INVALID_ARGUMENT', 'create takes data')
    return this._add({ op: 'create', table, data })
  }

  /** `update(table, id, data, {_v})`, or `update(id, data, {_v})` on `table.batch()`. */
  update(...args) {
    const [table, [id, data, o]] = this._t(args, typeof args[1] === 'string')
    const op = { op: 'update', table, id, data: Object.assign({}, data) }
    const v = o && o._v != null ? o._v : op.data._v
    delete op.data._v
    if (v != null) op._v = v
    return this._add(op)
  }

  /** `remove(table, id, {_v})`, or `remove(id, {_v})` on `table.batch()`. */
  remove(...args) {
    const [table, [id, o]] = this._t(args, typeof args[1] === 'string')
    const op = { op: 'delete', table, id }
    if (o && o._v != null) op._v = o._v
    return this._add(op)
  }

  /** Holds the batch to a record existing (and at version `_v`, if given). */
  check(...args) {
    const [table, [id, o]] = this._t(args, typeof args[1] === 'string')
    const op = { op: 'check', table, id }
    if (o && o._v != null) op._v = o._v
    return this._add(op)
  }

  toJSON() {
    return { ops: this.ops.map((o) => Object.assign({}, o)) }
  }

  /** Runs it: resolves to one result per op, in order; any failure fails all. */
  commit(opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, () =>
      this._client.http.request('POST', '/v1/batch', { body: this.toJSON() }).then((r) => r.data.results),
    )
  }
}

/** One table's records, under the table's rules. */
export class Table {
  constructor(client, name) {
    this._client = client
    this.name = name
  }

  _path(id) {
    return `/v1/tables/${seg(this.name)}/records` + (id === undefined ? '' : '/' + seg(id))
  }

  /** Creates a record; resolves to it with its system fields (`_id`, `_v`, …). */
  create(data, opts) {
    const [cb, body] = splitCallbacks(data)
    const [cb2] = splitCallbacks(opts)
    return call(cb2 || cb, () =>
      this._client.http.request('POST', this._path(), { body }).then((r) => r.data),
    )
  }

  /** One record; `{expand: ['author']}` replaces ref fields with their records. */
  get(id, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, () => {
      const expand = o.expand ? [].concat(o.expand).join(',') : undefined
      return this._client.http
        .request('GET', this._path(id), { query: { expand } })
        .then((r) => r.data)
    })
  }

  /**
   * Changes fields; `$inc`/`$append`/`$remove` operators; `_v` (in `data` or `opts`) makes
   * it conditional on that version (409 `CONFLICT` when stale).
   */
  update(id, data, opts) {
    const [cb, body] = splitCallbacks(data)
    const [cb2, o] = splitCallbacks(opts)
    return call(cb2 || cb, async () => {
      const patch = Object.assign({}, body)
      if (o._v != null) patch._v = o._v
      const methods = this._client.adapter.methods
      if (methods && methods.indexOf('PATCH') < 0) {
        // wx.request cannot PATCH: a one-op batch is the same update, same rules.
        const v = patch._v
        delete patch._v
        const op = { op: 'update', table: this.name, id, data: patch }
        if (v != null) op._v = v
        try {
          const r = await this._client.http.request('POST', '/v1/batch', { body: { ops: [op] } })
          return r.data.results[0]
        } catch (e) {
          if (e.details && typeof e.details === 'object' && e.details.op === 0) {
            const d = Object.assign({}, e.details)
            delete d.op
            e.details = Object.keys(d).length ? d : null
          }
          throw e
        }
      }
      return this._client.http.request('PATCH', this._path(id), { body: patch }).then((r) => r.data)
    })
  }

  /** Atomically adds `n` (default 1) to a number field. */
  inc(id, field, n = 1, opts) {
    return this.update(id, { [field]: { $inc: n } }, opts)
  }

  /** Deletes a record; with `{_v}` only at that version. Resolves to true. */
  remove(id, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      if (o._v != null) {
        await this.batch().remove(id, { _v: o._v }).commit()
        return true
      }
      try {
        await this._client.http.request('DELETE', this._path(id))
      } catch (e) {
        // A retried delete whose first try landed (no answer came back) finds nothing.
        if (e.code === 'NOT_FOUND' && e.afterLostAnswer) return true
        throw e
      }
      return true
    })
  }

  /** An empty query on this table (XpmJS' `table.query()`), or one rebuilt from JSON (an object or its string). */
  query(json) {
    if (json) return Query.from(this._client, Object.assign({}, parseQueryJSON(json), { table: this.name }))
    return new Query(this._client, this.name)
  }

  where(...args) {
    return this.query().where(...args)
  }

  orWhere(...args) {
    return this.query().orWhere(...args)
  }

  orderBy(field, dir) {
    return this.query().orderBy(field, dir)
  }

  limit(n) {
    return this.query().limit(n)
  }

  paginate(perPage, page) {
    return this.query().paginate(perPage, page)
  }

  after(cursor) {
    return this.query().after(cursor)
  }

  expand(...fields) {
    return this.query().expand(...fields)
  }

  select(...fields) {
    return this.query().select(...fields)
  }

  fetch(...args) {
    return this.query().fetch(...args)
  }

  first(...args) {
    return this.query().first(...args)
  }

  count(opts) {
    return this.query().count(opts)
  }

  batch() {
    return new Batch(this._client, this.name)
  }

  /** Live changes of this table's records matching `where` (equalities). */
  watch(where, opts) {
    return this._client.channel.table(this.name).watch(where, opts)
  }

  /** The table's schema (anyone may read it). */
  schema(opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, () =>
      this._client.http.request('GET', `/v1/tables/${seg(this.name)}`, { auth: false }).then((r) => r.data),
    )
  }
}
