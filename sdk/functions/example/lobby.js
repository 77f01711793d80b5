// lobby: chat rooms with a member limit, messages checked before they are written,
// and rooms that close by themselves. From a mini-program:
//   const room = await yq.fn('lobby').createRoom('会聊', { ttl: 3600 })
//
// yunqiao.json beside it is the project file that sets it all up — the lobby_rooms table
// (only this module touches it, through db.admin()), lobby_messages (users write; the
// hooks check and count), the KV namespaces, the topic rule and this module's settings:
//   yunqiao apply sdk/functions/example/yunqiao.json --url http://127.0.0.1:8787
//
// Clients subscribe to `lobby.<id>` for joins, leaves and closings, and to
// `table:lobby_messages` with `where: {room: <id>}` for the messages. Its names are its
// own (lobby…), so it can live on one server beside 会聊 (rooms, messages, chatroom).

import { context, db, events, FunctionError, http, kv, secrets, users, YunqiaoError } from 'yunqiao'

/** @typedef {{ name: string, owner: string, members: string[], max: number, closes_at: number, messages: number }} Room */
/** @typedef {{ room: string, text: string, author: string }} Message */

const admin = db.admin()
const rooms = /** @type {import('yunqiao').Table<Room>} */ (admin.table('lobby_rooms'))
const limits = admin.kv('chat_limits')

/** The calling user; 401 for the admin key, which passes every access rule but is no user. */
function me() {
  const c = context.caller
  if (c.kind !== 'user') throw new FunctionError('LOGIN_REQUIRED', 'log in first', 401)
  return c
}

/** @param {string} id */
async function openRoom(id) {
  const room = await rooms.get(id) // NOT_FOUND (404) reaches the client as it is
  if (room.closes_at <= Date.now()) throw new FunctionError('ROOM_CLOSED', 'this room has closed', 410)
  return room
}

/**
 * Users: a room the caller owns and is the first member of.
 * @param {string} name
 * @param {{ ttl?: number, max?: number }} [opts]
 */
export async function createRoom(name, { ttl = 3600, max = 50 } = {}) {
  const user = me()
  if (typeof name !== 'string' || !name.trim()) throw new FunctionError('NAME_REQUIRED', 'a room needs a name')
  if (!(ttl >= 60 && ttl <= 86400)) throw new FunctionError('BAD_TTL', 'ttl is 60 to 86400 seconds', 400, { ttl })
  const room = await rooms.create({ name: name.trim(), owner: user.id, members: [user.id], max, closes_at: Date.now() + ttl * 1000 })
  console.log('room', room._id, 'by', user.id)
  return { id: room._id, name: room.name, closes_at: room.closes_at }
}

/** Anyone: the open rooms. */
export async function list() {
  const page = await rooms.query({ where: [['closes_at', 'gt', Date.now()]], limit: 50 })
  return page.items.map((r) => ({ id: r._id, name: r.name, members: r.members.length, max: r.max }))
}

/**
 * Users: joins a room, unless it is full. Two joins racing for the last place: the one
 * whose `v` is stale gets CONFLICT (409) and may try again.
 * @param {string} roomId
 */
export async function join(roomId) {
  const user = me()
  const room = await openRoom(roomId)
  if (room.members.includes(user.id)) return { joined: false }
  if (room.members.length >= room.max) {
    throw new FunctionError('ROOM_FULL', 'the room is full', 409, { max: room.max })
  }
  await rooms.update(roomId, { members: { $append: [user.id] } }, { _v: room._v })
  await events.publish(`lobby.${roomId}`, { type: 'join', user: { id: user.id, nickname: user.nickname } })
  return { joined: true }
}

/** @param {string} roomId */
export async function leave(roomId) {
  const user = me()
  await rooms.update(roomId, { members: { $remove: [user.id] } })
  await events.publish(`lobby.${roomId}`, { type: 'leave', user: { id: user.id, nickname: user.nickname } })
  return { left: true }
}

/**
 * The room's owner only: removes a member and tells them (a direct message from the
 * function: `from: {function: "lobby"}`).
 * @param {string} roomId
 * @param {string} userId
 */
export async function kick(roomId, userId) {
  const user = me()
  const room = await openRoom(roomId)
  if (room.owner !== user.id) throw new FunctionError('NOT_THE_OWNER', 'only the owner kicks', 403)
  const who = await users.get(userId)
  await rooms.update(roomId, { members: { $remove: [userId] } })
  await events.send(userId, 'kicked', { room: roomId, name: room.name })
  return { kicked: who.nickname ?? who.id }
}

/**
 * before_create on lobby_messages: only members write, at most 5 messages per 10 seconds, and
 * the author's name is the server's. Returning an object writes it instead of `data`.
 * @param {import('yunqiao').BeforeCreateEvent<Message>} event
 * @returns {Promise<Message>}
 */
export async function checkMessage({ data, caller }) {
  if (caller.kind !== 'user') throw new FunctionError('LOGIN_REQUIRED', 'log in first', 401)
  const room = await openRoom(String(data.room))
  if (!room.members.includes(caller.id)) throw new FunctionError('NOT_A_MEMBER', 'join the room first', 403)
  const key = `${room._id}.${caller.id}.${Math.floor(Date.now() / 10000)}` // this 10 s window
  const sent = (await limits.get(key)) ?? 0
  if (sent >= 5) throw new FunctionError('SLOW_DOWN', 'at most 5 messages per 10 seconds', 429)
  await limits.set(key, sent + 1, { ttl: 20 })
  const text = await moderate(String(data.text ?? ''))
  return { room: room._id, text, author: caller.nickname ?? 'someone' }
}

/**
 * after_create on lobby_messages: counts them. Runs once per committed message (retried if it
 * fails; `event.id` stays the same across retries).
 * @param {import('yunqiao').AfterCreateEvent<Message>} event
 */
export async function countMessage(event) {
  await rooms.update(event.record.room, { messages: { $inc: 1 } })
}

/**
 * Scheduled (every five minutes, in yunqiao.json): closes the rooms past their time.
 * @param {import('yunqiao').ScheduleEvent} tick
 */
export async function closeRooms({ scheduled_at }) {
  const page = await rooms.query({ where: [['closes_at', 'lte', Date.parse(scheduled_at)]], limit: 100 })
  for (const room of page.items) {
    await rooms.remove(room._id)
    await events.publish(`room.${room._id}`, { type: 'closed' })
  }
  console.info('closed', page.items.length, 'rooms')
  return { closed: page.items.length }
}

/**
 * A moderation service of your own (moderation.example.com stands for it; listed in the
 * module's `hosts`), with its key as a server secret: YUNQIAO_SECRET_MODERATION_KEY.
 * No key configured: messages pass as they are.
 * @param {string} text
 */
async function moderate(text) {
  let key
  try {
    key = await secrets.get('MODERATION_KEY')
  } catch (e) {
    if (e instanceof YunqiaoError && e.code === 'NOT_FOUND') return text
    throw e
  }
  const r = await http.fetch('https://moderation.example.com/v1/check', {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: { text },
  })
  if (!r.ok) {
    console.warn('moderation answered', r.status, '; letting the message through')
    return text
  }
  /** @type {{ allowed: boolean, text?: string }} */
  const verdict = await r.json()
  if (!verdict.allowed) throw new FunctionError('MESSAGE_REFUSED', 'this message cannot be sent', 422)
  return verdict.text ?? text
}

/** Per-user preferences through the caller's own rights (a `scope: "user"` namespace). */
export async function setTheme(/** @type {'light' | 'dark'} */ theme) {
  me()
  await kv('prefs').set('chat_theme', theme)
  return { theme }
}
