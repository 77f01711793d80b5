// Type definitions for yunqiao (云桥), the mini-program SDK. Hand-written; every public
// call is here. Every call returns a Promise and also takes wx-style callbacks.

/** wx-style callbacks, accepted by every call beside its Promise. */
export interface Callbacks<T = any> {
  success?: (res: T) => void
  fail?: (err: YunqiaoError) => void
  complete?: (resOrErr: T | YunqiaoError) => void
}

/** The one error every call rejects with. */
export class YunqiaoError extends Error {
  constructor(code: string, message: string, extra?: { status?: number; details?: any; requestId?: string; cause?: any; retryable?: boolean })
  /** The server's stable code (`NOT_FOUND`, `CONFLICT`, `FORBIDDEN`, …), or `NETWORK_ERROR`. */
  code: string
  message: string
  /** The server's `details` (e.g. `{field}`; `{op}` in a batch), or null. */
  details: any
  /** The HTTP status; 0 when the request got no answer (`NETWORK_ERROR`). */
  status: number
  /** The server's `x-request-id`, also in its logs. */
  requestId?: string
  /**
   * Whether the same request may be sent again: true for a 429, and for a transport failure
   * (`NETWORK_ERROR`) or a 503 of a request that is safe to repeat (GET, HEAD, PUT, DELETE,
   * a query), which the SDK has retried already. False for a write that got no answer: it
   * may have landed.
   */
  retryable: boolean
  /** How many times the SDK sent the request (retries included), when it was sent. */
  attempts?: number
  /** An earlier try of this request got no answer, so it may have done the work (a 404 after a delete). */
  afterLostAnswer?: boolean
  /** `"<code>: <message>"`, for code written against wx's `errMsg`. */
  readonly errMsg: string
  toJSON(): { code: string; message: string; details: any; status: number }
}

// ---- platform adapters ----------------------------------------------------------------

export interface AdapterRequest {
  url: string
  method: string
  headers: Record<string, string>
  body?: string
  timeout?: number
}

export interface AdapterResponse {
  status: number
  /** Lower-case header names. */
  headers: Record<string, string>
  text: string
}

/** A multipart POST: `fields` as text parts first, then the file as part `name`. */
export interface AdapterUpload {
  url: string
  /** wx: a local file path (wx.chooseMedia's `tempFilePath`). */
  filePath?: string
  /** web/Node: a Blob or File, bytes or a string (Node: `await fs.openAsBlob(path)`). */
  file?: Blob | ArrayBuffer | Uint8Array | string
  /** The file's part name (default `file`). */
  name?: string
  /** web/Node: the file part's filename and content type. */
  filename?: string
  type?: string
  fields?: Record<string, string>
  headers?: Record<string, string>
  timeout?: number
  onProgress?: (p: { progress: number; sent: number; total: number }) => void
}

export interface AdapterDownload {
  url: string
  headers?: Record<string, string>
  timeout?: number
  /** wx: where to save (else a temporary file). */
  filePath?: string
}

export interface AdapterDownloadResponse {
  status: number
  headers: Record<string, string>
  /** wx: the saved file. */
  tempFilePath?: string
  filePath?: string
  /** web/Node: the body. */
  blob?: Blob
  /** web/Node, for an error status: the body as text. */
  text?: string
}

export interface AdapterSocket {
  send(text: string): void
  close(code?: number, reason?: string): void
}

export interface AdapterSocketEvents {
  onOpen(): void
  onMessage(text: string): void
  onClose(e: { code: number; reason: string }): void
  onError(message: string): void
}

/** Synchronous key-value storage; values are JSON-serialisable. A missing key is `undefined`. */
export interface StorageAdapter {
  get(key: string): any
  set(key: string, value: any): void
  remove(key: string): void
  clear(): void
  keys(): string[]
}

/** The contract one platform implements. */
export interface Adapter {
  name: string
  /** HTTP methods the platform can send (wx: no PATCH); all when absent. */
  methods?: string[]
  storage: StorageAdapter
  /** Resolves for every HTTP status; rejects (NETWORK_ERROR) only when there is no answer. */
  request(req: AdapterRequest): Promise<AdapterResponse>
  /** Multipart upload (wx.uploadFile; fetch + FormData), queued with requests. */
  upload?(req: AdapterUpload): Promise<AdapterResponse>
  /** Download (wx.downloadFile; fetch), queued with requests. */
  download?(req: AdapterDownload): Promise<AdapterDownloadResponse>
  /** wx: the size of a local file (FileSystemManager.getFileInfo), for uploads from a path. */
  fileSize?(filePath: string): Promise<number>
  /** The most requests, uploads and downloads in flight together. */
  readonly maxRequests?: number
  /** How many wait for a slot, and how many are in flight. */
  readonly queued?: number
  readonly inFlight?: number
  connect(url: string, on: AdapterSocketEvents): AdapterSocket
  /** A WeChat login code (wx.login). */
  login(): Promise<string>
  onHide?(fn: () => void): void
  onShow?(fn: () => void): void
  /** wx: the payment sheet (wx.requestPayment); PAY_CANCELLED / PAY_FAILED when it fails. */
  requestPayment?(payment: PaymentParams): Promise<void>
}

