/* yunqiao 0.1.0 — JavaScript SDK for yunqiao (云桥), a backend-as-a-service for WeChat mini-programs. Built from src/ by scripts/build.mjs; do not edit. */
"use strict";
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);

// src/index.js
var index_exports = {};
__export(index_exports, {
  $append: () => $append,
  $inc: () => $inc,
  $remove: () => $remove,
  Batch: () => Batch,
  Channel: () => Channel,
  Client: () => Client,
  Kv: () => Kv,
  LiveQuery: () => LiveQuery,
  Query: () => Query,
  Stor: () => Stor,
  Subscription: () => Subscription,
  Table: () => Table,
  YunqiaoError: () => YunqiaoError,
  createClient: () => createClient,
  memoryStorage: () => memoryStorage,
  op: () => op,
  version: () => version,
  webAdapter: () => webAdapter,
  webStorage: () => webStorage,
  wxAdapter: () => wxAdapter
});
module.exports = __toCommonJS(index_exports);

// src/errors.js
var YunqiaoError = class extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{status?: number, details?: any, requestId?: string, cause?: any}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = "YunqiaoError";
    this.code = code;
    this.status = extra.status || 0;
    this.details = extra.details === void 0 ? null : extra.details;
    if (extra.requestId) this.requestId = extra.requestId;
    if (extra.cause !== void 0) this.cause = extra.cause;
  }
  /** wx-style message, so code written for `fail({errMsg})` keeps working. */
  get errMsg() {
    return `${this.code}: ${this.message}`;
  }
  toJSON() {
    return { code: this.code, message: this.message, details: this.details, status: this.status };
  }
};
var STATUS_CODES = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  409: "CONFLICT",
  413: "BODY_TOO_LARGE",
  429: "RATE_LIMITED"
};
function codeForStatus(status) {
  if (STATUS_CODES[status]) return STATUS_CODES[status];
  if (status >= 500) return "SERVER_ERROR";
  return "HTTP_ERROR";
}
function networkError(message, cause, details) {
  return new YunqiaoError("NETWORK_ERROR", message || "the request got no answer", {
    status: 0,
    cause,
    details: details || null
  });
}

// src/util.js
var CALLBACK_KEYS = ["success", "fail", "complete"];
function hasCallbacks(o) {
  return !!o && typeof o === "object" && CALLBACK_KEYS.some((k) => typeof o[k] === "function");
}
function isCallbackObject(o) {
  if (!hasCallbacks(o) || Array.isArray(o)) return false;
  return Object.keys(o).every((k) => CALLBACK_KEYS.indexOf(k) >= 0);
}
function splitCallbacks(o) {
  if (!o || typeof o !== "object") return [null, o || {}];
  const cb = {};
  const rest = {};
  let any = false;
  for (const k of Object.keys(o)) {
    if (CALLBACK_KEYS.indexOf(k) >= 0) {
      if (typeof o[k] === "function") {
        cb[k] = o[k];
        any = true;
      }
    } else rest[k] = o[k];
  }
  return [any ? cb : null, rest];
}
function safely(fn, arg) {
  try {
    fn(arg);
  } catch (e) {
    console.error("[yunqiao] a callback threw", e);
  }
}
function withCallbacks(promise, cb) {
  if (!cb) return promise;
  promise.then(
    (res) => {
      if (cb.success) safely(cb.success, res);
      if (cb.complete) safely(cb.complete, res);
    },
    (err) => {
      if (cb.fail) safely(cb.fail, err);
      if (cb.complete) safely(cb.complete, err);
    }
  );
  return promise;
}
function call(cb, fn) {
  let p;
  try {
    p = Promise.resolve(fn());
  } catch (e) {
    p = Promise.reject(e);
  }
  return withCallbacks(p, cb);
}
function nonce(n = 12) {
  const abc = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < n; i++) s += abc[Math.floor(Math.random() * abc.length)];
  return Date.now().toString(36) + s;
}
function queryString(params) {
  if (!params) return "";
  const parts = [];
  for (const k of Object.keys(params)) {
    const v = params[k];
    if (v === void 0 || v === null) continue;
    parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(String(v)));
  }
  return parts.length ? "?" + parts.join("&") : "";
}
function seg(s) {
  return encodeURIComponent(String(s));
}
var Emitter = class {
  constructor() {
    this._handlers = {};
  }
  on(event, fn) {
    ;
    (this._handlers[event] || (this._handlers[event] = [])).push(fn);
    return this;
  }
  off(event, fn) {
    const list = this._handlers[event];
    if (!list) return this;
    if (!fn) delete this._handlers[event];
    else this._handlers[event] = list.filter((f) => f !== fn);
    return this;
  }
  once(event, fn) {
    const wrap = (...args) => {
      this.off(event, wrap);
      fn(...args);
    };
    return this.on(event, wrap);
  }
  listenerCount(event) {
    return (this._handlers[event] || []).length;
  }
  emit(event, ...args) {
    const list = this._handlers[event];
    if (!list || !list.length) return false;
    for (const fn of list.slice()) {
      try {
        fn(...args);
      } catch (e) {
        console.error(`[yunqiao] a ${event} handler threw`, e);
      }
    }
    return true;
  }
};
function stableJson(v) {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(stableJson).join(",") + "]";
  return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + stableJson(v[k])).join(",") + "}";
}
function parseTime(s) {
  if (typeof s === "number") return s;
  const t = Date.parse(s);
  return isNaN(t) ? 0 : t;
}

// src/auth.js
var DAY = 24 * 3600 * 1e3;
var Auth = class extends Emitter {
  constructor(client) {
    super();
    this.client = client;
    const o = client.options;
    this._fixed = o.token || null;
    this._key = (o.storagePrefix == null ? "yunqiao:" : o.storagePrefix) + "session";
    this._margin = o.refreshMargin == null ? 7 * DAY : o.refreshMargin;
    this._refreshing = null;
    this._loggingIn = null;
    this._session = null;
    try {
      const s = client.adapter.storage.get(this._key);
      if (s && typeof s === "object" && typeof s.token === "string") this._session = s;
    } catch (e) {
      this._session = null;
    }
  }
  /** The session token (or the fixed token given to createClient), or null. */
  get token() {
    return this._fixed || (this._session ? this._session.token : null);
  }
  /** The logged-in user as last seen, or null. */
  get user() {
    return this._session ? this._session.user : null;
  }
  /** When the session token expires (ms since the epoch), or null. */
  get expiresAt() {
    return this._session ? this._session.expires_at : null;
  }
  isLoggedIn() {
    return !!this.token;
  }
  /**
   * Logs in: `{code}` as given, else `{mockUser}` (or createClient's `mockUser`) as the
   * built-in WeChat mock's `mock:<name>:<nonce>`, else the platform's login (wx.login).
   */
  login(opts) {
    const [cb, o] = splitCallbacks(opts);
    return call(cb, async () => {
      const mock = o.mockUser || (o.code ? null : this.client.options.mockUser);
      let code = o.code;
      if (!code && mock) code = `mock:${mock}:${nonce()}`;
      if (!code) code = await this.client.adapter.login();
      const p = this.client.http.request("POST", "/v1/auth/login", { body: { code }, auth: false });
      this._loggingIn = p;
      try {
        const { data } = await p;
        this._save(data);
        return data;
      } finally {
        if (this._loggingIn === p) this._loggingIn = null;
      }
    });
  }
  /** The caller's user, fresh from the server (GET /v1/auth/me). */
  me(opts) {
    const [cb] = splitCallbacks(opts);
    return call(cb, async () => {
      const { data } = await this.client.http.request("GET", "/v1/auth/me");
      this._setUser(data);
      return data;
    });
  }
  /** Changes `nickname`, `avatar_url` or keys of `profile` (`null` removes a key). */
  update(patch, opts) {
    const [cb] = splitCallbacks(opts || (patch && (patch.success || patch.fail || patch.complete) ? patch : null));
    const [, body] = splitCallbacks(patch);
    return call(cb, async () => {
      const { data } = await this.client.http.request("PATCH", "/v1/auth/me", { body });
      this._setUser(data);
      return data;
    });
  }
  /** Binds the phone number behind a `<button open-type="getPhoneNumber">` code. */
  bindPhone(code, opts) {
    const [cb] = splitCallbacks(opts);
    return call(cb, async () => {
      if (code && typeof code === "object" && code.detail) code = code.detail.code;
      if (!code) throw new YunqiaoError("INVALID_ARGUMENT", "bindPhone takes the code from getPhoneNumber");
      const { data } = await this.client.http.request("POST", "/v1/auth/phone", { body: { code } });
      this._setUser(data);
      return data;
    });
  }
  /** A new token for this session (the SDK does this by itself before expiry). */
  refresh(opts) {
    const [cb] = splitCallbacks(opts);
    return call(cb, () => {
      if (!this._refreshing) {
        this._refreshing = this.client.http.request("POST", "/v1/auth/refresh", { noRefresh: true }).then(({ data }) => {
          this._save(data);
          return data;
        }).finally(() => {
          this._refreshing = null;
        });
      }
      return this._refreshing;
    });
  }
  /** Ends the session on the server and forgets it here; closes live channels. */
  logout(opts) {
    const [cb] = splitCallbacks(opts);
    return call(cb, async () => {
      if (this._session) {
        try {
          await this.client.http.request("POST", "/v1/auth/logout", { noRefresh: true });
        } catch (e) {
          if (e.status !== 401) throw e;
        }
      }
      this._clear();
      return true;
    });
  }
  // ---- internal --------------------------------------------------------------------
  _save(view) {
    const prev = this._session;
    this._session = { token: view.token, expires_at: parseTime(view.expires_at), user: view.user };
    this._store();
    const changed = !prev || prev.token !== view.token;
    this.emit("change", view.user, { tokenChanged: changed, userChanged: !prev || !prev.user || prev.user.id !== view.user.id });
  }
  _setUser(user) {
    if (!this._session || !user) return;
    this._session.user = user;
    this._store();
    this.emit("change", user, { tokenChanged: false, userChanged: false });
  }
  _store() {
    try {
      if (this._session) this.client.adapter.storage.set(this._key, this._session);
      else this.client.adapter.storage.remove(this._key);
    } catch (e) {
      console.error("[yunqiao] could not write the session to storage", e);
    }
  }
  _clear() {
    const had = !!this._session;
    this._session = null;
    this._store();
    if (had) this.emit("change", null, { tokenChanged: true, userChanged: true });
  }
  /** The server refused `token`: if it is still the session's, the session is over. */
  _rejected(token) {
    if (this._session && this._session.token === token) this._clear();
  }
  /** The token for a request, refreshed first when it is close to its expiry. */
  async _token(noRefresh) {
    if (this._fixed) return this._fixed;
    if (!this._session && this._loggingIn) {
      try {
        await this._loggingIn;
      } catch (e) {
      }
    }
    if (!this._session && this.client.options.autoLogin && !noRefresh) {
      await this.login();
    }
    const s = this._session;
    if (!s) return null;
    if (!noRefresh && s.expires_at && s.expires_at - Date.now() < this._margin) {
      try {
        await this.refresh();
      } catch (e) {
      }
    }
    return this._session ? this._session.token : null;
  }
};

