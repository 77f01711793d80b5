// A 会聊 room: messages (live, and paged back through history) with pictures, the members
// (with their avatars) and who of them is here, the notice board, send, leave, destroy.
//
// A picture goes up with the SDK (`yq.files.upload(tempFilePath, {public: true})`: the
// bytes straight to the blob store through wx.uploadFile), and the message keeps its file
// id; pages show a thumbnail through `yq.files.url(id, {thumb})` (cached by the SDK until
// shortly before the signed URL expires) and the picture itself on a tap.
//
// Everything live comes over the SDK's one channel as table events, which the server sends
// only to users the records' rules let read them when they are delivered (the room's
// group): new messages (`messages`), the member list and who has the room open
// (`members`), the room itself — its notice, and whether it was destroyed (`rooms`). The
// app-wide `presence` topic says who is connected at all.
//
// The room's QR code (`chatroom.roomCode`) opens this page with `scene` = `r=<id>` when
// scanned: onLoad reads `options.scene` and enters that room (joining it first). Text a
// WeChat content check finds risky is refused by the functions (CONTENT_RISKY) and shown as
// a toast, nothing sent; "订阅公告" asks WeChat for the notice template
// (wx.requestSubscribeMessage), and the next notice reaches the member as a subscribe message. The SDK reconnects, resumes
// from the last frame seen and drops repeats by itself; the page never handles a reconnect.
//
// "置顶" pins the notice for a day, a paid action: the admin's offer (`chatroom.pinOffer`),
// paid with the SDK (`yq.pay.order` → wx.requestPayment → the order PAID); the server's
// on_paid hook pins the room, and the change comes as the room's live record.
const { joinRoom, describe, roomView, clock } = require('../../utils/rooms.js')

const PAGE_SIZE = 20
/** The subscribe-message template of a new notice (chatroom.js sends the same one). */
const NOTICE_TEMPLATE = 'huiliao-notice'
const RISKY = '内容未通过安全检查，没有发送'

/** The room id a page was opened with: `id`, or a scanned QR code's `scene` (`r=<id>`). */
function roomIdOf(query) {
  if (query.scene) {
    const m = /^r=([0-9]{6})$/.exec(decodeURIComponent(String(query.scene)))
    if (m) return m[1]
  }
  return String(query.id || '')
}
const CLOSED = { destroyed: '房间已被管理员解散', expired: '房间已过期' }