/**
 * wx.request, wx.uploadFile and wx.downloadFile behind one queue (at most `maxRequests`,
 * default 10 — wx's own limit for the three together — in flight), SocketTask, wx storage,
 * wx.login, onAppHide/onAppShow.
 */
export function wxAdapter(wx?: any, opts?: { maxRequests?: number }): Adapter & { readonly maxRequests: number; readonly queued: number; readonly inFlight: number }

export interface WebAdapterOptions {
  /** Default: the global fetch. */
  fetch?: typeof fetch
  /** A W3C WebSocket class; Node 20 has none built in: pass the ws package's. */
  WebSocket?: any
  /** `'memory'`, a W3C Storage (localStorage), or a StorageAdapter. Default: localStorage, else memory. */
  storage?: 'memory' | StorageAdapter | { getItem(k: string): string | null; setItem(k: string, v: string): void; removeItem(k: string): void; clear(): void; key(i: number): string | null; length: number }
  /** Where login codes come from on this platform (none by default). */
  login?: () => string | Promise<string>
  /** Requests, uploads and downloads in flight together (default 16). */
  maxRequests?: number
}

/** fetch (queued: at most `maxRequests` in flight), WebSocket, localStorage or memory. */
export function webAdapter(opts?: WebAdapterOptions): Adapter & { readonly maxRequests: number; readonly queued: number; readonly inFlight: number }
export function webStorage(ls: Storage): StorageAdapter
export function memoryStorage(): StorageAdapter

// ---- the client -----------------------------------------------------------------------

export interface ChannelOptions {
  /** ms between pings while open (default 30000). */
  heartbeat?: number
  /** ms to wait for a frame after a ping before the socket counts as dead (default 10000). */
  pongTimeout?: number
  /** ms for a socket to open (default 15000). */
  connectTimeout?: number
  /** Backoff: attempt k waits random() × min(reconnectCap, reconnectBase × (2^k − 1)) ms. Defaults 1000 and 30000. */
  reconnectBase?: number
  reconnectCap?: number
  /** Close on app hide and resume on app show (default true). */
  autoPause?: boolean
  /** ms after a resume before it is checked once more (default 300). */
  resumeSettle?: number
  /** Sees every frame in and out. */
  debug?: ((direction: 'in' | 'out', frame: any) => void) | null
}

/**
 * Retries of requests that are safe to repeat (GET, HEAD, PUT, DELETE, queries) after a
 * transport failure, a 429 or a 503: try k (from 0) waits between half and all of
 * min(cap, base × 2^k) ms, or the server's `Retry-After` (not retried when that is longer
 * than `cap`). POST and PATCH writes are never retried.
 */
export interface RetryOptions {
  /** Retries after the first try (default 2); 0 turns retries off. */
  retries?: number
  /** ms (default 300). */
  base?: number
  /** ms (default 5000). */
  cap?: number
  /** Tests: how to wait (default setTimeout). */
  sleep?: (ms: number) => Promise<void>
  /** Tests: the jitter's source (default Math.random). */
  random?: () => number
}

export interface ClientOptions {
  /** The server, e.g. `http://127.0.0.1:8787` or the AWS stack's HttpApiUrl. */
  baseUrl: string
  /** Live channels; default `<baseUrl as ws>/v1/ws`. On AWS: the stack's WebSocketUrl. */
  wsUrl?: string
  /** `'wx'`, `'web'`, or an Adapter; default: wx when the global `wx` is there, else web. */
  adapter?: 'wx' | 'web' | Adapter
  /** The `wx` object for the wx adapter (default: the global one). */
  wx?: any
  /** For the web adapter. */
  fetch?: typeof fetch
  WebSocket?: any
  storage?: WebAdapterOptions['storage']
  /** Log in as this user of the server's built-in WeChat mock (local development). */
  mockUser?: string
  /** A fixed token (a session token, or the admin key in scripts); not stored. */
  token?: string
  /** Log in by itself (platform login) before the first call that needs a session. */
  autoLogin?: boolean
  /** Prefix of the SDK's storage keys (default `'yunqiao:'`). */
  storagePrefix?: string
  /** Refresh the token when it expires within this many ms (default 7 days). */
  refreshMargin?: number
  /** ms for an HTTP answer (default 30000). */
  timeout?: number
  /** Retries of safe requests; `false` or `0` for none. */
  retry?: RetryOptions | number | false
  /** Requests, uploads and downloads in flight together, for the adapter the client makes (wx: 10, web: 16). */
  maxRequests?: number
  channel?: ChannelOptions
  /** `pay.order`'s defaults (a `requestPayment` for web and tests, timeouts, polling). */
  pay?: PayOptions
}

