// Users and their groups (what table rules use; `admin` makes an admin).
import { useEffect, useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { T } from '../i18n.js';
import { Button, ErrorBox, html, useAction } from '../ui.js';

export function UsersPage() {
  const [users, setUsers] = useState(/** @type {any[]} */ ([]));
  const [cursor, setCursor] = useState(/** @type {string | null} */ (null));
  const [busy, error, run] = useAction();
  /** @param {string | null} c */
  const load = (c) =>
    run(async () => {
      const p = await api('GET', `/v1/admin/users?limit=50${c ? '&cursor=' + enc(c) : ''}`);
      setUsers(c ? [...users, ...p.items] : p.items);
      setCursor(p.cursor || null);
    });
  useEffect(() => {
    load(null);
  }, []);
  return html`<section>
    <${ErrorBox} error=${error} />
    <table class="grid" id="users">
      <thead><tr><th>ID</th><th>${T('Nickname', '昵称')}</th><th>${T('Groups (comma-separated)', '分组（逗号分隔）')}</th><th>${T('Created', '创建时间')}</th></tr></thead>
      <tbody>${users.map((u) => html`<${UserRow} key=${u.id} user=${u} />`)}</tbody>
    </table>
    ${users.length === 0 && !busy ? html`<p>${T('No users yet: they appear when they log in.', '还没有用户：用户登录后出现。')}</p>` : null}
    ${cursor ? html`<${Button} busy=${busy} id="users-more" onClick=${() => load(cursor)}>${T('Load more', '加载更多')}<//>` : null}
  </section>`;
}

/** @param {{user: any}} p */
function UserRow({ user }) {
  const [u, setU] = useState(user);
  const [groups, setGroups] = useState(user.groups.join(', '));
  const [busy, error, run] = useAction();
  const [saved, setSaved] = useState(false);
  const save = (/** @type {Event} */ e) => {
    e.preventDefault();
    run(async () => {
      const gs = groups.split(',').map((g) => g.trim()).filter(Boolean);
      const v = await api('PATCH', `/v1/admin/users/${enc(u.id)}`, { groups: gs });
      setU(v);
      setGroups(v.groups.join(', '));
      setSaved(true);
    });
  };
  return html`<tr data-user=${u.id}>
    <td><code>${u.id}</code></td>
    <td>${u.nickname || ''}</td>
    <td><form class="row" onSubmit=${save}>
      <input aria-label=${T('Groups of', '分组：') + ' ' + (u.nickname || u.id)} data-groups=${u.id} value=${groups} onInput=${(/** @type {any} */ e) => { setGroups(e.target.value); setSaved(false); }} />
      <${Button} busy=${busy} type="submit" data-save-groups=${u.id}>${T('Save', '保存')}<//>
      ${saved ? html`<span role="status" class="ok">${T('Saved', '已保存')}</span>` : null}
    </form><${ErrorBox} error=${error} /></td>
    <td>${u.created_at}</td>
  </tr>`;
}
