import { networkError, YunqiaoError } from './errors.js'
import { call, Emitter, splitCallbacks, stableJson } from './util.js'

const DEFAULTS = {
  /** ms between pings while the socket is open (the server closes after 10 idle minutes). */
  heartbeat: 30000,
  /** ms to wait for any frame after a ping before the socket counts as dead. */
  pongTimeout: 10000,
  /** ms for a socket to open before the attempt counts as failed. */
  connectTimeout: 15000,
  /** Backoff: attempt k waits random() * min(reconnectCap, reconnectBase * (2^k - 1)) ms. */
  reconnectBase: 1000,
  reconnectCap: 30000,
  /** Close on app hide, reopen (and resume) on app show. */
  autoPause: true,
  /** `(direction, frame) => void`: sees every frame in and out (for debugging). */
  debug: null,
  /** ms after a resume before it is checked once more (see _subscribeTopic). */
  resumeSettle: 300,
}

/** How many sequence numbers per topic are remembered to drop repeats. */
const SEEN_KEEP = 2048

function topicKind(topic) {
  if (topic === 'presence') return 'presence'
  if (topic.indexOf('table:') === 0) return 'table'
  return 'plain'
}

/**
 * What the app holds for one subscription: events arrive through `on(...)`. Nothing is
 * emitted before the subscribe call's promise has resolved and the caller had a turn to
 * add handlers; what arrived meanwhile is delivered then, in order.
 */
class Handle extends Emitter {
  constructor(channel, topic) {
    super()
    this._channel = channel
    this.topic = topic
    this.closed = false
    this._ready = false
    this._buffer = []
  }

  _deliver(kind, args) {
    if (this.closed) return
    if (!this._ready) this._buffer.push([kind, args])
    else this._dispatch(kind, args)
  }

  _markReady() {
    setTimeout(() => {
      this._ready = true
      const b = this._buffer
      this._buffer = []
      for (const [kind, args] of b) this._dispatch(kind, args)
    }, 0)
  }

  /** Stops this subscription (the socket stays for the others). */
  unsubscribe(opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, () => this._channel._detachHandle(this))
  }

  close(opts) {
    return this.unsubscribe(opts)
  }
}

/**
 * A topic subscription. Events: `event` (data, frame) — also `presence` frames on the
 * `presence` topic —, `presence` ({state, user, connection?}, frame), `resync` (some frames
 * were not kept while disconnected: re-read what you show), `error` (YunqiaoError).
 */
export class Subscription extends Handle {
  _dispatch(kind, args) {
    const [frame, extra] = args
    if (kind === 'frame') {
      if (frame.type === 'event') this.emit('event', frame.data, frame)
      else if (frame.type === 'change') this.emit('event', frame.record, frame)
      else if (frame.type === 'presence') {
        const p = { state: frame.state, user: frame.user }
        if (frame.connection) p.connection = frame.connection
        this.emit('presence', p, frame)
        if (this.topic === 'presence') this.emit('event', p, frame)
      }
    } else this.emit(kind, extra)
  }
}

/**
 * A live query on a table: `on('create'|'update'|'enter'|'leave'|'delete', (record, frame))`,
 * `on('change', (op, record, frame))`, `on('resync')`, `on('error')`. `leave` and `delete`
 * carry only `{_id}`. Records are what the rules let this user read when delivered.
 */
export class LiveQuery extends Handle {
  constructor(channel, table, where) {
    super(channel, 'table:' + table)
    this.table = table
    this.where = where
  }

  _dispatch(kind, args) {
    const [frame, extra] = args
    if (kind === 'frame') {
      if (frame.type !== 'change') return
      this.emit(frame.op, frame.record, frame)
      this.emit('change', frame.op, frame.record, frame)
    } else this.emit(kind, extra)
  }
}

/**
 * The live channel: one shared socket per client, opened when first needed. It pings,
 * reconnects with jittered exponential backoff, re-subscribes with `since` (the last
 * sequence number seen) so that nothing is lost, drops repeated sequence numbers so that
 * nothing is doubled, and closes on app hide and resumes on app show.
 *
 * Events: `open` ({connection, user}), `reconnect` ({connection, user}), `close`
 * ({code, reason}), `reconnecting` ({attempt, delay}), `message` (frame), `presence`
 * (frame), `error` (YunqiaoError: error frames that answer nothing).
 */
