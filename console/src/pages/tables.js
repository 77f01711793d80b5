// Tables: the list, the schema editor (the server's validation errors shown on the field
// they name), and the data browser.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, get } from '../api.js';
import { T } from '../i18n.js';
import { Button, ErrorBox, html, useAction } from '../ui.js';
import { DataBrowser } from './data.js';

export const TYPES = ['string', 'text', 'integer', 'number', 'boolean', 'datetime', 'json', 'ref', 'file'];
const HOOKS = ['before_create', 'before_update', 'before_delete', 'after_create', 'after_update', 'after_delete'];

/** @param {{rest: string[]}} p */
export function TablesPage({ rest }) {
  if (rest[0]) return html`<${Table} name=${rest[0]} tab=${rest[1] || 'data'} />`;
  return html`<${TableList} />`;
}

function TableList() {
  const [tables, setTables] = useState(/** @type {any[] | null} */ (null));
  const [name, setName] = useState('');
  const [, error, run] = useAction();
  useEffect(() => {
    run(async () => setTables((await get('/v1/tables')).items));
  }, []);
  /** @param {Event} e */
  const create = (e) => {
    e.preventDefault();
    if (name.trim()) location.hash = `#/tables/${enc(name.trim())}/schema`;
  };
  return html`<section>
    <${ErrorBox} error=${error} />
    ${tables === null ? html`<p aria-busy="true">${T('Loading…', '加载中…')}</p>` : html`
    <table class="grid" id="tables-list">
      <thead><tr><th>${T('Name', '名称')}</th><th>${T('Fields', '字段')}</th><th>${T('Rules', '规则')}</th><th>${T('Version', '版本')}</th></tr></thead>
      <tbody>
        ${tables.length === 0 ? html`<tr><td colspan="4">${T('No tables yet.', '还没有数据表。')}</td></tr>` : null}
        ${tables.map((t) => html`<tr>
          <td><a href=${'#/tables/' + enc(t.name)}>${t.name}</a></td>
          <td>${t.fields.map((/** @type {any} */ f) => f.name).join(', ')}</td>
          <td><code>${(t.acl && t.acl.record) || ''}</code></td>
          <td>${t.version}</td>
        </tr>`)}
      </tbody>
    </table>`}
    <form class="row" onSubmit=${create}>
      <label for="new-table">${T('New table', '新建数据表')}</label>
      <input id="new-table" value=${name} placeholder="notes" onInput=${(/** @type {any} */ e) => setName(e.target.value)} />
      <button type="submit" id="new-table-go">${T('Define…', '定义…')}</button>
    </form>
  </section>`;
}

/** @param {{name: string, tab: string}} p */
function Table({ name, tab }) {
  const [table, setTable] = useState(/** @type {any} */ (undefined));
  const [, error, run] = useAction();
  const load = () =>
    run(async () => {
      try {
        setTable(await get(`/v1/tables/${enc(name)}`));
      } catch (e) {
        if (/** @type {any} */ (e).status === 404) setTable(null);
        else throw e;
      }
    });
  useEffect(() => {
    load();
  }, [name]);
  const tabs = [
    ['data', T('Data', '数据')],
    ['schema', T('Schema', '结构')],
  ];
  return html`<section>
    <p><a href="#/tables">${T('All tables', '全部数据表')}</a> / <strong id="table-name">${name}</strong></p>
    <div role="tablist" class="tabs">
      ${tabs.map(([id, label]) => html`<a role="tab" id=${'tab-' + id} aria-selected=${tab === id ? 'true' : 'false'} href=${`#/tables/${enc(name)}/${id}`}>${label}</a>`)}
    </div>
    <${ErrorBox} error=${error} />
    ${table === undefined ? html`<p aria-busy="true">${T('Loading…', '加载中…')}</p>`
      : tab === 'schema' || table === null ? html`<${SchemaEditor} name=${name} table=${table} onSaved=${(/** @type {any} */ t) => setTable(t)} />`
      : html`<${DataBrowser} name=${name} table=${table} />`}
  </section>`;
}

/** @param {any} f */
function fieldRow(f) {
  return {
    name: f.name || '',
    type: f.type || 'string',
    required: !!f.required,
    unique: !!f.unique,
    index: !!f.index,
    length: f.length ?? '',
    min: f.min ?? '',
    max: f.max ?? '',
    table: f.table || '',
    many: !!f.many,
    acl: f.acl || '',
    default: f.default === undefined ? '' : JSON.stringify(f.default),
    check: f.check || '',
  };
}

