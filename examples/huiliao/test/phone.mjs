/**
 * One phone: a worker thread that runs the REAL 会聊 mini-program (miniprogram/app.js and
 * its pages) under miniprogram-simulate, for one WeChat user. Each phone has its own
 * globals — `wx`, `App`/`getApp`/`Page`/`getCurrentPages`, a DOM — as each phone has its
 * own JS runtime, so three users never share a `wx` or a storage.
 *
 * `wx` is the SDK's faithful shim (sdk/js/test/wx-shim.mjs: real HTTP and WebSockets to
 * the server, wx's callback shapes and quirks; wx.uploadFile is a real multipart POST) plus
 * the few UI and location calls the pages make (navigation, toasts, modals, getLocation,
 * previewImage), which record what they did. wx.chooseMedia is the shim's: it picks the
 * bytes the test put in the album (`media`).
 *
 * The test drives it with messages (see Phone in harness.mjs): open a page, type, tap,
 * read the page's data, run a function against the app, drop the socket, hide/show.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parentPort, workerData } from 'node:worker_threads'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))
const MP = join(here, '..', 'miniprogram')
const NPM_YUNQIAO = join(MP, 'miniprogram_npm', 'yunqiao', 'index.js')

// A DOM for j-component, with the DOM's own Event classes (Node's would be picked up).
require('global-jsdom/register')
globalThis.Event = window.Event
globalThis.CustomEvent = window.CustomEvent

const { createWx } = await import('./.vendor/wx-shim.mjs')

const errors = [] // uncaught errors of the mini-program's code
const ui = [] // what the UI calls did: {api, ...}
// subscribe: what the user answers WeChat's subscribe-message dialog ('accept' | 'reject');
// openids: the openid the WeChat mock recorded each acceptance for
const ctl = { location: null, modalConfirm: true, subscribe: 'accept', openids: [] }

process.on('unhandledRejection', (e) => errors.push(String((e && e.stack) || e)))
process.on('uncaughtException', (e) => errors.push(String((e && e.stack) || e)))

// ---- wx -------------------------------------------------------------------------------

// wx.requestPayment pays through the server's WeChat mock, as WeChat's client would
const shim = createWx({ loginUser: workerData.user, payMock: workerData.wechatMock })
const wx = shim.wx

/** wx-style async: success/fail/complete called back after this turn. */
function later(o, ok, res) {
  setTimeout(() => {
    if (ok && o && o.success) o.success(res)
    if (!ok && o && o.fail) o.fail(res)
    if (o && o.complete) o.complete(res)
  }, 0)
}

