// Health: which face, store, WeChat mode and version this is, and whether the store answers.
import { useEffect, useState } from 'preact/hooks';
import { api, get } from '../api.js';
import { T } from '../i18n.js';
import { ErrorBox, html, useAction } from '../ui.js';

export function HealthPage() {
  const [about, setAbout] = useState(/** @type {any} */ (null));
  const [health, setHealth] = useState(/** @type {any} */ (null));
  const [busy, error, run] = useAction();
  const load = () =>
    run(async () => {
      const t0 = performance.now();
      let h;
      try {
        h = { ...(await api('GET', '/v1/health', undefined, { token: null })), ms: Math.round(performance.now() - t0) };
      } catch (e) {
        h = { status: /** @type {any} */ (e).code };
      }
      setHealth(h);
      setAbout(await get('/v1/admin/about'));
    });
  useEffect(() => {
    load();
  }, []);
  const face = (/** @type {string} */ f) => (f === 'server' ? T('local server (yunqiao serve)', '本地服务器（yunqiao serve）') : f === 'lambda' ? T('AWS Lambda functions', 'AWS Lambda 函数') : f);
  const store = (/** @type {string} */ s) => (s === 'embedded' ? T('embedded (redb on disk)', '内嵌（磁盘上的 redb）') : s === 'dynamodb' ? 'DynamoDB' : s || '?');
  return html`<section>
    <${ErrorBox} error=${error} />
    ${about ? html`<dl class="facts" id="health">
      <dt>${T('Status', '状态')}</dt><dd id="health-status" class=${health && health.status === 'ok' ? 'ok' : 'bad'}>${health ? health.status : '?'}${health && health.ms !== undefined ? ` (${health.ms} ms)` : ''}</dd>
      <dt>${T('Face', '运行形态')}</dt><dd id="health-face" data-face=${about.face}>${face(about.face)}</dd>
      <dt>${T('Store', '存储')}</dt><dd id="health-store" data-store=${about.store}>${store(about.store)}</dd>
      <dt>${T('WeChat', '微信')}</dt><dd id="health-wechat">${about.wechat === 'mock' ? T('built-in mock (no network)', '内置模拟器（无网络）') : about.wechat}</dd>
      <dt>${T('WeChat Pay', '微信支付')}</dt><dd>${about.pay ? T('configured', '已配置') : T('not configured', '未配置')}</dd>
      <dt>${T('Files', '文件')}</dt><dd>${about.files ? T('available', '可用') : T('not available', '不可用')}</dd>
      <dt>${T('Live channel', '实时信道')}</dt><dd id="health-live"><code>${about.live_url || '/v1/ws'}</code></dd>
      <dt>${T('Version', '版本')}</dt><dd id="health-version">${about.version}</dd>
    </dl>` : null}
    <button onClick=${load} disabled=${busy}>${T('Check again', '重新检查')}</button>
  </section>`;
}
