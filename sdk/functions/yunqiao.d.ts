// Types for yunqiao (云桥) cloud functions: the "yunqiao" module a function imports, and
// the globals of the sandbox it runs in. Hand-written, for editors and `tsc --checkJs`;
// the reference is docs/functions.md.
//
// Not the mini-program SDK's types (sdk/js/types): app code imports a package called
// "yunqiao" too. Give cloud functions their own folder and jsconfig.json (see
// sdk/functions/README.md), so each side sees only its own "yunqiao".
//
// The sandbox is QuickJS: ECMAScript (no Intl) plus what is declared here. There is no
// `fetch`, `setTimeout`, `require`, `process`, filesystem or network: everything outside
// goes through the host API below.

/** `console.*` lines are kept with the call's log (`GET /v1/functions/{module}/logs`). */
interface Console {
  log(...data: any[]): void
  /** The same as `log`. */
  debug(...data: any[]): void
  info(...data: any[]): void
  warn(...data: any[]): void
  error(...data: any[]): void
}
declare var console: Console
declare function atob(data: string): string
declare function btoa(data: string): string
declare function queueMicrotask(callback: () => void): void
/** `FunctionError` is also a global, so a module that imports nothing can refuse a call. */
declare var FunctionError: typeof import('yunqiao').FunctionError
type FunctionError = import('yunqiao').FunctionError

declare module 'yunqiao' {
  // ---- values -------------------------------------------------------------------------

  /** A JSON value: what exports take and answer. An answer of `undefined` is sent as `null`. */
  export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

  /** A record's fields as the schema declares them; any fields when not given. */
  export type Fields = { [field: string]: any }

  /** What every record carries beside its fields. */
  export interface SystemFields {
    /** Time-sortable and unguessable. */
    _id: string
    /** The creating user; null for records created with the admin's rights (`db.admin()`). */
    _owner: string | null
    _group: string | null
    /** RFC 3339. */
    _created: string
    /** RFC 3339. */
    _updated: string
    /** 1 on creation, bumped by every write. */
    _v: number
    /**
     * Read with `expand` naming `file` fields: each one's file as the caller may read it
     * (`GET /v1/files/{id}`), or null when the caller may not or it is gone.
     */
    _expand?: { [field: string]: FileInfo | null }
  }

  /** A file, as `GET /v1/files/{id}` answers it. */
  export interface FileInfo {
    id: string
    name: string
    size: number
    content_type: string
    public: boolean
    status: 'pending' | 'ready'
    /** The owner's user id; null for files the admin key uploaded. */
    owner: string | null
    /** RFC 3339. */
    created_at: string
    /** A signed GET of the bytes, when ready. */
    url?: string
    /** RFC 3339: when `url` stops working. */
    url_expires_at?: string
  }

  export type Rec<T extends object = Fields> = T & SystemFields

  // ---- who called -----------------------------------------------------------------------

  /**
   * A logged-in user, as the session in the request's `Authorization` header names them.
   * One in the `admin` group has the admin's rights.
   */
  export interface UserCaller {
    kind: 'user'
    id: string
    nickname: string | null
    avatar_url: string | null
    groups: string[]
    /** The user's WeChat openid: for server code; the server never answers it itself. */
    openid: string
    /** The user's WeChat unionid, when WeChat gave one. */
    unionid: string | null
  }
  /** A request without `Authorization` (an invalid token is refused before any run). */
  export interface AnonymousCaller {
    kind: 'anonymous'
    id?: undefined
  }
  /** The admin key; also schedules, which run as admin. */
  export interface AdminCaller {
    kind: 'admin'
    id?: undefined
  }
  /** Always from the server, never from the request body. Narrow on `kind`. */
  export type Caller = UserCaller | AnonymousCaller | AdminCaller

  export type Trigger = 'call' | 'hook' | 'schedule'

  export interface Context {
    caller: Caller
    /**
     * Calls: the request's `x-request-id`. After-hooks: the outbox item's id (`event.id`).
     * Before-hooks and schedules: an id of their own. In the run's log entry.
     */
    request_id: string
    module: string
    export: string
    trigger: Trigger
  }

  /** This run: who called, and why. */
  export const context: Context