Object.assign(wx, {
  // WeChat's dialog "allow this mini-program to send you …": the user's answer is
  // `ctl.subscribe`; an acceptance is recorded where WeChat records it (the mock's
  // /mock/subscriptions), so a later subscribe/send reaches this user.
  requestSubscribeMessage(o = {}) {
    const ids = Array.isArray(o.tmplIds) ? o.tmplIds : []
    ui.push({ api: 'requestSubscribeMessage', tmplIds: ids })
    const res = { errMsg: 'requestSubscribeMessage:ok' }
    Promise.all(
      ids.map(async (id) => {
        res[id] = ctl.subscribe
        if (ctl.subscribe !== 'accept') return
        const r = await fetch(workerData.wechatMock + '/mock/subscriptions', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: workerData.user, template_id: id }),
        })
        if (!r.ok) throw new Error('the WeChat mock refused a subscription: ' + r.status)
        ctl.openids.push((await r.json()).openid)
      }),
    ).then(
      () => later(o, true, res),
      (e) => later(o, false, { errMsg: 'requestSubscribeMessage:fail ' + e.message }),
    )
  },
  showToast(o = {}) {
    ui.push({ api: 'showToast', title: o.title })
    later(o, true, { errMsg: 'showToast:ok' })
  },
  hideToast(o = {}) {
    later(o, true, { errMsg: 'hideToast:ok' })
  },
  showLoading(o = {}) {
    ui.push({ api: 'showLoading', title: o.title })
    later(o, true, { errMsg: 'showLoading:ok' })
  },
  hideLoading(o = {}) {
    later(o, true, { errMsg: 'hideLoading:ok' })
  },
  showModal(o = {}) {
    ui.push({ api: 'showModal', title: o.title, content: o.content })
    const confirm = !!ctl.modalConfirm
    later(o, true, { confirm, cancel: !confirm, errMsg: 'showModal:ok' })
  },
  setNavigationBarTitle(o = {}) {
    ui.push({ api: 'setNavigationBarTitle', title: o.title })
    later(o, true, { errMsg: 'setNavigationBarTitle:ok' })
  },
  getLocation(o = {}) {
    ui.push({ api: 'getLocation', type: o.type })
    if (!ctl.location) return later(o, false, { errMsg: 'getLocation:fail auth deny' })
    later(o, true, {
      latitude: ctl.location.lat,
      longitude: ctl.location.lng,
      accuracy: 30,
      speed: -1,
      altitude: 0,
      verticalAccuracy: 0,
      horizontalAccuracy: 30,
      errMsg: 'getLocation:ok',
    })
  },
  previewImage(o = {}) {
    ui.push({ api: 'previewImage', urls: o.urls, current: o.current })
    later(o, true, { errMsg: 'previewImage:ok' })
  },
  navigateTo(o = {}) {
    ui.push({ api: 'navigateTo', url: o.url })
    setTimeout(() => {
      try {
        router.navigateTo(o.url)
        later(o, true, { errMsg: 'navigateTo:ok' })
      } catch (e) {
        errors.push(String(e.stack || e))
        later(o, false, { errMsg: 'navigateTo:fail ' + e.message })
      }
    }, 0)
  },
  redirectTo(o = {}) {
    ui.push({ api: 'redirectTo', url: o.url })
    setTimeout(() => {
      router.redirectTo(o.url)
      later(o, true, { errMsg: 'redirectTo:ok' })
    }, 0)
  },
  reLaunch(o = {}) {
    ui.push({ api: 'reLaunch', url: o.url })
    setTimeout(() => {
      router.reLaunch(o.url)
      later(o, true, { errMsg: 'reLaunch:ok' })
    }, 0)
  },
  navigateBack(o = {}) {
    ui.push({ api: 'navigateBack', delta: o.delta || 1 })
    setTimeout(() => {
      router.navigateBack(o.delta || 1)
      later(o, true, { errMsg: 'navigateBack:ok' })
    }, 0)
  },
  pageScrollTo(o = {}) {
    later(o, true, { errMsg: 'pageScrollTo:ok' })
  },
  stopPullDownRefresh(o = {}) {
    later(o, true, { errMsg: 'stopPullDownRefresh:ok' })
  },
})
// The network can go away (ops.offline): sockets die, new ones fail to open, requests fail,
// as wx reports them.
let offline = false
const realConnect = wx.connectSocket
const realRequest = wx.request
wx.connectSocket = (o) => {
  if (!offline) return realConnect(o)
  const on = { open: [], message: [], close: [], error: [] }
  setTimeout(() => {
    for (const f of on.error) f({ errMsg: 'connectSocket:fail network is down' })
    for (const f of on.close) f({ code: 1006, reason: 'abnormal closure' })
  }, 20)
  later(o, false, { errMsg: 'connectSocket:fail network is down' })
  return {
    onOpen: (f) => void on.open.push(f),
    onMessage: (f) => void on.message.push(f),
    onClose: (f) => void on.close.push(f),
    onError: (f) => void on.error.push(f),
    send: (x) => later(x, false, { errMsg: 'sendSocketMessage:fail WebSocket is not connected' }),
    close: (x) => later(x, true, { errMsg: 'closeSocket:ok' }),
  }
}
wx.request = (o) => {
  if (!offline) return realRequest(o)
  later(o, false, { errMsg: 'request:fail network is down', errno: 600001 })
  return { abort() {}, onHeadersReceived() {}, offHeadersReceived() {}, onChunkReceived() {}, offChunkReceived() {} }
}