export function createClient(options: ClientOptions): Client

export class Client {
  constructor(options: ClientOptions)
  readonly options: ClientOptions
  readonly baseUrl: string
  readonly wsUrl: string
  readonly adapter: Adapter
  readonly auth: Auth
  readonly channel: Channel
  /** XpmJS' Stor over the platform's storage. */
  readonly storage: Stor
  /** Uploads, URLs (thumbnails too), get, list, remove: `/v1/files`. */
  readonly files: Files
  /** `fn('chatroom').createRoom(name)` → POST /v1/fn/chatroom/createRoom `{args}` → `result`. */
  readonly fn: FnFactory
  /** WeChat Pay: `order` (→ wx.requestPayment → the PAID order), `get`, `list`, `close`. */
  readonly pay: Pay
  login(opts?: LoginOptions): Promise<LoginAnswer>
  logout(opts?: Callbacks<true>): Promise<true>
  table<R extends Record<string, any> = Record<string, any>>(name: string): Table<R>
  /** A query rebuilt from `query.toJSON()`, or from the string `JSON.stringify(query)` made. */
  query<R extends Record<string, any> = Record<string, any>>(json: QueryJSON | string): Query<R>
  batch(): Batch
  kv(ns: string): Kv
  /** CloudBase's shape: POST /v1/fn/{name} `{data}`. */
  callFunction<T = any>(opts: { name: string; data?: any } & Callbacks<CallFunctionResult<T>>): Promise<CallFunctionResult<T>>
  pause(): void
  resume(): void
  close(): void
}

// ---- auth -----------------------------------------------------------------------------

/** The logged-in user's own view. The openid and unionid stay on the server (cloud functions read them in `context.caller`). */
export interface User {
  id: string
  nickname: string | null
  avatar_url: string | null
  phone: string | null
  groups: string[]
  profile: Record<string, any>
  created_at: string
  updated_at: string
}

/** What other users see: never the openid, phone or groups. */
export interface PublicUser {
  id: string
  nickname: string | null
  avatar_url: string | null
}

export interface LoginAnswer {
  token: string
  /** RFC 3339. */
  expires_at: string
  user: User
}

export interface LoginOptions extends Callbacks<LoginAnswer> {
  /** A login code as is (wx.login's, or the mock's). */
  code?: string
  /** The built-in WeChat mock: logs in as this name with `mock:<name>:<nonce>`. */
  mockUser?: string
}

export interface ProfilePatch {
  nickname?: string | null
  avatar_url?: string | null
  /** Merged into the profile; `null` removes a key. */
  profile?: Record<string, any>
}

export interface AuthChangeInfo {
  tokenChanged: boolean
  userChanged: boolean
}

export class Auth {
  readonly token: string | null
  readonly user: User | null
  /** ms since the epoch, or null. */
  readonly expiresAt: number | null
  isLoggedIn(): boolean
  login(opts?: LoginOptions): Promise<LoginAnswer>
  me(opts?: Callbacks<User>): Promise<User>
  update(patch: ProfilePatch & Callbacks<User>, opts?: Callbacks<User>): Promise<User>
  /**
   * Uploads the image as a public file, then `PATCH /v1/auth/me {avatar_file}`: the server
   * sets `avatar_url` to the file's stable URL. `file`: a wx temporary path, the event of
   * `<button open-type="chooseAvatar">` (or `{detail: {avatarUrl}}`), a Blob or bytes.
   */
  setAvatar(file: UploadSource | { detail: { avatarUrl: string } }, opts?: Omit<UploadOptions, 'public'> & Callbacks<User>): Promise<User>
  /** The code from `<button open-type="getPhoneNumber">` (`e.detail.code`, or the event itself). */
  bindPhone(code: string | { detail: { code: string } }, opts?: Callbacks<User>): Promise<User>
  refresh(opts?: Callbacks<LoginAnswer>): Promise<LoginAnswer>
  logout(opts?: Callbacks<true>): Promise<true>
  on(event: 'change', fn: (user: User | null, info: AuthChangeInfo) => void): this
  off(event: 'change', fn?: (user: User | null, info: AuthChangeInfo) => void): this
  once(event: 'change', fn: (user: User | null, info: AuthChangeInfo) => void): this
}

// ---- files ----------------------------------------------------------------------------

