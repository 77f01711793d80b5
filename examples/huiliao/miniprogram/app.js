// 会聊: one yunqiao client for the whole app (one socket, one session), and the three
// cloud-function modules the pages call as if they were local code.
const { createClient } = require('yunqiao')
const config = require('./config.js')

App({
  onLaunch() {
    const baseUrl = wx.getStorageSync('huiliao.server') || config.baseUrl
    const mockUser = wx.getStorageSync('huiliao.mockUser') || config.mockUser || undefined
    const wsUrl = wx.getStorageSync('huiliao.ws') || config.wsUrl || undefined
    const yq = createClient({ baseUrl, wsUrl, mockUser })
    this.yq = yq
    this.thumb = config.thumb || '100x100'
    this.chatroom = yq.fn('chatroom')
    this.chatuser = yq.fn('chatuser')
    this.history = yq.fn('history')
    this._ready = null
  },

  /** Logs in once (the stored session if there is one) → the user. */
  ready() {
    if (!this._ready) {
      const yq = this.yq
      const p = yq.auth.isLoggedIn() ? Promise.resolve(yq.auth.user) : yq.login().then((a) => a.user)
      this._ready = p.catch((e) => {
        this._ready = null
        throw e
      })
    }
    return this._ready
  },
})
