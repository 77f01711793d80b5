// The `yunqiao` module every cloud function imports. It talks to the server through one
// native call, `__yq_host(op, json)`, which answers `{"ok": …}` or `{"error": …}`.
const host = globalThis.__yq_host;
const log = globalThis.__yq_log;
const ctxJson = globalThis.__yq_context;
delete globalThis.__yq_host;
delete globalThis.__yq_log;
delete globalThis.__yq_context;

const FN = Symbol("FunctionError");
const HOST = Symbol("YunqiaoError");

/** Thrown by a function to refuse a call: the client gets `status` with `code`. */
export class FunctionError extends Error {
  constructor(code, message, status = 400, details = {}) {
    super(message ?? code);
    this.name = "FunctionError";
    this.code = String(code);
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
  const out = JSON.parse(await host(op, JSON.stringify(args)));
  if (out.error) {
    const e = out.error;
    throw new YunqiaoError(e.code, e.message, e.status, e.details);
  }
  return out.ok;
}

function table(name, admin) {
  return {
    create: (data) => call("db.create", { admin, table: name, data }),
    get: (id, opts = {}) => call("db.get", { admin, table: name, id, expand: opts.expand ?? [] }),
    update: (id, patch, opts = {}) =>
      call("db.update", { admin, table: name, id, patch, v: opts.v ?? null }),
    remove: (id) => call("db.delete", { admin, table: name, id }),
    query: (query = {}) => call("db.query", { admin, table: name, query }),
  };
}

function kvOf(ns, admin) {
  return {
    get: (key) => call("kv.get", { admin, ns, key }),
    exists: (key) => call("kv.exists", { admin, ns, key }),
    set: (key, value, opts = {}) =>
      call("kv.set", { admin, ns, key, value, ttl: opts.ttl ?? null, v: opts.v ?? null }),
    remove: (key) => call("kv.delete", { admin, ns, key }),
    list: (opts = {}) => call("kv.list", { admin, ns, prefix: opts.prefix ?? null, limit: opts.limit ?? null, cursor: opts.cursor ?? null }),
  };
}

function usersOf(admin) {
  return {
    get: (id) => call("users.get", { admin, id }),
    addToGroup: (id, group) => call("users.addToGroup", { admin, id, group }),
    removeFromGroup: (id, group) => call("users.removeFromGroup", { admin, id, group }),
  };
}

function dbOf(admin) {
  return {
    table: (name) => table(name, admin),
    batch: (ops) => call("db.batch", { admin, ops }),
    kv: (ns) => kvOf(ns, admin),
    users: usersOf(admin),
    admin: () => dbOf(true),
  };
}

/** Tables with the caller's rights; `db.admin()` for the admin's. */
export const db = dbOf(false);
/** A KV namespace with the caller's rights. */
export const kv = (ns) => kvOf(ns, false);
export const users = usersOf(false);
export const events = {
  publish: (topic, data) => call("events.publish", { topic, data }),
  send: (user, cmd, body) => call("events.send", { user, cmd, body }),
};
export const secrets = { get: (name) => call("secrets.get", { name }) };
export const http = {
  async fetch(url, init = {}) {
    let body = init.body ?? null;
    if (body !== null && typeof body !== "string") body = JSON.stringify(body);
    const r = await call("http.fetch", {
      url: String(url),
      method: init.method ?? "GET",
      headers: init.headers ?? {},
      body,
    });
    return {
      status: r.status,
      ok: r.status >= 200 && r.status < 300,
      headers: r.headers,
      text: async () => r.body,
      json: async () => JSON.parse(r.body),
    };
  },
};
/** Who called, and for which request: `{caller: {kind, id?, nickname?, groups?}, request_id, module, export}`. */
export const context = JSON.parse(ctxJson);
export default { db, kv, users, events, secrets, http, context, FunctionError, YunqiaoError };

function show(v) {
  if (typeof v === "string") return v;
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch {
    return String(v);
  }
}
const write = (level) => (...args) => log(level, args.map(show).join(" "));
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
    const kind = e[FN] ? "refused" : e[HOST] ? "host" : "exception";
    return {
      kind,
      name: String(e.name ?? "Error"),
      message: String(e.message ?? ""),
      code: e.code == null ? null : String(e.code),
      status: typeof e.status === "number" ? e.status : null,
      details: e.details ?? {},
      stack: String(e.stack ?? ""),
    };
  }
  return { kind: "exception", name: "Error", message: String(e), stack: "" };
}

globalThis.__yq_invoke = async (fn, argsJson) => {
  let r;
  try {
    r = await fn(...JSON.parse(argsJson));
  } catch (e) {
    return JSON.stringify({ err: describe(e) });
  }
  try {
    return JSON.stringify({ ok: r === undefined ? null : r }) ?? '{"ok":null}';
  } catch (e) {
    return JSON.stringify({
      err: { kind: "exception", name: "TypeError", message: `the result is not JSON: ${e.message}`, stack: "" },
    });
  }
};