export class Channel extends Emitter {
  constructor(client, opts) {
    super()
    this._client = client
    this.options = Object.assign({}, DEFAULTS, opts || {})
    /** idle | connecting | open | paused | closed */
    this.state = 'idle'
    this.connection = null
    this.user = null
    this._sock = null
    this._gen = 0
    this._attempt = 0
    this._everOpen = false
    this._failedBeforeOpen = false
    this._timer = null
    this._connTimer = null
    this._hb = null
    this._pongTimer = null
    this._nextId = 1
    this._pending = new Map()
    this._outbox = []
    this._topics = new Map()
    this._listeners = new Map()
    this._openWaiters = []
    this._sent = []
    this._throttled = []
    this._throttleTimer = null
    this._rate = { frames: 90, window: 10000 }
    if (this.options.autoPause && client.adapter.onHide) {
      client.adapter.onHide(() => this.pause())
      client.adapter.onShow(() => this.resume())
    }
    client.auth.on('change', (user, info) => this._identity(user, info))
  }

  // ---- public ----------------------------------------------------------------------

  /** Opens the socket now (it opens by itself when needed); resolves to `{connection, user}`. */
  connect(opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, () => {
      if (this.state === 'open' && this.connection) return { connection: this.connection, user: this.user }
      return new Promise((resolve, reject) => {
        this._openWaiters.push({ resolve, reject })
        this._want()
      })
    })
  }

  /** Direct message to a user (`to` = user id or `{user}`) or a connection (`{connection}`). */
  send(cmd, body, to, opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      let target = to
      if (typeof to === 'string') target = { user: to }
      if (!target || (typeof target.user !== 'string' && typeof target.connection !== 'string')) {
        throw new YunqiaoError('INVALID_ARGUMENT', 'send(cmd, body, to): to is a user id, {user} or {connection}')
      }
      const t = target.user ? { user: target.user } : { connection: target.connection }
      const ack = await this._request({ type: 'send', to: t, cmd, body: body === undefined ? null : body })
      return { delivered: ack.delivered }
    })
  }

  /** Calls `fn(body, from, frame)` for direct messages with this `cmd` ('*': all). Returns an unlisten function. */
  listen(cmd, fn) {
    let set = this._listeners.get(cmd)
    if (!set) this._listeners.set(cmd, (set = new Set()))
    set.add(fn)
    this._want()
    return () => this.unlisten(cmd, fn)
  }

  unlisten(cmd, fn) {
    const set = this._listeners.get(cmd)
    if (!set) return
    if (fn) set.delete(fn)
    else set.clear()
    if (!set.size) this._listeners.delete(cmd)
  }

  /** Who is online (app-wide, or on a topic): `{users, more}`, at most 100 users. */
  online(topic, opts) {
    if (topic && typeof topic === 'object') [opts, topic] = [topic, undefined]
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      const f = { type: 'online' }
      if (topic) f.topic = topic
      const ack = await this._request(f)
      return { users: ack.users, more: !!ack.more }
    })
  }

  /** XpmJS' liveUsers: the public profiles of who is online. */
  liveUsers(topic, opts) {
    if (topic && typeof topic === 'object') [opts, topic] = [topic, undefined]
    const [cb] = splitCallbacks(opts)
    return call(cb, () => this.online(topic).then((r) => r.users))
  }

  /**
   * Subscribes to a topic; `fn(data, frame)` gets its events. `{presence: true}` adds
   * joins and leaves (`onPresence` or `on('presence')`); `{where}` filters a `table:` topic.
   * Resolves to a Subscription once the server has accepted it.
   */
  subscribe(topic, fn, opts) {
    if (fn && typeof fn === 'object') [opts, fn] = [fn, null]
    const [cb, o] = splitCallbacks(opts)
    return call(cb, () => {
      if (typeof topic !== 'string' || !topic) throw new YunqiaoError('INVALID_ARGUMENT', 'subscribe takes a topic')
      const sub = new Subscription(this, topic)
      if (typeof fn === 'function') sub.on('event', fn)
      if (typeof o.onPresence === 'function') sub.on('presence', o.onPresence)
      if (typeof o.onResync === 'function') sub.on('resync', o.onResync)
      if (typeof o.onError === 'function') sub.on('error', o.onError)
      return this._attach(topic, { where: o.where || null, presence: !!o.presence }, sub)
    })
  }

  /** Publishes to a plain topic: `{topic, seq, delivered}`. */
  publish(topic, data, opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      const ack = await this._request({ type: 'publish', topic, data: data === undefined ? null : data })
      return { topic: ack.topic, seq: ack.seq, delivered: ack.delivered }
    })
  }

  /** Stops handlers on a topic: one (`fn`, or a Subscription), or all of them. */
  unsubscribe(topic, fn, opts) {
    if (fn && typeof fn === 'object' && !(fn instanceof Handle)) [opts, fn] = [fn, null]
    const [cb] = splitCallbacks(opts)
    return call(cb, () => {
      if (topic instanceof Handle) return this._detachHandle(topic)
      const ts = this._topics.get(topic)
      if (!ts) return true
      const list = Array.from(ts.handles)
      const which = fn instanceof Handle ? [fn] : fn ? list.filter((h) => h.listenerCount('event') && h._handlers.event.indexOf(fn) >= 0) : list
      if (fn && !(fn instanceof Handle)) {
        // Removing one handler: drop the handle only when it has none left.
        for (const h of which) h.off('event', fn)
        return Promise.all(which.filter((h) => !h.listenerCount('event')).map((h) => this._detachHandle(h))).then(() => true)
      }
      return Promise.all(which.map((h) => this._detachHandle(h))).then(() => true)
    })
  }

  // bucky's names
  attach(topic, fn, opts) {
    return this.subscribe(topic, fn, opts)
  }

  detach(topic, fn, opts) {
    return this.unsubscribe(topic, fn, opts)
  }

  fireEvent(topic, data, opts) {
    return this.publish(topic, data, opts)
  }

  /** `channel.table('notes').watch({status: 'open'})`: a LiveQuery. */
  table(name) {
    return {
      watch: (where, opts) => this.watch(name, where, opts),
    }
  }

  /** Live changes of `table`'s records matching `where` (equalities; up to 8 fields). */
  watch(table, where, opts) {
    const [cb, o] = splitCallbacks(opts)
    const [cb2, w] = splitCallbacks(where)
    return call(cb || cb2, () => {
      const filter = w && Object.keys(w).length ? w : null
      const lq = new LiveQuery(this, table, filter)
      for (const ev of ['create', 'update', 'enter', 'leave', 'delete', 'change', 'resync', 'error']) {
        const h = o['on' + ev[0].toUpperCase() + ev.slice(1)]
        if (typeof h === 'function') lq.on(ev, h)
      }
      return this._attach('table:' + table, { where: filter, presence: false }, lq)
    })
  }

  /** Closes the socket until `resume()` (done by itself on app hide/show). */
  pause() {
    if (this.state === 'closed' || this.state === 'paused') return
    this.state = 'paused'
    this._stopTimers()
    this._dropSocket({ code: 1000, reason: 'paused' })
  }

  /** Reopens after `pause()` and resumes every subscription from its last sequence number. */
  resume() {
    if (this.state !== 'paused') return
    this.state = 'idle'
    this._attempt = 0
    if (this._wanted()) this._connect()
  }

  /** Closes for good: no reconnects; subscriptions end (a later call opens a new socket). */
  close() {
    this.state = 'closed'
    this._stopTimers()
    this._dropSocket({ code: 1000, reason: 'closed' })
    const err = new YunqiaoError('CHANNEL_CLOSED', 'the channel was closed')
    this._failQueued(err)
    for (const ts of this._topics.values()) this._endTopic(ts, null)
    this._topics.clear()
    this._listeners.clear()
  }

  // ---- topics ----------------------------------------------------------------------

  _attach(topic, spec, handle) {
    const kind = topicKind(topic)
    let ts = this._topics.get(topic)
    if (ts && kind === 'table' && stableJson(ts.where) !== stableJson(spec.where)) {
      throw new YunqiaoError(
        'WATCH_CONFLICT',
        `${topic} is already watched with another filter on this client: the server keeps one subscription per topic and connection`,
        { details: { topic, where: ts.where } },
      )
    }
    return new Promise((resolve, reject) => {
      if (!ts) {
        ts = {
          topic,
          kind,
          where: spec.where,
          presence: spec.presence,
          handles: new Set(),
          status: 'new',
          lastSeq: null,
          pin: null,
          hold: false,
          held: [],
          seen: new Set(),
          floor: -1,
          waiters: [],
        }
        this._topics.set(topic, ts)
      }
      ts.handles.add(handle)
      const again = spec.presence && !ts.presence
      if (again) ts.presence = true
      if (ts.status === 'active' && !again) {
        resolve(handle)
        handle._markReady()
        return
      }
      ts.waiters.push({ handle, resolve, reject })
      if (ts.status === 'active' && again) this._subscribeTopic(ts)
      else if (this.state === 'open' && ts.status === 'new') this._subscribeTopic(ts)
      else this._want()
    })
  }

  /**
   * Subscribes (again) to a topic, from `ts.pin` if set, else from the last sequence
   * number seen. Two server races are covered here:
   *
   * - a publish that read the subscriber list just before this subscription was written
   *   gets the next sequence number and is sent to nobody, and this subscribe's answer
   *   (`seq`) is one short of it: so a resume is followed, `resumeSettle` ms later, by a
   *   `settle` subscribe from the answer's `seq` (the subscription exists by then);
   * - a resume can be answered `resync` while a frame's log entry is still being
   *   written: so a first `resync` is asked again (`retry`) before it is believed.
   *
   * From the moment a resume is sent until its settle (or retry) is answered, `ts.pin`
   * holds the number to resume from, so a connection lost in between resumes from there,
   * and frames are held back (`ts.held`) to be delivered in `seq` order once it is.
   * Repeats are dropped on arrival. `ts.pin` only ever moves over numbers all seen:
   * until the resume is answered, live frames published meanwhile can arrive before the
   * replayed ones they follow, so the highest number seen (`ts.lastSeq`) may lie past a
   * hole the replay was still filling, and resuming from it would lose the hole.
   */
  _subscribeTopic(ts, kind = 'normal') {
    ts.status = 'subscribing'
    const since = ts.pin != null ? ts.pin : ts.lastSeq
    const f = { type: 'subscribe', topic: ts.topic }
    if (ts.where) f.where = ts.where
    if (ts.presence) f.presence = true
    if (since != null) f.since = since
    const resuming = since != null
    if (resuming) {
      ts.hold = true
      ts.pin = since
    }
    const gen = this._gen
    const later = (k, ms) => {
      setTimeout(() => {
        if (gen !== this._gen || this._topics.get(ts.topic) !== ts) return
        if (k === 'rate' ? ts.status === 'new' : ts.status === 'active') this._subscribeTopic(ts, k === 'rate' ? 'normal' : k)
      }, ms)
    }
    return this._call(f).then(
      (ack) => {
        if (this._topics.get(ts.topic) !== ts) return
        ts.status = 'active'
        const waiters = ts.waiters
        ts.waiters = []
        for (const w of waiters) {
          w.resolve(w.handle)
          w.handle._markReady()
        }
        const seq = typeof ack.seq === 'number' ? ack.seq : null
        if (resuming && ack.resync && kind !== 'retry') {
          ts.pin = since
          later('retry', this.options.resumeSettle)
          return
        }
        if (seq != null) ts.lastSeq = Math.max(ts.lastSeq == null ? -1 : ts.lastSeq, seq)
        if (resuming && ack.resync) {
          ts.pin = null
          this._release(ts)
          for (const h of ts.handles) h._deliver('resync', [null, { topic: ts.topic }])
        } else if (kind === 'settle' || !resuming || seq == null) {
          ts.pin = null
          this._release(ts)
        } else {
          ts.pin = Math.max(ts.pin, seq)
          later('settle', this.options.resumeSettle)
        }
      },
      (err) => {
        if (this._topics.get(ts.topic) !== ts) return
        if (err.code === 'NETWORK_ERROR') {
          ts.status = 'new' // subscribed again when the socket is back
          return
        }
        if (err.code === 'RATE_LIMITED') {
          ts.status = 'new'
          later('rate', 1000 + Math.random() * 1000)
          return
        }
        this._topics.delete(ts.topic)
        this._endTopic(ts, err)
      },
    )
  }

  /** Rejects a topic's waiters and ends its live handles (`err` null: closed quietly). */
  _endTopic(ts, err) {
    const waiting = new Set(ts.waiters.map((w) => w.handle))
    for (const w of ts.waiters) w.reject(err || new YunqiaoError('CHANNEL_CLOSED', 'the channel was closed'))
    ts.waiters = []
    for (const h of ts.handles) {
      if (!waiting.has(h)) {
        if (err) h._deliver('error', [null, err])
        else h.emit('close')
      }
      h.closed = true
    }
  }

  _detachHandle(h) {
    h.closed = true
    const ts = this._topics.get(h.topic)
    if (!ts || !ts.handles.has(h)) return Promise.resolve(true)
    ts.handles.delete(h)
    if (ts.handles.size) return Promise.resolve(true)
    this._topics.delete(h.topic)
    if (this.state !== 'open' || ts.status === 'new') return Promise.resolve(true)
    return this._request({ type: 'unsubscribe', topic: ts.topic }).then(
      () => true,
      (e) => {
        if (e.code === 'NETWORK_ERROR') return true // gone with the socket anyway
        throw e
      },
    )
  }

  // ---- requests --------------------------------------------------------------------

  /** Sends a request once the socket is ready (queued until then); resolves to its answer. */
  _request(frame) {
    return new Promise((resolve, reject) => {
      const entry = { frame, resolve, reject, sent: false }
      if (this.state === 'open') this._sendEntry(entry)
      else {
        this._outbox.push(entry)
        this._want()
      }
    })
  }

  /** Sends now on the open socket (hello and subscribes while opening). */
  _call(frame) {
    return new Promise((resolve, reject) => {
      this._sendEntry({ frame, resolve, reject, sent: false })
    })
  }

  _sendEntry(entry) {
    const id = this._nextId++
    entry.frame.id = id
    entry.sent = true
    this._pending.set(id, entry)
    if (this.options.debug) this.options.debug('out', entry.frame)
    this._transmit(JSON.stringify(entry.frame), entry)
  }

  /**
   * Sends a frame within the server's frame rate (from the hello answer's `limits`, with
   * a margin): past it, frames wait for the window to move instead of being refused.
   */
  _transmit(text, entry) {
    const now = Date.now()
    const win = this._rate.window
    while (this._sent.length && this._sent[0] <= now - win) this._sent.shift()
    if (this._throttled.length || this._sent.length >= this._rate.frames) {
      this._throttled.push([text, entry])
      if (!this._throttleTimer) {
        const wait = Math.max(5, this._sent[0] + win - now + 5)
        this._throttleTimer = setTimeout(() => {
          this._throttleTimer = null
          const q = this._throttled
          this._throttled = []
          for (const [t, e] of q) this._transmit(t, e)
        }, wait)
      }
      return
    }
    this._sent.push(now)
    try {
      this._sock.send(text)
    } catch (e) {
      if (entry) {
        this._pending.delete(entry.frame.id)
        entry.reject(networkError('the frame could not be sent', e))
      }
    }
  }

  _failQueued(err) {
    const q = this._outbox
    this._outbox = []
    for (const e of q) e.reject(err)
    const w = this._openWaiters
    this._openWaiters = []
    for (const x of w) x.reject(err)
  }

  // ---- the socket ------------------------------------------------------------------

  _wanted() {
    return this._topics.size > 0 || this._listeners.size > 0 || this._outbox.length > 0 || this._openWaiters.length > 0
  }

  _want() {
    if (this.state === 'closed') this.state = 'idle'
    if (this.state === 'idle' && !this._timer) this._connect()
  }

  async _connect() {
    if (this.state !== 'idle') return
    this.state = 'connecting'
    const gen = ++this._gen
    let token = null
    try {
      if (this._failedBeforeOpen && !this._client.auth._fixed && this._client.auth.token) {
        // The socket was refused before it opened: a dead session would be refused
        // forever, so ask the HTTP API (a 401 there ends the session).
        await this._client.auth.me().catch((e) => {
          if (e.status !== 401) throw e
        })
      }
      token = await this._client.auth._token()
    } catch (e) {
      if (gen !== this._gen || this.state !== 'connecting') return
      this.state = 'idle'
      this._failedBeforeOpen = true
      this._schedule()
      return
    }
    if (gen !== this._gen || this.state !== 'connecting') return
    if (!token) {
      this.state = 'idle'
      const err = new YunqiaoError('UNAUTHENTICATED', 'log in before using live channels', { status: 401 })
      this._failQueued(err)
      for (const ts of this._topics.values()) this._endTopic(ts, err)
      this._topics.clear()
      return
    }
    const base = this._client.wsUrl
    const url = base + (base.indexOf('?') >= 0 ? '&' : '?') + 'token=' + encodeURIComponent(token)
    let opened = false
    try {
      this._sock = this._client.adapter.connect(url, {
        onOpen: () => {
          if (gen !== this._gen) return
          opened = true
          this._onOpen(gen)
        },
        onMessage: (text) => {
          if (gen === this._gen) this._onMessage(text)
        },
        onClose: (e) => {
          if (gen === this._gen) this._onClosed(e || {}, opened)
        },
        onError: (msg) => {
          if (gen === this._gen) this.emit('socketError', msg)
        },
      })
    } catch (e) {
      this.state = 'idle'
      this._sock = null
      const err = e instanceof YunqiaoError ? e : networkError(e && e.message, e)
      this._failQueued(err)
      for (const ts of this._topics.values()) this._endTopic(ts, err)
      this._topics.clear()
      return
    }
    if (gen !== this._gen) return
    this._connTimer = setTimeout(() => {
      if (gen === this._gen && !opened) this._drop('the socket did not open in time')
    }, this.options.connectTimeout)
  }

  _onOpen(gen) {
    clearTimeout(this._connTimer)
    this._connTimer = null
    this.state = 'open'
    this._startHeartbeat()
    this._sent = []
    const hello = this._call({ type: 'hello' }).then((ack) => {
      this.connection = ack.connection
      this.user = ack.user
      const l = ack.limits
      if (l && l.frames > 0 && l.per_seconds > 0) {
        this._rate = { frames: Math.max(1, Math.floor(l.frames * 0.9)), window: l.per_seconds * 1000 }
      }
      return ack
    })
    const subs = []
    for (const ts of this._topics.values()) if (ts.status === 'new') subs.push(this._subscribeTopic(ts))
    const q = this._outbox
    this._outbox = []
    for (const e of q) this._sendEntry(e)
    Promise.all([hello].concat(subs)).then(
      () => {
        if (gen !== this._gen) return
        // Parse's rule: the backoff starts over once everything is subscribed again.
        this._attempt = 0
        this._failedBeforeOpen = false
        const info = { connection: this.connection, user: this.user }
        const w = this._openWaiters
        this._openWaiters = []
        for (const x of w) x.resolve(info)
        this.emit(this._everOpen ? 'reconnect' : 'open', info)
        this._everOpen = true
      },
      () => {
        // The hello failed (the socket dropped): the close handler reconnects.
      },
    )
  }

  _onMessage(text) {
    clearTimeout(this._pongTimer)
    this._pongTimer = null
    let f
    try {
      f = JSON.parse(text)
    } catch (e) {
      return
    }
    if (!f || typeof f !== 'object') return
    if (this.options.debug) this.options.debug('in', f)
    const t = f.type
    if ((t === 'ack' || t === 'pong' || t === 'error') && f.id != null && this._pending.has(f.id)) {
      const entry = this._pending.get(f.id)
      this._pending.delete(f.id)
      if (t === 'error') entry.reject(new YunqiaoError(f.code || 'ERROR', f.message || f.code || 'error', { details: f }))
      else entry.resolve(f)
      return
    }
    if (t === 'event' || t === 'change') this._onTopicFrame(f)
    else if (t === 'presence') {
      const ts = this._topics.get(f.topic)
      if (ts) for (const h of ts.handles) h._deliver('frame', [f])
      this.emit('presence', f)
    } else if (t === 'message') {
      this.emit('message', f)
      for (const key of [f.cmd, '*']) {
        const set = this._listeners.get(key)
        if (!set) continue
        for (const fn of Array.from(set)) {
          try {
            fn(f.body, f.from, f)
          } catch (e) {
            console.error('[yunqiao] a listen handler threw', e)
          }
        }
      }
    } else if (t === 'error') {
      this.emit('error', new YunqiaoError(f.code || 'ERROR', f.message || 'error', { details: f }))
    }
  }

  /** Delivers the frames held back during a resume, in sequence order. */
  _release(ts) {
    ts.hold = false
    const held = ts.held
    ts.held = []
    held.sort((a, b) => a.seq - b.seq)
    for (const f of held) for (const h of ts.handles) h._deliver('frame', [f])
  }

  _onTopicFrame(f) {
    const ts = this._topics.get(f.topic)
    if (!ts) return
    if (typeof f.seq === 'number') {
      if (f.seq <= ts.floor || ts.seen.has(f.seq)) return // a repeat around a resume
      ts.seen.add(f.seq)
      if (ts.seen.size > SEEN_KEEP) {
        const sorted = Array.from(ts.seen).sort((a, b) => a - b)
        const drop = sorted.slice(0, SEEN_KEEP / 2)
        for (const s of drop) ts.seen.delete(s)
        ts.floor = drop[drop.length - 1]
      }
      ts.lastSeq = Math.max(ts.lastSeq == null ? -1 : ts.lastSeq, f.seq)
      // Everything up to the pin has been seen: move it over what now follows without a hole.
      if (ts.pin != null) while (ts.seen.has(ts.pin + 1)) ts.pin++
      if (ts.hold) {
        ts.held.push(f)
        // Never hold without bound (a connection that keeps dropping before it settles).
        if (ts.held.length > SEEN_KEEP / 2) this._release(ts)
        return
      }
    }
    for (const h of ts.handles) h._deliver('frame', [f])
  }

  _startHeartbeat() {
    clearInterval(this._hb)
    this._hb = setInterval(() => {
      if (this.state !== 'open' || this._pongTimer) return
      this._transmit(JSON.stringify({ type: 'ping' }), null)
      this._pongTimer = setTimeout(() => {
        this._pongTimer = null
        this._drop('no answer to a ping')
      }, this.options.pongTimeout)
    }, this.options.heartbeat)
  }

  _stopTimers() {
    clearTimeout(this._timer)
    clearTimeout(this._connTimer)
    clearTimeout(this._pongTimer)
    clearInterval(this._hb)
    this._timer = this._connTimer = this._pongTimer = this._hb = null
  }

  /** Gives up on the current socket now (dead, refused, or replaced) and reconnects. */
  _drop(reason) {
    const opened = this.state === 'open'
    this._dropSocket({ code: 4000, reason })
    this._afterClose({ code: 4000, reason }, opened)
  }

  /** Closes the socket and forgets it: its events no longer count. */
  _dropSocket(e) {
    const sock = this._sock
    this._gen++
    this._sock = null
    this._cleanupSocket(e)
    if (sock) {
      try {
        sock.close(1000, e.reason)
      } catch (x) {
        // already gone
      }
    }
  }

  _onClosed(e, opened) {
    this._gen++
    this._sock = null
    this._cleanupSocket(e)
    this._afterClose(e, opened)
  }

  _cleanupSocket(e) {
    clearTimeout(this._throttleTimer)
    this._throttleTimer = null
    this._throttled = []
    this._sent = []
    clearTimeout(this._connTimer)
    clearTimeout(this._pongTimer)
    clearInterval(this._hb)
    this._connTimer = this._pongTimer = this._hb = null
    this.connection = null
    const pending = Array.from(this._pending.values())
    this._pending.clear()
    const err = networkError('the connection dropped before the answer', null, { close: e })
    for (const p of pending) p.reject(err)
    for (const ts of this._topics.values()) if (ts.status !== 'failed') ts.status = 'new'
  }

  _afterClose(e, opened) {
    if (this.state === 'paused' || this.state === 'closed') {
      this.emit('close', e)
      return
    }
    this.state = 'idle'
    this._failedBeforeOpen = !opened
    this.emit('close', e)
    if (this._wanted()) this._schedule()
  }

  _schedule() {
    if (this._timer || this.state !== 'idle') return
    this._attempt++
    const k = this._attempt
    const o = this.options
    const max = Math.min(o.reconnectCap, o.reconnectBase * (Math.pow(2, k) - 1))
    const delay = Math.random() * max
    this.emit('reconnecting', { attempt: k, delay })
    this._timer = setTimeout(() => {
      this._timer = null
      this._connect()
    }, delay)
  }

  /** Login, logout or a different user: the socket speaks for the session it opened with. */
  _identity(user, info) {
    if (!info.userChanged) return // a refresh: the open socket stays valid
    if (!user) {
      const err = new YunqiaoError('UNAUTHENTICATED', 'logged out', { status: 401 })
      this._stopTimers()
      this._dropSocket({ code: 1000, reason: 'logged out' })
      this._failQueued(err)
      for (const ts of this._topics.values()) this._endTopic(ts, err)
      this._topics.clear()
      if (this.state !== 'paused' && this.state !== 'closed') this.state = 'idle'
      return
    }
    if (this.state === 'open' || this.state === 'connecting') {
      this._stopTimers()
      this._dropSocket({ code: 1000, reason: 'new session' })
      this.state = 'idle'
      this._attempt = 0
      this._connect()
    }
  }
}