// The project's settings for this phone: the test server, and who logs in (the mock).
wx.setStorageSync('huiliao.server', workerData.baseUrl)
if (workerData.wsUrl) wx.setStorageSync('huiliao.ws', workerData.wsUrl)
wx.setStorageSync('huiliao.mockUser', workerData.user)
globalThis.wx = wx

// `require('yunqiao')` in the mini-program's code resolves as in WeChat: miniprogram_npm/.
const Module = require('node:module')
const resolve = Module._resolveFilename
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === 'yunqiao' && parent && parent.filename && parent.filename.startsWith(MP)) return NPM_YUNQIAO
  return resolve.call(this, request, parent, ...rest)
}

// ---- App, Page, the page stack ----------------------------------------------------------

let app = null
globalThis.App = (def) => {
  app = def // as in WeChat: getApp() is the object given to App(), methods and all
}
globalThis.getApp = () => app

const simulate = require('miniprogram-simulate')

/**
 * The Page shim (SDK.md): Page({data, onLoad, …handlers}) as a Component whose attached
 * lifetime calls onLoad(query) then onShow(), and whose detached calls onUnload().
 */
let nextQuery = {}
let nextRoute = ''
const PAGE_HOOKS = ['onLoad', 'onShow', 'onReady', 'onHide', 'onUnload']
globalThis.Page = (def) => {
  const methods = {}
  for (const k of Object.keys(def)) if (typeof def[k] === 'function') methods[k] = def[k]
  for (const h of PAGE_HOOKS) if (!methods[h]) methods[h] = function () {}
  // eslint-disable-next-line no-undef
  Component({
    data: def.data || {},
    methods,
    lifetimes: {
      attached() {
        this.route = nextRoute
        this.options = nextQuery
        this.onLoad(nextQuery)
        this.onShow()
      },
      ready() {
        this.onReady()
      },
      detached() {
        this.onUnload()
      },
    },
  })
}

const loaded = new Map() // route → component id
const stack = [] // {route, comp, parent}
globalThis.getCurrentPages = () => stack.map((p) => p.comp.instance)

