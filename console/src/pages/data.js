// A table's records: the query language (conditions, order, cursor paging, counts),
// record edit with `_v` conflicts shown, create and delete.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { T } from '../i18n.js';
import { Button, ErrorBox, cell, html, parseJson, useAction } from '../ui.js';

const OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'prefix', 'contains', 'exists'];
const SYSTEM = ['_id', '_owner', '_group', '_created', '_updated', '_v'];

/** A value typed in a condition: JSON when it reads as JSON, else the text. @param {string} s */
function value(s) {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** The record's own fields and its `_v`, as the editor shows them. @param {any} r */
function editable(r) {
  /** @type {any} */
  const o = {};
  for (const [k, v] of Object.entries(r)) if (!k.startsWith('_') || k === '_v') o[k] = v;
  return JSON.stringify(o, null, 2);
}

/** @param {{name: string, table: any}} p */
export function DataBrowser({ name, table }) {
  const fields = [...SYSTEM, ...table.fields.map((/** @type {any} */ f) => f.name)];
  const [conds, setConds] = useState(/** @type {{f: string, op: string, v: string}[]} */ ([]));
  const [order, setOrder] = useState({ f: '', dir: 'asc' });
  const [limit, setLimit] = useState('20');
  const [page, setPage] = useState(/** @type {any} */ (null));
  // Cursors of the pages before this one (the first page's is null).
  const [trail, setTrail] = useState(/** @type {(string | null)[]} */ ([]));
  const [here, setHere] = useState(/** @type {string | null} */ (null));
  const [busy, error, run] = useAction();
  const [editing, setEditing] = useState(/** @type {any} */ (null));

  // Answers that come back out of order: only the latest query's is shown.
  const latest = useRef(0);
  /** @param {string | null} cursor */
  const query = (cursor) =>
    run(async () => {
      const mine = ++latest.current;
      /** @type {any} */
      const body = { where: conds.filter((c) => c.f).map((c) => [c.f, c.op, value(c.v)]), limit: Number(limit) || 20, count: true };
      if (order.f) body.order = [[order.f, order.dir]];
      if (cursor) body.cursor = cursor;
      let p;
      try {
        p = await api('POST', `/v1/tables/${enc(name)}/query`, body);
      } catch (e) {
        // Counts are kept for some queries only: ask again without one, and say so.
        if (/** @type {any} */ (e).code !== 'COUNT_UNAVAILABLE') throw e;
        p = { ...(await api('POST', `/v1/tables/${enc(name)}/query`, { ...body, count: false })), noCount: /** @type {any} */ (e).message };
      }
      if (mine !== latest.current) return;
      setPage(p);
      setHere(cursor);
    });
  useEffect(() => {
    query(null);
  }, [name]);
  const first = () => {
    setTrail([]);
    query(null);
  };
  const next = () => {
    setTrail([...trail, here]);
    query(page.cursor);
  };
  const prev = () => {
    const t = trail.slice(0, -1);
    const c = trail[trail.length - 1] ?? null;
    setTrail(t);
    query(c);
  };
  const cols = [...fields.filter((f) => !['_group', '_created', '_updated'].includes(f))];
  return html`<section class="data">
    <form class="query" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); first(); }}>
      <fieldset>
        <legend>${T('Conditions', '条件')}</legend>
        ${conds.map((c, i) => html`<div class="row cond">
          <select aria-label=${T('Field', '字段') + ' ' + (i + 1)} data-k="f" value=${c.f} onChange=${(/** @type {any} */ e) => setConds(conds.map((x, j) => (j === i ? { ...x, f: e.target.value } : x)))}>${fields.map((f) => html`<option>${f}</option>`)}</select>
          <select aria-label=${T('Operator', '运算符') + ' ' + (i + 1)} data-k="op" value=${c.op} onChange=${(/** @type {any} */ e) => setConds(conds.map((x, j) => (j === i ? { ...x, op: e.target.value } : x)))}>${OPS.map((o) => html`<option>${o}</option>`)}</select>
          <input aria-label=${T('Value (JSON or text)', '值（JSON 或文本）') + ' ' + (i + 1)} data-k="v" value=${c.v} onInput=${(/** @type {any} */ e) => setConds(conds.map((x, j) => (j === i ? { ...x, v: e.target.value } : x)))} />
          <button type="button" class="link" aria-label=${T('Remove condition', '删除条件') + ' ' + (i + 1)} onClick=${() => setConds(conds.filter((_, j) => j !== i))}>✕</button>
        </div>`)}
        <button type="button" id="add-cond" onClick=${() => setConds([...conds, { f: fields[6] || '_id', op: 'eq', v: '' }])}>${T('Add a condition', '添加条件')}</button>
      </fieldset>
      <div class="row">
        <label>${T('Order by', '排序')} <select id="order-field" value=${order.f} onChange=${(/** @type {any} */ e) => setOrder({ ...order, f: e.target.value })}><option value="">${T('(none)', '（无）')}</option>${fields.map((f) => html`<option>${f}</option>`)}</select></label>
        <select id="order-dir" aria-label=${T('Direction', '方向')} value=${order.dir} onChange=${(/** @type {any} */ e) => setOrder({ ...order, dir: e.target.value })}><option value="asc">${T('ascending', '升序')}</option><option value="desc">${T('descending', '降序')}</option></select>
        <label>${T('Per page', '每页')} <input id="limit" class="narrow" type="number" min="1" max="100" value=${limit} onInput=${(/** @type {any} */ e) => setLimit(e.target.value)} /></label>
        <${Button} busy=${busy} type="submit" id="run-query">${T('Run query', '查询')}<//>
        <button type="button" id="new-record" onClick=${() => setEditing({ isNew: true, text: '{\n}' })}>${T('New record', '新建记录')}</button>
      </div>
    </form>
    <${ErrorBox} error=${error} />
    ${page ? html`
      <p role="status" id="query-status" data-total=${page.total ?? ''}>${page.total !== undefined && page.total !== null
        ? T(`${page.total} records match; ${page.items.length} shown (page ${trail.length + 1}).`, `共 ${page.total} 条匹配；显示 ${page.items.length} 条（第 ${trail.length + 1} 页）。`)
        : T(`${page.items.length} shown (page ${trail.length + 1}).`, `显示 ${page.items.length} 条（第 ${trail.length + 1} 页）。`)}
        ${page.noCount ? html`<br /><small class="hint" id="no-count">${T('No count for this query: ', '此查询无计数：')}${page.noCount}</small>` : null}
        ${page.scanned > page.items.length * 2 ? html`<br /><small class="hint">${T(`${page.scanned} records read to find these (no index serves this query fully).`, `为此读取了 ${page.scanned} 条记录（没有索引能完全支持此查询）。`)}</small>` : null}</p>
      <div class="scroll"><table class="grid" id="records">
        <thead><tr>${cols.map((c) => html`<th>${c}</th>`)}<th></th></tr></thead>
        <tbody>${page.items.map((/** @type {any} */ r) => html`<tr data-id=${r._id}>
          ${cols.map((c) => html`<td data-col=${c}>${cell(r[c])}</td>`)}
          <td><button class="link" data-edit=${r._id} onClick=${() => setEditing({ record: r, text: editable(r) })}>${T('Edit', '编辑')}</button></td>
        </tr>`)}</tbody>
      </table></div>
      <div class="row pager">
        <button type="button" id="page-prev" disabled=${trail.length === 0 || busy} onClick=${prev}>${T('Previous page', '上一页')}</button>
        <button type="button" id="page-next" disabled=${!page.cursor || busy} onClick=${next}>${T('Next page', '下一页')}</button>
      </div>` : null}
    ${editing ? html`<${RecordEditor} name=${name} editing=${editing} onDone=${() => { setEditing(null); query(here); }} onCancel=${() => setEditing(null)} />` : null}
  </section>`;
}

/** @param {{name: string, editing: any, onDone: () => void, onCancel: () => void}} p */
function RecordEditor({ name, editing, onDone, onCancel }) {
  const [text, setText] = useState(editing.text);
  const [busy, error, run] = useAction();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const id = editing.record && editing.record._id;
  const save = () =>
    run(async () => {
      const body = parseJson(text, T('Record', '记录'));
      if (editing.isNew) await api('POST', `/v1/tables/${enc(name)}/records`, body);
      else await api('PATCH', `/v1/tables/${enc(name)}/records/${enc(id)}`, body);
      onDone();
    });
  const reload = () =>
    run(async () => {
      const r = await api('GET', `/v1/tables/${enc(name)}/records/${enc(id)}`);
      setText(editable(r));
    });
  const del = () =>
    run(async () => {
      await api('DELETE', `/v1/tables/${enc(name)}/records/${enc(id)}`);
      onDone();
    });
  const conflict = error && error.status === 409 && error.code === 'CONFLICT' && !editing.isNew;
  return html`<section class="editor" aria-label=${T('Record editor', '记录编辑器')} id="record-editor">
    <h2>${editing.isNew ? T('New record', '新建记录') : T(`Record ${id}`, `记录 ${id}`)}</h2>
    <label for="record-json">${T('Fields as JSON (keep _v to be told of changes made meanwhile)', '字段（JSON；保留 _v 以发现期间的修改）')}</label>
    <textarea id="record-json" rows="10" value=${text} onInput=${(/** @type {any} */ e) => setText(e.target.value)}></textarea>
    ${conflict ? html`<div class="error" role="alert" id="conflict">
      ${T('Someone changed this record since you opened it (its _v moved on). Reload it to see the current version, then make your change again.', '打开后此记录已被他人修改（_v 已变化）。请重新加载查看当前版本，再重新修改。')}
      <button type="button" id="conflict-reload" onClick=${reload}>${T('Reload record', '重新加载记录')}</button>
    </div>` : html`<${ErrorBox} error=${error} />`}
    <div class="row">
      <${Button} busy=${busy} id="record-save" onClick=${save}>${editing.isNew ? T('Create', '创建') : T('Save', '保存')}<//>
      <button type="button" onClick=${onCancel}>${T('Cancel', '取消')}</button>
      ${editing.isNew ? null : confirmDelete
        ? html`<button type="button" class="danger" id="record-delete-confirm" onClick=${del}>${T('Really delete', '确认删除')}</button>`
        : html`<button type="button" class="danger" id="record-delete" onClick=${() => setConfirmDelete(true)}>${T('Delete', '删除')}</button>`}
    </div>
  </section>`;
}
