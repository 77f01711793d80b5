// Key-value namespaces and their entries.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, get } from '../api.js';
import { T } from '../i18n.js';
import { Button, ErrorBox, cell, html, parseJson, useAction } from '../ui.js';

/** @param {{rest: string[]}} p */
export function KvPage({ rest }) {
  return rest[0] ? html`<${Namespace} ns=${rest[0]} />` : html`<${Namespaces} />`;
}

function Namespaces() {
  const [items, setItems] = useState(/** @type {any[]} */ ([]));
  const [form, setForm] = useState({ name: '', read: 'admins', write: 'admins', scope: 'shared' });
  const [busy, error, run] = useAction();
  const load = () => run(async () => setItems((await get('/v1/kv')).items));
  useEffect(() => {
    load();
  }, []);
  const create = (/** @type {Event} */ e) => {
    e.preventDefault();
    run(async () => {
      await api('PUT', `/v1/kv/${enc(form.name.trim())}`, { read: form.read, write: form.write, scope: form.scope });
      location.hash = `#/kv/${enc(form.name.trim())}`;
    });
  };
  /** @param {'name'|'read'|'write'|'scope'} k @param {string} label */
  const input = (k, label) => html`<label>${label} <input data-k=${k} value=${form[k]} onInput=${(/** @type {any} */ e) => setForm({ ...form, [k]: e.target.value })} /></label>`;
  return html`<section>
    <${ErrorBox} error=${error} />
    <table class="grid" id="kv-namespaces">
      <thead><tr><th>${T('Namespace', '命名空间')}</th><th>${T('Read', '读')}</th><th>${T('Write', '写')}</th><th>${T('Scope', '范围')}</th></tr></thead>
      <tbody>${items.map((n) => html`<tr><td><a href=${'#/kv/' + enc(n.name)}>${n.name}</a></td><td>${n.read}</td><td>${n.write}</td><td>${n.scope}</td></tr>`)}</tbody>
    </table>
    <form class="row" onSubmit=${create}>
      ${input('name', T('New namespace', '新命名空间'))}${input('read', T('Read', '读'))}${input('write', T('Write', '写'))}${input('scope', T('Scope (shared or user)', '范围（shared 或 user）'))}
      <${Button} busy=${busy} type="submit">${T('Create', '创建')}<//>
    </form>
  </section>`;
}

/** @param {{ns: string}} p */
function Namespace({ ns }) {
  const [page, setPage] = useState(/** @type {any} */ (null));
  const [key, setKey] = useState('');
  const [val, setVal] = useState('');
  const [busy, error, run] = useAction();
  /** @param {string | null} c */
  const load = (c) => run(async () => setPage(await get(`/v1/kv/${enc(ns)}${c ? '?cursor=' + enc(c) : ''}`)));
  useEffect(() => {
    load(null);
  }, [ns]);
  const put = (/** @type {Event} */ e) => {
    e.preventDefault();
    run(async () => {
      await api('PUT', `/v1/kv/${enc(ns)}/${enc(key)}`, { value: parseJson(val, T('Value', '值')) });
      setKey('');
      setVal('');
      setPage(await get(`/v1/kv/${enc(ns)}`));
    });
  };
  /** @param {string} k */
  const del = (k) =>
    run(async () => {
      await api('DELETE', `/v1/kv/${enc(ns)}/${enc(k)}`);
      setPage(await get(`/v1/kv/${enc(ns)}`));
    });
  return html`<section>
    <p><a href="#/kv">${T('All namespaces', '全部命名空间')}</a> / <strong>${ns}</strong></p>
    <${ErrorBox} error=${error} />
    ${page ? html`<table class="grid" id="kv-entries">
      <thead><tr><th>${T('Key', '键')}</th><th>${T('Value', '值')}</th><th>v</th><th>${T('Expires', '过期')}</th><th></th></tr></thead>
      <tbody>${page.items.map((/** @type {any} */ e) => html`<tr>
        <td><code>${e.key}</code></td><td><code>${cell(e.value)}</code></td><td>${e.v}</td><td>${e.expires_at || ''}</td>
        <td><button class="link" onClick=${() => { setKey(e.key); setVal(JSON.stringify(e.value)); }}>${T('Edit', '编辑')}</button> <button class="link danger" onClick=${() => del(e.key)}>${T('Delete', '删除')}</button></td>
      </tr>`)}</tbody>
    </table>
    ${page.cursor ? html`<button onClick=${() => load(page.cursor)}>${T('Next page', '下一页')}</button>` : null}` : null}
    <form class="row" onSubmit=${put}>
      <label>${T('Key', '键')} <input id="kv-key" value=${key} onInput=${(/** @type {any} */ e) => setKey(e.target.value)} /></label>
      <label>${T('Value (JSON)', '值（JSON）')} <input id="kv-value" class="wide" value=${val} onInput=${(/** @type {any} */ e) => setVal(e.target.value)} /></label>
      <${Button} busy=${busy} type="submit" id="kv-put">${T('Put', '写入')}<//>
    </form>
  </section>`;
}