/** A file (`GET /v1/files/{id}`). */
export interface FileInfo {
  id: string
  name: string
  size: number
  content_type: string
  public: boolean
  /** `pending` until its bytes arrived and it was completed. */
  status: 'pending' | 'ready'
  /** The owner's user id; null for a file the admin key uploaded. */
  owner: string | null
  /** RFC 3339. */
  created_at: string
  /** A signed GET of the bytes (or of the thumbnail named by `thumb`), once ready. */
  url?: string
  /** RFC 3339: when `url` stops working. */
  url_expires_at?: string
  /** The thumbnail `url` points at, when one was asked for. */
  thumb?: string
}

/**
 * A thumbnail, in PocketBase's syntax: `WxH` (centre crop), `WxHt` / `WxHb` (top / bottom
 * crop), `WxHf` (fit inside), `0xH` / `Wx0` (keep the ratio). Only the server's configured
 * sizes (`files.thumb_sizes`, default `100x100`), else 400 `THUMB_SIZE_NOT_ALLOWED`.
 */
export type ThumbSpec = string
export type ThumbFormat = 'webp' | 'jpeg' | 'png'

export interface ThumbOptions {
  thumb?: ThumbSpec
  /** Default: the source's own family. */
  format?: ThumbFormat
}

export interface UploadProgress {
  /** 0 to 100. */
  progress: number
  sent: number
  total: number
}

/** wx: a temporary path (wx.chooseMedia); web/Node: a Blob or File; bytes anywhere. */
export type UploadSource = string | Blob | ArrayBuffer | ArrayBufferView

export interface UploadOptions extends Callbacks<FileInfo> {
  /** Anyone may read it once ready (default false: its owner and admins). */
  public?: boolean
  /** Default: the path's or File's name (bytes: `file`). */
  name?: string
  /** Default: the Blob's type, else from the name's extension. */
  contentType?: string
  /** wx: as the bytes go (UploadTask.onProgressUpdate); web: once, when they arrived. */
  onProgress?: (p: UploadProgress) => void
}

export interface FileList {
  items: FileInfo[]
  /** Pass back as `cursor` for more; null at the end. */
  cursor: string | null
}

export class Files {
  /**
   * `POST /v1/files`, the signed form with the bytes (wx.uploadFile / FormData), then
   * `/complete` → the ready file. The form post and `complete` are retried after a
   * transport failure (safe: same key, same bytes); the first step is sent once.
   */
  upload(file: UploadSource, opts?: UploadOptions): Promise<FileInfo>
  /** A signed URL of the bytes or of a thumbnail, cached until shortly before it expires. */
  url(id: string, opts?: ThumbOptions & Callbacks<string>): Promise<string>
  /** `GET /v1/files/{id}/content`: a stable URL (a 302 to a signed one); a public file's works in `<image src>` as is. */
  contentUrl(id: string, opts?: ThumbOptions): string
  get(id: string, opts?: ThumbOptions & Callbacks<FileInfo>): Promise<FileInfo>
  /** Your own files, newest first. */
  list(opts?: { cursor?: string | FileList | null; limit?: number } & Callbacks<FileList>): Promise<FileList>
  remove(id: string, opts?: Callbacks<true>): Promise<true>
  /** Through the queue: wx → `{tempFilePath}`, web/Node → `{blob}`. */
  download(id: string, opts?: ThumbOptions & { filePath?: string } & Callbacks<AdapterDownloadResponse>): Promise<AdapterDownloadResponse>
}

// ---- tables ---------------------------------------------------------------------------

/** System fields every record carries. */
export interface SystemFields {
  _id: string
  /** The creator's user id; null for a record an admin or a cloud function's admin handle created. */
  _owner: string | null
  _group?: string | null
  _created: string
  _updated: string
  _v: number
  /** With `expand` naming `file` fields: each one's FileInfo, or null (gone, or not yours to read). */
  _expand?: Record<string, FileInfo | null>
}

export type Rec<R> = R & SystemFields

export type Operator =
  | 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'nin' | 'prefix' | 'contains' | 'exists'
  | '=' | '==' | '!=' | '<>' | '>' | '>=' | '<' | '<=' | 'not in'

export type Condition = [string, string, any]

export interface QueryJSON {
  table: string
  where?: Condition[]
  any?: Condition[][]
  order?: [string, 'asc' | 'desc'][]
  limit?: number
  cursor?: string
  fields?: string[]
  expand?: string[]
  page?: number
  per_page?: number
}

export interface QueryResult<R> {
  items: Rec<R>[]
  /** Pass to `after()` for the next page; null on the last. */
  cursor: string | null
  /** With `paginate`, or `count()`. */
  total?: number
  scanned: number
  page?: number
  per_page?: number
  last_page?: number
}

/** Update operators. */
export interface IncOp { $inc: number }
export interface AppendOp<T = any> { $append: T[] }
export interface RemoveOp<T = any> { $remove: T[] }
export type Patch<R> = { [K in keyof R]?: R[K] | IncOp | AppendOp | RemoveOp | null } & { _v?: number }

