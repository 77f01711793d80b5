// Compiled with `tsc --noEmit` (npm run typecheck): the public API as an app uses it.
import {
  $append,
  $inc,
  createClient,
  op,
  webAdapter,
  wxAdapter,
  YunqiaoError,
  type FileInfo,
  type PaymentParams,
  type PayOrder,
  type LiveQuery,
  type QueryResult,
  type Rec,
  type User,
} from 'yunqiao'

interface Post {
  title: string
  status: 'draft' | 'open' | 'closed'
  score: number
  tags: string[]
}

async function app(): Promise<void> {
  const yq = createClient({ baseUrl: 'http://127.0.0.1:8787', mockUser: 'alice', channel: { reconnectCap: 10000 } })
  const login = await yq.login()
  const me: User = login.user
  await yq.auth.update({ nickname: '小明', profile: { city: null } })
  await yq.auth.bindPhone({ detail: { code: 'mock-phone:13800138000' } })
  yq.auth.on('change', (u, info) => void (u && info.userChanged))
  const paid: PayOrder = await yq.pay.order({ item: { table: 'products', id: 'p1' }, quantity: 2 }, { timeout: 30000 })
  const state: 'PENDING' | 'PAID' | 'CLOSED' = paid.state
  const tip = await yq.pay.order({ amount: 100, description: 'tip' }, { requestPayment: async (p: PaymentParams) => p.paySign })
  void [state, tip.out_trade_no, (await yq.pay.list({ limit: 10 })).cursor, (await yq.pay.get('x')).amount, (await yq.pay.close('x')).state]

  const posts = yq.table<Post>('posts')
  const p: Rec<Post> = await posts.create({ title: 'hi', status: 'open' })
  await posts.update(p._id, { score: $inc(1), tags: $append('a') }, { _v: p._v })
  await posts.update(p._id, { tags: op.remove('a') })
  await posts.inc(p._id, 'score', 2)
  const page: QueryResult<Post> = await posts.where('status', '=', 'open').orWhere({ score: 3 }).orderBy('score', 'desc').limit(10).fetch('title', 'score')
  const next = await posts.query().after(page).fetch()
  const n: number = await posts.where('status', 'open').count()
  const first = await posts.where('score', '>', 1).first()
  if (first) first.title.toUpperCase()
  const json = posts.where('status', 'open').paginate(20, 2).toJSON()
  await yq.query<Post>(json).fetch({ success: (r) => r.items, fail: (e) => e.code })
  const again: QueryResult<Post> = await yq.query<Post>(JSON.stringify(posts.where('status', 'open'))).fetch()
  await posts.query(JSON.stringify({ where: [['status', 'eq', 'open']] })).fetch()
  const results = await yq.batch().create('posts', { title: 'b' }).update('posts', p._id, { title: 'c' }, { _v: 2 }).remove('posts', p._id).commit()
  await posts.batch().create({ title: 'd' }).check(p._id, { _v: 3 }).commit()
  await posts.remove(p._id, { _v: 4 })

  const kv = yq.kv('prefs')
  await kv.set('theme', { dark: true }, { ttl: 60, createOnly: true })
  const theme = await kv.get<{ dark: boolean }>('theme', { default: { dark: false } })
  theme.dark.valueOf()
  // Without a default, an absent key is null: the type says so.
  const maybe = await kv.get<{ dark: boolean }>('theme')
  // @ts-expect-error maybe is possibly null
  maybe.dark.valueOf()
  const orNull: { dark: boolean } | null = maybe
  orNull?.dark.valueOf()
  await kv.setObject('x', 1)
  const entry = await kv.set('x', 2, { _v: 1 })
  const entryV: number = entry._v
  const written: number = Date.parse(entry.updated_at)
  await kv.remove('x', { _v: entryV + written * 0 })
  const exists: boolean = await kv.isObjectExists('x')
  const owner: string | null = p._owner
  const tuned = createClient({ baseUrl: 'http://127.0.0.1:8787', retry: { retries: 3, base: 200, cap: 2000 }, maxRequests: 8 })
  const noRetry = createClient({ baseUrl: 'http://127.0.0.1:8787', retry: false })
  const failed = await tuned.auth.me().catch((e: YunqiaoError) => e)
  if (failed instanceof YunqiaoError) failed.retryable.valueOf()
  noRetry.adapter.maxRequests

  // A direct message comes from a connection, or from a cloud function (events.send).
  const off = yq.channel.listen('chat', (body, from) => ('function' in from ? from.function : from.user?.nickname))
  off()
  await yq.channel.send('chat', { text: 'hi' }, me.id)
  const sub = await yq.channel.subscribe('room.1', (data, frame) => frame.seq, { presence: true, onPresence: (pr) => pr.state })
  sub.on('resync', () => undefined).on('error', (e: YunqiaoError) => e.status)
  await yq.channel.fireEvent('room.1', { n: 1 })
  await yq.channel.detach('room.1')
  const users = await yq.channel.liveUsers()
  users.map((u) => u.nickname)
  const live: LiveQuery<Post> = await posts.watch({ status: 'open' })
  live.on('create', (r) => r.title).on('leave', (r) => r._id).on('change', (o) => o)
  await live.unsubscribe()
  await yq.channel.table<Post>('posts').watch({ status: 'open' }, { onCreate: (r) => r.score })

  const room = await yq.fn('chatroom').createRoom('会聊', { ttl: 3600 })
  const res = await yq.callFunction<{ ok: boolean }>({ name: 'hello', data: { a: 1 } })
  res.result.ok.valueOf()
  await yq.fn.call('chatroom', 'join', ['r1'])

  yq.storage.setSync('k', 1)
  const v: number | undefined = yq.storage.getSync<number>('k')
  await yq.storage.setMap('m', 'a', 1)

  // Files: a wx temporary path, a Blob or bytes; URLs of thumbnails; records expanded.
  const pic: FileInfo = await yq.files.upload('http://tmp/a.jpg', { public: true, onProgress: (pr) => pr.progress })
  await yq.files.upload(new Blob(['x']), { name: 'a.txt', contentType: 'text/plain' })
  await yq.files.upload(new Uint8Array([1]), { name: 'b.png', success: (f) => f.status })
  const thumbUrl: string = await yq.files.url(pic.id, { thumb: '100x100', format: 'webp' })
  const stable: string = yq.files.contentUrl(pic.id, { thumb: '100x100' })
  const mine = await yq.files.list({ cursor: null })
  await yq.files.list({ cursor: mine })
  await yq.files.remove(mine.items[0].id)
  const avatarUser: User = await yq.auth.setAvatar({ detail: { avatarUrl: 'http://tmp/b.jpg' } })
  const withPhoto = await posts.get(p._id, { expand: ['photo'] })
  const photo: FileInfo | null | undefined = withPhoto._expand?.photo
  // @ts-expect-error: format is webp, jpeg or png
  await yq.files.url(pic.id, { format: 'gif' })
  void [thumbUrl, stable, avatarUser, photo]

  const custom = createClient({ baseUrl: 'http://x', adapter: webAdapter({ storage: 'memory' }) })
  const onWx = createClient({ baseUrl: 'http://x', adapter: wxAdapter(undefined, { maxRequests: 5 }) })
  void [next, n, results, exists, room, v, custom, onWx]
  yq.pause()
  yq.resume()
  yq.close()
}
void app

// @ts-expect-error: a table name is required
createClient({ baseUrl: 'http://x' }).table()
// @ts-expect-error: baseUrl is required
createClient({})
