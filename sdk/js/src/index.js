/**
 * yunqiao (云桥) — the mini-program SDK.
 *
 *   import { createClient } from 'yunqiao'
 *   const yq = createClient({ baseUrl: 'http://127.0.0.1:8787', mockUser: 'alice' })
 *   await yq.login()
 *   const open = await yq.table('posts').where('status', '=', 'open').limit(10).fetch()
 */
export { Client, createClient } from './client.js'
export { YunqiaoError } from './errors.js'
export { $append, $inc, $remove, Batch, Query, Table } from './tables.js'
export { Kv } from './kv.js'
export { Files } from './files.js'
export { Channel, LiveQuery, Subscription } from './channel.js'
export { Stor } from './storage.js'
export { Pay } from './pay.js'
export { webAdapter, webStorage } from './adapters/web.js'
export { wxAdapter } from './adapters/wx.js'
export { memoryStorage } from './adapters/memory.js'

import { $append, $inc, $remove } from './tables.js'

/** Update operators: `table.update(id, {n: op.inc(1), tags: op.append('a')})`. */
export const op = Object.freeze({ inc: $inc, append: $append, remove: $remove })

export const version = '0.1.0'
