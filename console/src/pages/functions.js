// Cloud functions: modules, source, deploy, invoke with arguments, logs, the outbox.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, get } from '../api.js';
import { T } from '../i18n.js';
import { Button, ErrorBox, html, parseJson, useAction } from '../ui.js';

const EXAMPLE = `export function hello(name) {\n  return { greeting: 'hello ' + name };\n}\n`;

/** @param {{rest: string[]}} p */
export function FunctionsPage({ rest }) {
  if (rest[0] === 'outbox') return html`<${Outbox} />`;
  return rest[0] ? html`<${Module} name=${rest[0]} />` : html`<${Modules} />`;
}

function Modules() {
  const [items, setItems] = useState(/** @type {any[] | null} */ (null));
  const [name, setName] = useState('');
  const [, error, run] = useAction();
  useEffect(() => {
    run(async () => setItems((await get('/v1/functions')).items));
  }, []);
  return html`<section>
    <p><a href="#/functions/outbox" id="outbox-link">${T('The outbox (after-hooks waiting or failed)', '发件箱（等待中或失败的后置钩子）')}</a></p>
    <${ErrorBox} error=${error} />
    <table class="grid" id="modules">
      <thead><tr><th>${T('Module', '模块')}</th><th>${T('Exports', '导出')}</th><th>${T('Version', '版本')}</th><th>${T('Deployed', '部署时间')}</th><th>${T('Size', '大小')}</th></tr></thead>
      <tbody>${(items || []).map((m) => html`<tr><td><a href=${'#/functions/' + enc(m.name)}>${m.name}</a></td>
        <td>${m.exports.map((/** @type {any} */ x) => x.name + (x.schedule ? ` (${x.schedule})` : '')).join(', ')}</td>
        <td>${m.version}</td><td>${m.deployed_at}</td><td>${m.source_bytes} B</td></tr>`)}</tbody>
    </table>
    <form class="row" onSubmit=${(/** @type {Event} */ e) => { e.preventDefault(); if (name.trim()) location.hash = '#/functions/' + enc(name.trim()); }}>
      <label>${T('New module', '新模块')} <input id="new-module" value=${name} onInput=${(/** @type {any} */ e) => setName(e.target.value)} /></label>
      <button type="submit" id="new-module-go">${T('Write…', '编写…')}</button>
    </form>
  </section>`;
}