Page({
  data: {
    id: '',
    room: {},
    messages: [],
    more: false,
    loadingOlder: false,
    members: [],
    onlineCount: 0,
    draft: '',
    uploading: -1,
    editingNotice: false,
    noticeDraft: '',
    closed: '',
    error: '',
    scrollTo: '',
    ready: false,
    qrcode: '',
    subscribed: false,
    paying: false,
  },

  onLoad(query) {
    this.app = getApp()
    this.msgs = new Map() // _id → message record
    this.rows = new Map() // member row _id → row
    this.online = new Set() // user ids with a live connection (app-wide presence)
    this.thumbs = new Map() // file id → thumbnail URL ('' while it is being fetched)
    this.live = []
    this.entered = this.enter(roomIdOf(query || {})).catch((e) => this.setData({ error: describe(e) }))
  },

  onShow() {
    if (this.room && !this.data.closed) this.setHere(true)
  },

  onHide() {
    if (this.room && !this.data.closed) this.setHere(false)
  },

  onUnload() {
    this.unloaded = true
    if (this.room && !this.data.closed && !this.left) this.setHere(false)
    this.stopLive()
  },

  // ---- entering -------------------------------------------------------------------------

  async enter(id) {
    this.setData({ id })
    const app = this.app
    this.me = await app.ready()
    let info
    try {
      info = await app.chatroom.info(id)
    } catch (e) {
      // opened from a link or the list of another device: join first (GPS rooms ask for
      // the location), which refuses expired rooms and people too far away
      if (e.code !== 'ROOM_NOT_FOUND') throw e
      await joinRoom(app, id)
      info = await app.chatroom.info(id)
    }
    if (this.unloaded) return
    this.room = info.room
    for (const m of info.members) this.rows.set(m._id, m)
    const mine = info.members.find((m) => this.me && m.user === this.me.id)
    this.setData({ room: info.room, subscribed: !!(mine && mine.notify) })
    wx.setNavigationBarTitle({ title: info.room.name })
    if (info.room.state !== 'open') return this.closeRoom(info.room.state)
    // live first, then the newest page: whatever is sent in between arrives either way
    // and is kept once (by _id)
    await this.startLive()
    await this.loadNewest()
    if (this.unloaded) return
    this.renderMembers()
    this.setData({ ready: true })
    await this.setHere(true)
  },

  async startLive() {
    const yq = this.app.yq
    const group = this.room.group
    const messages = await yq.table('messages').watch({ _group: group })
    messages.on('create', (m) => this.addMessages([m], true))
    messages.on('resync', () => this.loadNewest(true))

    const members = await yq.table('members').watch({ _group: group })
    const put = (r) => {
      this.rows.set(r._id, r)
      this.renderMembers()
    }
    const drop = (r) => {
      this.rows.delete(r._id)
      this.renderMembers()
    }
    members.on('create', put).on('update', put).on('enter', put)
    members.on('delete', drop).on('leave', drop)
    members.on('resync', () => this.reloadInfo())

    const room = await yq.table('rooms').watch({ _id: this.room.record })
    room.on('update', (r) => this.roomChanged(r)).on('enter', (r) => this.roomChanged(r))
    room.on('resync', () => this.reloadInfo())

    const presence = await yq.channel.subscribe('presence', (p) => {
      if (!p || !p.user) return
      if (p.state === 'online') this.online.add(p.user.id)
      else if (p.state === 'offline') this.online.delete(p.user.id)
      this.renderMembers()
    })
    // presence frames are not kept while away: ask again after a reconnect
    this.onReconnect = () => this.refreshOnline()
    yq.channel.on('reconnect', this.onReconnect)
    this.live = [messages, members, room, presence]
    this.messagesLive = messages
    if (this.unloaded) return this.stopLive()
    await this.refreshOnline()
  },

  stopLive() {
    const live = this.live
    this.live = []
    for (const h of live) h.unsubscribe().catch(() => {})
    if (this.onReconnect) this.app.yq.channel.off('reconnect', this.onReconnect)
    this.onReconnect = null
  },

  async refreshOnline() {
    const { users } = await this.app.yq.channel.online()
    this.online = new Set(users.map((u) => u.id))
    this.renderMembers()
  },

  async reloadInfo() {
    try {
      const info = await this.app.chatroom.info(this.data.id)
      this.rows = new Map(info.members.map((m) => [m._id, m]))
      this.room = info.room
      this.setData({ room: info.room })
      this.renderMembers()
    } catch (e) {
      if (e.code === 'ROOM_NOT_FOUND') this.closeRoom('gone')
      else this.setData({ error: describe(e) })
    }
  },

  setHere(here) {
    return this.app.chatuser.presence(this.data.id, here).catch(() => {})
  },

  // ---- members ----------------------------------------------------------------------------

  renderMembers() {
    if (!this.room) return
    const admin = this.room.admin
    const list = Array.from(this.rows.values()).map((m) => ({
      id: m.user,
      nickname: m.nickname,
      avatar: m.avatar || '',
      admin: m.user === admin,
      me: !!this.me && m.user === this.me.id,
      online: !!m.here && this.online.has(m.user),
    }))
    list.sort((a, b) => (b.online - a.online) || (b.admin - a.admin) || (a.nickname < b.nickname ? -1 : 1))
    this.setData({ members: list, onlineCount: list.filter((m) => m.online).length })
    // a member's new avatar shows beside their messages too
    if (this.msgs.size) this.addMessages([], false)
  },

  // ---- messages ---------------------------------------------------------------------------

  addMessages(list, scroll) {
    for (const m of list) this.msgs.set(m._id, m)
    const me = this.me && this.me.id
    const avatars = new Map(Array.from(this.rows.values()).map((r) => [r.user, r.avatar || '']))
    const ids = Array.from(this.msgs.keys()).sort()
    const messages = ids.map((id) => {
      const m = this.msgs.get(id)
      return {
        id,
        text: m.text || '',
        nick: m.nick,
        from: m.from,
        avatar: avatars.get(m.from) || '',
        picture: m.picture || '',
        thumb: (m.picture && this.thumbs.get(m.picture)) || '',
        mine: m.from === me,
        time: clock(m._created),
      }
    })
    const patch = { messages }
    if (scroll && ids.length) patch.scrollTo = 'm-' + ids[ids.length - 1]
    this.setData(patch)
    this.loadThumbs(messages)
  },

  /** Fetches the thumbnails not seen yet, then shows them. */
  loadThumbs(messages) {
    const missing = messages.filter((m) => m.picture && !this.thumbs.has(m.picture)).map((m) => m.picture)
    if (!missing.length) return
    for (const id of missing) this.thumbs.set(id, '')
    Promise.all(
      missing.map((id) =>
        this.app.yq.files
          .url(id, { thumb: this.app.thumb })
          .then((url) => this.thumbs.set(id, url))
          .catch(() => {}), // gone, or unreadable: the picture stays a grey square
      ),
    ).then(() => {
      if (!this.unloaded) this.addMessages([], false)
    })
  },

  /** A tap on a picture: the whole picture, in WeChat's image viewer. */
  preview(e) {
    const id = e.currentTarget.dataset.picture
    if (!id) return Promise.resolve()
    return this.app.yq.files
      .url(id)
      .then((url) => wx.previewImage({ urls: [url], current: url }))
      .catch((err) => this.setData({ error: describe(err) }))
  },

  /** The newest page; `reset` forgets what was shown (after frames were not kept). */
  async loadNewest(reset) {
    const r = await this.app.history.page(this.data.id, { limit: PAGE_SIZE })
    if (reset) this.msgs = new Map()
    this.addMessages(r.items, true)
    if (reset || !this.paged) this.setData({ more: r.more })
    this.paged = true
  },

  loadOlder() {
    if (!this.data.more || this.data.loadingOlder || !this.msgs.size) return Promise.resolve()
    const oldest = Array.from(this.msgs.keys()).sort()[0]
    this.setData({ loadingOlder: true, error: '' })
    return this.app.history
      .page(this.data.id, { before: oldest, limit: PAGE_SIZE })
      .then((r) => {
        this.addMessages(r.items, false)
        this.setData({ more: r.more, scrollTo: r.items.length ? 'm-' + r.items[r.items.length - 1]._id : '' })
      })
      .catch((e) => this.setData({ error: describe(e) }))
      .then(() => this.setData({ loadingOlder: false }))
  },

  onDraft(e) {
    this.setData({ draft: e.detail.value })
  },

  send() {
    const text = String(this.data.draft || '').trim()
    if (!text || this.data.closed) return Promise.resolve()
    this.setData({ draft: '', error: '' })
    return this.app.history
      .send(this.data.id, text)
      .then((m) => this.addMessages([m], true))
      .catch((e) => {
        if (e.code !== 'CONTENT_RISKY') return this.setData({ draft: text, error: describe(e) })
        this.setData({ draft: text })
        wx.showToast({ title: RISKY, icon: 'none' })
      })
  },

  // ---- the QR code and subscriptions ------------------------------------------------------

  /** Shows the room's QR code (made once per room by the server, a public image). */
  showCode() {
    this.setData({ error: '' })
    return this.app.chatroom
      .roomCode(this.data.id)
      .then((q) => this.setData({ qrcode: this.app.yq.files.contentUrl(q.id) }))
      .catch((e) => this.setData({ error: describe(e) }))
  },

  hideCode() {
    this.setData({ qrcode: '' })
  },

  /** Asks WeChat for the notice template; the member's choice is kept for the next notice. */
  subscribe() {
    return new Promise((resolve) => {
      wx.requestSubscribeMessage({
        tmplIds: [NOTICE_TEMPLATE],
        success: (r) => resolve(r[NOTICE_TEMPLATE] === 'accept'),
        fail: () => resolve(false),
      })
    })
      .then((accepted) => this.app.chatuser.subscribe(this.data.id, accepted))
      .then((r) => {
        this.setData({ subscribed: r.notify })
        wx.showToast({ title: r.notify ? '有新公告时会通知你' : '没有订阅', icon: 'none' })
      })
      .catch((e) => this.setData({ error: describe(e) }))
  },

  /** Picks a picture (album or camera), uploads it as a public file, sends it. */
  sendPicture() {
    if (this.data.closed || this.data.uploading >= 0) return Promise.resolve()
    return new Promise((resolve) => {
      wx.chooseMedia({
        count: 1,
        mediaType: ['image'],
        sourceType: ['album', 'camera'],
        sizeType: ['compressed'],
        success: (r) => resolve(r.tempFiles && r.tempFiles[0]),
        fail: () => resolve(null), // cancelled
      })
    })
      .then(async (picked) => {
        if (!picked) return
        this.setData({ uploading: 0, error: '' })
        const file = await this.app.yq.files.upload(picked.tempFilePath, {
          public: true,
          onProgress: (p) => this.setData({ uploading: p.progress }),
        })
        const m = await this.app.history.send(this.data.id, '', { picture: file.id })
        this.addMessages([m], true)
      })
      .catch((e) => this.setData({ error: describe(e) }))
      .then(() => this.setData({ uploading: -1 }))
  },

  // ---- the room ---------------------------------------------------------------------------

  roomChanged(rec) {
    const room = roomView(rec, this.me)
    this.room = room
    this.setData({ room })
    if (room.state !== 'open') this.closeRoom(room.state)
    else this.renderMembers()
  },

  closeRoom(state) {
    this.setData({ closed: CLOSED[state] || '你已不在这个房间里', editingNotice: false })
    this.stopLive()
  },

  editNotice() {
    this.setData({ editingNotice: true, noticeDraft: this.data.room.notice || '' })
  },

  onNoticeInput(e) {
    this.setData({ noticeDraft: e.detail.value })
  },

  cancelNotice() {
    this.setData({ editingNotice: false })
  },

  saveNotice() {
    this.setData({ error: '' })
    return this.app.chatroom
      .setNotice(this.data.id, this.data.noticeDraft)
      .then((room) => {
        this.room = room
        this.setData({ room, editingNotice: false })
      })
      .catch((e) => {
        if (e.code === 'CONTENT_RISKY') wx.showToast({ title: RISKY, icon: 'none' })
        else this.setData({ error: describe(e) })
      })
  },

  /** Pays to pin the notice for a day; the room's live record shows the pin when it lands. */
  pinNotice() {
    if (this.data.paying || this.data.closed) return Promise.resolve()
    this.setData({ paying: true, error: '' })
    return this.app.chatroom
      .pinOffer(this.data.id)
      .then((offer) => this.app.yq.pay.order({ item: { table: 'pins', id: offer.id } }))
      .then(() => wx.showToast({ title: '支付成功，公告置顶一天', icon: 'none' }))
      .catch((e) => {
        if (e.code === 'PAY_CANCELLED') wx.showToast({ title: '已取消支付', icon: 'none' })
        else this.setData({ error: describe(e) })
      })
      .then(() => this.setData({ paying: false }))
  },

  leave() {
    return this.app.chatroom
      .leave(this.data.id)
      .then(() => {
        this.left = true
        this.stopLive()
        this.back()
      })
      .catch((e) => this.setData({ error: describe(e) }))
  },

  destroy() {
    return new Promise((resolve) => {
      wx.showModal({
        title: '解散房间',
        content: '解散后所有人都会离开房间，聊天记录不再可见。',
        confirmText: '解散',
        confirmColor: '#cf222e',
        success: (r) => {
          if (!r.confirm) return resolve()
          this.app.chatroom
            .destroy(this.data.id)
            .then(() => {
              this.closeRoom('destroyed')
              this.back()
            })
            .catch((e) => this.setData({ error: describe(e) }))
            .then(resolve)
        },
        fail: () => resolve(),
      })
    })
  },

  back() {
    if (getCurrentPages().length > 1) wx.navigateBack()
    else wx.reLaunch({ url: '/pages/index/index' })
  },
})