/** What the admin typed, as the server reads a field: unset settings left out. @param {any} r */
function fieldDef(r) {
  /** @type {any} */
  const f = { name: r.name.trim(), type: r.type };
  for (const k of ['required', 'unique', 'index', 'many']) if (r[k]) f[k] = true;
  for (const k of ['length', 'min', 'max']) {
    if (String(r[k]).trim() !== '') {
      const n = Number(r[k]);
      f[k] = Number.isFinite(n) ? n : r[k];
    }
  }
  for (const k of ['table', 'acl', 'check']) if (r[k].trim()) f[k] = r[k].trim();
  if (r.default.trim()) {
    try {
      f.default = JSON.parse(r.default);
    } catch {
      f.default = r.default;
    }
  }
  return f;
}

/** @param {{name: string, table: any, onSaved: (t: any) => void}} p */
function SchemaEditor({ name, table, onSaved }) {
  const [rows, setRows] = useState(() => (table ? table.fields.map(fieldRow) : [fieldRow({})]));
  const [acl, setAcl] = useState(() => ({ record: '', create: '', group: '', ...((table && table.acl) || {}) }));
  const [hooks, setHooks] = useState(() => ({ ...((table && table.hooks) || {}) }));
  const [allowDrop, setAllowDrop] = useState(false);
  const [busy, error, run] = useAction();
  const [note, setNote] = useState('');
  const [progress, setProgress] = useState(/** @type {any} */ (null));
  /** @type {{row: string, what: string} | null} */
  const at = error && typeof error.details?.field === 'string' ? parseAt(error.details.field) : null;
  /** @param {number} i @param {string} k @param {any} v */
  const set = (i, k, v) => setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  const save = () =>
    run(async () => {
      setNote('');
      /** @type {any} */
      const a = {};
      for (const k of ['record', 'create', 'group']) if (acl[k].trim()) a[k] = acl[k].trim();
      /** @type {any} */
      const hk = {};
      for (const k of HOOKS) if ((hooks[k] || '').trim()) hk[k] = hooks[k].trim();
      const body = { fields: rows.filter((r) => r.name.trim()).map(fieldDef), acl: a, hooks: hk };
      let t = await api('PUT', `/v1/tables/${enc(name)}${allowDrop ? '?drop=true' : ''}`, body);
      // A change that re-keys records goes on in steps: show them.
      while (t.backfill && !t.backfill.done) {
        setProgress(t.backfill);
        t = await api('POST', `/v1/tables/${enc(name)}/backfill`);
      }
      setProgress(null);
      setNote(T(`Saved: version ${t.version}.`, `已保存：版本 ${t.version}。`));
      onSaved(t);
    });
  /** @param {string} row @param {string} what */
  const errOn = (row, what) => (at && at.row === row && (at.what === what || (!at.what && what === 'name')) ? 'invalid' : undefined);
  return html`<section class="schema">
    <table class="grid" id="schema-fields">
      <caption>${T('Fields', '字段')}</caption>
      <thead><tr>
        <th>${T('Name', '名称')}</th><th>${T('Type', '类型')}</th><th>${T('Required', '必填')}</th><th>${T('Unique', '唯一')}</th><th>${T('Index', '索引')}</th>
        <th>${T('Length', '长度')}</th><th>${T('Min', '最小')}</th><th>${T('Max', '最大')}</th><th>${T('Ref table', '引用表')}</th><th>${T('Many', '多值')}</th><th>${T('Field rule', '字段规则')}</th><th>${T('Default (JSON)', '默认值（JSON）')}</th><th></th>
      </tr></thead>
      <tbody>
        ${rows.map((r, i) => {
          const mine = at && at.row === r.name;
          const input = (/** @type {string} */ k, /** @type {string} */ label, w = 'narrow') => html`<td><input class=${w} aria-label=${label + ' ' + (i + 1)} data-k=${k} value=${r[/** @type {'name'} */ (k)]} aria-invalid=${errOn(r.name, k) ? 'true' : undefined} aria-describedby=${mine ? 'field-error' : undefined} onInput=${(/** @type {any} */ e) => set(i, k, e.target.value)} /></td>`;
          const box = (/** @type {string} */ k, /** @type {string} */ label) => html`<td><input type="checkbox" aria-label=${label + ' ' + (i + 1)} data-k=${k} checked=${r[/** @type {'required'} */ (k)]} onChange=${(/** @type {any} */ e) => set(i, k, e.target.checked)} /></td>`;
          return html`<tr class=${mine ? 'has-error' : ''} data-field=${r.name}>
            ${input('name', T('Name', '名称'), 'mid')}
            <td><select aria-label=${T('Type', '类型') + ' ' + (i + 1)} data-k="type" value=${r.type} onChange=${(/** @type {any} */ e) => set(i, 'type', e.target.value)}>${TYPES.map((t) => html`<option>${t}</option>`)}</select></td>
            ${box('required', T('Required', '必填'))}${box('unique', T('Unique', '唯一'))}${box('index', T('Index', '索引'))}
            ${input('length', T('Length', '长度'))}${input('min', T('Min', '最小'))}${input('max', T('Max', '最大'))}
            ${input('table', T('Ref table', '引用表'), 'mid')}${box('many', T('Many', '多值'))}${input('acl', T('Field rule', '字段规则'))}${input('default', T('Default', '默认值'), 'mid')}
            <td><button type="button" class="link" aria-label=${T('Remove field', '删除字段') + ' ' + (r.name || i + 1)} onClick=${() => setRows(rows.filter((_, j) => j !== i))}>✕</button></td>
          </tr>${mine ? html`<tr class="field-error-row"><td colspan="13"><span id="field-error" role="alert" class="error-inline">${error.message}</span></td></tr>` : null}`;
        })}
      </tbody>
    </table>
    <button type="button" id="add-field" onClick=${() => setRows([...rows, fieldRow({})])}>${T('Add a field', '添加字段')}</button>
    <fieldset>
      <legend>${T('Rules', '规则')}</legend>
      <label>${T('Records (owner:group:other over r w d)', '记录（owner:group:other，r w d）')} <input id="acl-record" placeholder="rwd:r:-" value=${acl.record} aria-invalid=${at && at.row === 'acl' ? 'true' : undefined} onInput=${(/** @type {any} */ e) => setAcl({ ...acl, record: e.target.value })} /></label>
      <label>${T('Who may create', '谁可创建')} <input id="acl-create" placeholder="users" value=${acl.create} onInput=${(/** @type {any} */ e) => setAcl({ ...acl, create: e.target.value })} /></label>
      <label>${T('Default group', '默认分组')} <input id="acl-group" value=${acl.group} onInput=${(/** @type {any} */ e) => setAcl({ ...acl, group: e.target.value })} /></label>
    </fieldset>
    <fieldset>
      <legend>${T('Hooks (module.export)', '钩子（模块.导出）')}</legend>
      ${HOOKS.map((k) => html`<label>${k} <input data-hook=${k} value=${hooks[k] || ''} onInput=${(/** @type {any} */ e) => setHooks({ ...hooks, [k]: e.target.value })} /></label>`)}
    </fieldset>
    <label class="check"><input type="checkbox" id="allow-drop" checked=${allowDrop} onChange=${(/** @type {any} */ e) => setAllowDrop(e.target.checked)} /> ${T('Allow dropping fields', '允许删除字段')}</label>
    <div class="row">
      <${Button} busy=${busy} id="schema-save" onClick=${save}>${table ? T('Save schema', '保存结构') : T('Create table', '创建数据表')}<//>
      ${note ? html`<span role="status" id="schema-note">${note}</span>` : null}
    </div>
    ${progress ? html`<p role="status">${T(`Back-filling: ${progress.scanned} scanned, ${progress.updated} updated…`, `回填中：已扫描 ${progress.scanned}，已更新 ${progress.updated}…`)}</p>` : null}
    ${error && !at ? html`<${ErrorBox} error=${error} />` : null}
    ${error && at && !rows.some((r) => r.name === at.row) ? html`<${ErrorBox} error=${error} />` : null}
  </section>`;
}

/** `fields.title.length` → the row and the setting it names. @param {string} path */
function parseAt(path) {
  const m = /^fields\.([^.]+)(?:\.(.+))?$/.exec(path);
  if (m) return { row: m[1], what: m[2] || '' };
  const a = /^acl/.exec(path);
  if (a) return { row: 'acl', what: path };
  return { row: path, what: '' };
}