export function $inc(n?: number): IncOp
export function $append<T = any>(...items: T[] | [T[]]): AppendOp<T>
export function $remove<T = any>(...items: T[] | [T[]]): RemoveOp<T>
export const op: {
  readonly inc: typeof $inc
  readonly append: typeof $append
  readonly remove: typeof $remove
}

type FieldsOrCallbacks = (string | string[] | Callbacks<any>)[]

/** Immutable: every builder method returns a new query. `where(a).where(b).orWhere(c)` is `(a AND b) OR c`. */
export class Query<R extends Record<string, any> = Record<string, any>> {
  readonly table: string
  static from<R extends Record<string, any> = Record<string, any>>(client: Client, json: QueryJSON | string): Query<R>
  where(field: string, op: Operator, value: any): Query<R>
  where(field: string, value: any): Query<R>
  where(equalities: Partial<R> & Record<string, any>): Query<R>
  orWhere(field: string, op: Operator, value: any): Query<R>
  orWhere(field: string, value: any): Query<R>
  orWhere(equalities: Partial<R> & Record<string, any>): Query<R>
  orderBy(field: string, dir?: 'asc' | 'desc'): Query<R>
  limit(n: number): Query<R>
  paginate(perPage?: number, page?: number): Query<R>
  after(cursor: string | { cursor: string | null } | null): Query<R>
  expand(...fields: string[] | [string[]]): Query<R>
  select(...fields: string[] | [string[]]): Query<R>
  /** The body POST /v1/tables/{t}/query takes. */
  body(extra?: Record<string, any>): Omit<QueryJSON, 'table'>
  toJSON(): QueryJSON
  /** Runs the query; field names given here are the fields returned. A last callbacks object is taken as callbacks. */
  fetch(...fieldsOrCallbacks: FieldsOrCallbacks): Promise<QueryResult<R>>
  first(...fieldsOrCallbacks: FieldsOrCallbacks): Promise<Rec<R> | null>
  /** From the server's maintained counts: no condition, or one equality on an indexed field. */
  count(opts?: Callbacks<number>): Promise<number>
  /** A live query on this query's equalities. */
  watch(opts?: WatchOptions<R>): Promise<LiveQuery<R>>
}

export interface BatchOp {
  op: 'create' | 'update' | 'delete' | 'check'
  table: string
  id?: string
  data?: Record<string, any>
  _v?: number
}

/** Immutable, all-or-nothing (POST /v1/batch). From `table.batch()` the table may be left out. */
export class Batch {
  readonly ops: readonly BatchOp[]
  create(table: string, data: Record<string, any>): Batch
  create(data: Record<string, any>): Batch
  update(table: string, id: string, data: Record<string, any>, opts?: { _v?: number }): Batch
  update(id: string, data: Record<string, any>, opts?: { _v?: number }): Batch
  remove(table: string, id: string, opts?: { _v?: number }): Batch
  remove(id: string, opts?: { _v?: number }): Batch
  check(table: string, id: string, opts?: { _v?: number }): Batch
  check(id: string, opts?: { _v?: number }): Batch
  toJSON(): { ops: BatchOp[] }
  /** One result per op, in order; any failure fails all (`details.op` names it). */
  commit(opts?: Callbacks<any[]>): Promise<any[]>
}

export class Table<R extends Record<string, any> = Record<string, any>> {
  readonly name: string
  create(data: Partial<R> & Callbacks<Rec<R>>, opts?: Callbacks<Rec<R>>): Promise<Rec<R>>
  /** `{expand: ['author']}` replaces ref fields with their records; a `file` field's FileInfo comes in `_expand`. */
  get(id: string, opts?: { expand?: string | string[] } & Callbacks<Rec<R>>): Promise<Rec<R>>
  /** `_v` in `data` or `opts` makes it conditional (409 CONFLICT when stale). */
  update(id: string, data: Patch<R> & Callbacks<Rec<R>>, opts?: { _v?: number } & Callbacks<Rec<R>>): Promise<Rec<R>>
  inc(id: string, field: keyof R & string, n?: number, opts?: { _v?: number } & Callbacks<Rec<R>>): Promise<Rec<R>>
  remove(id: string, opts?: { _v?: number } & Callbacks<true>): Promise<true>
  query(json?: Omit<QueryJSON, 'table'> | string): Query<R>
  where(field: string, op: Operator, value: any): Query<R>
  where(field: string, value: any): Query<R>
  where(equalities: Partial<R> & Record<string, any>): Query<R>
  orWhere(field: string, op: Operator, value: any): Query<R>
  orWhere(field: string, value: any): Query<R>
  orWhere(equalities: Partial<R> & Record<string, any>): Query<R>
  orderBy(field: string, dir?: 'asc' | 'desc'): Query<R>
  limit(n: number): Query<R>
  paginate(perPage?: number, page?: number): Query<R>
  after(cursor: string | { cursor: string | null } | null): Query<R>
  expand(...fields: string[] | [string[]]): Query<R>
  select(...fields: string[] | [string[]]): Query<R>
  fetch(...fieldsOrCallbacks: FieldsOrCallbacks): Promise<QueryResult<R>>
  first(...fieldsOrCallbacks: FieldsOrCallbacks): Promise<Rec<R> | null>
  count(opts?: Callbacks<number>): Promise<number>
  batch(): Batch
  /** Live changes of records matching `where` (equalities, up to 8 fields). */
  watch(where?: Partial<R> & Record<string, any>, opts?: WatchOptions<R>): Promise<LiveQuery<R>>
  /** The table's schema (public). */
  schema(opts?: Callbacks<any>): Promise<any>
}

