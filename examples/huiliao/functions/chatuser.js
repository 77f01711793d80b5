// chatuser — 会聊's people: the caller's display name and avatar, and whether they are in a
// room now.
//
// A nickname is the caller's own key in the per-user KV namespace `profiles` (read and
// written with the caller's rights). Presence in a room is the `here` flag of the caller's
// row in `members` (only members read it); pages set it on show and hide, and the room page
// combines it with the channel's app-wide presence (online / offline) for "who is here".
import { db, kv, context, FunctionError } from "yunqiao";

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

function caller() {
  const c = context.caller;
  if (!c || c.kind !== "user") throw new FunctionError("UNAUTHENTICATED", "log in first", 401);
  return c;
}

const fallback = (c) => c.nickname || `用户${c.id.slice(-4)}`;

/** me() → {id, nickname, rooms}: the caller as 会聊 shows them. */
export async function me() {
  const c = caller();
  const n = await savedNickname();
  const rooms = (c.groups || []).filter((g) => g.startsWith("room-")).map((g) => g.slice(5));
  return { id: c.id, nickname: n || fallback(c), custom: !!n, rooms };
}

/** setNickname(name) → {id, nickname}; also renames the caller on the member lists. */
export async function setNickname(name) {
  const c = caller();
  const nick = typeof name === "string" ? name.trim() : "";
  if (!nick || nick.length > 20) {
    throw new FunctionError("INVALID_ARGUMENT", "a nickname is 1 to 20 characters", 400, { field: "nickname" });
  }
  await kv("profiles").set("nickname", nick);
  for (const g of c.groups || []) {
    if (!g.startsWith("room-")) continue;
    const r = await admin.table("members").query({ where: [["key", "eq", `${g.slice(5)}.${c.id}`]], limit: 1 });
    if (r.items[0] && r.items[0].nickname !== nick) await admin.table("members").update(r.items[0]._id, { nickname: nick });
  }
  return { id: c.id, nickname: nick };
}

/**
 * avatarChanged() → {avatar}: after `yq.auth.setAvatar`, copies the caller's avatar URL —
 * read fresh from the server, not from the caller (a client could claim any URL) — to
 * their rows in the member lists, which every member's room page watches.
 */
export async function avatarChanged() {
  const c = caller();
  const u = await admin.users.get(c.id);
  const avatar = (u && u.avatar_url) || "";
  for (const g of c.groups || []) {
    if (!g.startsWith("room-")) continue;
    const r = await admin.table("members").query({ where: [["key", "eq", `${g.slice(5)}.${c.id}`]], limit: 1 });
    if (r.items[0] && r.items[0].avatar !== avatar) await admin.table("members").update(r.items[0]._id, { avatar });
  }
  return { avatar };
}

/** presence(roomId, here) → {here}: the caller has the room open (true) or not (false). */
export async function presence(id, here) {
  const c = caller();
  if (typeof id !== "string" || !/^[0-9]{6}$/.test(id)) {
    throw new FunctionError("INVALID_ARGUMENT", "a room id is 6 digits", 400, { field: "roomId" });
  }
  if ((c.groups || []).indexOf(`room-${id}`) < 0) throw new FunctionError("NOT_A_MEMBER", "join the room first", 403, { roomId: id });
  const r = await admin.table("members").query({ where: [["key", "eq", `${id}.${c.id}`]], limit: 1 });
  const row = r.items[0];
  if (!row) throw new FunctionError("NOT_A_MEMBER", "join the room first", 403, { roomId: id });
  const h = !!here;
  if (row.here !== h) await admin.table("members").update(row._id, { here: h, seen: Date.now() });
  return { here: h };
}

/**
 * subscribe(roomId, accepted) → {notify}: after `wx.requestSubscribeMessage` for the notice
 * template, whether the caller wants the room's next notice as a subscribe message.
 */
export async function subscribe(id, accepted) {
  const c = caller();
  if (typeof id !== "string" || !/^[0-9]{6}$/.test(id)) {
    throw new FunctionError("INVALID_ARGUMENT", "a room id is 6 digits", 400, { field: "roomId" });
  }
  const r = await admin.table("members").query({ where: [["key", "eq", `${id}.${c.id}`]], limit: 1 });
  const row = (c.groups || []).indexOf(`room-${id}`) >= 0 ? r.items[0] : null;
  if (!row) throw new FunctionError("NOT_A_MEMBER", "join the room first", 403, { roomId: id });
  const notify = !!accepted;
  if (row.notify !== notify) await admin.table("members").update(row._id, { notify });
  return { notify };
}
