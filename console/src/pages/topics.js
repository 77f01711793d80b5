// Topic rules: who may subscribe and publish, per topic or prefix.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, get } from '../api.js';
import { T } from '../i18n.js';
import { Button, ErrorBox, html, useAction } from '../ui.js';

export function TopicsPage() {
  const [rules, setRules] = useState(/** @type {any[]} */ ([]));
  const [form, setForm] = useState({ pattern: '', subscribe: 'users', publish: 'users' });
  const [busy, error, run] = useAction();
  const load = async () => setRules((await get('/v1/topics/rules')).items);
  useEffect(() => {
    run(load);
  }, []);
  const save = (/** @type {Event} */ e) => {
    e.preventDefault();
    run(async () => {
      await api('PUT', `/v1/topics/rules/${enc(form.pattern.trim())}`, { subscribe: form.subscribe, publish: form.publish });
      await load();
    });
  };
  /** @param {string} p */
  const del = (p) =>
    run(async () => {
      await api('DELETE', `/v1/topics/rules/${enc(p)}`);
      await load();
    });
  /** @param {'pattern'|'subscribe'|'publish'} k @param {string} label */
  const input = (k, label) => html`<label>${label} <input id=${'rule-' + k} value=${form[k]} onInput=${(/** @type {any} */ e) => setForm({ ...form, [k]: e.target.value })} /></label>`;
  return html`<section>
    <${ErrorBox} error=${error} />
    <table class="grid" id="rules">
      <thead><tr><th>${T('Topic or prefix*', '主题或前缀*')}</th><th>${T('Subscribe', '订阅')}</th><th>${T('Publish', '发布')}</th><th></th></tr></thead>
      <tbody>${rules.map((r) => html`<tr><td><code>${r.pattern}</code></td><td>${r.subscribe}</td><td>${r.publish}</td>
        <td><button class="link" onClick=${() => setForm({ pattern: r.pattern, subscribe: r.subscribe, publish: r.publish })}>${T('Edit', '编辑')}</button> <button class="link danger" onClick=${() => del(r.pattern)}>${T('Delete', '删除')}</button></td></tr>`)}</tbody>
    </table>
    <p class="hint">${T('Who: users, owner, group:<name>, nobody.', '谁：users、owner、group:<分组>、nobody。')}</p>
    <form class="row" onSubmit=${save}>
      ${input('pattern', T('Topic or prefix*', '主题或前缀*'))}${input('subscribe', T('Subscribe', '订阅'))}${input('publish', T('Publish', '发布'))}
      <${Button} busy=${busy} type="submit" id="rule-save">${T('Save rule', '保存规则')}<//>
    </form>
  </section>`;
}