// ---- key-value ------------------------------------------------------------------------

export interface KvEntry<T = any> {
  key: string
  value: T
  /** The entry's version, as a record's `_v`: 1 on creation, bumped by every write. */
  _v: number
  created_at: string
  updated_at: string
  expires_at?: string
}

export interface KvSetOptions extends Callbacks<KvEntry> {
  /** Seconds to live (1 to 31,536,000). */
  ttl?: number
  /**
   * Only while the entry is at this version (409 CONFLICT otherwise, details
   * `{field: '_v', current_v}`). It was `version`: the old name throws a TypeError.
   */
  _v?: number
  /** Only if absent (409 CONFLICT otherwise). */
  createOnly?: boolean
  /** Admins: a user's key in a per-user namespace. */
  user?: string
}

export class Kv {
  readonly ns: string
  /** The value, or `opts.default` when the key is absent (null without one). */
  get<T = any>(key: string, opts: { default: T; user?: string } & Callbacks<T>): Promise<T>
  get<T = any>(key: string, opts?: { user?: string } & Callbacks<T | null>): Promise<T | null>
  getEntry<T = any>(key: string, opts?: { user?: string } & Callbacks<KvEntry<T> | null>): Promise<KvEntry<T> | null>
  set<T = any>(key: string, value: T, opts?: KvSetOptions): Promise<KvEntry<T>>
  /** True, or false when the key was absent. */
  remove(key: string, opts?: { _v?: number; user?: string } & Callbacks<boolean>): Promise<boolean>
  exists(key: string, opts?: { user?: string } & Callbacks<boolean>): Promise<boolean>
  list(opts?: { prefix?: string; limit?: number; cursor?: string; user?: string } & Callbacks<{ items: KvEntry[]; cursor?: string }>): Promise<{ items: KvEntry[]; cursor?: string }>
  setObject<T = any>(key: string, value: T, opts?: KvSetOptions): Promise<KvEntry<T>>
  getObject<T = any>(key: string, opts: { default: T; user?: string } & Callbacks<T>): Promise<T>
  getObject<T = any>(key: string, opts?: { user?: string } & Callbacks<T | null>): Promise<T | null>
  removeObject(key: string, opts?: { _v?: number; user?: string } & Callbacks<boolean>): Promise<boolean>
  isObjectExists(key: string, opts?: { user?: string } & Callbacks<boolean>): Promise<boolean>
}

// ---- live channels --------------------------------------------------------------------

/** Who sent a direct message: a connection (a user's, or an admin's: `user` null), or a cloud function (`events.send`). */
export type Sender = ConnectionSender | FunctionSender

export interface ConnectionSender {
  connection: string
  user: PublicUser | null
}

export interface FunctionSender {
  /** The module that sent it. */
  function: string
}

export interface Presence {
  state: 'online' | 'offline' | 'join' | 'leave'
  user: PublicUser
  connection?: string
}

export type ChangeOp = 'create' | 'update' | 'enter' | 'leave' | 'delete'

export interface SubscribeOptions extends Callbacks<Subscription> {
  /** Hear joins and leaves on a plain topic. */
  presence?: boolean
  onPresence?: (p: Presence, frame: any) => void
  onResync?: () => void
  onError?: (e: YunqiaoError) => void
  /** Equality filter for `table:` topics. */
  where?: Record<string, any>
}

export interface WatchOptions<R = any> extends Callbacks<LiveQuery<R>> {
  onCreate?: (record: Rec<R>, frame: any) => void
  onUpdate?: (record: Rec<R>, frame: any) => void
  onEnter?: (record: Rec<R>, frame: any) => void
  onLeave?: (record: { _id: string }, frame: any) => void
  onDelete?: (record: { _id: string }, frame: any) => void
  onChange?: (op: ChangeOp, record: any, frame: any) => void
  onResync?: () => void
  onError?: (e: YunqiaoError) => void
}

