import { YunqiaoError } from './errors.js'
import { call, queryString, seg, splitCallbacks } from './util.js'

/** Content types by file extension, for a wx temporary path or a Blob without a type. */
const TYPES = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  mp4: 'video/mp4',
  pdf: 'application/pdf',
  txt: 'text/plain',
}

/** `image/png` for `a/b.PNG`; `application/octet-stream` when the extension says nothing. */
export function typeOf(name) {
  const m = /\.([a-z0-9]+)$/i.exec(String(name || '').split(/[?#]/)[0])
  return (m && TYPES[m[1].toLowerCase()]) || 'application/octet-stream'
}

/** The last segment of a path or URL (`http://tmp/abc.jpg` → `abc.jpg`). */
function baseName(p) {
  const s = String(p || '').split(/[?#]/)[0]
  return s.slice(s.lastIndexOf('/') + 1)
}

/** A cached URL is used until this long before it expires: 60 s, or a tenth of a short life. */
const URL_MARGIN_MS = 60000

/** A storage service's own error (S3 answers XML: `<Code>…</Code><Message>…</Message>`). */
function storeError(e) {
  if (typeof e.details === 'object' && e.details) return e
  const m = /<Code>([^<]+)<\/Code>/.exec(e.message || '')
  if (!m) return e
  const msg = /<Message>([^<]*)<\/Message>/.exec(e.message || '')
  return new YunqiaoError('UPLOAD_REFUSED', `the storage refused the upload: ${m[1]}${msg ? ' — ' + msg[1] : ''}`, {
    status: e.status,
    details: { store_code: m[1] },
  })
}

/**
 * Files (`/v1/files`): upload from a wx temporary path, a Blob or bytes; URLs of files and
 * their thumbnails, cached until shortly before they expire; get, list, remove.
 *
 * An upload is three steps: `POST /v1/files` (the file, pending, and a signed form), the
 * form posted with the bytes straight to the blob store (wx.uploadFile on wx; FormData and
 * fetch elsewhere), `POST /v1/files/{id}/complete`. Each goes through the adapter's one
 * queue (wx: 10 requests, uploads and downloads in flight together). Retries: the form post
 * and `complete` are safe to repeat (the form names one key, a second post replaces the
 * bytes with the same bytes; completing a ready file answers it) and are retried after a
 * transport failure like a GET; the first step creates a file and is sent once.
 */
export class Files {
  constructor(client) {
    this.client = client
    /** `id|thumb|format` → {url, until (ms)} */
    this._urls = new Map()
  }

  /**
   * Uploads `file` — a wx temporary path (wx.chooseMedia's `tempFilePath`), a Blob/File, or
   * bytes (a Buffer, Uint8Array, ArrayBuffer) — and resolves to the ready FileInfo.
   * Options: `public` (anyone may read it), `name` (default: the path's or File's name),
   * `contentType` (default: the Blob's type, else from the name's extension), `onProgress`
   * (`{progress, sent, total}`; on web only when done: fetch reports no upload progress).
   */
  upload(file, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      const src = await this._source(file, o)
      const { data } = await this.client.http.request('POST', '/v1/files', {
        body: { name: src.name, size: src.size, content_type: src.contentType, public: !!o.public },
      })
      const form = data.upload || data.form
      if (!data.file || !form || !form.url) throw new YunqiaoError('BAD_ANSWER', 'POST /v1/files answered no upload form')
      const id = data.file.id
      let last = -1
      const onProgress =
        typeof o.onProgress === 'function'
          ? (p) => {
              last = p.progress
              try {
                o.onProgress(p)
              } catch (e) {
                console.error('[yunqiao] an onProgress callback threw', e)
              }
            }
          : null
      try {
        await this.client.http.upload(form.url, {
          filePath: src.filePath,
          file: src.file,
          name: form.file_field || 'file',
          filename: src.name,
          type: src.contentType,
          fields: form.fields || {},
          onProgress,
          idempotent: true,
        })
      } catch (e) {
        throw storeError(e)
      }
      if (onProgress && last < 100) onProgress({ progress: 100, sent: src.size, total: src.size })
      const done = await this.client.http.request('POST', `/v1/files/${seg(id)}/complete`, { idempotent: true })
      return this._keep(done.data)
    })
  }

  /**
   * A URL of the file's bytes (or, with `{thumb: '100x100'}`, of its thumbnail; `format`
   * `webp`, `jpeg` or `png`) for `<image src>` or a download: `GET /v1/files/{id}`, cached
   * until shortly before `url_expires_at`. Private files: their owner (and admins) only.
   */
  url(id, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      const hit = this._urls.get(key(id, o))
      if (hit && hit.until > Date.now()) return hit.url
      const info = await this.get(id, o)
      if (!info.url) throw new YunqiaoError('FILE_NOT_READY', `file ${id} is ${info.status}: it has no URL yet`, { details: { status: info.status } })
      return info.url
    })
  }

  /**
   * The stable URL `GET /v1/files/{id}/content` (a 302 to a freshly signed URL): good in
   * `<image src>` for a public file for as long as the file exists, with no round trip.
   */
  contentUrl(id, opts) {
    const o = opts || {}
    return `${this.client.baseUrl}/v1/files/${seg(id)}/content` + queryString({ thumb: o.thumb, format: o.format })
  }

  /** The FileInfo (`{thumb}` and `format`: its `url` is the thumbnail's). */
  get(id, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      if (typeof id !== 'string' || !id) throw new YunqiaoError('INVALID_ARGUMENT', 'files.get takes a file id')
      const { data } = await this.client.http.request('GET', `/v1/files/${seg(id)}`, {
        query: { thumb: o.thumb, format: o.format },
      })
      return this._keep(data, o)
    })
  }

  /** Your own files, newest first: `{items, cursor}`; pass `cursor` back for more. */
  list(opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      const c = o.cursor && typeof o.cursor === 'object' ? o.cursor.cursor : o.cursor
      const { data } = await this.client.http.request('GET', '/v1/files', { query: { cursor: c || undefined, limit: o.limit } })
      for (const f of data.items || []) this._keep(f)
      return { items: data.items || [], cursor: data.cursor || null }
    })
  }

  /** Deletes the file and its bytes (its owner, admins). Resolves to true. */
  remove(id, opts) {
    const [cb] = splitCallbacks(opts)
    return call(cb, async () => {
      this._forget(id)
      try {
        await this.client.http.request('DELETE', `/v1/files/${seg(id)}`)
      } catch (e) {
        // A retried delete whose first try landed (no answer came back) finds nothing.
        if (e.code === 'NOT_FOUND' && e.afterLostAnswer) return true
        throw e
      }
      return true
    })
  }

  /**
   * Downloads the bytes (or a thumbnail) through the queue: on wx to a temporary file
   * (`{tempFilePath}`), elsewhere as `{blob}`.
   */
  download(id, opts) {
    const [cb, o] = splitCallbacks(opts)
    return call(cb, async () => {
      const url = await this.url(id, o)
      return this.client.http.download(url, { filePath: o.filePath })
    })
  }

  // ---- internal --------------------------------------------------------------------

  /** What is uploaded: {name, size, contentType} and `filePath` (wx) or `file` (web). */
  async _source(file, o) {
    const a = this.client.adapter
    if (typeof file === 'string') {
      if (typeof a.fileSize !== 'function') {
        throw new YunqiaoError('INVALID_ARGUMENT', `the ${a.name} adapter uploads a Blob or bytes, not a path (in Node: await fs.openAsBlob(path))`)
      }
      const name = o.name || baseName(file) || 'file'
      return { filePath: file, name, size: await a.fileSize(file), contentType: o.contentType || typeOf(o.name || file) }
    }
    if (typeof Blob !== 'undefined' && file instanceof Blob) {
      const name = o.name || file.name || 'file'
      return { file, name, size: file.size, contentType: o.contentType || file.type || typeOf(name) }
    }
    let bytes = null
    if (file instanceof ArrayBuffer) bytes = new Uint8Array(file)
    else if (file && typeof file === 'object' && ArrayBuffer.isView(file)) bytes = file
    if (!bytes) {
      throw new YunqiaoError('INVALID_ARGUMENT', 'files.upload takes a wx temporary path, a Blob/File or bytes (Buffer, Uint8Array, ArrayBuffer)')
    }
    const name = o.name || 'file'
    return { file: bytes, name, size: bytes.byteLength, contentType: o.contentType || typeOf(name) }
  }

  /** Remembers a FileInfo's URL (for `url()`), and answers the FileInfo. */
  _keep(info, o) {
    if (info && info.id && info.url && info.url_expires_at) {
      const exp = Date.parse(info.url_expires_at)
      if (!isNaN(exp)) {
        const life = exp - Date.now()
        const until = exp - Math.min(URL_MARGIN_MS, Math.max(0, life / 10))
        const opts = o || (info.thumb ? { thumb: info.thumb } : {})
        this._urls.set(key(info.id, opts), { url: info.url, until })
      }
    }
    return info
  }

  _forget(id) {
    for (const k of Array.from(this._urls.keys())) if (k.split('|')[0] === id) this._urls.delete(k)
  }
}

function key(id, o) {
  return `${id}|${(o && o.thumb) || ''}|${(o && o.format) || ''}`
}
