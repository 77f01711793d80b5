// Export and import of the whole app, as a download and an upload with progress (small
// apps; `yunqiao export` / `yunqiao import` for large ones).
import { useState } from 'preact/hooks';
import { download, upload } from '../api.js';
import { T } from '../i18n.js';
import { Button, ErrorBox, Progress, html, useAction } from '../ui.js';

export function TransferPage() {
  const [busy, error, run] = useAction();
  const [prog, setProg] = useState(/** @type {{n: number, total: number | null, what: string} | null} */ (null));
  const [done, setDone] = useState(/** @type {any} */ (null));
  const [file, setFile] = useState(/** @type {File | null} */ (null));
  const exp = () =>
    run(async () => {
      setDone(null);
      const { blob, name } = await download('/v1/admin/export', (n, total) => setProg({ n, total, what: T('Downloading', '下载中') }));
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name || 'yunqiao-export';
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      setProg(null);
      setDone({ text: T(`Exported ${blob.size} bytes.`, `已导出 ${blob.size} 字节。`) });
    });
  const imp = (/** @type {Event} */ e) => {
    e.preventDefault();
    if (!file) return;
    run(async () => {
      setDone(null);
      const r = await upload('/v1/admin/import', file, (n, total) => setProg({ n, total, what: T('Uploading', '上传中') }));
      setProg(null);
      setDone({ text: T('Imported.', '已导入。'), report: r });
    });
  };
  return html`<section class="stack">
    <p class="hint">${T('For small apps. Large ones: yunqiao export --out FILE and yunqiao import FILE.', '适合小型应用。大型应用请用 yunqiao export --out FILE 和 yunqiao import FILE。')}</p>
    <div class="row"><${Button} busy=${busy} id="export-go" onClick=${exp}>${T('Download an export', '下载导出文件')}<//></div>
    <form class="row" onSubmit=${imp}>
      <label>${T('Import a file', '导入文件')} <input type="file" id="import-file" onChange=${(/** @type {any} */ e) => setFile(e.target.files[0] || null)} /></label>
      <${Button} busy=${busy} type="submit" id="import-go" disabled=${!file}>${T('Import', '导入')}<//>
    </form>
    ${prog ? html`<div role="status">${prog.what} <${Progress} value=${prog.n} max=${prog.total} label=${prog.what} /></div>` : null}
    ${done ? html`<div role="status" class="ok">${done.text}${done.report ? html`<pre>${JSON.stringify(done.report, null, 2)}</pre>` : null}</div>` : null}
    <${ErrorBox} error=${error} />
  </section>`;
}