export class Subscription {
  readonly topic: string
  readonly closed: boolean
  on(event: 'event', fn: (data: any, frame: any) => void): this
  on(event: 'presence', fn: (p: Presence, frame: any) => void): this
  on(event: 'resync' | 'close', fn: () => void): this
  on(event: 'error', fn: (e: YunqiaoError) => void): this
  off(event: string, fn?: (...args: any[]) => void): this
  once(event: string, fn: (...args: any[]) => void): this
  unsubscribe(opts?: Callbacks<true>): Promise<true>
  close(opts?: Callbacks<true>): Promise<true>
}

/** LeanCloud-style live query: what this user may read, when it is delivered. */
export class LiveQuery<R = any> {
  readonly table: string
  readonly topic: string
  readonly where: Record<string, any> | null
  readonly closed: boolean
  on(event: 'create' | 'update' | 'enter', fn: (record: Rec<R>, frame: any) => void): this
  on(event: 'leave' | 'delete', fn: (record: { _id: string }, frame: any) => void): this
  on(event: 'change', fn: (op: ChangeOp, record: any, frame: any) => void): this
  on(event: 'resync' | 'close', fn: () => void): this
  on(event: 'error', fn: (e: YunqiaoError) => void): this
  off(event: string, fn?: (...args: any[]) => void): this
  once(event: string, fn: (...args: any[]) => void): this
  unsubscribe(opts?: Callbacks<true>): Promise<true>
  close(opts?: Callbacks<true>): Promise<true>
}

export type ChannelState = 'idle' | 'connecting' | 'open' | 'paused' | 'closed'

export class Channel {
  readonly state: ChannelState
  /** This socket's connection id (from the server's hello), while open. */
  readonly connection: string | null
  readonly user: PublicUser | null
  readonly options: Required<Omit<ChannelOptions, 'debug'>> & { debug: ChannelOptions['debug'] }
  connect(opts?: Callbacks<{ connection: string; user: PublicUser | null }>): Promise<{ connection: string; user: PublicUser | null }>
  /** Direct message to a user id, `{user}` or `{connection}`. */
  send(cmd: string, body: any, to: string | { user: string } | { connection: string }, opts?: Callbacks<{ delivered: number }>): Promise<{ delivered: number }>
  /** `'*'` hears every command. Returns an unlisten function. */
  listen(cmd: string, fn: (body: any, from: Sender, frame: any) => void): () => void
  unlisten(cmd: string, fn?: (body: any, from: Sender, frame: any) => void): void
  online(topic?: string, opts?: Callbacks<{ users: PublicUser[]; more: boolean }>): Promise<{ users: PublicUser[]; more: boolean }>
  liveUsers(topic?: string, opts?: Callbacks<PublicUser[]>): Promise<PublicUser[]>
  subscribe(topic: string, fn?: ((data: any, frame: any) => void) | null, opts?: SubscribeOptions): Promise<Subscription>
  publish(topic: string, data: any, opts?: Callbacks<{ topic: string; seq: number | null; delivered: number }>): Promise<{ topic: string; seq: number | null; delivered: number }>
  unsubscribe(topic: string | Subscription | LiveQuery, fn?: ((data: any, frame: any) => void) | Subscription, opts?: Callbacks<true>): Promise<true>
  attach(topic: string, fn?: ((data: any, frame: any) => void) | null, opts?: SubscribeOptions): Promise<Subscription>
  detach(topic: string, fn?: ((data: any, frame: any) => void) | Subscription, opts?: Callbacks<true>): Promise<true>
  fireEvent(topic: string, data: any, opts?: Callbacks<{ topic: string; seq: number | null; delivered: number }>): Promise<{ topic: string; seq: number | null; delivered: number }>
  table<R extends Record<string, any> = Record<string, any>>(name: string): { watch(where?: Partial<R> & Record<string, any>, opts?: WatchOptions<R>): Promise<LiveQuery<R>> }
  watch<R extends Record<string, any> = Record<string, any>>(table: string, where?: Partial<R> & Record<string, any>, opts?: WatchOptions<R>): Promise<LiveQuery<R>>
  pause(): void
  resume(): void
  close(): void
  on(event: 'open' | 'reconnect', fn: (info: { connection: string; user: PublicUser | null }) => void): this
  on(event: 'close', fn: (e: { code: number; reason: string }) => void): this
  on(event: 'reconnecting', fn: (e: { attempt: number; delay: number }) => void): this
  on(event: 'message' | 'presence', fn: (frame: any) => void): this
  on(event: 'error', fn: (e: YunqiaoError) => void): this
  on(event: 'socketError', fn: (message: string) => void): this
  off(event: string, fn?: (...args: any[]) => void): this
  once(event: string, fn: (...args: any[]) => void): this
}

