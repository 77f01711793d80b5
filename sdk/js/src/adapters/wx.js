// @ts-check
/**
 * The adapter for WeChat mini-programs: wx.request, wx.uploadFile and wx.downloadFile
 * behind one queue (wx counts all three against one limit of 10 in flight; `success` fires
 * for every HTTP status, so the status is read from `statusCode`), a SocketTask per
 * connection (wx.connectSocket), wx storage, wx.login, and wx.onAppHide/onAppShow.
 *
 * Type-checked against miniprogram-api-typings (`npm run typecheck`).
 */
import { networkError, YunqiaoError } from '../errors.js'
import { taskQueue } from './queue.js'

/** wx.request's methods: no PATCH (the client routes around it). */
const WX_METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT']

/** @param {any} raw @returns {Record<string, string>} */
function lowerHeaders(raw) {
  /** @type {Record<string, string>} */
  const h = {}
  for (const k of Object.keys(raw || {})) h[k.toLowerCase()] = String(raw[k])
  return h
}

/**
 * A transport failure from wx's `fail` (`request:fail timeout`, `…fail interrupted` after
 * the app went to the background, …).
 * @param {any} err
 */
function wxFailure(err) {
  const msg = (err && err.errMsg) || 'the request got no answer'
  /** @type {Record<string, boolean> | null} */
  let d = null
  if (/fail.*timeout/i.test(msg)) d = { timeout: true }
  else if (/fail.*interrupted/i.test(msg)) d = { interrupted: true }
  return networkError(msg, err, d)
}

/**
 * @param {WechatMiniprogram.Wx} [wxObj] the `wx` object; the global one by default
 * @param {{maxRequests?: number}} [opts] maxRequests: requests, uploads and downloads in flight together (default 10, wx's own limit)
 */
