// chatroom — 会聊's rooms: create, join (expiry and GPS limit), leave, destroy, notice board.
//
// A room is a record of the `rooms` table; its members are the users in the group
// `room-<id>` (db.admin().users.addToGroup). Every record of the room — the room itself,
// its members, its messages — carries `_group: "room-<id>"` in tables whose rule is
// `r:r:-` (only the group reads, nobody writes but server code), so the server itself
// refuses non-members on every path: the HTTP table API, queries, table events on the
// live channel, and this module's caller-rights reads.
//
// Each room has a QR code (`roomCode`): WeChat's `getwxacodeunlimit` through the `wechat`
// module, scene `r=<id>`, opening pages/room/room — the server asks WeChat once per room
// and keeps the image as a public file. The notice board's text passes WeChat's text
// check (`wechat.msgSecCheck`: these functions write with the admin's rights, which the
// tables' `"check": "text"` leaves unchecked), and a new notice goes as a subscribe
// message to the members who opted in (`chatuser.subscribe`).
//
// Pinning the notice to the top for a day is a paid action (WeChat Pay): `pinOffer` writes
// the room admin's offer, a record of `pins` — a table the server's pay settings list
// (`pay.tables`), priced by its `price` field, so the price is the server's —, the page
// orders it with the SDK (`yq.pay.order`), and only the server's `on_paid` hook
// (`pay.on_paid = "chatroom.paid"`, an export nobody may call) pins the room, once the
// order is PAID. Users write neither `rooms` nor `pins` (rules `r:r:-`, created by admins).
//
// Errors are FunctionErrors with stable codes: INVALID_ARGUMENT, ROOM_NOT_FOUND,
// ROOM_EXPIRED, ROOM_CLOSED, LOCATION_REQUIRED, TOO_FAR, TOO_MANY_ROOMS, ROOM_ADMIN_ONLY,
// CONTENT_RISKY, NOTICE_EMPTY.
import { db, kv, context, wechat, FunctionError } from "yunqiao";

/** The subscribe-message template of a new notice (the page asks for the same one). */
const NOTICE_TEMPLATE = "huiliao-notice";

const admin = db.admin();

/** The caller's own nickname (KV `profiles`, per user), or null. */
async function savedNickname() {
  // The contract says kv.get answers null for a missing key; the server (this build)
  // throws NOT_FOUND instead, so both are read as "no nickname".
  try {
    return await kv("profiles").get("nickname");
  } catch (e) {
    if (e.code === "NOT_FOUND") return null;
    throw e;
  }
}
const ROOMS = "rooms";
const MEMBERS = "members";
const MAX_GROUPS = 32; // the server keeps at most 32 groups per user
const MAX_HOURS = 24 * 7;

const groupOf = (id) => `room-${id}`;

function caller() {
  const c = context.caller;
  if (!c || c.kind !== "user") throw new FunctionError("UNAUTHENTICATED", "log in first", 401);
  return c;
}

function roomId(id) {
  if (typeof id !== "string" || !/^[0-9]{6}$/.test(id)) {
    throw new FunctionError("INVALID_ARGUMENT", "a room id is 6 digits", 400, { field: "roomId" });
  }
  return id;
}

const isMember = (c, id) => Array.isArray(c.groups) && c.groups.indexOf(groupOf(id)) >= 0;

async function nicknameOf(c) {
  const n = await savedNickname();
  return n || c.nickname || `用户${c.id.slice(-4)}`;
}

/** The room record, read as the admin (whoever asks), or null. */
async function findRoom(id) {
  const r = await admin.table(ROOMS).query({ where: [["code", "eq", id]], limit: 1 });
  return r.items[0] || null;
}

/** An open, unexpired room, or the error that says why not. */
async function openRoom(id) {
  const room = await findRoom(id);
  if (!room) throw new FunctionError("ROOM_NOT_FOUND", `no room ${id}`, 404, { roomId: id });
  if (room.state !== "open") throw new FunctionError("ROOM_CLOSED", "the room was closed", 410, { roomId: id, state: room.state });
  if (room.expires_at <= Date.now()) {
    throw new FunctionError("ROOM_EXPIRED", "the room has expired", 410, { roomId: id, expires_at: room.expires_at });
  }
  return room;
}