// ---- cloud functions ------------------------------------------------------------------

/**
 * A module's exports as async functions; a last argument of only callbacks is taken as callbacks.
 * A call rejects with a `YunqiaoError`: the function's own `FunctionError` (its code, status
 * 400-499 and details), a host call's error it let through (e.g. `NOT_FOUND`), or the server's:
 * `UNAUTHENTICATED` (401, an export for users called anonymously), `FUNCTION_FORBIDDEN` (403),
 * `NOT_FOUND` (404, no such module or export), `FUNCTION_FAILED` (500, an uncaught exception;
 * `details.request_id` names it in the logs), `FUNCTION_TIMEOUT` (504), `FUNCTION_BUSY` (429,
 * too many calls running and waiting; retry later). Only `INVALID_TOKEN`
 * ends the session; a function's own 401 does not.
 */
export type FnModule = { readonly [exportName: string]: (...args: any[]) => Promise<any> }

export interface FnFactory {
  (module: string): FnModule
  call<T = any>(module: string, name: string, args?: any[], cb?: Callbacks<T>): Promise<T>
}

export interface CallFunctionResult<T = any> {
  result: T
  /** The server's `x-request-id`: the function's `context.request_id`, in its logs. */
  requestID: string | null
  errMsg: 'cloud.callFunction:ok'
}

// ---- storage --------------------------------------------------------------------------

/** XpmJS' Stor: a missing key reads as `undefined` on every platform. */
export class Stor {
  set<T>(key: string, value: T): Promise<T>
  get<T = any>(key: string): Promise<T | undefined>
  remove(key: string): Promise<true>
  clear(): Promise<true>
  keys(): Promise<string[]>
  setSync(key: string, value: any): true
  getSync<T = any>(key: string): T | undefined
  rmSync(key: string): true
  removeSync(key: string): true
  clearSync(): true
  setMap(name: string, key: string, value: any): Promise<true>
  getMap<T = any>(name: string, key: string): Promise<T | undefined>
  setMapSync(name: string, key: string, value: any): true
  getMapSync<T = any>(name: string, key: string): T | undefined
}

export const version: string

// ---- pay ------------------------------------------------------------------------------

/** What wx.requestPayment takes, signed by the server with the merchant key. */
export interface PaymentParams {
  timeStamp: string
  nonceStr: string
  /** `prepay_id=…` */
  package: string
  signType: 'RSA'
  paySign: string
}

/** An order as its buyer sees it. */
export interface PayOrder {
  out_trade_no: string
  state: 'PENDING' | 'PAID' | 'CLOSED'
  /** Fen. */
  amount: number
  currency: string
  description: string
  item?: { table: string; id: string }
  quantity?: number
  buyer: string
  transaction_id?: string
  created_at: string
  paid_at?: string
  closed_at?: string
}

export interface PayOptions {
  /** ms after the sheet's success for the order to read PAID (default 60000), else PAY_TIMEOUT. */
  timeout?: number
  /** Polling: attempt k waits min(pollCap, pollBase × 2^k) ms (defaults 500 and 5000). */
  pollBase?: number
  pollCap?: number
  /** With the live channel open, the wait for the `pay.paid` message before the first poll (default 1000). */
  pollFirst?: number
  /** Stands in for wx.requestPayment (web, Node, tests): resolve when paid, reject to fail. */
  requestPayment?: ((payment: PaymentParams, order: PayOrder) => Promise<any>) | null
  /** Pay again the order an earlier call for the same thing left unpaid (default true). */
  reuse?: boolean
}

export type OrderSpec =
  | { item: { table: string; id: string }; quantity?: number }
  | { amount: number; description?: string }

export class Pay {
  readonly options: Required<PayOptions>
  /**
   * Orders (the server sets the price), opens the payment sheet, resolves with the PAID
   * order once the server confirms. Rejects PAY_CANCELLED, PAY_FAILED, PAY_CLOSED,
   * PAY_TIMEOUT (`details.out_trade_no`), UNSUPPORTED, or the server's error. The same
   * spec again while a call runs joins it; after a cancel it pays the same order.
   */
  order(spec: OrderSpec, opts?: PayOptions & Callbacks<PayOrder>): Promise<PayOrder>
  /** An order (asks WeChat Pay while it is pending). */
  get(outTradeNo: string, opts?: Callbacks<PayOrder>): Promise<PayOrder>
  /** The caller's orders, newest first. */
  list(opts?: { limit?: number; cursor?: string | null } & Callbacks<{ items: PayOrder[]; cursor: string | null }>): Promise<{ items: PayOrder[]; cursor: string | null }>
  /** Closes a pending order → CLOSED (PAY_ORDER_NOT_PENDING once paid). */
  close(outTradeNo: string, opts?: Callbacks<PayOrder>): Promise<PayOrder>
}