  // ---- errors ---------------------------------------------------------------------------

  /**
   * Throw it to refuse a call: the client gets `status` and
   * `{"error": {"code", "message", "details"}}`. The status is 400 to 499 (default 400;
   * any other is sent as 400); the code is 2 to 64 of `A-Z 0-9 _`, starting with a letter
   * (any other is sent as `APP_ERROR`). A before-hook that throws it refuses the write,
   * and the writing client gets it.
   *
   * @example throw new FunctionError('ROOM_FULL', 'the room is full', 409, { max: 2 })
   */
  export class FunctionError extends Error {
    constructor(code: string, message?: string, status?: number, details?: { [key: string]: Json })
    name: 'FunctionError'
    code: string
    status: number
    details: { [key: string]: Json }
  }

  /**
   * What a host call (db, kv, users, events, secrets, http) throws when the server
   * refuses it: the same code, status and details an HTTP client would get
   * (`NOT_FOUND` 404, `FORBIDDEN` 403, `CONFLICT` 409, `INVALID_ARGUMENT` 400, …).
   * Uncaught, a 4xx reaches the client as it is; a 5xx (e.g. `FETCH_FAILED` 502) becomes
   * 500 `FUNCTION_FAILED`.
   */
  export class YunqiaoError extends Error {
    constructor(code: string, message: string, status: number, details?: { [key: string]: any })
    name: 'YunqiaoError'
    code: string
    status: number
    /** e.g. `{field}`, `{op}` in a batch, `{field: '_v', current_v}` for KV conflicts. */
    details: { [key: string]: any }
  }

  // ---- tables ---------------------------------------------------------------------------

  /** Atomic; the field's `min`/`max` are checked again. */
  export interface IncOp {
    $inc: number
  }
  /** On json lists and many-refs (refs are kept as a set). */
  export interface AppendOp {
    $append: Json[]
  }
  export interface RemoveOp {
    $remove: Json[]
  }

  /** A change: the fields to set (`null` clears), or an operator. */
  export type Patch<T extends object = Fields> = { [K in keyof T]?: T[K] | IncOp | AppendOp | RemoveOp | null }

  export type Operator =
    | 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'nin' | 'prefix' | 'contains' | 'exists'
    | '=' | '==' | '!=' | '>' | '>=' | '<' | '<='

  /** `[field, operator, value]`; dotted paths reach into json fields. */
  export type Condition = [field: string, op: Operator, value: Json]

  /** The body of `POST /v1/tables/{t}/query`. */
  export interface Query {
    /** All of them hold. */
    where?: Condition[]
    /** One of the lists holds (each list: all of its conditions). */
    any?: Condition[][]
    /** One indexed field (or `_id` / `_created`). */
    order?: [field: string, dir: 'asc' | 'desc'][]
    /** At most 100 (default 20). */
    limit?: number
    /** A previous page's `cursor`. */
    cursor?: string | null
    fields?: string[]
    /**
     * Ref fields to replace by their records (read with the same rights), and `file`
     * fields whose files to add under `_expand`.
     */
    expand?: string[]
    /** Answer `total` (no condition, or one equality on an indexed field). */
    count?: boolean
    page?: number
    per_page?: number
  }

  export interface Page<T extends object = Fields> {
    items: Rec<T>[]
    /** Set when more may follow; pass it back as `cursor`. */
    cursor?: string | null
    total?: number
    /** Rows examined. */
    scanned: number
    page?: number
    per_page?: number
    last_page?: number
  }

  export interface Table<T extends object = Fields> {
    /** 201's record. The caller owns it (with `db.admin()`: nobody does). */
    create(data: Partial<T>): Promise<Rec<T>>
    get(id: string, opts?: { expand?: string[] }): Promise<Rec<T>>
    /**
     * `opts._v`: only while the record is at this version, else `CONFLICT` (409). The
     * option was `v`: an old name (`v`, `version`) throws a `TypeError`.
     */
    update(id: string, patch: Patch<T>, opts?: { _v?: number }): Promise<Rec<T>>
    /** `opts._v`: only while the record is at this version, else `CONFLICT` (409). */
    remove(id: string, opts?: { _v?: number }): Promise<{ deleted: true }>
    query(query?: Query): Promise<Page<T>>
  }