function parseUrl(url) {
  const [path, qs] = String(url).split('?')
  const route = path.replace(/^\//, '')
  const query = {}
  for (const kv of (qs || '').split('&').filter(Boolean)) {
    const [k, v] = kv.split('=')
    query[decodeURIComponent(k)] = decodeURIComponent(v || '')
  }
  return { route, query }
}

function openPage(url) {
  const { route, query } = parseUrl(url)
  let id = loaded.get(route)
  if (!id) {
    id = simulate.load(join(MP, route), { compiler: 'simulate', rootPath: MP })
    loaded.set(route, id)
  }
  nextQuery = query
  nextRoute = route
  const comp = simulate.render(id)
  const parent = document.createElement('page-wrapper')
  document.body.appendChild(parent)
  comp.attach(parent)
  stack.push({ route, comp, parent })
  return comp
}

function closeTop() {
  const p = stack.pop()
  if (!p) return
  p.comp.detach()
  p.parent.remove()
}

const top = () => stack[stack.length - 1]

const router = {
  navigateTo(url) {
    if (top()) top().comp.instance.onHide()
    openPage(url)
  },
  redirectTo(url) {
    closeTop()
    openPage(url)
  },
  reLaunch(url) {
    while (stack.length) closeTop()
    openPage(url)
  },
  navigateBack(delta) {
    for (let i = 0; i < delta && stack.length > 1; i++) closeTop()
    if (top()) top().comp.instance.onShow()
  },
}

// The app itself, as WeChat starts it.
require(join(MP, 'app.js'))
if (app && app.onLaunch) app.onLaunch({ path: 'pages/index/index', query: {}, scene: 1001 })
wx.onAppShow((o) => app && app.onShow && app.onShow(o))
wx.onAppHide(() => app && app.onHide && app.onHide())

// ---- commands from the test ---------------------------------------------------------------

const plain = (v) => (v === undefined ? null : JSON.parse(JSON.stringify(v)))

function element(selector) {
  const p = top()
  if (!p) throw new Error('no page is open')
  const el = p.comp.querySelector(selector)
  if (!el) throw new Error(`${p.route}: no element ${selector}`)
  return el
}

const ops = {
  open: ({ url }) => {
    router.reLaunch(url)
    return top().route
  },
  route: () => (top() ? top().route : null),
  stack: () => stack.map((p) => p.route),
  data: () => plain(top() ? top().comp.data : null),
  tap: ({ selector }) => {
    element(selector).dispatchEvent('tap')
    return true
  },
  input: ({ selector, value }) => {
    element(selector).dispatchEvent('input', { detail: { value, cursor: String(value).length } })
    return true
  },
  change: ({ selector, value }) => {
    element(selector).dispatchEvent('change', { detail: { value } })
    return true
  },
  /** A component event (`bindchooseavatar`…) with its `detail`. */
  event: ({ selector, name, detail }) => {
    element(selector).dispatchEvent(name, { detail })
    return true
  },
  /** What wx.chooseMedia picks from now on: the bytes of a file on this machine. */
  media: ({ path }) => {
    shim.ctl.album = readFileSync(path)
    return true
  },
  exists: ({ selector }) => {
    const p = top()
    return !!(p && p.comp.querySelector(selector))
  },
  text: ({ selector }) => {
    const el = element(selector)
    return el.dom.textContent
  },
  ui: () => plain(ui),
  errors: () => errors.slice(),
  location: ({ location }) => {
    ctl.location = location
    return true
  },
  subscribeAnswer: ({ answer }) => {
    ctl.subscribe = answer
    return true
  },
  openids: () => ctl.openids.slice(),
  modal: ({ confirm }) => {
    ctl.modalConfirm = confirm
    return true
  },
  // The network drops under the app: every socket of this phone dies at once, without a
  // close handshake (as when a phone changes networks). The SDK must reconnect by itself.
  drop: () => {
    let n = 0
    for (const s of Array.from(shim.ctl.openSockets)) {
      s.terminate()
      n++
    }
    return n
  },
  /** The network goes away for `ms`: the sockets die now, and nothing connects until then. */
  offline: ({ ms }) => {
    offline = true
    const n = ops.drop()
    setTimeout(() => {
      offline = false
    }, ms)
    return n
  },
  sockets: () => shim.ctl.openSockets.size,
  hide: () => {
    if (top()) top().comp.instance.onHide()
    shim.hide()
    return true
  },
  show: () => {
    shim.show()
    if (top()) top().comp.instance.onShow()
    return true
  },
  /** Runs `(ctx) => …` here, with {app, wx, page, stack, shim}; answers its (JSON) value. */
  run: async ({ src, arg }) => {
    // eslint-disable-next-line no-new-func
    const fn = new Function('return (' + src + ')')()
    const page = top() ? top().comp.instance : null
    return plain(await fn({ app, wx, page, stack, shim, arg }))
  },
  close: () => {
    while (stack.length) closeTop()
    if (app && app.yq) app.yq.close()
    setTimeout(() => process.exit(0), 50)
    return true
  },
}

parentPort.on('message', async (m) => {
  try {
    const value = await ops[m.op](m.args || {})
    parentPort.postMessage({ id: m.id, ok: true, value })
  } catch (e) {
    parentPort.postMessage({
      id: m.id,
      ok: false,
      error: { message: String((e && e.message) || e), code: (e && e.code) || null, details: (e && e.details) || null, stack: String((e && e.stack) || '') },
    })
  }
})
parentPort.postMessage({ ready: true })
