// history — 会聊's messages: send, and page back through a room's history.
//
// Messages are records of `messages` with `_group: "room-<id>"` under the rule `r:r:-`:
// only the room's members read them, nobody writes them but this module. Members hear new
// ones live by watching `table:messages` with `{_group: "room-<id>"}` — the server sends
// each change only to subscribers who may read it when it is delivered.
//
// A message is text, a picture, or both. A picture is a file the sender uploaded with the
// SDK (`yq.files.upload(path, {public: true})`); the message keeps its id in the `file`
// field `picture`, and pages show it through `yq.files.url(id, {thumb})`. Pictures are
// public files: whoever has the id may load them (an id carries 80 random bits; the room's
// messages, which hold them, are for its members only).
//
// A message's text passes WeChat's text check first (`wechat.msgSecCheck` with the
// sender's openid: this module writes with the admin's rights, which the table's
// `"check": "text"` leaves unchecked): a `risky` text is refused with CONTENT_RISKY and
// nothing is written.
import { db, kv, context, wechat, FunctionError } from "yunqiao";

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
const MAX_TEXT = 500;

function caller() {
  const c = context.caller;
  if (!c || c.kind !== "user") throw new FunctionError("UNAUTHENTICATED", "log in first", 401);
  return c;
}

function member(c, id) {
  if (typeof id !== "string" || !/^[0-9]{6}$/.test(id)) {
    throw new FunctionError("INVALID_ARGUMENT", "a room id is 6 digits", 400, { field: "roomId" });
  }
  const g = `room-${id}`;
  if ((c.groups || []).indexOf(g) < 0) throw new FunctionError("NOT_A_MEMBER", "only the room's members read and write here", 403, { roomId: id });
  return g;
}

/** A file id as the server hands them out (26 characters, Crockford base 32). */
const FILE_ID = /^[0-9a-z]{26}$/i;

/**
 * send(roomId, text, {picture?}) → the message record: text (at most 500 characters), a
 * picture (a file id from `yq.files.upload`), or both. Members of open, unexpired rooms only.
 */
export async function send(id, text, opts = {}) {
  const c = caller();
  const g = member(c, id);
  const t = typeof text === "string" ? text.trim() : "";
  const picture = opts && opts.picture !== undefined && opts.picture !== null ? opts.picture : null;
  if (picture !== null && (typeof picture !== "string" || !FILE_ID.test(picture))) {
    throw new FunctionError("INVALID_ARGUMENT", "picture is a file id (from files.upload)", 400, { field: "picture" });
  }
  if ((!t && !picture) || t.length > MAX_TEXT) {
    throw new FunctionError("INVALID_ARGUMENT", `a message is 1 to ${MAX_TEXT} characters, or a picture`, 400, { field: "text" });
  }
  const rooms = await admin.table("rooms").query({ where: [["code", "eq", id]], limit: 1 });
  const room = rooms.items[0];
  if (!room || room.state !== "open") throw new FunctionError("ROOM_CLOSED", "the room was closed", 410, { roomId: id });
  if (room.expires_at <= Date.now()) throw new FunctionError("ROOM_EXPIRED", "the room has expired", 410, { roomId: id });
  if (t) {
    const v = await wechat.msgSecCheck({ content: t, scene: 2 });
    if (v.suggest === "risky") {
      throw new FunctionError("CONTENT_RISKY", "WeChat's content check refused this message", 400, { label: v.label });
    }
  }
  const nick = (await savedNickname()) || c.nickname || `用户${c.id.slice(-4)}`;
  const msg = { _group: g, room: id, text: t, from: c.id, nick };
  if (picture) msg.picture = picture;
  return admin.table("messages").create(msg);
}

/**
 * page(roomId, {before?, limit}) → {items (oldest first), more}: the `limit` (1-50, default
 * 20) messages before the message id `before` (or the newest). Read with the caller's own
 * rights: the table's group rule decides what comes back, not this code alone.
 */
export async function page(id, opts = {}) {
  const c = caller();
  const g = member(c, id);
  const o = opts || {};
  const limit = o.limit === undefined ? 20 : o.limit;
  if (!Number.isInteger(limit) || limit < 1 || limit > 50) {
    throw new FunctionError("INVALID_ARGUMENT", "limit is 1 to 50", 400, { field: "limit" });
  }
  const where = [["_group", "eq", g]];
  if (o.before !== undefined && o.before !== null) {
    if (typeof o.before !== "string" || !o.before) throw new FunctionError("INVALID_ARGUMENT", "before is a message id", 400, { field: "before" });
    where.push(["_id", "lt", o.before]);
  }
  const r = await db.table("messages").query({ where, order: [["_id", "desc"]], limit });
  return { items: r.items.slice().reverse(), more: !!r.cursor };
}