/** @param {{name: string}} p */
function Module({ name }) {
  const [mod, setMod] = useState(/** @type {any} */ (undefined));
  const [source, setSource] = useState('');
  const [access, setAccess] = useState('');
  const [busy, error, run] = useAction();
  const [note, setNote] = useState('');
  const [exp, setExp] = useState('');
  const [args, setArgs] = useState('["world"]');
  const [result, setResult] = useState(/** @type {any} */ (undefined));
  const [calling, callError, runCall] = useAction();
  const [logs, setLogs] = useState(/** @type {any[] | null} */ (null));
  /** @param {any} m */
  const show = (m) => {
    setMod(m);
    if (m && m.exports.length && !m.exports.some((/** @type {any} */ x) => x.name === exp)) setExp(m.exports[0].name);
  };
  useEffect(() => {
    run(async () => {
      try {
        const m = await get(`/v1/functions/${enc(name)}`);
        show(m);
        // What the admin typed while this loaded is kept, not overwritten.
        setSource((typed) => typed || m.source || '');
        setAccess((typed) => typed || m.access || '');
      } catch (e) {
        if (/** @type {any} */ (e).status !== 404) throw e;
        setMod(null);
        setSource((typed) => typed || EXAMPLE);
      }
    });
  }, [name]);
  const deploy = () =>
    run(async () => {
      /** @type {any} */
      const body = { source };
      if (access.trim()) body.access = access.trim();
      const m = await api('PUT', `/v1/functions/${enc(name)}`, body);
      show(m);
      setNote(T(`Deployed version ${m.version}.`, `已部署版本 ${m.version}。`));
    });
  const invoke = (/** @type {Event} */ e) => {
    e.preventDefault();
    runCall(async () => {
      setResult(undefined);
      const a = parseJson(args, T('Arguments', '参数'));
      const r = await api('POST', `/v1/fn/${enc(name)}/${enc(exp)}`, { args: Array.isArray(a) ? a : [a] });
      setResult(r.result);
    });
  };
  const loadLogs = () => run(async () => setLogs((await get(`/v1/functions/${enc(name)}/logs?limit=20`)).items));
  return html`<section class="module">
    <p><a href="#/functions">${T('All modules', '全部模块')}</a> / <strong>${name}</strong> ${mod ? html`· ${T('version', '版本')} <span id="module-version">${mod.version}</span>` : mod === null ? T('(new)', '（新）') : ''}</p>
    <label for="source">${T('Source (an ES module; each export is callable)', '源码（ES 模块；每个导出都可调用）')}</label>
    <textarea id="source" class="code" rows="14" spellcheck="false" value=${source} onInput=${(/** @type {any} */ e) => setSource(e.target.value)}></textarea>
    <div class="row">
      <label>${T('Who may call (users, anyone, admins, group:<name>)', '谁可调用（users、anyone、admins、group:<分组>）')} <input id="access" value=${access} placeholder="users" onInput=${(/** @type {any} */ e) => setAccess(e.target.value)} /></label>
      <${Button} busy=${busy} id="deploy" onClick=${deploy}>${T('Deploy', '部署')}<//>
      ${note ? html`<span role="status" id="deploy-note">${note}</span>` : null}
    </div>
    <${ErrorBox} error=${error} />
    ${mod ? html`<form class="stack" onSubmit=${invoke}>
      <h2>${T('Invoke', '调用')}</h2>
      <div class="row">
        <label>${T('Export', '导出')} <select id="export" value=${exp} onChange=${(/** @type {any} */ e) => setExp(e.target.value)}>${mod.exports.map((/** @type {any} */ x) => html`<option>${x.name}</option>`)}</select></label>
        <label>${T('Arguments (a JSON list)', '参数（JSON 数组）')} <input id="args" class="wide" value=${args} onInput=${(/** @type {any} */ e) => setArgs(e.target.value)} /></label>
        <${Button} busy=${calling} type="submit" id="invoke">${T('Invoke', '调用')}<//>
      </div>
      <${ErrorBox} error=${callError} />
      ${result !== undefined ? html`<pre id="result" role="status">${JSON.stringify(result, null, 2)}</pre>` : null}
    </form>
    <div class="stack">
      <div class="row"><h2>${T('Logs', '日志')}</h2><${Button} busy=${busy} id="load-logs" onClick=${loadLogs}>${logs ? T('Refresh', '刷新') : T('Show', '显示')}<//></div>
      ${logs ? html`<table class="grid" id="logs"><thead><tr><th>${T('At', '时间')}</th><th>${T('Export', '导出')}</th><th>${T('Trigger', '触发')}</th><th>${T('Outcome', '结果')}</th><th>ms</th><th>${T('Lines', '输出')}</th></tr></thead>
        <tbody>${logs.map((l) => html`<tr class=${l.outcome === 'ok' ? '' : 'bad'}><td>${l.at}</td><td>${l.export}</td><td>${l.trigger}</td><td>${l.outcome}${l.error ? ': ' + l.error : ''}</td><td>${l.duration_ms}</td>
          <td>${l.logs.map((/** @type {any} */ x) => html`<div><small>${x.level}</small> ${x.message}</div>`)}</td></tr>`)}</tbody></table>` : null}
    </div>` : null}
  </section>`;
}

function Outbox() {
  const [items, setItems] = useState(/** @type {any[]} */ ([]));
  const [busy, error, run] = useAction();
  const load = async () => setItems((await get('/v1/functions/outbox?limit=50')).items);
  useEffect(() => {
    run(load);
  }, []);
  return html`<section>
    <p><a href="#/functions">${T('All modules', '全部模块')}</a> / <strong>${T('Outbox', '发件箱')}</strong></p>
    <${ErrorBox} error=${error} />
    <table class="grid" id="outbox">
      <thead><tr><th>ID</th><th>${T('Hook', '钩子')}</th><th>${T('Record', '记录')}</th><th>${T('Attempts', '尝试次数')}</th><th>${T('Next try', '下次尝试')}</th><th>${T('Last error', '最后错误')}</th><th></th></tr></thead>
      <tbody>${items.map((o) => html`<tr class=${o.dead ? 'bad' : ''}><td><code>${o.id}</code></td><td>${o.hook || ''} ${o.op || ''}</td><td>${o.table || ''} ${o.record_id || ''}</td><td>${o.attempts}</td><td>${o.next_at || ''}</td><td>${o.last_error || ''}</td>
        <td><${Button} busy=${busy} onClick=${() => run(async () => { await api('POST', `/v1/functions/outbox/${enc(o.id)}/retry`); await load(); })}>${T('Retry', '重试')}<//></td></tr>`)}</tbody>
    </table>
    ${items.length === 0 ? html`<p>${T('The outbox is empty.', '发件箱为空。')}</p>` : null}
  </section>`;
}