// src/channel.js
var DEFAULTS = {
  /** ms between pings while the socket is open (the server closes after 10 idle minutes). */
  heartbeat: 3e4,
  /** ms to wait for any frame after a ping before the socket counts as dead. */
  pongTimeout: 1e4,
  /** ms for a socket to open before the attempt counts as failed. */
  connectTimeout: 15e3,
  /** Backoff: attempt k waits random() * min(reconnectCap, reconnectBase * (2^k - 1)) ms. */
  reconnectBase: 1e3,
  reconnectCap: 3e4,
  /** Close on app hide, reopen (and resume) on app show. */
  autoPause: true,
  /** `(direction, frame) => void`: sees every frame in and out (for debugging). */
  debug: null,
  /** ms after a resume before it is checked once more (see _subscribeTopic). */
  resumeSettle: 300
};
var SEEN_KEEP = 2048;
function topicKind(topic) {
  if (topic === "presence") return "presence";
  if (topic.indexOf("table:") === 0) return "table";
  return "plain";
}
var Handle = class extends Emitter {
  constructor(channel, topic) {
    super();
    this._channel = channel;
    this.topic = topic;
    this.closed = false;
    this._ready = false;
    this._buffer = [];
  }
  _deliver(kind, args) {
    if (this.closed) return;
    if (!this._ready) this._buffer.push([kind, args]);
    else this._dispatch(kind, args);
  }
  _markReady() {
    setTimeout(() => {
      this._ready = true;
      const b = this._buffer;
      this._buffer = [];
      for (const [kind, args] of b) this._dispatch(kind, args);
    }, 0);
  }
  /** Stops this subscription (the socket stays for the others). */
  unsubscribe(opts) {
    const [cb] = splitCallbacks(opts);
    return call(cb, () => this._channel._detachHandle(this));
  }
  close(opts) {
    return this.unsubscribe(opts);
  }
};
var Subscription = class extends Handle {
  _dispatch(kind, args) {
    const [frame, extra] = args;
    if (kind === "frame") {
      if (frame.type === "event") this.emit("event", frame.data, frame);
      else if (frame.type === "change") this.emit("event", frame.record, frame);
      else if (frame.type === "presence") {
        const p = { state: frame.state, user: frame.user };
        if (frame.connection) p.connection = frame.connection;
        this.emit("presence", p, frame);
        if (this.topic === "presence") this.emit("event", p, frame);
      }
    } else this.emit(kind, extra);
  }
};
var LiveQuery = class extends Handle {
  constructor(channel, table, where) {
    super(channel, "table:" + table);
    this.table = table;
    this.where = where;
  }
  _dispatch(kind, args) {
    const [frame, extra] = args;
    if (kind === "frame") {
      if (frame.type !== "change") return;
      this.emit(frame.op, frame.record, frame);
      this.emit("change", frame.op, frame.record, frame);
    } else this.emit(kind, extra);
  }
};
var Channel = class extends Emitter {
  constructor(client, opts) {
    super();
    this._client = client;
    this.options = Object.assign({}, DEFAULTS, opts || {});
    this.state = "idle";
    this.connection = null;
    this.user = null;
    this._sock = null;
    this._gen = 0;
    this._attempt = 0;
    this._everOpen = false;
    this._failedBeforeOpen = false;
    this._timer = null;
    this._connTimer = null;
    this._hb = null;
    this._pongTimer = null;
    this._nextId = 1;
    this._pending = /* @__PURE__ */ new Map();
    this._outbox = [];
    this._topics = /* @__PURE__ */ new Map();
    this._listeners = /* @__PURE__ */ new Map();
    this._openWaiters = [];
    this._sent = [];
    this._throttled = [];
    this._throttleTimer = null;
    this._rate = { frames: 90, window: 1e4 };
    if (this.options.autoPause && client.adapter.onHide) {
      client.adapter.onHide(() => this.pause());
      client.adapter.onShow(() => this.resume());
    }
    client.auth.on("change", (user, info) => this._identity(user, info));
  }
  // ---- public ----------------------------------------------------------------------
  /** Opens the socket now (it opens by itself when needed); resolves to `{connection, user}`. */
  connect(opts) {
    const [cb] = splitCallbacks(opts);
    return call(cb, () => {
      if (this.state === "open" && this.connection) return { connection: this.connection, user: this.user };
      return new Promise((resolve, reject) => {
        this._openWaiters.push({ resolve, reject });
        this._want();
      });
    });
  }
  /** Direct message to a user (`to` = user id or `{user}`) or a connection (`{connection}`). */
  send(cmd, body, to, opts) {
    const [cb] = splitCallbacks(opts);
    return call(cb, async () => {
      let target = to;
      if (typeof to === "string") target = { user: to };
      if (!target || typeof target.user !== "string" && typeof target.connection !== "string") {
        throw new YunqiaoError("INVALID_ARGUMENT", "send(cmd, body, to): to is a user id, {user} or {connection}");
      }
      const t = target.user ? { user: target.user } : { connection: target.connection };
      const ack = await this._request({ type: "send", to: t, cmd, body: body === void 0 ? null : body });
      return { delivered: ack.delivered };
    });
  }
  /** Calls `fn(body, from, frame)` for direct messages with this `cmd` ('*': all). Returns an unlisten function. */
  listen(cmd, fn) {
    let set = this._listeners.get(cmd);
    if (!set) this._listeners.set(cmd, set = /* @__PURE__ */ new Set());
    set.add(fn);
    this._want();
    return () => this.unlisten(cmd, fn);
  }
  unlisten(cmd, fn) {
    const set = this._listeners.get(cmd);
    if (!set) return;
    if (fn) set.delete(fn);
    else set.clear();
    if (!set.size) this._listeners.delete(cmd);
  }
  /** Who is online (app-wide, or on a topic): `{users, more}`, at most 100 users. */
  online(topic, opts) {
    if (topic && typeof topic === "object") [opts, topic] = [topic, void 0];
    const [cb] = splitCallbacks(opts);
    return call(cb, async () => {
      const f = { type: "online" };
      if (topic) f.topic = topic;
      const ack = await this._request(f);
      return { users: ack.users, more: !!ack.more };
    });
  }
  /** XpmJS' liveUsers: the public profiles of who is online. */
  liveUsers(topic, opts) {
    if (topic && typeof topic === "object") [opts, topic] = [topic, void 0];
    const [cb] = splitCallbacks(opts);
    return call(cb, () => this.online(topic).then((r) => r.users));
  }
  /**
   * Subscribes to a topic; `fn(data, frame)` gets its events. `{presence: true}` adds
   * joins and leaves (`onPresence` or `on('presence')`); `{where}` filters a `table:` topic.
   * Resolves to a Subscription once the server has accepted it.
   */
  subscribe(topic, fn, opts) {
    if (fn && typeof fn === "object") [opts, fn] = [fn, null];
    const [cb, o] = splitCallbacks(opts);
    return call(cb, () => {
      if (typeof topic !== "string" || !topic) throw new YunqiaoError("INVALID_ARGUMENT", "subscribe takes a topic");
      const sub = new Subscription(this, topic);
      if (typeof fn === "function") sub.on("event", fn);
      if (typeof o.onPresence === "function") sub.on("presence", o.onPresence);
      if (typeof o.onResync === "function") sub.on("resync", o.onResync);
      if (typeof o.onError === "function") sub.on("error", o.onError);
      return this._attach(topic, { where: o.where || null, presence: !!o.presence }, sub);
    });
  }
  /** Publishes to a plain topic: `{topic, seq, delivered}`. */
  publish(topic, data, opts) {
    const [cb] = splitCallbacks(opts);
    return call(cb, async () => {
      const ack = await this._request({ type: "publish", topic, data: data === void 0 ? null : data });
      return { topic: ack.topic, seq: ack.seq, delivered: ack.delivered };
    });
  }
  /** Stops handlers on a topic: one (`fn`, or a Subscription), or all of them. */
  unsubscribe(topic, fn, opts) {
    if (fn && typeof fn === "object" && !(fn instanceof Handle)) [opts, fn] = [fn, null];
    const [cb] = splitCallbacks(opts);
    return call(cb, () => {
      if (topic instanceof Handle) return this._detachHandle(topic);
      const ts = this._topics.get(topic);
      if (!ts) return true;
      const list = Array.from(ts.handles);
      const which = fn instanceof Handle ? [fn] : fn ? list.filter((h) => h.listenerCount("event") && h._handlers.event.indexOf(fn) >= 0) : list;
      if (fn && !(fn instanceof Handle)) {
        for (const h of which) h.off("event", fn);
        return Promise.all(which.filter((h) => !h.listenerCount("event")).map((h) => this._detachHandle(h))).then(() => true);
      }
      return Promise.all(which.map((h) => this._detachHandle(h))).then(() => true);
    });
  }
  // bucky's names
  attach(topic, fn, opts) {
    return this.subscribe(topic, fn, opts);
  }
  detach(topic, fn, opts) {
    return this.unsubscribe(topic, fn, opts);
  }
  fireEvent(topic, data, opts) {
    return this.publish(topic, data, opts);
  }
  /** `channel.table('notes').watch({status: 'open'})`: a LiveQuery. */
  table(name) {
    return {
      watch: (where, opts) => this.watch(name, where, opts)
    };
  }
  /** Live changes of `table`'s records matching `where` (equalities; up to 8 fields). */
  watch(table, where, opts) {
    const [cb, o] = splitCallbacks(opts);
    const [cb2, w] = splitCallbacks(where);
    return call(cb || cb2, () => {
      const filter = w && Object.keys(w).length ? w : null;
      const lq = new LiveQuery(this, table, filter);
      for (const ev of ["create", "update", "enter", "leave", "delete", "change", "resync", "error"]) {
        const h = o["on" + ev[0].toUpperCase() + ev.slice(1)];
        if (typeof h === "function") lq.on(ev, h);
      }
      return this._attach("table:" + table, { where: filter, presence: false }, lq);
    });
  }
  /** Closes the socket until `resume()` (done by itself on app hide/show). */
  pause() {
    if (this.state === "closed" || this.state === "paused") return;
    this.state = "paused";
    this._stopTimers();
    this._dropSocket({ code: 1e3, reason: "paused" });
  }
  /** Reopens after `pause()` and resumes every subscription from its last sequence number. */
  resume() {
    if (this.state !== "paused") return;
    this.state = "idle";
    this._attempt = 0;
    if (this._wanted()) this._connect();
  }
  /** Closes for good: no reconnects; subscriptions end (a later call opens a new socket). */
  close() {
    this.state = "closed";
    this._stopTimers();
    this._dropSocket({ code: 1e3, reason: "closed" });
    const err = new YunqiaoError("CHANNEL_CLOSED", "the channel was closed");
    this._failQueued(err);
    for (const ts of this._topics.values()) this._endTopic(ts, null);
    this._topics.clear();
    this._listeners.clear();
  }
  // ---- topics ----------------------------------------------------------------------
  _attach(topic, spec, handle) {
    const kind = topicKind(topic);
    let ts = this._topics.get(topic);
    if (ts && kind === "table" && stableJson(ts.where) !== stableJson(spec.where)) {
      throw new YunqiaoError(
        "WATCH_CONFLICT",
        `${topic} is already watched with another filter on this client: the server keeps one subscription per topic and connection`,
        { details: { topic, where: ts.where } }
      );
    }
    return new Promise((resolve, reject) => {
      if (!ts) {
        ts = {
          topic,
          kind,
          where: spec.where,
          presence: spec.presence,
          handles: /* @__PURE__ */ new Set(),
          status: "new",
          lastSeq: null,
          pin: null,
          hold: false,
          held: [],
          seen: /* @__PURE__ */ new Set(),
          floor: -1,
          waiters: []
        };
        this._topics.set(topic, ts);
      }
      ts.handles.add(handle);
      const again = spec.presence && !ts.presence;
      if (again) ts.presence = true;
      if (ts.status === "active" && !again) {
        resolve(handle);
        handle._markReady();
        return;
      }
      ts.waiters.push({ handle, resolve, reject });
      if (ts.status === "active" && again) this._subscribeTopic(ts);
      else if (this.state === "open" && ts.status === "new") this._subscribeTopic(ts);
      else this._want();
    });
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
  _subscribeTopic(ts, kind = "normal") {
    ts.status = "subscribing";
    const since = ts.pin != null ? ts.pin : ts.lastSeq;
    const f = { type: "subscribe", topic: ts.topic };
    if (ts.where) f.where = ts.where;
    if (ts.presence) f.presence = true;
    if (since != null) f.since = since;
    const resuming = since != null;
    if (resuming) {
      ts.hold = true;
      ts.pin = since;
    }
    const gen = this._gen;
    const later = (k, ms) => {
      setTimeout(() => {
        if (gen !== this._gen || this._topics.get(ts.topic) !== ts) return;
        if (k === "rate" ? ts.status === "new" : ts.status === "active") this._subscribeTopic(ts, k === "rate" ? "normal" : k);
      }, ms);
    };
    return this._call(f).then(
      (ack) => {
        if (this._topics.get(ts.topic) !== ts) return;
        ts.status = "active";
        const waiters = ts.waiters;
        ts.waiters = [];
        for (const w of waiters) {
          w.resolve(w.handle);
          w.handle._markReady();
        }
        const seq = typeof ack.seq === "number" ? ack.seq : null;
        if (resuming && ack.resync && kind !== "retry") {
          ts.pin = since;
          later("retry", this.options.resumeSettle);
          return;
        }
        if (seq != null) ts.lastSeq = Math.max(ts.lastSeq == null ? -1 : ts.lastSeq, seq);
        if (resuming && ack.resync) {
          ts.pin = null;
          this._release(ts);
          for (const h of ts.handles) h._deliver("resync", [null, { topic: ts.topic }]);
        } else if (kind === "settle" || !resuming || seq == null) {
          ts.pin = null;
          this._release(ts);
        } else {
          ts.pin = Math.max(ts.pin, seq);
          later("settle", this.options.resumeSettle);
        }
      },
      (err) => {
        if (this._topics.get(ts.topic) !== ts) return;
        if (err.code === "NETWORK_ERROR") {
          ts.status = "new";
          return;
        }
        if (err.code === "RATE_LIMITED") {
          ts.status = "new";
          later("rate", 1e3 + Math.random() * 1e3);
          return;
        }
        this._topics.delete(ts.topic);
        this._endTopic(ts, err);
      }
    );
  }
  /** Rejects a topic's waiters and ends its live handles (`err` null: closed quietly). */
  _endTopic(ts, err) {
    const waiting = new Set(ts.waiters.map((w) => w.handle));
    for (const w of ts.waiters) w.reject(err || new YunqiaoError("CHANNEL_CLOSED", "the channel was closed"));
    ts.waiters = [];
    for (const h of ts.handles) {
      if (!waiting.has(h)) {
        if (err) h._deliver("error", [null, err]);
        else h.emit("close");
      }
      h.closed = true;
    }
  }
  _detachHandle(h) {
    h.closed = true;
    const ts = this._topics.get(h.topic);
    if (!ts || !ts.handles.has(h)) return Promise.resolve(true);
    ts.handles.delete(h);
    if (ts.handles.size) return Promise.resolve(true);
    this._topics.delete(h.topic);
    if (this.state !== "open" || ts.status === "new") return Promise.resolve(true);
    return this._request({ type: "unsubscribe", topic: ts.topic }).then(
      () => true,
      (e) => {
        if (e.code === "NETWORK_ERROR") return true;
        throw e;
      }
    );
  }
  // ---- requests --------------------------------------------------------------------
  /** Sends a request once the socket is ready (queued until then); resolves to its answer. */
  _request(frame) {
    return new Promise((resolve, reject) => {
      const entry = { frame, resolve, reject, sent: false };
      if (this.state === "open") this._sendEntry(entry);
      else {
        this._outbox.push(entry);
        this._want();
      }
    });
  }
  /** Sends now on the open socket (hello and subscribes while opening). */
  _call(frame) {
    return new Promise((resolve, reject) => {
      this._sendEntry({ frame, resolve, reject, sent: false });
    });
  }
  _sendEntry(entry) {
    const id = this._nextId++;
    entry.frame.id = id;
    entry.sent = true;
    this._pending.set(id, entry);
    if (this.options.debug) this.options.debug("out", entry.frame);
    this._transmit(JSON.stringify(entry.frame), entry);
  }
  /**
   * Sends a frame within the server's frame rate (from the hello answer's `limits`, with
   * a margin): past it, frames wait for the window to move instead of being refused.
   */
  _transmit(text, entry) {
    const now = Date.now();
    const win = this._rate.window;
    while (this._sent.length && this._sent[0] <= now - win) this._sent.shift();
    if (this._throttled.length || this._sent.length >= this._rate.frames) {
      this._throttled.push([text, entry]);
      if (!this._throttleTimer) {
        const wait = Math.max(5, this._sent[0] + win - now + 5);
        this._throttleTimer = setTimeout(() => {
          this._throttleTimer = null;
          const q = this._throttled;
          this._throttled = [];
          for (const [t, e] of q) this._transmit(t, e);
        }, wait);
      }
      return;
    }
    this._sent.push(now);
    try {
      this._sock.send(text);
    } catch (e) {
      if (entry) {
        this._pending.delete(entry.frame.id);
        entry.reject(networkError("the frame could not be sent", e));
      }
    }
  }
  _failQueued(err) {
    const q = this._outbox;
    this._outbox = [];
    for (const e of q) e.reject(err);
    const w = this._openWaiters;
    this._openWaiters = [];
    for (const x of w) x.reject(err);
  }
  // ---- the socket ------------------------------------------------------------------
  _wanted() {
    return this._topics.size > 0 || this._listeners.size > 0 || this._outbox.length > 0 || this._openWaiters.length > 0;
  }
  _want() {
    if (this.state === "closed") this.state = "idle";
    if (this.state === "idle" && !this._timer) this._connect();
  }
  async _connect() {
    if (this.state !== "idle") return;
    this.state = "connecting";
    const gen = ++this._gen;
    let token = null;
    try {
      if (this._failedBeforeOpen && !this._client.auth._fixed && this._client.auth.token) {
        await this._client.auth.me().catch((e) => {
          if (e.status !== 401) throw e;
        });
      }
      token = await this._client.auth._token();
    } catch (e) {
      if (gen !== this._gen || this.state !== "connecting") return;
      this.state = "idle";
      this._failedBeforeOpen = true;
      this._schedule();
      return;
    }
    if (gen !== this._gen || this.state !== "connecting") return;
    if (!token) {
      this.state = "idle";
      const err = new YunqiaoError("UNAUTHENTICATED", "log in before using live channels", { status: 401 });
      this._failQueued(err);
      for (const ts of this._topics.values()) this._endTopic(ts, err);
      this._topics.clear();
      return;
    }
    const base = this._client.wsUrl;
    const url = base + (base.indexOf("?") >= 0 ? "&" : "?") + "token=" + encodeURIComponent(token);
    let opened = false;
    try {
      this._sock = this._client.adapter.connect(url, {
        onOpen: () => {
          if (gen !== this._gen) return;
          opened = true;
          this._onOpen(gen);
        },
        onMessage: (text) => {
          if (gen === this._gen) this._onMessage(text);
        },
        onClose: (e) => {
          if (gen === this._gen) this._onClosed(e || {}, opened);
        },
        onError: (msg) => {
          if (gen === this._gen) this.emit("socketError", msg);
        }
      });
    } catch (e) {
      this.state = "idle";
      this._sock = null;
      const err = e instanceof YunqiaoError ? e : networkError(e && e.message, e);
      this._failQueued(err);
      for (const ts of this._topics.values()) this._endTopic(ts, err);
      this._topics.clear();
      return;
    }
    if (gen !== this._gen) return;
    this._connTimer = setTimeout(() => {
      if (gen === this._gen && !opened) this._drop("the socket did not open in time");
    }, this.options.connectTimeout);
  }
  _onOpen(gen) {
    clearTimeout(this._connTimer);
    this._connTimer = null;
    this.state = "open";
    this._startHeartbeat();
    this._sent = [];
    const hello = this._call({ type: "hello" }).then((ack) => {
      this.connection = ack.connection;
      this.user = ack.user;
      const l = ack.limits;
      if (l && l.frames > 0 && l.per_seconds > 0) {
        this._rate = { frames: Math.max(1, Math.floor(l.frames * 0.9)), window: l.per_seconds * 1e3 };
      }
      return ack;
    });
    const subs = [];
    for (const ts of this._topics.values()) if (ts.status === "new") subs.push(this._subscribeTopic(ts));
    const q = this._outbox;
    this._outbox = [];
    for (const e of q) this._sendEntry(e);
    Promise.all([hello].concat(subs)).then(
      () => {
        if (gen !== this._gen) return;
        this._attempt = 0;
        this._failedBeforeOpen = false;
        const info = { connection: this.connection, user: this.user };
        const w = this._openWaiters;
        this._openWaiters = [];
        for (const x of w) x.resolve(info);
        this.emit(this._everOpen ? "reconnect" : "open", info);
        this._everOpen = true;
      },
      () => {
      }
    );
  }
  _onMessage(text) {
    clearTimeout(this._pongTimer);
    this._pongTimer = null;
    let f;
    try {
      f = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (!f || typeof f !== "object") return;
    if (this.options.debug) this.options.debug("in", f);
    const t = f.type;
    if ((t === "ack" || t === "pong" || t === "error") && f.id != null && this._pending.has(f.id)) {
      const entry = this._pending.get(f.id);
      this._pending.delete(f.id);
      if (t === "error") entry.reject(new YunqiaoError(f.code || "ERROR", f.message || f.code || "error", { details: f }));
      else entry.resolve(f);
      return;
    }
    if (t === "event" || t === "change") this._onTopicFrame(f);
    else if (t === "presence") {
      const ts = this._topics.get(f.topic);
      if (ts) for (const h of ts.handles) h._deliver("frame", [f]);
      this.emit("presence", f);
    } else if (t === "message") {
      this.emit("message", f);
      for (const key of [f.cmd, "*"]) {
        const set = this._listeners.get(key);
        if (!set) continue;
        for (const fn of Array.from(set)) {
          try {
            fn(f.body, f.from, f);
          } catch (e) {
            console.error("[yunqiao] a listen handler threw", e);
          }
        }
      }
    } else if (t === "error") {
      this.emit("error", new YunqiaoError(f.code || "ERROR", f.message || "error", { details: f }));
    }
  }
  /** Delivers the frames held back during a resume, in sequence order. */
  _release(ts) {
    ts.hold = false;
    const held = ts.held;
    ts.held = [];
    held.sort((a, b) => a.seq - b.seq);
    for (const f of held) for (const h of ts.handles) h._deliver("frame", [f]);
  }
  _onTopicFrame(f) {
    const ts = this._topics.get(f.topic);
    if (!ts) return;
    if (typeof f.seq === "number") {
      if (f.seq <= ts.floor || ts.seen.has(f.seq)) return;
      ts.seen.add(f.seq);
      if (ts.seen.size > SEEN_KEEP) {
        const sorted = Array.from(ts.seen).sort((a, b) => a - b);
        const drop = sorted.slice(0, SEEN_KEEP / 2);
        for (const s of drop) ts.seen.delete(s);
        ts.floor = drop[drop.length - 1];
      }
      ts.lastSeq = Math.max(ts.lastSeq == null ? -1 : ts.lastSeq, f.seq);
      if (ts.pin != null) while (ts.seen.has(ts.pin + 1)) ts.pin++;
      if (ts.hold) {
        ts.held.push(f);
        if (ts.held.length > SEEN_KEEP / 2) this._release(ts);
        return;
      }
    }
    for (const h of ts.handles) h._deliver("frame", [f]);
  }
  _startHeartbeat() {
    clearInterval(this._hb);
    this._hb = setInterval(() => {
      if (this.state !== "open" || this._pongTimer) return;
      this._transmit(JSON.stringify({ type: "ping" }), null);
      this._pongTimer = setTimeout(() => {
        this._pongTimer = null;
        this._drop("no answer to a ping");
      }, this.options.pongTimeout);
    }, this.options.heartbeat);
  }
  _stopTimers() {
    clearTimeout(this._timer);
    clearTimeout(this._connTimer);
    clearTimeout(this._pongTimer);
    clearInterval(this._hb);
    this._timer = this._connTimer = this._pongTimer = this._hb = null;
  }
  /** Gives up on the current socket now (dead, refused, or replaced) and reconnects. */
  _drop(reason) {
    const opened = this.state === "open";
    this._dropSocket({ code: 4e3, reason });
    this._afterClose({ code: 4e3, reason }, opened);
  }
  /** Closes the socket and forgets it: its events no longer count. */
  _dropSocket(e) {
    const sock = this._sock;
    this._gen++;
    this._sock = null;
    this._cleanupSocket(e);
    if (sock) {
      try {
        sock.close(1e3, e.reason);
      } catch (x) {
      }
    }
  }
  _onClosed(e, opened) {
    this._gen++;
    this._sock = null;
    this._cleanupSocket(e);
    this._afterClose(e, opened);
  }
  _cleanupSocket(e) {
    clearTimeout(this._throttleTimer);
    this._throttleTimer = null;
    this._throttled = [];
    this._sent = [];
    clearTimeout(this._connTimer);
    clearTimeout(this._pongTimer);
    clearInterval(this._hb);
    this._connTimer = this._pongTimer = this._hb = null;
    this.connection = null;
    const pending = Array.from(this._pending.values());
    this._pending.clear();
    const err = networkError("the connection dropped before the answer", null, { close: e });
    for (const p of pending) p.reject(err);
    for (const ts of this._topics.values()) if (ts.status !== "failed") ts.status = "new";
  }
  _afterClose(e, opened) {
    if (this.state === "paused" || this.state === "closed") {
      this.emit("close", e);
      return;
    }
    this.state = "idle";
    this._failedBeforeOpen = !opened;
    this.emit("close", e);
    if (this._wanted()) this._schedule();
  }
  _schedule() {
    if (this._timer || this.state !== "idle") return;
    this._attempt++;
    const k = this._attempt;
    const o = this.options;
    const max = Math.min(o.reconnectCap, o.reconnectBase * (Math.pow(2, k) - 1));
    const delay = Math.random() * max;
    this.emit("reconnecting", { attempt: k, delay });
    this._timer = setTimeout(() => {
      this._timer = null;
      this._connect();
    }, delay);
  }
  /** Login, logout or a different user: the socket speaks for the session it opened with. */
  _identity(user, info) {
    if (!info.userChanged) return;
    if (!user) {
      const err = new YunqiaoError("UNAUTHENTICATED", "logged out", { status: 401 });
      this._stopTimers();
      this._dropSocket({ code: 1e3, reason: "logged out" });
      this._failQueued(err);
      for (const ts of this._topics.values()) this._endTopic(ts, err);
      this._topics.clear();
      if (this.state !== "paused" && this.state !== "closed") this.state = "idle";
      return;
    }
    if (this.state === "open" || this.state === "connecting") {
      this._stopTimers();
      this._dropSocket({ code: 1e3, reason: "new session" });
      this.state = "idle";
      this._attempt = 0;
      this._connect();
    }
  }
};

// src/fn.js
var NOT_EXPORTS = ["then", "catch", "finally", "toJSON", "constructor", "inspect", "valueOf", "toString", "$$typeof", "asymmetricMatch", "nodeType"];
function moduleProxy(client, module2) {
  if (typeof module2 !== "string" || !module2) throw new YunqiaoError("INVALID_ARGUMENT", "fn takes a module name");
  const cache = {};
  return new Proxy(
    {},
    {
      get(_, prop) {
        if (typeof prop === "symbol" || NOT_EXPORTS.indexOf(prop) >= 0) return void 0;
        if (!cache[prop]) {
          cache[prop] = (...args) => {
            const cb = args.length && isCallbackObject(args[args.length - 1]) ? args.pop() : null;
            return callExport(client, module2, prop, args, cb);
          };
        }
        return cache[prop];
      },
      has() {
        return true;
      }
    }
  );
}
async function post(client, path, body) {
  const token = await client.auth._token(false);
  try {
    return await client.http.request("POST", path, {
      body,
      // the token is added here, so that Http does not end the session on every 401
      auth: false,
      headers: token ? { authorization: "Bearer " + token } : {}
    });
  } catch (e) {
    if (token && e && e.status === 401 && e.code === "INVALID_TOKEN") client.auth._rejected(token);
    throw e;
  }
}
function callExport(client, module2, name, args, cb) {
  return call(cb, async () => {
    const { data } = await post(client, `/v1/fn/${seg(module2)}/${seg(name)}`, { args: args || [] });
    return data && typeof data === "object" ? data.result : data;
  });
}
function callFunction(client, opts) {
  const [cb, o] = splitCallbacks(opts);
  return call(cb, async () => {
    if (!o.name) throw new YunqiaoError("INVALID_ARGUMENT", "callFunction takes {name, data}");
    const { data, requestId } = await post(client, `/v1/fn/${seg(o.name)}`, { data: o.data === void 0 ? null : o.data });
    return {
      result: data && typeof data === "object" ? data.result : data,
      requestID: requestId || null,
      errMsg: "cloud.callFunction:ok"
    };
  });
}

// src/http.js
var Http = class {
  constructor(client) {
    this.client = client;
  }
  /**
   * @param {string} method
   * @param {string} path  starting with /v1
   * @param {{body?: any, query?: object, headers?: object, auth?: boolean, noRefresh?: boolean}} [opts]
   * @returns {Promise<{status: number, headers: Record<string,string>, data: any, requestId?: string}>}
   */
  async request(method, path, opts = {}) {
    const c = this.client;
    const headers = Object.assign({ accept: "application/json" }, opts.headers || {});
    if (opts.body !== void 0) headers["content-type"] = "application/json";
    let token = null;
    if (opts.auth !== false) token = await c.auth._token(!!opts.noRefresh);
    if (token) headers.authorization = "Bearer " + token;
    let m = method;
    const methods = c.adapter.methods;
    if (methods && methods.indexOf(m) < 0) {
      headers["x-http-method-override"] = m;
      m = "POST";
    }
    const res = await c.adapter.request({
      url: c.baseUrl + path + queryString(opts.query),
      method: m,
      headers,
      body: opts.body === void 0 ? void 0 : JSON.stringify(opts.body),
      timeout: c.options.timeout
    });
    let data = null;
    if (res.text) {
      try {
        data = JSON.parse(res.text);
      } catch (e) {
        data = res.text;
      }
    }
    const requestId = res.headers["x-request-id"];
    if (res.status >= 400) {
      const e = data && typeof data === "object" ? data.error : null;
      const err = e && e.code ? new YunqiaoError(e.code, e.message || e.code, { status: res.status, details: e.details, requestId }) : new YunqiaoError(
        codeForStatus(res.status),
        typeof data === "string" && data ? data.slice(0, 300) : `HTTP ${res.status}`,
        { status: res.status, requestId }
      );
      if (res.status === 401 && token) c.auth._rejected(token);
      throw err;
    }
    return { status: res.status, headers: res.headers, data, requestId };
  }
};

// src/kv.js
var Kv = class {
  constructor(client, ns) {
    this._client = client;
    this.ns = ns;
  }
  _path(key) {
    return `/v1/kv/${seg(this.ns)}` + (key === void 0 ? "" : "/" + seg(key));
  }
  /** The value, or `opts.default` (null) when the key is absent; `{entry: true}` for the entry. */
  get(key, opts) {
    const [cb, o] = splitCallbacks(opts);
    return call(cb, async () => {
      try {
        const { data } = await this._client.http.request("GET", this._path(key), { query: { user: o.user } });
        return o.entry ? data : data.value;
      } catch (e) {
        if (e.status === 404 && e.code === "NOT_FOUND" && !isNamespaceMissing(e)) {
          return o.entry ? null : o.default === void 0 ? null : o.default;
        }
        throw e;
      }
    });
  }
  /** The whole entry `{key, value, _v, created_at, updated_at, expires_at?}`, or null. */
  getEntry(key, opts) {
    const [cb, o] = splitCallbacks(opts);
    return withCb(cb, this.get(key, Object.assign({}, o, { entry: true })));
  }
  /**
   * Writes; `{ttl}` seconds to live, `{_v}` only while the entry is at that version,
   * `{createOnly: true}` only if absent (409 `CONFLICT` otherwise). Resolves to the stored
   * entry.
   */
  set(key, value, opts) {
    const [cb, o] = splitCallbacks(opts);
    return call(cb, async () => {
      const v = versionOpt(o);
      const body = { value: value === void 0 ? null : value };
      if (o.ttl != null) body.ttl = o.ttl;
      if (v != null) body._v = v;
      const headers = o.createOnly ? { "if-none-match": "*" } : void 0;
      const { data } = await this._client.http.request("PUT", this._path(key), {
        body,
        headers,
        query: { user: o.user }
      });
      return data;
    });
  }
  /** Deletes; resolves to true, or false when the key was absent. `{_v}` only at that version. */
  remove(key, opts) {
    const [cb, o] = splitCallbacks(opts);
    return call(cb, async () => {
      const v = versionOpt(o);
      const headers = v != null ? { "if-match": String(v) } : void 0;
      try {
        await this._client.http.request("DELETE", this._path(key), { headers, query: { user: o.user } });
        return true;
      } catch (e) {
        if (e.status === 404 && e.code === "NOT_FOUND" && !isNamespaceMissing(e)) return false;
        throw e;
      }
    });
  }
  /** Whether the key is there (HEAD). */
  exists(key, opts) {
    const [cb, o] = splitCallbacks(opts);
    return call(cb, async () => {
      try {
        await this._client.http.request("HEAD", this._path(key), { query: { user: o.user } });
        return true;
      } catch (e) {
        if (e.status === 404) return false;
        throw e;
      }
    });
  }
  /** A page of entries in key order: `{items, cursor?}`; `{prefix, limit, cursor}`. */
  list(opts) {
    const [cb, o] = splitCallbacks(opts);
    return call(cb, async () => {
      const { data } = await this._client.http.request("GET", this._path(), {
        query: { prefix: o.prefix, limit: o.limit, cursor: o.cursor, user: o.user }
      });
      return data;
    });
  }
  // bucky's names
  setObject(key, value, opts) {
    return this.set(key, value, opts);
  }
  getObject(key, opts) {
    return this.get(key, opts);
  }
  removeObject(key, opts) {
    return this.remove(key, opts);
  }
  isObjectExists(key, opts) {
    return this.exists(key, opts);
  }
};
function versionOpt(o) {
  if (Object.prototype.hasOwnProperty.call(o, "version") || Object.prototype.hasOwnProperty.call(o, "v")) {
    throw new TypeError("the version option is _v (v and version were renamed)");
  }
  return o._v;
}
function withCb(cb, p) {
  return call(cb, () => p);
}
function isNamespaceMissing(e) {
  return /^no kv namespace/.test(e.message || "");
}

// src/storage.js
var Stor = class {
  constructor(storage) {
    this._s = storage;
  }
  set(key, value) {
    return call(null, () => {
      need(key);
      this._s.set(key, value);
      return value;
    });
  }
  get(key) {
    return call(null, () => {
      need(key);
      return this._s.get(key);
    });
  }
  remove(key) {
    return call(null, () => {
      need(key);
      this._s.remove(key);
      return true;
    });
  }
  clear() {
    return call(null, () => {
      this._s.clear();
      return true;
    });
  }
  keys() {
    return call(null, () => this._s.keys());
  }
  setSync(key, value) {
    need(key);
    this._s.set(key, value);
    return true;
  }
  getSync(key) {
    need(key);
    return this._s.get(key);
  }
  rmSync(key) {
    need(key);
    this._s.remove(key);
    return true;
  }
  removeSync(key) {
    return this.rmSync(key);
  }
  clearSync() {
    this._s.clear();
    return true;
  }
  /** Sets one field of an object stored under `name`. */
  setMap(name, key, value) {
    return call(null, () => this.setMapSync(name, key, value));
  }
  getMap(name, key) {
    return call(null, () => this.getMapSync(name, key));
  }
  setMapSync(name, key, value) {
    need(name);
    const m = this._s.get(name);
    const data = m && typeof m === "object" ? m : {};
    data[key] = value;
    this._s.set(name, data);
    return true;
  }
  getMapSync(name, key) {
    need(name);
    const m = this._s.get(name);
    return m && typeof m === "object" ? m[key] : void 0;
  }
};
function need(key) {
  if (typeof key !== "string" || !key) throw new YunqiaoError("INVALID_ARGUMENT", "storage keys are non-empty strings");
}

// src/tables.js
function $inc(n = 1) {
  return { $inc: n };
}
function $append(...items) {
  return { $append: items.length === 1 && Array.isArray(items[0]) ? items[0] : items };
}
function $remove(...items) {
  return { $remove: items.length === 1 && Array.isArray(items[0]) ? items[0] : items };
}
var OPS = {
  "=": "eq",
  "==": "eq",
  eq: "eq",
  "!=": "ne",
  "<>": "ne",
  ne: "ne",
  ">": "gt",
  gt: "gt",
  ">=": "gte",
  gte: "gte",
  "<": "lt",
  lt: "lt",
  "<=": "lte",
  lte: "lte",
  in: "in",
  nin: "nin",
  "not in": "nin",
  prefix: "prefix",
  contains: "contains",
  exists: "exists"
};
function conditions(args, what) {
  const [f, op2, v] = args;
  if (f && typeof f === "object" && !Array.isArray(f)) {
    return Object.keys(f).map((k) => [k, "eq", f[k]]);
  }
  if (typeof f !== "string" || !f) {
    throw new YunqiaoError("INVALID_QUERY", `${what} takes (field, op, value), (field, value) or an object`);
  }
  if (args.length === 2) return [[f, "eq", op2]];
  const norm = OPS[String(op2).toLowerCase()];
  return [[f, norm || op2, v]];
}
var EMPTY = Object.freeze({
  groups: Object.freeze([Object.freeze([])]),
  order: Object.freeze([]),
  limit: null,
  cursor: null,
  fields: null,
  expand: Object.freeze([]),
  page: null,
  per_page: null
});
function parseQueryJSON(json) {
  if (typeof json !== "string") return json;
  try {
    return JSON.parse(json);
  } catch (e) {
    throw new YunqiaoError("INVALID_QUERY", `a serialised query is JSON: ${e.message}`);
  }
}
var Query = class _Query {
  constructor(client, table, state) {
    this._client = client;
    this.table = table;
    this._s = state || EMPTY;
    Object.freeze(this);
  }
  static from(client, json) {
    json = parseQueryJSON(json);
    if (!json || typeof json.table !== "string") {
      throw new YunqiaoError("INVALID_QUERY", "a serialised query names its table");
    }
    const groups = [];
    const where = json.where || [];
    const any = json.any || [];
    if (any.length) for (const g of any) groups.push(where.concat(g));
    else groups.push(where.slice());
    return new _Query(client, json.table, {
      groups,
      order: json.order || [],
      limit: json.limit == null ? null : json.limit,
      cursor: json.cursor || null,
      fields: json.fields || null,
      expand: json.expand || [],
      page: json.page == null ? null : json.page,
      per_page: json.per_page == null ? null : json.per_page
    });
  }
  _with(patch) {
    return new _Query(this._client, this.table, Object.freeze(Object.assign({}, this._s, patch)));
  }
  /** `where(field, op, value)`, `where(field, value)` (equality) or `where({f: v, …})`. */
  where(...args) {
    const add = conditions(args, "where");
    const groups = this._s.groups.slice();
    groups[groups.length - 1] = groups[groups.length - 1].concat(add);
    return this._with({ groups });
  }
  /** Starts an alternative: the query matches when any of the alternatives holds. */
  orWhere(...args) {
    const add = conditions(args, "orWhere");
    const groups = this._s.groups.slice();
    if (groups.length === 1 && groups[0].length === 0) groups[0] = add;
    else groups.push(add);
    return this._with({ groups });
  }
  /** `orderBy(field, 'asc' | 'desc')`; one indexed field (or `_id`/`_created`), then `_id`. */
  orderBy(field, dir = "asc") {
    const d = String(dir).toLowerCase();
    return this._with({ order: this._s.order.concat([[field, d === "desc" ? "desc" : "asc"]]) });
  }
  /** At most `n` records (1–100; the server's default is 20). */
  limit(n) {
    return this._with({ limit: n });
  }
  /** Page-number paging: the answer has `total` and `last_page`. */
  paginate(perPage = 20, page = 1) {
    return this._with({ per_page: perPage, page, cursor: null });
  }
  /** Continues after an earlier answer: pass its `cursor` (or the answer itself). */
  after(cursor) {
    const c = cursor && typeof cursor === "object" ? cursor.cursor : cursor;
    return this._with({ cursor: c || null, page: null, per_page: null });
  }
  /** Replaces these ref fields with the records they point to. */
  expand(...fields) {
    const list = fields.length === 1 && Array.isArray(fields[0]) ? fields[0] : fields;
    return this._with({ expand: this._s.expand.concat(list) });
  }
  /** Returns only these fields (system fields always come). */
  select(...fields) {
    const list = fields.length === 1 && Array.isArray(fields[0]) ? fields[0] : fields;
    return this._with({ fields: list.length ? list : null });
  }
  /** The body `POST /v1/tables/{t}/query` takes. */
  body(extra) {
    const s = this._s;
    const b = {};
    const groups = s.groups.filter((g, i) => g.length || i === 0);
    if (groups.length <= 1) {
      if (groups[0] && groups[0].length) b.where = groups[0].map((c) => c.slice());
    } else {
      const keys = groups.map((g) => g.map(stableJson));
      const common = groups[0].filter((c, i) => keys.every((k) => k.indexOf(keys[0][i]) >= 0));
      const ck = common.map(stableJson);
      const rest = groups.map((g) => g.filter((c) => ck.indexOf(stableJson(c)) < 0));
      if (common.length) b.where = common.map((c) => c.slice());
      if (!rest.some((g) => g.length === 0)) b.any = rest.map((g) => g.map((c) => c.slice()));
    }
    if (s.order.length) b.order = s.order.map((o) => o.slice());
    if (s.limit != null) b.limit = s.limit;
    if (s.cursor) b.cursor = s.cursor;
    if (s.fields) b.fields = s.fields.slice();
    if (s.expand.length) b.expand = s.expand.slice();
    if (s.page != null) b.page = s.page;
    if (s.per_page != null) b.per_page = s.per_page;
    return Object.assign(b, extra || {});
  }
  toJSON() {
    return Object.assign({ table: this.table }, this.body());
  }
  _run(extra) {
    return this._client.http.request("POST", `/v1/tables/${seg(this.table)}/query`, { body: this.body(extra) }).then((r) => r.data);
  }
  /**
   * Runs the query: `{items, cursor, total?, scanned, page?, per_page?, last_page?}`.
   * Field names given here are the fields to return (XpmJS' `fetch('name', 'company')`).
   */
  fetch(...args) {
    const cb = args.length && hasCallbacks(args[args.length - 1]) ? args.pop() : null;
    const fields = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
    const q = fields.length ? this.select(fields) : this;
    return call(cb && splitCallbacks(cb)[0], () => q._run());
  }
  /** The first match, or null. */
  first(...args) {
    const cb = args.length && hasCallbacks(args[args.length - 1]) ? args.pop() : null;
    const fields = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
    const q = (fields.length ? this.select(fields) : this).limit(1);
    return call(cb && splitCallbacks(cb)[0], () => q._run().then((r) => r.items[0] || null));
  }
  /**
   * The number of matching records, from the counts the server maintains (no condition,
   * or one equality on an indexed field; otherwise `COUNT_UNAVAILABLE`).
   */
  count(opts) {
    const [cb] = splitCallbacks(opts);
    const q = this._with({ page: null, per_page: null, cursor: null });
    return call(cb, () => q._run({ count: true, limit: 1, fields: void 0 }).then((r) => r.total));
  }
  /** Live changes of the records matching this query's equalities (see Channel). */
  watch(opts) {
    const where = {};
    const b = this.body();
    if (b.any) throw new YunqiaoError("INVALID_ARGUMENT", "watch takes equalities only (no orWhere)");
    for (const [f, op2, v] of b.where || []) {
      if (op2 !== "eq") throw new YunqiaoError("INVALID_ARGUMENT", `watch takes equalities only (${f} ${op2})`);
      where[f] = v;
    }
    return this._client.channel.table(this.table).watch(where, opts);
  }
};
var Batch = class _Batch {
  constructor(client, table, ops) {
    this._client = client;
    this._table = table || null;
    this.ops = Object.freeze(ops || []);
    Object.freeze(this);
  }
  _add(op2) {
    return new _Batch(this._client, this._table, this.ops.concat([op2]));
  }
  _t(args, tableForm) {
    if (tableForm) return [args[0], args.slice(1)];
    if (!this._table) throw new YunqiaoError("INVALID_ARGUMENT", "name the table of each batch op");
    return [this._table, args];
  }
  /** `create(table, data)`, or `create(data)` on `table.batch()`. */
  create(...args) {
    const [table, [data]] = this._t(args, typeof args[0] === "string");
    if (!data || typeof data !== "object") throw new YunqiaoError("INVALID_ARGUMENT", "create takes data");
    return this._add({ op: "create", table, data });
  }
  /** `update(table, id, data, {_v})`, or `update(id, data, {_v})` on `table.batch()`. */
  update(...args) {
    const [table, [id, data, o]] = this._t(args, typeof args[1] === "string");
    const op2 = { op: "update", table, id, data: Object.assign({}, data) };
    const v = o && o._v != null ? o._v : op2.data._v;
    delete op2.data._v;
    if (v != null) op2._v = v;
    return this._add(op2);
  }
  /** `remove(table, id, {_v})`, or `remove(id, {_v})` on `table.batch()`. */
  remove(...args) {
    const [table, [id, o]] = this._t(args, typeof args[1] === "string");
    const op2 = { op: "delete", table, id };
    if (o && o._v != null) op2._v = o._v;
    return this._add(op2);
  }
  /** Holds the batch to a record existing (and at version `_v`, if given). */
  check(...args) {
    const [table, [id, o]] = this._t(args, typeof args[1] === "string");
    const op2 = { op: "check", table, id };
    if (o && o._v != null) op2._v = o._v;
    return this._add(op2);
  }
  toJSON() {
    return { ops: this.ops.map((o) => Object.assign({}, o)) };
  }
  /** Runs it: resolves to one result per op, in order; any failure fails all. */
  commit(opts) {
    const [cb] = splitCallbacks(opts);
    return call(
      cb,
      () => this._client.http.request("POST", "/v1/batch", { body: this.toJSON() }).then((r) => r.data.results)
    );
  }
};
var Table = class {
  constructor(client, name) {
    this._client = client;
    this.name = name;
  }
  _path(id) {
    return `/v1/tables/${seg(this.name)}/records` + (id === void 0 ? "" : "/" + seg(id));
  }
  /** Creates a record; resolves to it with its system fields (`_id`, `_v`, …). */
  create(data, opts) {
    const [cb, body] = splitCallbacks(data);
    const [cb2] = splitCallbacks(opts);
    return call(
      cb2 || cb,
      () => this._client.http.request("POST", this._path(), { body }).then((r) => r.data)
    );
  }
  /** One record; `{expand: ['author']}` replaces ref fields with their records. */
  get(id, opts) {
    const [cb, o] = splitCallbacks(opts);
    return call(cb, () => {
      const expand = o.expand ? [].concat(o.expand).join(",") : void 0;
      return this._client.http.request("GET", this._path(id), { query: { expand } }).then((r) => r.data);
    });
  }
  /**
   * Changes fields; `$inc`/`$append`/`$remove` operators; `_v` (in `data` or `opts`) makes
   * it conditional on that version (409 `CONFLICT` when stale).
   */
  update(id, data, opts) {
    const [cb, body] = splitCallbacks(data);
    const [cb2, o] = splitCallbacks(opts);
    return call(cb2 || cb, async () => {
      const patch = Object.assign({}, body);
      if (o._v != null) patch._v = o._v;
      const methods = this._client.adapter.methods;
      if (methods && methods.indexOf("PATCH") < 0) {
        const v = patch._v;
        delete patch._v;
        const op2 = { op: "update", table: this.name, id, data: patch };
        if (v != null) op2._v = v;
        try {
          const r = await this._client.http.request("POST", "/v1/batch", { body: { ops: [op2] } });
          return r.data.results[0];
        } catch (e) {
          if (e.details && typeof e.details === "object" && e.details.op === 0) {
            const d = Object.assign({}, e.details);
            delete d.op;
            e.details = Object.keys(d).length ? d : null;
          }
          throw e;
        }
      }
      return this._client.http.request("PATCH", this._path(id), { body: patch }).then((r) => r.data);
    });
  }
  /** Atomically adds `n` (default 1) to a number field. */
  inc(id, field, n = 1, opts) {
    return this.update(id, { [field]: { $inc: n } }, opts);
  }
  /** Deletes a record; with `{_v}` only at that version. Resolves to true. */
  remove(id, opts) {
    const [cb, o] = splitCallbacks(opts);
    return call(cb, async () => {
      if (o._v != null) {
        await this.batch().remove(id, { _v: o._v }).commit();
        return true;
      }
      await this._client.http.request("DELETE", this._path(id));
      return true;
    });
  }
  /** An empty query on this table (XpmJS' `table.query()`), or one rebuilt from JSON (an object or its string). */
  query(json) {
    if (json) return Query.from(this._client, Object.assign({}, parseQueryJSON(json), { table: this.name }));
    return new Query(this._client, this.name);
  }
  where(...args) {
    return this.query().where(...args);
  }
  orWhere(...args) {
    return this.query().orWhere(...args);
  }
  orderBy(field, dir) {
    return this.query().orderBy(field, dir);
  }
  limit(n) {
    return this.query().limit(n);
  }
  paginate(perPage, page) {
    return this.query().paginate(perPage, page);
  }
  after(cursor) {
    return this.query().after(cursor);
  }
  expand(...fields) {
    return this.query().expand(...fields);
  }
  select(...fields) {
    return this.query().select(...fields);
  }
  fetch(...args) {
    return this.query().fetch(...args);
  }
  first(...args) {
    return this.query().first(...args);
  }
  count(opts) {
    return this.query().count(opts);
  }
  batch() {
    return new Batch(this._client, this.name);
  }
  /** Live changes of this table's records matching `where` (equalities). */
  watch(where, opts) {
    return this._client.channel.table(this.name).watch(where, opts);
  }
  /** The table's schema (anyone may read it). */
  schema(opts) {
    const [cb] = splitCallbacks(opts);
    return call(
      cb,
      () => this._client.http.request("GET", `/v1/tables/${seg(this.name)}`, { auth: false }).then((r) => r.data)
    );
  }
};

// src/adapters/memory.js
function memoryStorage() {
  const m = /* @__PURE__ */ new Map();
  return {
    get(key) {
      return m.has(key) ? JSON.parse(m.get(key)) : void 0;
    },
    set(key, value) {
      m.set(key, JSON.stringify(value === void 0 ? null : value));
    },
    remove(key) {
      m.delete(key);
    },
    clear() {
      m.clear();
    },
    keys() {
      return Array.from(m.keys());
    }
  };
}

// src/adapters/web.js
function webStorage(ls) {
  return {
    get(key) {
      const s = ls.getItem(key);
      if (s === null) return void 0;
      try {
        return JSON.parse(s);
      } catch (e) {
        return s;
      }
    },
    set(key, value) {
      ls.setItem(key, JSON.stringify(value === void 0 ? null : value));
    },
    remove(key) {
      ls.removeItem(key);
    },
    clear() {
      ls.clear();
    },
    keys() {
      const out = [];
      for (let i = 0; i < ls.length; i++) out.push(ls.key(i));
      return out;
    }
  };
}
function pickStorage(opt) {
  if (opt && typeof opt === "object" && typeof opt.get === "function") return opt;
  if (opt && typeof opt === "object" && typeof opt.getItem === "function") return webStorage(opt);
  if (opt === "memory") return memoryStorage();
  let ls = null;
  try {
    ls = typeof localStorage !== "undefined" ? localStorage : null;
  } catch (e) {
    ls = null;
  }
  return ls ? webStorage(ls) : memoryStorage();
}
function webAdapter(opts = {}) {
  const doFetch = opts.fetch || (typeof fetch !== "undefined" ? fetch : null);
  const WS = opts.WebSocket || (typeof WebSocket !== "undefined" ? WebSocket : null);
  const storage = pickStorage(opts.storage);
  return {
    name: "web",
    storage,
    async request({ url, method, headers, body, timeout }) {
      if (!doFetch) throw networkError("no fetch on this platform: pass {fetch} to the web adapter");
      let timer = null;
      const ctl = typeof AbortController !== "undefined" ? new AbortController() : null;
      if (ctl && timeout) timer = setTimeout(() => ctl.abort(), timeout);
      let res;
      let text;
      try {
        res = await doFetch(url, { method, headers, body, signal: ctl ? ctl.signal : void 0 });
        text = method === "HEAD" ? "" : await res.text();
      } catch (e) {
        const aborted = e && e.name === "AbortError";
        throw networkError(
          aborted ? `no answer within ${timeout} ms` : e && e.message || "fetch failed",
          e,
          aborted ? { timeout: true } : null
        );
      } finally {
        if (timer) clearTimeout(timer);
      }
      const h = {};
      res.headers.forEach((v, k) => {
        h[k.toLowerCase()] = v;
      });
      return { status: res.status, headers: h, text };
    },
    connect(url, on) {
      if (!WS) {
        throw new YunqiaoError(
          "NO_WEBSOCKET",
          "no WebSocket on this platform: pass {WebSocket} (e.g. the ws package) to createClient"
        );
      }
      const ws = new WS(url);
      let closed = false;
      const closeOnce = (code, reason) => {
        if (closed) return;
        closed = true;
        on.onClose({ code, reason });
      };
      ws.onopen = () => on.onOpen();
      ws.onmessage = (e) => {
        const d = e.data;
        if (typeof d === "string") on.onMessage(d);
        else if (d && typeof d.toString === "function") on.onMessage(d.toString());
      };
      ws.onerror = (e) => on.onError(e && e.message ? e.message : "socket error");
      ws.onclose = (e) => closeOnce(e.code, e.reason);
      return {
        send(text) {
          ws.send(text);
        },
        close(code, reason) {
          try {
            ws.close(code || 1e3, reason || "");
          } catch (e) {
          }
        }
      };
    },
    login: opts.login ? () => Promise.resolve(opts.login()) : () => Promise.reject(
      new YunqiaoError(
        "LOGIN_UNAVAILABLE",
        "this platform has no WeChat login: pass {mockUser} (local server) or {code}"
      )
    ),
    onHide(fn) {
      if (typeof document !== "undefined" && document.addEventListener) {
        document.addEventListener("visibilitychange", () => {
          if (document.visibilityState === "hidden") fn();
        });
      }
    },
    onShow(fn) {
      if (typeof document !== "undefined" && document.addEventListener) {
        document.addEventListener("visibilitychange", () => {
          if (document.visibilityState === "visible") fn();
        });
      }
    }
  };
}

// src/adapters/wx.js
var WX_METHODS = ["OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT"];
function wxAdapter(wxObj, opts = {}) {
  const w = wxObj || /** @type {any} */
  globalWx();
  if (!w || typeof w.request !== "function") {
    throw new YunqiaoError("NO_WX", "the wx adapter needs the mini-program `wx` object");
  }
  const max = opts.maxRequests || 10;
  let running = 0;
  const waiting = [];
  const next = () => {
    running--;
    const go = waiting.shift();
    if (go) go();
  };
  const slot = (go) => {
    if (running < max) {
      running++;
      go();
    } else {
      waiting.push(() => {
        running++;
        go();
      });
    }
  };
  return {
    name: "wx",
    methods: WX_METHODS,
    /** How many requests are waiting for a slot (for tests and diagnostics). */
    get queued() {
      return waiting.length;
    },
    storage: {
      /** @param {string} key */
      get(key) {
        const v = w.getStorageSync(key);
        if (v === "" && w.getStorageInfoSync().keys.indexOf(key) < 0) return void 0;
        return v;
      },
      /** @param {string} key @param {any} value */
      set(key, value) {
        w.setStorageSync(key, value);
      },
      /** @param {string} key */
      remove(key) {
        w.removeStorageSync(key);
      },
      clear() {
        w.clearStorageSync();
      },
      keys() {
        return w.getStorageInfoSync().keys;
      }
    },
    /**
     * @param {{url: string, method: string, headers: Record<string, string>, body?: string, timeout?: number}} req
     * @returns {Promise<{status: number, headers: Record<string, string>, text: string}>}
     */
    request(req) {
      const method = (
        /** @type {WechatMiniprogram.RequestOption['method']} */
        req.method
      );
      return new Promise((resolve, reject) => {
        slot(() => {
          const o = {
            url: req.url,
            method,
            header: req.headers,
            // Not 'json': wx would parse the body itself (and hand back a string when it
            // cannot); the client parses every answer the same way on every platform.
            dataType: "text",
            responseType: "text",
            success(res) {
              next();
              const h = {};
              const raw = res.header || {};
              for (const k of Object.keys(raw)) h[k.toLowerCase()] = String(raw[k]);
              const data = res.data;
              resolve({
                status: res.statusCode,
                headers: h,
                text: typeof data === "string" ? data : data == null ? "" : JSON.stringify(data)
              });
            },
            fail(err) {
              next();
              reject(networkError(err && err.errMsg, err));
            }
          };
          if (req.body !== void 0) o.data = req.body;
          if (req.timeout) o.timeout = req.timeout;
          w.request(o);
        });
      });
    },
    /**
     * @param {string} url
     * @param {{onOpen: () => void, onMessage: (text: string) => void, onClose: (e: {code: number, reason: string}) => void, onError: (msg: string) => void}} on
     */
    connect(url, on) {
      let closed = false;
      const closeOnce = (code, reason) => {
        if (closed) return;
        closed = true;
        on.onClose({ code, reason });
      };
      const task = w.connectSocket({
        url,
        fail(err) {
          on.onError(err.errMsg);
          closeOnce(1006, err.errMsg);
        }
      });
      if (!task) {
        closeOnce(1006, "wx.connectSocket returned no SocketTask");
        return { send() {
        }, close() {
        } };
      }
      task.onOpen(() => on.onOpen());
      task.onMessage((m) => {
        if (typeof m.data === "string") on.onMessage(m.data);
      });
      task.onError((e) => on.onError(e.errMsg));
      task.onClose((e) => closeOnce(e.code, e.reason));
      return {
        /** @param {string} text */
        send(text) {
          task.send({ data: text, fail: (e) => on.onError(e.errMsg) });
        },
        /** @param {number} [code] @param {string} [reason] */
        close(code, reason) {
          task.close({ code: code || 1e3, reason: reason || "" });
        }
      };
    },
    /** @returns {Promise<string>} */
    login() {
      return new Promise((resolve, reject) => {
        w.login({
          success: (r) => resolve(r.code),
          fail: (e) => reject(new YunqiaoError("WX_LOGIN_FAILED", e.errMsg, { details: e }))
        });
      });
    },
    /** @param {() => void} fn */
    onHide(fn) {
      if (typeof w.onAppHide === "function") w.onAppHide(() => fn());
    },
    /** @param {() => void} fn */
    onShow(fn) {
      if (typeof w.onAppShow === "function") w.onAppShow(() => fn());
    }
  };
}
function globalWx() {
  return typeof wx !== "undefined" ? wx : void 0;
}

// src/client.js
function pickAdapter(o) {
  const a = o.adapter;
  if (a && typeof a === "object") return a;
  if (a === "wx") return wxAdapter(o.wx);
  if (a === "web") return webAdapter(o);
  if (o.wx) return wxAdapter(o.wx);
  const w = globalWx();
  if (w && typeof w.request === "function") return wxAdapter(w);
  return webAdapter(o);
}
var Client = class {
  constructor(options) {
    const o = Object.assign({}, options || {});
    if (!o.baseUrl || typeof o.baseUrl !== "string") {
      throw new YunqiaoError("INVALID_ARGUMENT", "createClient needs {baseUrl}, e.g. http://127.0.0.1:8787");
    }
    if (o.timeout == null) o.timeout = 3e4;
    this.options = o;
    this.baseUrl = o.baseUrl.replace(/\/+$/, "");
    this.wsUrl = o.wsUrl || this.baseUrl.replace(/^http/, "ws") + "/v1/ws";
    this.adapter = pickAdapter(o);
    this.http = new Http(this);
    this.auth = new Auth(this);
    this.storage = new Stor(this.adapter.storage);
    this.channel = new Channel(this, o.channel);
    const self = this;
    this.fn = Object.assign((module2) => moduleProxy(self, module2), {
      call: (module2, name, args, cb) => callExport(self, module2, name, args || [], cb)
    });
  }
  /** Shorthand for `auth.login(opts)`. */
  login(opts) {
    return this.auth.login(opts);
  }
  logout(opts) {
    return this.auth.logout(opts);
  }
  table(name) {
    if (typeof name !== "string" || !name) throw new YunqiaoError("INVALID_ARGUMENT", "table takes a table name");
    return new Table(this, name);
  }
  /** A query rebuilt from `query.toJSON()`, or from the string `JSON.stringify(query)` made. */
  query(json) {
    return Query.from(this, json);
  }
  /** An all-or-nothing batch across tables. */
  batch() {
    return new Batch(this);
  }
  kv(ns) {
    if (typeof ns !== "string" || !ns) throw new YunqiaoError("INVALID_ARGUMENT", "kv takes a namespace");
    return new Kv(this, ns);
  }
  /** CloudBase's `callFunction({name, data})` → `{result}`: `POST /v1/fn/{name}`. */
  callFunction(opts) {
    return callFunction(this, opts);
  }
  /** Closes live channels until `resume()` (done by itself on app hide). */
  pause() {
    this.channel.pause();
  }
  resume() {
    this.channel.resume();
  }
  /** Closes the live channel for good (tests, scripts). */
  close() {
    this.channel.close();
  }
};
function createClient(options) {
  return new Client(options);
}

// src/index.js
var op = Object.freeze({ inc: $inc, append: $append, remove: $remove });
var version = "0.1.0";
