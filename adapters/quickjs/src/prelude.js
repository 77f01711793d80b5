// The `yunqiao` module every cloud function imports. It talks to the server through one
// native call, `__yq_host(op, json)`, which answers `{"ok": …}` or `{"error": …}`.
//
// It runs before the app's module, so it captures the built-ins it uses now: a module
// that later pollutes `Object.prototype`, replaces `JSON.stringify` or an iterator cannot
// change what a host call sends. Options are read as own properties only, and host
// arguments are copied into prototype-free objects before they are serialized.
const host = globalThis.__yq_host;
const log = globalThis.__yq_log;
const firstContext = globalThis.__yq_context;
delete globalThis.__yq_host;
delete globalThis.__yq_log;
delete globalThis.__yq_context;

const { stringify, parse } = JSON;
const { hasOwn, keys, freeze, defineProperty, getPrototypeOf, setPrototypeOf } = Object;
const { isArray } = Array;
const { apply } = Reflect;
const DateProto = Date.prototype;
const toISOString = DateProto.toISOString;
const StringCtor = String;
const ErrorCtor = Error;

const own = (o, k) => (o !== null && typeof o === "object" && hasOwn(o, k) ? o[k] : undefined);

/** A JSON-safe copy with no prototypes: own enumerable keys only, dates as ISO strings. */
function plain(v, depth = 0) {
  if (depth > 200) throw new TypeError("a host call's value is nested too deeply");
  if (v === null || typeof v !== "object") {
    if (typeof v === "bigint") throw new TypeError("a BigInt is not JSON");
    return typeof v === "function" || typeof v === "symbol" ? undefined : v;
  }
  if (getPrototypeOf(v) === DateProto) return apply(toISOString, v, []);
  if (isArray(v)) {
    const out = setPrototypeOf([], null);
    for (let i = 0; i < v.length; i++) {
      const x = plain(v[i], depth + 1);
      defineProperty(out, i, { value: x === undefined ? null : x, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  const out = { __proto__: null };
  const ks = keys(v);
  for (let i = 0; i < ks.length; i++) {
    const x = plain(v[ks[i]], depth + 1);
    if (x !== undefined) defineProperty(out, ks[i], { value: x, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const FN = Symbol("FunctionError");
const HOST = Symbol("YunqiaoError");

/** Thrown by a function to refuse a call: the client gets `status` with `code`. */
export class FunctionError extends Error {
  constructor(code, message, status = 400, details = {}) {
    super(message ?? code);
    this.name = "FunctionError";
    this.code = StringCtor(code);
    this.status = status;
    this.details = details;
    this[FN] = true;
  }
}

/** A host call's failure: the server's own error code, status and details. */
export class YunqiaoError extends Error {
  constructor(code, message, status, details) {
    super(message);
    this.name = "YunqiaoError";
    this.code = code;
    this.status = status;
    this.details = details ?? {};
    this[HOST] = true;
  }
}

async function call(op, args) {
  const out = parse(await host(op, stringify(plain(args))));
  if (hasOwn(out, "error")) {
    const e = out.error;
    throw new YunqiaoError(e.code, e.message, e.status, e.details);
  }
  return out.ok;
}

const opt = (o, k, d) => {
  const v = own(o, k);
  return v === undefined ? d : v;
};

/**
 * The version a write is conditional on: `_v`, as a record's. The option was `v` before;
 * an old name must never quietly turn a conditional write into an unconditional one.
 */
function versionOpt(o) {
  if (o !== null && typeof o === "object" && (hasOwn(o, "v") || hasOwn(o, "version"))) {
    throw new TypeError("the version option is _v (v and version were renamed)");
  }
  return opt(o, "_v", null);
}

function table(name, admin) {
  return freeze({
    create: (data) => call("db.create", { admin, table: name, data }),
    get: (id, opts) => call("db.get", { admin, table: name, id, expand: opt(opts, "expand", []) }),
    update: async (id, patch, opts) => call("db.update", { admin, table: name, id, patch, _v: versionOpt(opts) }),
    remove: async (id, opts) => call("db.delete", { admin, table: name, id, _v: versionOpt(opts) }),
    query: (query) => call("db.query", { admin, table: name, query: query === undefined ? {} : query }),
  });
}

function kvOf(ns, admin) {
  return freeze({
    get: (key) => call("kv.get", { admin, ns, key }),
    exists: (key) => call("kv.exists", { admin, ns, key }),
    set: async (key, value, opts) =>
      call("kv.set", { admin, ns, key, value, ttl: opt(opts, "ttl", null), _v: versionOpt(opts) }),
    remove: async (key, opts) => call("kv.delete", { admin, ns, key, _v: versionOpt(opts) }),
    list: (opts) =>
      call("kv.list", {
        admin, ns, prefix: opt(opts, "prefix", null), limit: opt(opts, "limit", null), cursor: opt(opts, "cursor", null),
      }),
  });
}

function usersOf(admin) {
  return freeze({
    get: (id) => call("users.get", { admin, id }),
    addToGroup: (id, group) => call("users.addToGroup", { admin, id, group }),
    removeFromGroup: (id, group) => call("users.removeFromGroup", { admin, id, group }),
  });
}

function dbOf(admin) {
  return freeze({
    table: (name) => table(name, admin),
    batch: (ops) => call("db.batch", { admin, ops }),
    kv: (ns) => kvOf(ns, admin),
    users: usersOf(admin),
    admin: () => dbOf(true),
  });
}

/** Tables with the caller's rights; `db.admin()` for the admin's. */
export const db = dbOf(false);
/** A KV namespace with the caller's rights. */
export const kv = (ns) => kvOf(ns, false);
export const users = usersOf(false);
export const events = freeze({
  publish: (topic, data) => call("events.publish", { topic, data }),
  send: (user, cmd, body) => call("events.send", { user, cmd, body }),
});
export const secrets = freeze({ get: (name) => call("secrets.get", { name }) });
// Bytes ⇄ base64 and text ⇄ UTF-8, by hand: the sandbox has no TextEncoder or atob.
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();
const U8 = Uint8Array;
const AB = ArrayBuffer;
const isView = ArrayBuffer.isView;
const fromCharCode = String.fromCharCode;
const { encodeURIComponent: encodeURI, unescape } = globalThis;

function toBase64(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((i + 1 < bytes.length ? bytes[i + 1] : 0) << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] + "=" : "==";
  }
  return out;
}

function fromBase64(s) {
  const clean = s.replace(/=+$/, "");
  const out = new U8((clean.length * 3) >> 2);
  let acc = 0, bits = 0, j = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = B64_INDEX[clean.charCodeAt(i)];
    if (v === undefined || v < 0) throw new TypeError("not base64");
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 255;
    }
  }
  return out;
}

function utf8(text) {
  const bin = unescape(encodeURI(text));
  const out = new U8(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A request body's bytes when it is binary (`Uint8Array` and other views, `ArrayBuffer`). */
function bytesOf(body) {
  if (body instanceof AB) return new U8(body);
  if (isView(body)) return new U8(body.buffer, body.byteOffset, body.byteLength);
  return null;
}

export const http = freeze({
  async fetch(url, init) {
    let body = opt(init, "body", null);
    let body_base64 = null;
    const bytes = body === null ? null : bytesOf(body);
    if (bytes !== null) {
      body_base64 = toBase64(bytes);
      body = null;
    } else if (body !== null && typeof body !== "string") {
      body = stringify(plain(body));
    }
    const r = await call("http.fetch", {
      url: StringCtor(url),
      method: opt(init, "method", "GET"),
      headers: opt(init, "headers", {}),
      body,
      body_base64,
    });
    // The bytes as they came: from base64 when they are not UTF-8, else the text's.
    const raw = () => (r.body_base64 != null ? fromBase64(r.body_base64) : utf8(r.body));
    return {
      status: r.status,
      ok: r.status >= 200 && r.status < 300,
      headers: r.headers,
      text: async () => r.body,
      json: async () => parse(r.body),
      bytes: async () => raw(),
      arrayBuffer: async () => raw().buffer,
    };
  },
});

/**
 * WeChat's server API, with the app's access token filled in by the server (a module
 * never sees it).
 */
export const wechat = freeze({
  mediaCheck: (args) =>
    call("wechat.mediaCheck", {
      url: own(args, "url"), type: own(args, "type"), user: own(args, "user"), scene: own(args, "scene"),
    }),
  msgSecCheck: (args) =>
    call("wechat.msgSecCheck", {
      content: own(args, "content"), scene: own(args, "scene"), user: own(args, "user"),
      title: own(args, "title"), nickname: own(args, "nickname"), signature: own(args, "signature"),
    }),
  subscribeMessage: freeze({
    send: (args) =>
      call("wechat.subscribeMessage.send", {
        user: own(args, "user"), template_id: own(args, "template_id"), page: own(args, "page"),
        data: own(args, "data"), miniprogram_state: own(args, "miniprogram_state"),
      }),
  }),
  qrcode: (args) =>
    call("wechat.qrcode", {
      scene: own(args, "scene"), page: own(args, "page"), width: own(args, "width"),
      env_version: own(args, "env_version"), check_path: own(args, "check_path"),
      auto_color: own(args, "auto_color"), line_color: own(args, "line_color"),
      is_hyaline: own(args, "is_hyaline"),
    }),
  call: (path, body) => call("wechat.call", { path: StringCtor(path), body: body === undefined ? null : body }),
});

// The run's context: the same object for the module's life, its values those of the
// call being served.
let current = parse(firstContext);
const contextField = (k) => ({ get: () => current[k], enumerable: true });
/**
 * Who called, and for which request: `{caller: {kind, id?, nickname?, avatar_url?, groups?,
 * openid?, unionid?}, request_id, module, export, trigger}` (`openid`/`unionid` for users:
 * server code only, never in the server's own answers).
 */
export const context = Object.defineProperties({}, {
  caller: contextField("caller"),
  request_id: contextField("request_id"),
  module: contextField("module"),
  export: contextField("export"),
  trigger: contextField("trigger"),
});
export default freeze({ db, kv, users, events, secrets, http, wechat, context, FunctionError, YunqiaoError });

function show(v) {
  if (typeof v === "string") return v;
  if (v instanceof ErrorCtor) return `${v.name}: ${v.message}`;
  try {
    const s = stringify(v);
    return s === undefined ? StringCtor(v) : s;
  } catch {
    return StringCtor(v);
  }
}
const write = (level) => (...args) => {
  let line = "";
  for (let i = 0; i < args.length; i++) line += (i ? " " : "") + show(args[i]);
  log(level, line);
};
globalThis.console = {
  log: write("log"),
  info: write("info"),
  debug: write("log"),
  warn: write("warn"),
  error: write("error"),
};
globalThis.FunctionError = FunctionError;

function describe(e) {
  // QuickJS at its memory limit cannot even allocate the error it throws: it throws
  // nothing (null). Nothing else a sane module throws looks like that.
  if (e === null || e === undefined) return { kind: "oom", name: "InternalError", message: "out of memory", stack: "" };
  if (typeof e === "object") {
    const kind = own(e, FN) ? "refused" : own(e, HOST) ? "host" : "exception";
    return {
      kind,
      name: StringCtor(e.name ?? "Error"),
      message: StringCtor(e.message ?? ""),
      code: e.code == null ? null : StringCtor(e.code),
      status: typeof e.status === "number" ? e.status : null,
      details: e.details ?? {},
      stack: StringCtor(e.stack ?? ""),
    };
  }
  return { kind: "exception", name: "Error", message: StringCtor(e), stack: "" };
}

// The answer is built on prototype-free objects, so a module's own pollution cannot
// turn it into something else.
defineProperty(globalThis, "__yq_invoke", { writable: false, configurable: false, enumerable: false, value: async (fn, argsJson, contextJson) => {
  current = parse(contextJson);
  let r;
  try {
    r = await apply(fn, undefined, parse(argsJson));
  } catch (e) {
    try {
      return stringify({ __proto__: null, err: plain(describe(e)) });
    } catch {
      return stringify({ __proto__: null, err: { __proto__: null, kind: "exception", name: "Error", message: "the error is not JSON", stack: "" } });
    }
  }
  try {
    return stringify({ __proto__: null, ok: r === undefined ? null : r }) ?? '{"ok":null}';
  } catch (e) {
    return stringify({
      __proto__: null,
      err: { __proto__: null, kind: "exception", name: "TypeError", message: `the result is not JSON: ${e.message}`, stack: "" },
    });
  }
} });
