import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'

import { $append, $inc, $remove, op, YunqiaoError } from '../src/index.js'
import { makeTable, PLATFORMS, user } from './harness.mjs'

for (const platform of PLATFORMS) {
  describe(`tables (${platform})`, () => {
    let people
    let posts
    before(async () => {
      people = await makeTable({ fields: [{ name: 'name', type: 'string', required: true }], acl: { record: 'rwd:r:r' } }, 'people')
      posts = await makeTable(
        {
          fields: [
            { name: 'title', type: 'string', required: true, length: 100 },
            { name: 'status', type: 'string', index: true, default: 'draft' },
            { name: 'score', type: 'integer', index: true, min: 0 },
            { name: 'tags', type: 'json' },
            { name: 'author', type: 'ref', table: people },
          ],
          acl: { record: 'rwd:r:r', create: 'users' },
        },
        'posts',
      )
    })

    test('create, get, update with _v, remove', async () => {
      const c = await user(platform)
      const t = c.table(posts)
      const r = await t.create({ title: 'hello', score: 1 })
      assert.equal(r.title, 'hello')
      assert.equal(r.status, 'draft', 'default applied')
      assert.equal(r._owner, c.auth.user.id)
      assert.equal(r._v, 1)
      const got = await t.get(r._id)
      assert.deepEqual(got, r)

      const u = await t.update(r._id, { title: 'hello again', _v: 1 })
      assert.equal(u.title, 'hello again')
      assert.equal(u._v, 2)
      const stale = await t.update(r._id, { title: 'lost' }, { _v: 1 }).catch((e) => e)
      assert.ok(stale instanceof YunqiaoError)
      assert.equal(stale.status, 409)
      assert.equal(stale.code, 'CONFLICT')
      assert.equal(stale.details.field, '_v')
      assert.equal((await t.get(r._id)).title, 'hello again')

      const staleDelete = await t.remove(r._id, { _v: 1 }).catch((e) => e)
      assert.equal(staleDelete.status, 409)
      assert.equal(await t.remove(r._id, { _v: 2 }), true)
      const gone = await t.get(r._id).catch((e) => e)
      assert.equal(gone.code, 'NOT_FOUND')
      assert.equal(gone.status, 404)
    })

    test('$inc under 25 concurrent calls, $append and $remove', async () => {
      const c = await user(platform)
      const t = c.table(posts)
      const r = await t.create({ title: 'counter', score: 0, tags: ['a'] })
      await Promise.all(Array.from({ length: 25 }, (_, i) => (i % 2 ? t.inc(r._id, 'score') : t.update(r._id, { score: $inc(1) }))))
      assert.equal((await t.get(r._id)).score, 25)
      if (platform === 'wx') {
        assert.ok(c.shim.ctl.maxInFlight <= 10, 'never more than 10 wx.request at once')
        assert.equal(c.shim.ctl.refused, 0)
      }
      await t.update(r._id, { tags: $append('b', 'c') })
      await t.update(r._id, { tags: op.append(['d']) })
      const v = await t.update(r._id, { tags: $remove('a', 'c') })
      assert.deepEqual(v.tags, ['b', 'd'])
      const low = await t.update(r._id, { score: $inc(-100) }).catch((e) => e)
      assert.equal(low.status, 400, 'bounds are re-checked')
      assert.equal(low.details.field, 'score')
    })

    test('rules: others read but may not change', async () => {
      const alice = await user(platform)
      const bob = await user(platform)
      const r = await alice.table(posts).create({ title: 'mine' })
      assert.equal((await bob.table(posts).get(r._id)).title, 'mine')
      const e = await bob.table(posts).update(r._id, { title: 'yours' }).catch((x) => x)
      assert.equal(e.code, 'FORBIDDEN')
      assert.equal(e.status, 403)
    })

    describe('queries', () => {
      let q
      let c
      let author
      before(async () => {
        c = await user(platform)
        q = await makeTable(
          {
            fields: [
              { name: 'title', type: 'string' },
              { name: 'status', type: 'string', index: true },
              { name: 'score', type: 'integer', index: true },
              { name: 'author', type: 'ref', table: people },
            ],
            acl: { record: 'rwd:r:r' },
          },
          'q',
        )
        author = await c.table(people).create({ name: 'Lu Xun' })
        const rows = []
        for (let i = 0; i < 12; i++) {
          rows.push({ title: `t${i}`, status: i % 3 === 0 ? 'closed' : 'open', score: i, author: author._id })
        }
        // One batch: all or nothing, in order.
        let b = c.batch()
        for (const r of rows) b = b.create(q, r)
        const res = await b.commit()
        assert.equal(res.length, 12)
      })

      test('where, orderBy, limit, fetch(fields)', async () => {
        const r = await c.table(q).where('status', '=', 'open').orderBy('score', 'desc').limit(3).fetch('title', 'score')
        assert.deepEqual(
          r.items.map((x) => x.score),
          [11, 10, 8],
        )
        assert.ok(r.cursor, 'more follow')
        assert.equal(r.items[0].status, undefined, 'only the fields asked for')
        assert.equal(typeof r.items[0]._id, 'string')
        const ranged = await c.table(q).where('score', '>=', 4).where('score', '<', 7).orderBy('score').fetch()
        assert.deepEqual(
          ranged.items.map((x) => x.score),
          [4, 5, 6],
        )
        const inList = await c.table(q).where('score', 'in', [1, 2, 99]).orderBy('score').fetch()
        assert.deepEqual(
          inList.items.map((x) => x.score),
          [1, 2],
        )
        const one = await c.table(q).where({ status: 'closed', score: 9 }).first()
        assert.equal(one.title, 't9')
        assert.equal(await c.table(q).where('score', 99).first(), null)
      })

      test('orWhere: (a and b) or c', async () => {
        const r = await c
          .table(q)
          .where('status', 'closed')
          .where('score', '>', 5)
          .orWhere('score', 1)
          .orderBy('score')
          .fetch()
        assert.deepEqual(
          r.items.map((x) => x.score),
          [1, 6, 9],
        )
      })

      test('after(cursor) pages through everything once', async () => {
        const base = c.table(q).orderBy('score').limit(5)
        const seen = []
        let page = await base.fetch()
        for (;;) {
          seen.push(...page.items.map((x) => x.score))
          if (!page.cursor) break
          page = await base.after(page).fetch()
        }
        assert.deepEqual(
          seen,
          Array.from({ length: 12 }, (_, i) => i),
        )
      })

      test('paginate(perPage, page) and count()', async () => {
        const p2 = await c.table(q).orderBy('score').paginate(5, 2).fetch()
        assert.deepEqual(
          p2.items.map((x) => x.score),
          [5, 6, 7, 8, 9],
        )
        assert.equal(p2.total, 12)
        assert.equal(p2.last_page, 3)
        assert.equal(await c.table(q).count(), 12)
        assert.equal(await c.table(q).where('status', 'open').count(), 8)
        const e = await c.table(q).where('score', '>', 3).count().catch((x) => x)
        assert.equal(e.code, 'COUNT_UNAVAILABLE')
      })

      test('expand refs', async () => {
        const r = await c.table(q).where('score', 2).expand('author').fetch()
        assert.equal(r.items[0].author.name, 'Lu Xun')
        const one = await c.table(q).get(r.items[0]._id, { expand: ['author'] })
        assert.equal(one.author._id, author._id)
      })

      test('queries are immutable and serialisable', async () => {
        const base = c.table(q).where('status', 'open')
        const narrower = base.where('score', '>', 8)
        assert.deepEqual(base.body(), { where: [['status', 'eq', 'open']] })
        assert.throws(() => {
          base._s.order.push(['x'])
        })
        const json = JSON.parse(JSON.stringify(narrower.orderBy('score', 'desc')))
        assert.equal(json.table, q)
        const again = await c.query(json).fetch()
        assert.deepEqual(
          again.items.map((x) => x.score),
          [11, 10],
        )
      })

      test('bad queries name the field', async () => {
        const e = await c.table(q).where('nope', '=', 1).fetch().catch((x) => x)
        assert.equal(e.code, 'INVALID_QUERY')
        assert.equal(e.details.field, 'where.0')
      })
    })

    test('batch: all or nothing, details.op names the failing op', async () => {
      const c = await user(platform)
      const a = await c.table(posts).create({ title: 'a' })
      const res = await c
        .table(posts)
        .batch()
        .create({ title: 'b' })
        .update(a._id, { title: 'a2' }, { _v: 1 })
        .commit()
      assert.equal(res[0].title, 'b')
      assert.equal(res[1].title, 'a2')
      const before = await c.table(posts).where('title', 'c').count().catch(() => null)
      const e = await c
        .batch()
        .create(posts, { title: 'c' })
        .update(posts, a._id, { title: 'a3', _v: 1 })
        .commit()
        .catch((x) => x)
      assert.equal(e.status, 409)
      assert.equal(e.details.op, 1)
      assert.equal((await c.table(posts).get(a._id)).title, 'a2')
      const mine = await c.table(posts).where('_owner', c.auth.user.id).fetch()
      assert.deepEqual(mine.items.map((x) => x.title).sort(), ['a2', 'b'], 'the create was not applied')
      void before
    })

    test('callbacks on table calls', async () => {
      const c = await user(platform)
      const rec = await new Promise((resolve, reject) => c.table(posts).create({ title: 'cb' }, { success: resolve, fail: reject }))
      assert.equal(rec.title, 'cb')
      const page = await new Promise((resolve, reject) => c.table(posts).where('_id', rec._id).fetch({ success: resolve, fail: reject }))
      assert.equal(page.items[0]._id, rec._id)
      const err = await new Promise((resolve) => c.table(posts).get('nope', { fail: resolve }))
      assert.equal(err.code, 'NOT_FOUND')
    })
  })
}