  export type BatchOp =
    | { op: 'create'; table: string; data: Fields }
    | { op: 'update'; table: string; id: string; data: Fields; _v?: number }
    | { op: 'delete'; table: string; id: string; _v?: number }
    /** Holds the batch to a record existing (at version `_v`, if given). */
    | { op: 'check'; table: string; id: string; _v?: number }

  /** What `db.batch` answers, one per op, in order: the record for create and update. */
  export type BatchResult = Rec<Fields> | { _id: string; deleted: true } | { _id: string; checked: true }

  export interface Db {
    table<T extends object = Fields>(name: string): Table<T>
    /**
     * One transaction across tables, all or nothing; a failure names its op in
     * `details.op`. Answers a {@link BatchResult} per op, in order.
     */
    batch(ops: BatchOp[]): Promise<any[]>
    kv(ns: string): Kv
    users: Users
    /** The same API with the admin's rights: every rule passes. */
    admin(): Db
  }

  /**
   * Tables with the caller's rights, under the same rules as their HTTP requests (an
   * anonymous caller reads what anyone may read, and so on). `db.admin()` for the admin's.
   */
  export const db: Db

  // ---- key-value storage ------------------------------------------------------------------

  export interface KvEntry<T = any> {
    key: string
    value: T
    /** The entry's version, as a record's `_v`: 1 on creation, bumped by every write. */
    _v: number
    /** RFC 3339, UTC, with milliseconds (`Date.parse` reads it). */
    created_at: string
    updated_at: string
    /** When the entry is gone (written with a `ttl`); null when permanent. */
    expires_at: string | null
  }

  export interface Kv {
    /** The value, or null when the key is absent. */
    get<T = any>(key: string): Promise<T | null>
    exists(key: string): Promise<boolean>
    /**
     * `ttl`: seconds (1 to 31,536,000); without it the entry is permanent.
     * `_v`: only while the entry is at this version, else `CONFLICT` (409, details
     * `{field: '_v', current_v}`). The option was `v`: an old name (`v`, `version`)
     * throws a `TypeError`.
     */
    set<T = any>(key: string, value: T, opts?: { ttl?: number; _v?: number }): Promise<KvEntry<T>>
    /** `_v`: only while the entry is at this version, else `CONFLICT` (409). */
    remove(key: string, opts?: { _v?: number }): Promise<{ deleted: true }>
    /** In key order; `limit` 1 to 100 (default 20). */
    list(opts?: { prefix?: string; limit?: number; cursor?: string }): Promise<{ items: KvEntry[]; cursor: string | null }>
  }

  /** A namespace with the caller's rights (`db.admin().kv(ns)` for the admin's). */
  export function kv(ns: string): Kv

  // ---- users ------------------------------------------------------------------------------

  export interface UserInfo {
    id: string
    nickname: string | null
    avatar_url: string | null
    groups: string[]
  }

  export interface Users {
    get(id: string): Promise<UserInfo>
    /** Admin rights: `db.admin().users.addToGroup(…)`; otherwise `FORBIDDEN`. */
    addToGroup(id: string, group: string): Promise<UserInfo>
    removeFromGroup(id: string, group: string): Promise<UserInfo>
  }

  export const users: Users

  // ---- live channels ------------------------------------------------------------------------

  export const events: {
    /** To a topic's subscribers, sent by the server itself (topic rules do not apply). */
    publish(topic: string, data?: Json): Promise<{ seq: number | null; delivered: number }>
    /**
     * A direct message to every connection of a user:
     * `{"type": "message", cmd, body, "from": {"function": "<module>"}}`.
     * `cmd`: 1 to 64 characters.
     */
    send(userId: string, cmd: string, body?: Json): Promise<{ delivered: number }>
  }

  // ---- secrets ------------------------------------------------------------------------------

  export const secrets: {
    /**
     * A server secret (`YUNQIAO_SECRET_<NAME>`, or `[functions.secrets]` in the config).
     * Only names in the module's `secrets` setting (else `FORBIDDEN`); `NOT_FOUND` when the
     * server has none by that name. Its value is replaced by `[secret]` in logs and errors.
     */
    get(name: string): Promise<string>
  }

