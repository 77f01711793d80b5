// Helpers the two pages share.

/** wx.getLocation as a Promise of {lat, lng} (GCJ-02, as WeChat's maps use). */
function getLocation() {
  return new Promise((resolve, reject) => {
    wx.getLocation({
      type: 'gcj02',
      success: (r) => resolve({ lat: r.latitude, lng: r.longitude }),
      fail: (e) => {
        const err = new Error('没有拿到位置：' + ((e && e.errMsg) || '未授权'))
        err.code = 'LOCATION_UNAVAILABLE'
        reject(err)
      },
    })
  })
}

/**
 * Joins room `id`; a room only for people nearby answers LOCATION_REQUIRED first, and the
 * join is tried again with the user's location.
 */
async function joinRoom(app, id) {
  try {
    return await app.chatroom.join(id)
  } catch (e) {
    if (e.code !== 'LOCATION_REQUIRED') throw e
    return app.chatroom.join(id, await getLocation())
  }
}

const MESSAGES = {
  ROOM_NOT_FOUND: '没有这个房间（或者你不在房间里）',
  ROOM_EXPIRED: '房间已过期',
  ROOM_CLOSED: '房间已解散',
  TOO_FAR: '你离会场太远了',
  LOCATION_REQUIRED: '这个房间仅限附近的人，需要你的位置',
  NOT_A_MEMBER: '你不是这个房间的成员',
  ROOM_ADMIN_ONLY: '只有房间管理员可以这样做',
  TOO_MANY_ROOMS: '你加入的房间太多了，先退出几个',
  NETWORK_ERROR: '网络不通，请稍后再试',
  CONTENT_RISKY: '内容未通过安全检查',
  NOTICE_EMPTY: '先写好公告再置顶',
  PAY_FAILED: '支付失败，请稍后再试',
  PAY_CLOSED: '订单已关闭，请重新支付',
  PAY_TIMEOUT: '还没收到支付结果，请稍后查看',
  PAY_UNAVAILABLE: '服务端没有开通微信支付',
}

/** A line to show for an error (the SDK's YunqiaoError, or any Error). */
function describe(e) {
  if (!e) return '出错了'
  const known = MESSAGES[e.code]
  if (e.code === 'TOO_FAR' && e.details) return `${known}（${e.details.distanceM} 米，限 ${e.details.radiusM} 米内）`
  if (known) return known
  return e.message || String(e)
}

/** What the room page shows of a `rooms` record (as table events deliver it). */
function roomView(rec, me) {
  return {
    id: rec.code,
    record: rec._id,
    group: rec._group,
    name: rec.name,
    admin: rec.admin,
    adminNick: rec.admin_nick,
    isAdmin: !!me && rec.admin === me.id,
    expiresAt: rec.expires_at,
    gps: rec.gps || null,
    notice: rec.notice || '',
    noticeAt: rec.notice_at || null,
    pinnedUntil: rec.pinned_until || null,
    pinned: (rec.pinned_until || 0) > Date.now(),
    state: rec.state,
    created: rec._created,
  }
}

function pad(n) {
  return (n < 10 ? '0' : '') + n
}

/** "14:05" (today) or "3/12 14:05". */
function clock(iso) {
  const d = new Date(iso)
  const now = new Date()
  const hm = pad(d.getHours()) + ':' + pad(d.getMinutes())
  return d.toDateString() === now.toDateString() ? hm : `${d.getMonth() + 1}/${d.getDate()} ${hm}`
}

module.exports = { getLocation, joinRoom, describe, roomView, clock }