/** What members see of a room. */
function view(room, c) {
  return {
    id: room.code,
    record: room._id,
    group: room._group,
    name: room.name,
    admin: room.admin,
    adminNick: room.admin_nick,
    isAdmin: !!c && room.admin === c.id,
    expiresAt: room.expires_at,
    gps: room.gps || null,
    notice: room.notice || "",
    noticeAt: room.notice_at || null,
    pinnedUntil: room.pinned_until || null,
    pinned: (room.pinned_until || 0) > Date.now(),
    state: room.state,
    created: room._created,
  };
}

/** Great-circle distance in metres. */
function distanceM(a, b) {
  const rad = (d) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function point(p, field) {
  const ok =
    p && typeof p === "object" &&
    typeof p.lat === "number" && typeof p.lng === "number" &&
    Math.abs(p.lat) <= 90 && Math.abs(p.lng) <= 180;
  if (!ok) throw new FunctionError("INVALID_ARGUMENT", `${field} is {lat, lng} in degrees`, 400, { field });
  return { lat: p.lat, lng: p.lng };
}

function roomGroups(c) {
  return (c.groups || []).filter((g) => g.startsWith("room-"));
}

/** Makes the caller a member: the group first (it is what the rules read), then the row. */
async function addMember(c, room) {
  const group = room._group;
  if (!isMember(c, room.code)) {
    if ((c.groups || []).length >= MAX_GROUPS) {
      throw new FunctionError("TOO_MANY_ROOMS", "leave a room first: a user is in at most 32 groups", 409, { max: MAX_GROUPS });
    }
    await admin.users.addToGroup(c.id, group);
  }
  const key = `${room.code}.${c.id}`;
  const found = await admin.table(MEMBERS).query({ where: [["key", "eq", key]], limit: 1 });
  if (found.items[0]) return found.items[0];
  try {
    return await admin.table(MEMBERS).create({
      _group: group,
      key,
      room: room.code,
      user: c.id,
      nickname: await nicknameOf(c),
      avatar: c.avatar_url || "",
      here: false,
      seen: Date.now(),
      joined: Date.now(),
    });
  } catch (e) {
    if (e.code !== "UNIQUE_VIOLATION") throw e; // joined twice at once
    return (await admin.table(MEMBERS).query({ where: [["key", "eq", key]], limit: 1 })).items[0];
  }
}

/** Every member row of a room (server side: destroy and sweep). */
async function memberRows(room) {
  const rows = [];
  let cursor = null;
  do {
    const q = { where: [["_group", "eq", room._group]], limit: 100 };
    if (cursor) q.cursor = cursor;
    const r = await admin.table(MEMBERS).query(q);
    rows.push(...r.items);
    cursor = r.cursor || null;
  } while (cursor);
  return rows;
}

/** Closes a room: its record says so (members watching hear it), then nobody is in it. */
async function close(room, state) {
  await admin.table(ROOMS).update(room._id, { state, closed_at: Date.now() });
  const rows = await memberRows(room);
  // Ten members at a time: a big room closes within its time limit without flooding the store.
  for (let i = 0; i < rows.length; i += 10) {
    await Promise.all(rows.slice(i, i + 10).map(async (m) => {
      await admin.users.removeFromGroup(m.user, room._group).catch((e) => {
        if (e.code !== "NOT_FOUND") throw e;
      });
      await admin.table(MEMBERS).remove(m._id);
    }));
  }
  return rows.length;
}

function randomCode() {
  return String(100000 + Math.floor(Math.random() * 900000));
}

// ---- exports ----------------------------------------------------------------------------

/**
 * createRoom(name, {expiresInHours, gps?: {lat, lng, radiusM}}) → the room. The caller is
 * its admin and first member.
 */
export async function createRoom(name, opts = {}) {
  const c = caller();
  if (typeof name !== "string" || !name.trim() || name.trim().length > 40) {
    throw new FunctionError("INVALID_ARGUMENT", "a room name is 1 to 40 characters", 400, { field: "name" });
  }
  const o = opts || {};
  const hours = o.expiresInHours === undefined ? 24 : o.expiresInHours;
  if (typeof hours !== "number" || !(hours > 0) || hours > MAX_HOURS) {
    throw new FunctionError("INVALID_ARGUMENT", `expiresInHours is more than 0 and at most ${MAX_HOURS}`, 400, { field: "expiresInHours" });
  }
  let gps = null;
  if (o.gps) {
    const p = point(o.gps, "gps");
    const r = o.gps.radiusM;
    if (typeof r !== "number" || !(r >= 10) || r > 100000) {
      throw new FunctionError("INVALID_ARGUMENT", "gps.radiusM is 10 to 100000 metres", 400, { field: "gps.radiusM" });
    }
    gps = { lat: p.lat, lng: p.lng, radiusM: r };
  }
  if ((c.groups || []).length >= MAX_GROUPS) {
    throw new FunctionError("TOO_MANY_ROOMS", "leave a room first: a user is in at most 32 groups", 409, { max: MAX_GROUPS });
  }
  const nick = await nicknameOf(c);
  let room = null;
  for (let i = 0; !room; i++) {
    const code = randomCode();
    try {
      room = await admin.table(ROOMS).create({
        _group: groupOf(code),
        code,
        name: name.trim(),
        admin: c.id,
        admin_nick: nick,
        expires_at: Math.round(Date.now() + hours * 3600 * 1000),
        gps,
        notice: "",
        state: "open",
      });
    } catch (e) {
      // codes of closed rooms stay taken (their records are kept), so a code never
      // names two rooms, nor a group two sets of people
      if (e.code !== "UNIQUE_VIOLATION" || i >= 20) throw e;
    }
  }
  await addMember(c, room);
  return view(room, c);
}

/**
 * join(roomId, {lat, lng}?) → {room, member}. Refuses closed and expired rooms and, in a
 * room with a GPS limit, callers without a location (LOCATION_REQUIRED) or too far away
 * (TOO_FAR). Joining again is harmless.
 */
export async function join(id, where) {
  const c = caller();
  roomId(id);
  const room = await openRoom(id);
  if (room.gps && !isMember(c, id)) {
    if (!where) {
      throw new FunctionError("LOCATION_REQUIRED", "this room is only for people nearby: send your location", 400, { radiusM: room.gps.radiusM });
    }
    const d = distanceM(room.gps, point(where, "location"));
    if (d > room.gps.radiusM) {
      throw new FunctionError("TOO_FAR", `you are ${Math.round(d)} m away; the room admits people within ${room.gps.radiusM} m`, 403, {
        distanceM: Math.round(d),
        radiusM: room.gps.radiusM,
      });
    }
  }
  const member = await addMember(c, room);
  return { room: view(room, c), member };
}

/**
 * info(roomId) → {room, members}: read with the caller's own rights, so the server's rules
 * decide; a non-member gets ROOM_NOT_FOUND (whether or not the room exists).
 */
export async function info(id) {
  const c = caller();
  roomId(id);
  const rooms = await db.table(ROOMS).query({ where: [["code", "eq", id]], limit: 1 });
  const room = rooms.items[0];
  if (!room) throw new FunctionError("ROOM_NOT_FOUND", `no room ${id} that you are in`, 404, { roomId: id });
  const members = await db.table(MEMBERS).query({ where: [["_group", "eq", room._group]], limit: 100 });
  return { room: view(room, c), members: members.items };
}

/** listMyRooms() → the rooms the caller is in, newest first. */
export async function listMyRooms() {
  const c = caller();
  const out = [];
  for (const g of roomGroups(c)) {
    const r = await db.table(ROOMS).query({ where: [["code", "eq", g.slice(5)]], limit: 1 });
    if (r.items[0]) out.push(view(r.items[0], c));
  }
  out.sort((a, b) => (a.created < b.created ? 1 : -1));
  return out;
}

/** leave(roomId) → {left}: out of the group (so out of every path) and off the member list. */
export async function leave(id) {
  const c = caller();
  roomId(id);
  const key = `${id}.${c.id}`;
  const rows = await admin.table(MEMBERS).query({ where: [["key", "eq", key]], limit: 1 });
  if (rows.items[0]) await admin.table(MEMBERS).remove(rows.items[0]._id);
  const was = isMember(c, id);
  if (was) await admin.users.removeFromGroup(c.id, groupOf(id));
  return { left: was };
}

/** destroy(roomId) → {destroyed, members}: the room's admin only. */
export async function destroy(id) {
  const c = caller();
  roomId(id);
  const room = await findRoom(id);
  if (!room || (!isMember(c, id) && room.admin !== c.id)) throw new FunctionError("ROOM_NOT_FOUND", `no room ${id} that you are in`, 404, { roomId: id });
  if (room.admin !== c.id) throw new FunctionError("ROOM_ADMIN_ONLY", "only the room's admin may destroy it", 403);
  if (room.state !== "open") return { destroyed: false, members: 0 };
  const n = await close(room, "destroyed");
  return { destroyed: true, members: n };
}

/**
 * setNotice(roomId, text) → the room: the admin's notice board. The room record changes,
 * and the change is published on the room's topic (`table:rooms`, filtered to the room's
 * record) to every member watching — judged by the record's group rule at delivery.
 */
export async function setNotice(id, text) {
  const c = caller();
  roomId(id);
  if (typeof text !== "string" || text.length > 1000) {
    throw new FunctionError("INVALID_ARGUMENT", "a notice is at most 1000 characters", 400, { field: "text" });
  }
  const room = await openRoom(id);
  if (!isMember(c, id) && room.admin !== c.id) throw new FunctionError("ROOM_NOT_FOUND", `no room ${id} that you are in`, 404, { roomId: id });
  if (room.admin !== c.id) throw new FunctionError("ROOM_ADMIN_ONLY", "only the room's admin may change the notice", 403);
  const notice = text.trim();
  if (notice) await checkText(notice, 3);
  const updated = await admin.table(ROOMS).update(room._id, { notice, notice_at: Date.now() });
  if (notice) await notifyMembers(updated);
  return view(updated, c);
}

/**
 * WeChat's text check of the caller's text (scene 2 comment, 3 forum): `risky` is
 * refused with CONTENT_RISKY (nothing is written); `review` passes.
 */
async function checkText(content, scene) {
  const v = await wechat.msgSecCheck({ content, scene });
  if (v.suggest === "risky") {
    throw new FunctionError("CONTENT_RISKY", "WeChat's content check refused this text", 400, { label: v.label });
  }
}

/** 20 characters at most, as a template's `thing` value takes. */
const thing = (s) => (s.length > 20 ? s.slice(0, 19) + "…" : s);

/**
 * The new notice as a subscribe message to every member who opted in (`notify` on their
 * row). Subscriptions are one-time: WeChat's 43101 (not accepted, or spent) clears the
 * flag; other failures leave it for the next notice. The notice is saved either way.
 */
async function notifyMembers(room) {
  const rows = (await memberRows(room)).filter((m) => m.notify && m.user !== room.admin);
  let sent = 0;
  for (const m of rows) {
    try {
      await wechat.subscribeMessage.send({
        user: m.user,
        template_id: NOTICE_TEMPLATE,
        page: `pages/room/room?id=${room.code}`,
        data: { thing1: { value: thing(room.name) }, thing2: { value: thing(room.notice) } },
      });
      sent++;
    } catch (e) {
      if (e.code === "WECHAT_NOT_SUBSCRIBED") await admin.table(MEMBERS).update(m._id, { notify: false });
    }
  }
  return sent;
}

/**
 * roomCode(roomId) → {url, path, id}: the room's QR code (members only). Scanned with
 * WeChat, it opens pages/room/room with `scene` = `r=<id>`. Made once per room (the server
 * keeps it by its parameters), a public image file.
 */
export async function roomCode(id) {
  const c = caller();
  roomId(id);
  const room = await openRoom(id);
  if (!isMember(c, id)) throw new FunctionError("ROOM_NOT_FOUND", `no room ${id} that you are in`, 404, { roomId: id });
  // check_path false: the page exists in every version of the app, released or not.
  const q = await wechat.qrcode({ scene: `r=${room.code}`, page: "pages/room/room", check_path: false, width: 430 });
  return { id: q.id, url: q.url, path: q.path };
}

/**
 * sweep() — scheduled: closes rooms past their expiry (members taken out of the group,
 * member rows removed). Their messages stay, readable by nobody but admins.
 */
export async function sweep() {
  const now = Date.now();
  const r = await admin.table(ROOMS).query({
    where: [["state", "eq", "open"], ["expires_at", "lt", now]],
    limit: 20,
  });
  let closed = 0;
  for (const room of r.items) {
    await close(room, "expired");
    closed++;
  }
  return { closed };
}

// ---- the paid pin -------------------------------------------------------------------------

const PINS = "pins";
/** Pinning the notice for a day, in fen: the offer record's price, which the server charges. */
const PIN_PRICE = 100;
const PIN_MS = 24 * 3600 * 1000;

/**
 * pinOffer(roomId) → {id, title, price}: the admin's offer to pin the room's notice for a
 * day, to order with `yq.pay.order({item: {table: "pins", id}})`. The same unpaid offer
 * comes back until it is paid (so a cancelled payment is retried on the same order).
 */
export async function pinOffer(id) {
  const c = caller();
  roomId(id);
  const room = await openRoom(id);
  if (!isMember(c, id) && room.admin !== c.id) throw new FunctionError("ROOM_NOT_FOUND", `no room ${id} that you are in`, 404, { roomId: id });
  if (room.admin !== c.id) throw new FunctionError("ROOM_ADMIN_ONLY", "only the room's admin may pin the notice", 403);
  if (!room.notice) throw new FunctionError("NOTICE_EMPTY", "write a notice before pinning it", 409);
  const open = await admin.table(PINS).query({
    where: [["room", "eq", id], ["buyer", "eq", c.id], ["state", "eq", "offered"]],
    limit: 1,
  });
  const pin =
    open.items[0] ||
    (await admin.table(PINS).create({
      _group: room._group,
      room: id,
      buyer: c.id,
      title: `置顶公告 ${room.name}`.slice(0, 40),
      price: PIN_PRICE,
      state: "offered",
    }));
  return { id: pin._id, title: pin.title, price: pin.price };
}

/**
 * paid(event) — the server's on_paid hook, once per paid order (`event.order`, PAID): an
 * order for a `pins` offer, by its buyer, at its price, pins the room's notice for a day
 * per unit (from now, or from the end of a pin still running). Anything else pins nothing.
 */
export async function paid(e) {
  const o = e && e.op === "paid" ? e.order : null;
  if (!o || o.state !== "PAID" || !o.item || o.item.table !== PINS) return { pinned: false };
  let pin = null;
  try {
    pin = await admin.table(PINS).get(o.item.id);
  } catch (err) {
    if (err.code !== "NOT_FOUND") throw err;
  }
  const units = o.quantity || 1;
  if (!pin || pin.buyer !== o.buyer || o.amount !== pin.price * units) return { pinned: false };
  if (pin.state !== "offered") return { pinned: false, already: pin.order === o.out_trade_no };
  const now = Date.now();
  await admin.table(PINS).update(pin._id, { state: "paid", order: o.out_trade_no, paid_at: now });
  const room = await findRoom(pin.room);
  if (!room || room.state !== "open") return { pinned: false };
  const from = Math.max(now, room.pinned_until || 0);
  await admin.table(ROOMS).update(room._id, { pinned_until: from + units * PIN_MS });
  return { pinned: true };
}
