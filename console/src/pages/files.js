// Users' files, images with thumbnails.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, get } from '../api.js';
import { T } from '../i18n.js';
import { ErrorBox, fmtBytes, html, useAction } from '../ui.js';

export function FilesPage() {
  const [items, setItems] = useState(/** @type {any[]} */ ([]));
  const [cursor, setCursor] = useState(/** @type {string | null} */ (null));
  const [busy, error, run] = useAction();
  /** @param {string | null} c */
  const load = (c) =>
    run(async () => {
      const p = await get(`/v1/files?limit=20${c ? '&cursor=' + enc(c) : ''}`);
      setItems(c ? [...items, ...p.items] : p.items);
      setCursor(p.cursor || null);
    });
  useEffect(() => {
    load(null);
  }, []);
  /** @param {string} id */
  const del = (id) =>
    run(async () => {
      await api('DELETE', `/v1/files/${enc(id)}`);
      setItems(items.filter((f) => f.id !== id));
    });
  return html`<section>
    <${ErrorBox} error=${error} />
    <ul class="files" id="files">${items.map((f) => html`<li>
      <${Thumb} file=${f} />
      <div><strong>${f.name}</strong><br /><small>${f.content_type} · ${fmtBytes(f.size)} · ${f.status}${f.public ? ' · ' + T('public', '公开') : ''}</small><br />
        <small>${T('owner', '所有者')}: <code>${f.owner || T('admin key', '管理员密钥')}</code> · ${f.created_at}</small><br />
        ${f.url ? html`<a href=${f.url} target="_blank" rel="noopener noreferrer">${T('Open', '打开')}</a> ` : null}
        <button class="link danger" onClick=${() => del(f.id)}>${T('Delete', '删除')}</button></div>
    </li>`)}</ul>
    ${items.length === 0 && !busy ? html`<p>${T('No files yet.', '还没有文件。')}</p>` : null}
    ${cursor ? html`<button onClick=${() => load(cursor)}>${T('Load more', '加载更多')}</button>` : null}
  </section>`;
}

/** A thumbnail (the server makes it on first ask) of an image that is ready. @param {{file: any}} p */
function Thumb({ file }) {
  const [src, setSrc] = useState(/** @type {string | null} */ (null));
  useEffect(() => {
    if (file.status === 'ready' && /^image\//.test(file.content_type)) {
      get(`/v1/files/${enc(file.id)}?thumb=100x100`).then((t) => setSrc(t.url || null)).catch(() => setSrc(null));
    }
  }, [file.id]);
  return src ? html`<img class="thumb" src=${src} alt=${file.name} width="100" height="100" loading="lazy" />` : html`<div class="thumb none" aria-hidden="true">${(file.content_type || '').split('/')[1] || '?'}</div>`;
}