  // ---- outbound HTTP ------------------------------------------------------------------------

  export interface FetchInit {
    method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD'
    headers?: { [name: string]: string }
    /**
     * A string as is; bytes (`Uint8Array` or another typed array, `ArrayBuffer`) byte for
     * byte; anything else as its JSON (set `content-type` yourself).
     */
    body?: string | ArrayBuffer | ArrayBufferView | Json
  }

  export interface FetchResponse {
    status: number
    /** 200 to 299. */
    ok: boolean
    /** Lower-case names. */
    headers: { [name: string]: string }
    /** The body as UTF-8 (a byte that is not UTF-8 becomes U+FFFD). */
    text(): Promise<string>
    json<T = any>(): Promise<T>
    /** The body's bytes exactly as they came. */
    bytes(): Promise<Uint8Array>
    arrayBuffer(): Promise<ArrayBuffer>
  }

  export const http: {
    /**
     * Only to hosts in the module's `hosts` setting (`host`: any port; `host:port`: that
     * one), else `FORBIDDEN`. Redirects are answered as they are, not followed; the body
     * read is at most 1 MiB; unreachable is `FETCH_FAILED` (502).
     */
    fetch(url: string, init?: FetchInit): Promise<FetchResponse>
  }

  // ---- WeChat's server API ------------------------------------------------------------------

  /** `msg_sec_check` v2's verdict. */
  export interface TextVerdict {
    suggest: 'pass' | 'review' | 'risky'
    /** 100 normal, 10001 ads, 20001 politics, 20002 porn, 20003 abuse, 20006 crime, 20008 fraud, 20012 vulgar, 20013 copyright, 21000 other. */
    label: number
    trace_id: string | null
  }

  export interface TextCheckInput {
    /** 1 to 2500 characters. */
    content: string
    /** 1 profile, 2 comment (default), 3 forum, 4 social log. */
    scene?: 1 | 2 | 3 | 4
    /** Whose text (a user id); default the calling user (the admin must name one). */
    user?: string
    title?: string
    nickname?: string
    signature?: string
  }

  export interface MediaCheckInput {
    /** An http(s) URL WeChat downloads the image or audio from (within 30 minutes). */
    url: string
    /** Default `image`. */
    type?: 'image' | 'audio'
    /** Whose media (a user id); default the calling user (the admin must name one). */
    user?: string
    /** 1 profile, 2 comment (default), 3 forum, 4 social log. */
    scene?: 1 | 2 | 3 | 4
  }

  export interface SubscribeMessageInput {
    /** A user id: the server finds the openid. */
    user: string
    template_id: string
    page?: string
    /** `{key: {value}}`, as the template wants. */
    data: { [key: string]: { value: string } }
    miniprogram_state?: 'developer' | 'trial' | 'formal'
  }

  /**
   * WeChat's server API with the app's access token filled in by the server (a module never
   * sees it). WeChat's refusals are `WECHAT_ERROR` (502) with `details.wechat_errcode`.
   */
  export const wechat: {
    msgSecCheck(input: TextCheckInput): Promise<TextVerdict>
    /**
     * `media_check_async`: the verdict arrives later as a pushed `wxa_media_check` event
     * with this `trace_id`, handed to the function `wechat.push_function` names.
     */
    mediaCheck(input: MediaCheckInput): Promise<{ trace_id: string }>
    subscribeMessage: {
      /** 403 `WECHAT_NOT_SUBSCRIBED` when the user did not accept the template (43101). */
      send(input: SubscribeMessageInput): Promise<{ sent: true }>
    }
    /**
     * `POST https://api.weixin.qq.com<path>?access_token=…`: paths under `/wxa/`, `/wxaapi/`,
     * `/cgi-bin/message/`, `/cgi-bin/wxopen/`, `/cgi-bin/express/`, `/cgi-bin/openapi/quota/get`,
     * `/datacube/`, `/shop/`, without a query, naming no token or ticket (else
     * `INVALID_ARGUMENT`). An image answers `{content_type, body_base64}`.
     */
    call<T = any>(path: string, body?: Json): Promise<T>
    /**
     * A QR code that opens `page` with `scene` (`getwxacodeunlimit`), kept as a public file:
     * the same parameters answer the same file without asking WeChat again. 400
     * `QRCODE_SCENE_INVALID`, `QRCODE_PAGE_INVALID`, `INVALID_ARGUMENT`; 429 `RATE_LIMITED`.
     */
    qrcode(input: QrCodeInput): Promise<QrCode>
  }

