// The API as the console calls it: the admin's bearer token from sessionStorage, in
// the Authorization header only (never in a URL), answers parsed, errors as ApiError.

const TOKEN = 'yunqiao.console.token';

export const session = {
  /** @returns {string | null} */
  get token() {
    return sessionStorage.getItem(TOKEN);
  },
  /** @param {string} t */
  set(t) {
    sessionStorage.setItem(TOKEN, t);
  },
  clear() {
    sessionStorage.removeItem(TOKEN);
  },
};

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {any} body
   */
  constructor(status, body) {
    const e = body && body.error;
    super(e ? e.message : `HTTP ${status}`);
    this.status = status;
    this.code = e ? e.code : 'HTTP_' + status;
    this.details = (e && e.details) || {};
  }
}

/**
 * @param {string} path
 * @param {string | null} [token]
 */
function headers(token = session.token) {
  /** @type {Record<string, string>} */
  const h = {};
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

/**
 * One call. `body` is sent as JSON when given.
 * @param {string} method
 * @param {string} path
 * @param {any} [body]
 * @param {{token?: string | null, headers?: Record<string, string>}} [opts]
 */
export async function api(method, path, body, opts = {}) {
  const h = { ...headers(opts.token === undefined ? session.token : opts.token), ...(opts.headers || {}) };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, { error: { code: 'NETWORK', message: String(e) } });
  }
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

export const get = (/** @type {string} */ p) => api('GET', p);
export const enc = encodeURIComponent;

/** @type {Promise<Set<string>> | null} */
let documented = null;

/** The paths the server documents (`/v1/openapi.json`): pages for areas it lacks are hidden. */
export function paths() {
  if (!documented) {
    documented = api('GET', '/v1/openapi.json', undefined, { token: null })
      .then((d) => new Set(Object.keys((d && d.paths) || {})))
      .catch(() => new Set());
  }
  return documented;
}

/**
 * A download with progress: `onProgress(received, total | null)`.
 * @param {string} path
 * @param {(n: number, total: number | null) => void} onProgress
 */
export async function download(path, onProgress) {
  const r = await fetch(path, { headers: headers() });
  if (!r.ok) {
    let body = null;
    try {
      body = await r.json();
    } catch {}
    throw new ApiError(r.status, body);
  }
  const total = Number(r.headers.get('content-length')) || null;
  const reader = /** @type {ReadableStream<Uint8Array>} */ (r.body).getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    onProgress(n, total);
  }
  const name = /filename="?([^";]+)"?/.exec(r.headers.get('content-disposition') || '');
  return { blob: new Blob(chunks, { type: r.headers.get('content-type') || 'application/octet-stream' }), name: name ? name[1] : null };
}

/**
 * An upload with progress (fetch cannot report one): `onProgress(sent, total)`.
 * @param {string} path
 * @param {Blob} blob
 * @param {(n: number, total: number) => void} onProgress
 */
export function upload(path, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', path);
    const t = session.token;
    if (t) x.setRequestHeader('Authorization', 'Bearer ' + t);
    x.setRequestHeader('Content-Type', blob.type || 'application/octet-stream');
    x.upload.onprogress = (e) => onProgress(e.loaded, e.total);
    x.onerror = () => reject(new ApiError(0, { error: { code: 'NETWORK', message: 'upload failed' } }));
    x.onload = () => {
      let data = null;
      try {
        data = x.responseText ? JSON.parse(x.responseText) : null;
      } catch {}
      if (x.status >= 200 && x.status < 300) resolve(data);
      else reject(new ApiError(x.status, data));
    };
    x.send(blob);
  });
}

/**
 * The live channel, signed in with the subprotocol `bearer.<token>` (not `?token=`: no
 * key in a URL): at `url` (API Gateway's, on AWS), else this origin's `/v1/ws`.
 * @param {string} [url]
 */
export function openSocket(url) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return new WebSocket(url || `${proto}//${location.host}/v1/ws`, ['yunqiao.v1', 'bearer.' + (session.token || '')]);
}