export function wxAdapter(wxObj, opts = {}) {
  /** @type {WechatMiniprogram.Wx} */
  const w = wxObj || /** @type {any} */ (globalWx())
  if (!w || typeof w.request !== 'function') {
    throw new YunqiaoError('NO_WX', 'the wx adapter needs the mini-program `wx` object')
  }
  const queue = taskQueue(opts.maxRequests || 10)

  return {
    name: 'wx',
    methods: WX_METHODS,
    /** The most requests, uploads and downloads in flight together. */
    maxRequests: queue.limit,
    /** How many requests, uploads and downloads are waiting for a slot. */
    get queued() {
      return queue.queued
    },
    /** How many are in flight. */
    get inFlight() {
      return queue.running
    },
    storage: {
      /** @param {string} key */
      get(key) {
        const v = w.getStorageSync(key)
        // wx answers '' for a missing key: tell it apart from a stored ''.
        if (v === '' && w.getStorageInfoSync().keys.indexOf(key) < 0) return undefined
        return v
      },
      /** @param {string} key @param {any} value */
      set(key, value) {
        w.setStorageSync(key, value)
      },
      /** @param {string} key */
      remove(key) {
        w.removeStorageSync(key)
      },
      clear() {
        w.clearStorageSync()
      },
      keys() {
        return w.getStorageInfoSync().keys
      },
    },
    /**
     * @param {{url: string, method: string, headers: Record<string, string>, body?: string, timeout?: number}} req
     * @returns {Promise<{status: number, headers: Record<string, string>, text: string}>}
     */
    request(req) {
      const method = /** @type {WechatMiniprogram.RequestOption['method']} */ (req.method)
      return queue.run(
        () =>
          new Promise((resolve, reject) => {
            /** @type {WechatMiniprogram.RequestOption<string>} */
            const o = {
              url: req.url,
              method,
              header: req.headers,
              // Not 'json': wx would parse the body itself (and hand back a string when it
              // cannot); the client parses every answer the same way on every platform.
              dataType: 'text',
              responseType: 'text',
              success(res) {
                const data = res.data
                resolve({
                  status: res.statusCode,
                  headers: lowerHeaders(res.header),
                  text: typeof data === 'string' ? data : data == null ? '' : JSON.stringify(data),
                })
              },
              fail(err) {
                reject(wxFailure(err))
              },
            }
            if (req.body !== undefined) o.data = req.body
            if (req.timeout) o.timeout = req.timeout
            w.request(o)
          }),
      )
    },
    /**
     * The size in bytes of a local file (a temporary path from wx.chooseMedia or a
     * chooseAvatar button): FileSystemManager.getFileInfo, or the old wx.getFileInfo.
     * @param {string} filePath
     * @returns {Promise<number>}
     */
    fileSize(filePath) {
      return new Promise((resolve, reject) => {
        const o = {
          filePath,
          /** @param {{size: number}} r */
          success: (r) => resolve(r.size),
          /** @param {{errMsg: string}} e */
          fail: (e) => reject(new YunqiaoError('FILE_UNREADABLE', `cannot read ${filePath}: ${e && e.errMsg}`, { details: { filePath } })),
        }
        const fs = typeof w.getFileSystemManager === 'function' ? w.getFileSystemManager() : null
        if (fs && typeof fs.getFileInfo === 'function') fs.getFileInfo(o)
        else if (typeof (/** @type {any} */ (w).getFileInfo) === 'function') /** @type {any} */ (w).getFileInfo(o)
        else reject(new YunqiaoError('UNSUPPORTED', 'this wx has no getFileInfo'))
      })
    },
    /**
     * wx.uploadFile: one multipart POST, `fields` as text parts, the file as part `name`.
     * @param {{url: string, filePath?: string, file?: any, name?: string, fields?: Record<string, string>, headers?: Record<string, string>, timeout?: number, onProgress?: (p: {progress: number, sent: number, total: number}) => void}} req
     * @returns {Promise<{status: number, headers: Record<string, string>, text: string}>}
     */
    upload(req) {
      if (!req.filePath) {
        return Promise.reject(new YunqiaoError('INVALID_ARGUMENT', 'on wx an upload takes {filePath} (e.g. from wx.chooseMedia)'))
      }
      const filePath = req.filePath
      return queue.run(
        () =>
          new Promise((resolve, reject) => {
            /** @type {WechatMiniprogram.UploadFileOption} */
            const o = {
              url: req.url,
              filePath,
              name: req.name || 'file',
              header: req.headers || {},
              success(res) {
                // wx hands back neither the answer's headers nor anything but text.
                resolve({ status: res.statusCode, headers: {}, text: typeof res.data === 'string' ? res.data : '' })
              },
              fail(err) {
                reject(wxFailure(err))
              },
            }
            if (req.fields) o.formData = req.fields
            if (req.timeout) o.timeout = req.timeout
            const task = w.uploadFile(o)
            const onProgress = req.onProgress
            if (onProgress && task && typeof task.onProgressUpdate === 'function') {
              task.onProgressUpdate((p) => onProgress({ progress: p.progress, sent: p.totalBytesSent, total: p.totalBytesExpectedToSend }))
            }
          }),
      )
    },
    /**
     * wx.downloadFile: the body saved to a temporary file (wx "succeeds" on a 404 too: read
     * `status`).
     * @param {{url: string, headers?: Record<string, string>, timeout?: number, filePath?: string}} req
     * @returns {Promise<{status: number, headers: Record<string, string>, tempFilePath: string, filePath?: string}>}
     */
    download(req) {
      return queue.run(
        () =>
          new Promise((resolve, reject) => {
            /** @type {WechatMiniprogram.DownloadFileOption} */
            const o = {
              url: req.url,
              header: req.headers || {},
              success(res) {
                /** @type {{status: number, headers: Record<string, string>, tempFilePath: string, filePath?: string}} */
                const r = { status: res.statusCode, headers: {}, tempFilePath: res.tempFilePath }
                if (res.filePath) r.filePath = res.filePath
                resolve(r)
              },
              fail(err) {
                reject(wxFailure(err))
              },
            }
            if (req.filePath) o.filePath = req.filePath
            if (req.timeout) o.timeout = req.timeout
            w.downloadFile(o)
          }),
      )
    },
    /**
     * @param {string} url
     * @param {{onOpen: () => void, onMessage: (text: string) => void, onClose: (e: {code: number, reason: string}) => void, onError: (msg: string) => void}} on
     */
    connect(url, on) {
      let closed = false
      /** @param {number} code @param {string} reason */
      const closeOnce = (code, reason) => {
        if (closed) return
        closed = true
        on.onClose({ code, reason })
      }
      const task = w.connectSocket({
        url,
        fail(err) {
          on.onError(err.errMsg)
          closeOnce(1006, err.errMsg)
        },
      })
      if (!task) {
        // Very old base libraries return nothing: no SocketTask, no socket.
        closeOnce(1006, 'wx.connectSocket returned no SocketTask')
        return { send() {}, close() {} }
      }
      task.onOpen(() => on.onOpen())
      task.onMessage((m) => {
        if (typeof m.data === 'string') on.onMessage(m.data)
      })
      task.onError((e) => on.onError(e.errMsg))
      task.onClose((e) => closeOnce(e.code, e.reason))
      return {
        /** @param {string} text */
        send(text) {
          task.send({ data: text, fail: (e) => on.onError(e.errMsg) })
        },
        /** @param {number} [code] @param {string} [reason] */
        close(code, reason) {
          task.close({ code: code || 1000, reason: reason || '' })
        },
      }
    },
    /**
     * wx.requestPayment with the server's signed parameters: resolves when WeChat's sheet
     * says it paid (the client then asks the server: only its word counts); the user
     * closing the sheet (`requestPayment:fail cancel`) rejects PAY_CANCELLED, any other
     * failure PAY_FAILED (`details.errMsg`).
     * @param {{timeStamp: string, nonceStr: string, package: string, signType: string, paySign: string}} p
     * @returns {Promise<void>}
     */
    requestPayment(p) {
      return new Promise((resolve, reject) => {
        if (typeof w.requestPayment !== 'function') {
          reject(new YunqiaoError('UNSUPPORTED', 'this wx has no requestPayment'))
          return
        }
        w.requestPayment({
          timeStamp: p.timeStamp,
          nonceStr: p.nonceStr,
          package: p.package,
          signType: /** @type {'RSA'} */ (p.signType),
          paySign: p.paySign,
          success: () => resolve(),
          fail: (e) => {
            const msg = (e && e.errMsg) || 'requestPayment:fail'
            if (/fail[ :]*cancel/i.test(msg)) reject(new YunqiaoError('PAY_CANCELLED', 'the payment was cancelled', { details: { errMsg: msg } }))
            else reject(new YunqiaoError('PAY_FAILED', `the payment failed: ${msg}`, { details: { errMsg: msg } }))
          },
        })
      })
    },
    /** @returns {Promise<string>} */
    login() {
      return new Promise((resolve, reject) => {
        w.login({
          success: (r) => resolve(r.code),
          fail: (e) => reject(new YunqiaoError('WX_LOGIN_FAILED', e.errMsg, { details: e })),
        })
      })
    },
    /** @param {() => void} fn */
    onHide(fn) {
      if (typeof w.onAppHide === 'function') w.onAppHide(() => fn())
    },
    /** @param {() => void} fn */
    onShow(fn) {
      if (typeof w.onAppShow === 'function') w.onAppShow(() => fn())
    },
  }
}

/** The mini-program's global `wx`, if there is one. */
export function globalWx() {
  // `wx` is a free global in mini-programs; typeof keeps this safe everywhere else.
  return typeof wx !== 'undefined' ? wx : undefined
}