  /** `wechat.qrcode`'s parameters (WeChat's). */
  export interface QrCodeInput {
    /** 1 to 32 of `0-9 A-Z a-z !#$&'()*+,/:;=?@-._~`; the page reads it as `options.scene`. */
    scene: string
    /** `pages/room/room`: no leading `/`, no query; unset: the home page. */
    page?: string
    /** 280 to 1280 pixels (default 430). */
    width?: number
    env_version?: 'release' | 'trial' | 'develop'
    /** Default `true`: `page` must be in the released app. */
    check_path?: boolean
    auto_color?: boolean
    line_color?: { r: number; g: number; b: number }
    is_hyaline?: boolean
  }

  /** A QR code's public file. */
  export interface QrCode {
    id: string
    /** `path` under `files.public_url` when that is configured, else `path`. */
    url: string
    /** `/v1/files/{id}/content`: the image's stable address (a redirect to its bytes). */
    path: string
    content_type: 'image/png' | 'image/jpeg'
    size: number
    /** Kept from an earlier call with the same parameters. */
    reused: boolean
  }

  // ---- hooks and schedules ------------------------------------------------------------------

  /** `before_create`: return an object to write instead of `data`, or throw to refuse. */
  export interface BeforeCreateEvent<T extends object = Fields> {
    op: 'create'
    table: string
    /** What is being written. */
    data: Partial<T>
    caller: Caller
  }

  /** `before_update`: return an object to write instead of `data`, or throw to refuse. */
  export interface BeforeUpdateEvent<T extends object = Fields> {
    op: 'update'
    table: string
    /** The record's id. */
    id: string
    /** The patch being written. */
    data: Patch<T>
    old: Rec<T>
    caller: Caller
  }

  /** `before_delete`: throw to refuse. */
  export interface BeforeDeleteEvent<T extends object = Fields> {
    op: 'delete'
    table: string
    /** The record's id. */
    id: string
    old: Rec<T>
    caller: Caller
  }

  interface AfterEventBase {
    /** The outbox item's id: the same on every retry of this change (to deduplicate). */
    id: string
    table: string
    record_id: string
    /** The records were larger than 150,000 bytes: `record` and `old` are `{_id}` only. */
    truncated: boolean
    caller: Caller
  }
  export interface AfterCreateEvent<T extends object = Fields> extends AfterEventBase {
    op: 'create'
    record: Rec<T>
    old: null
  }
  export interface AfterUpdateEvent<T extends object = Fields> extends AfterEventBase {
    op: 'update'
    record: Rec<T>
    old: Rec<T>
  }
  export interface AfterDeleteEvent<T extends object = Fields> extends AfterEventBase {
    op: 'delete'
    record: null
    old: Rec<T>
  }

  export type BeforeHookEvent<T extends object = Fields> = BeforeCreateEvent<T> | BeforeUpdateEvent<T> | BeforeDeleteEvent<T>
  /** After-hooks run once per committed change, retried with backoff when they fail. */
  export type AfterHookEvent<T extends object = Fields> = AfterCreateEvent<T> | AfterUpdateEvent<T> | AfterDeleteEvent<T>
  /** The one argument a hook export gets. Narrow on `op` (and, for one export used as several hooks, on `'record_id' in event`). */
  export type HookEvent<T extends object = Fields> = BeforeHookEvent<T> | AfterHookEvent<T>

  /** The one argument a scheduled export gets; it runs as admin. */
  export interface ScheduleEvent {
    /** The tick being run: RFC 3339, UTC, with milliseconds (`Date.parse` reads it). */
    scheduled_at: string
  }

  const yunqiao: {
    db: Db
    kv: typeof kv
    users: Users
    events: typeof events
    secrets: typeof secrets
    http: typeof http
    wechat: typeof wechat
    context: Context
    FunctionError: typeof FunctionError
    YunqiaoError: typeof YunqiaoError
  }
  export default yunqiao
}
