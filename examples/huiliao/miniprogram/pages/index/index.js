// 会聊's home: your nickname and avatar, join a room by its id, create a room, the rooms you
// are in.
//
// The avatar comes from WeChat's avatar picker (`<button open-type="chooseAvatar">`), which
// gives a temporary path: `yq.auth.setAvatar(path)` uploads it as a public file and makes
// it the user's `avatar_url`; `chatuser.avatarChanged()` then puts it on the member lists.
const { getLocation, joinRoom, describe } = require('../../utils/rooms.js')

Page({
  data: {
    nickname: '',
    avatar: '',
    joinId: '',
    roomName: '',
    hours: '24',
    limitLocation: false,
    radius: '500',
    rooms: [],
    busy: false,
    error: '',
  },

  onLoad() {
    this.app = getApp()
    this.loaded = this.run(async () => {
      const user = await this.app.ready()
      const me = await this.app.chatuser.me()
      this.setData({ nickname: me.nickname, avatar: (user && user.avatar_url) || '' })
      await this.loadRooms()
    })
  },

  onShow() {
    // back from a room: it may have been left, destroyed or expired meanwhile
    if (this.loaded) this.loaded.then(() => this.loadRooms()).catch((e) => this.setData({ error: describe(e) }))
  },

  async loadRooms() {
    const rooms = await this.app.chatroom.listMyRooms()
    const now = Date.now()
    this.setData({
      rooms: rooms.map((r) => ({ id: r.id, name: r.name, admin: r.isAdmin, expired: r.expiresAt <= now })),
    })
  },

  /** Runs an action with the buttons disabled; its error is shown on the page. */
  async run(fn) {
    this.setData({ busy: true, error: '' })
    try {
      return await fn()
    } catch (e) {
      this.setData({ error: describe(e) })
      return undefined
    } finally {
      this.setData({ busy: false })
    }
  },

  onNickname(e) {
    this.setData({ nickname: e.detail.value })
  },
  onJoinId(e) {
    this.setData({ joinId: e.detail.value })
  },
  onRoomName(e) {
    this.setData({ roomName: e.detail.value })
  },
  onHours(e) {
    this.setData({ hours: e.detail.value })
  },
  onLimit(e) {
    this.setData({ limitLocation: !!e.detail.value })
  },
  onRadius(e) {
    this.setData({ radius: e.detail.value })
  },

  saveNickname() {
    return this.run(async () => {
      const me = await this.app.chatuser.setNickname(this.data.nickname)
      this.setData({ nickname: me.nickname })
      wx.showToast({ title: '已保存', icon: 'success' })
    })
  },

  /** The avatar picker's choice (a temporary path): upload it, make it the avatar. */
  onChooseAvatar(e) {
    const path = e && e.detail && e.detail.avatarUrl
    if (!path) return Promise.resolve()
    return this.run(async () => {
      const user = await this.app.yq.auth.setAvatar(path)
      await this.app.chatuser.avatarChanged()
      this.setData({ avatar: user.avatar_url || '' })
      wx.showToast({ title: '头像已更新', icon: 'success' })
    })
  },

  join() {
    return this.run(async () => {
      const id = String(this.data.joinId || '').trim()
      if (!/^[0-9]{6}$/.test(id)) throw new Error('房间号是 6 位数字')
      await joinRoom(this.app, id)
      wx.navigateTo({ url: `/pages/room/room?id=${id}` })
    })
  },

  create() {
    return this.run(async () => {
      const name = String(this.data.roomName || '').trim()
      if (!name) throw new Error('给房间起个名字')
      const hours = Number(this.data.hours)
      if (!(hours > 0)) throw new Error('有效期要大于 0 小时')
      let gps = null
      if (this.data.limitLocation) {
        const here = await getLocation()
        gps = { lat: here.lat, lng: here.lng, radiusM: Number(this.data.radius) || 500 }
      }
      const room = await this.app.chatroom.createRoom(name, { expiresInHours: hours, gps })
      this.setData({ roomName: '' })
      wx.navigateTo({ url: `/pages/room/room?id=${room.id}` })
    })
  },

  openRoom(e) {
    wx.navigateTo({ url: `/pages/room/room?id=${e.currentTarget.dataset.id}` })
  },
})
