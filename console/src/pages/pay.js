// The pay log: orders as the admin route lists them (shown when the server has it).
import { useEffect, useState } from 'preact/hooks';
import { enc, get } from '../api.js';
import { T } from '../i18n.js';
import { ErrorBox, cell, html, useAction } from '../ui.js';

export function PayPage() {
  const [items, setItems] = useState(/** @type {any[]} */ ([]));
  const [cursor, setCursor] = useState(/** @type {string | null} */ (null));
  const [busy, error, run] = useAction();
  /** @param {string | null} c */
  const load = (c) =>
    run(async () => {
      const p = await get(`/v1/admin/pay/orders${c ? '?cursor=' + enc(c) : ''}`);
      const list = Array.isArray(p) ? p : p.items || [];
      setItems(c ? [...items, ...list] : list);
      setCursor((p && p.cursor) || null);
    });
  useEffect(() => {
    load(null);
  }, []);
  const cols = items.length ? Object.keys(items[0]).filter((k) => typeof items[0][k] !== 'object' || items[0][k] === null) : [];
  return html`<section>
    <${ErrorBox} error=${error} />
    ${items.length === 0 && !busy ? html`<p>${T('No orders yet.', '还没有订单。')}</p>` : html`
    <div class="scroll"><table class="grid" id="orders">
      <thead><tr>${cols.map((c) => html`<th>${c}</th>`)}</tr></thead>
      <tbody>${items.map((o) => html`<tr>${cols.map((c) => html`<td>${cell(o[c])}</td>`)}</tr>`)}</tbody>
    </table></div>`}
    ${cursor ? html`<button onClick=${() => load(cursor)}>${T('Load more', '加载更多')}</button>` : null}
  </section>`;
}
