// The console's shell: sign-in, navigation (hash routes, so the server serves one page),
// the language switch.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, paths, session } from './api.js';
import { T, lang, setLang } from './i18n.js';
import { Button, ErrorBox, html, useAction } from './ui.js';
import { TablesPage } from './pages/tables.js';
import { UsersPage } from './pages/users.js';
import { KvPage } from './pages/kv.js';
import { TopicsPage } from './pages/topics.js';
import { ChannelPage } from './pages/channel.js';
import { FunctionsPage } from './pages/functions.js';
import { FilesPage } from './pages/files.js';
import { PayPage } from './pages/pay.js';
import { TransferPage } from './pages/transfer.js';
import { HealthPage } from './pages/health.js';

/** Pages: route, names, component, and the path the server must document for it. */
const PAGES = [
  { id: 'tables', en: 'Tables', zh: '数据表', C: TablesPage, needs: '/v1/tables' },
  { id: 'users', en: 'Users & groups', zh: '用户与分组', C: UsersPage, needs: '/v1/admin/users' },
  { id: 'kv', en: 'Key-value', zh: '键值存储', C: KvPage, needs: '/v1/kv' },
  { id: 'topics', en: 'Topic rules', zh: '主题规则', C: TopicsPage, needs: '/v1/topics/rules' },
  { id: 'channel', en: 'Channel debugger', zh: '通道调试', C: ChannelPage, needs: null },
  { id: 'functions', en: 'Cloud functions', zh: '云函数', C: FunctionsPage, needs: '/v1/functions' },
  { id: 'files', en: 'Files', zh: '文件', C: FilesPage, needs: '/v1/files' },
  { id: 'pay', en: 'Pay orders', zh: '支付订单', C: PayPage, needs: '/v1/admin/pay/orders' },
  { id: 'transfer', en: 'Export / import', zh: '导出 / 导入', C: TransferPage, needs: '/v1/admin/export' },
  { id: 'health', en: 'Health', zh: '运行状况', C: HealthPage, needs: null },
];

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  return { page: parts[0] || 'tables', rest: parts.slice(1) };
}

/** @param {{onIn: () => void}} p */
function SignIn({ onIn }) {
  const [token, setToken] = useState('');
  const [code, setCode] = useState('');
  const [busy, error, run, setError] = useAction();
  /** @param {string} t */
  const check = async (t) => {
    try {
      await api('GET', '/v1/admin/about', undefined, { token: t });
    } catch (e) {
      const err = /** @type {any} */ (e);
      if (err.status === 403) throw { code: err.code, message: T('This user is not an admin (not in the admin group).', '该用户不是管理员（不在 admin 分组）。') };
      throw err;
    }
    session.set(t);
    onIn();
  };
  /** @param {Event} e */
  const withKey = (e) => {
    e.preventDefault();
    if (!token.trim()) return setError({ code: 'EMPTY', message: T('Enter the admin key or a session token.', '请输入管理员密钥或会话令牌。') });
    run(() => check(token.trim()));
  };
  /** @param {Event} e */
  const withCode = (e) => {
    e.preventDefault();
    run(async () => {
      const r = await api('POST', '/v1/auth/login', { code: code.trim() }, { token: null });
      await check(r.token);
    });
  };
  return html`<main class="signin">
    <h1>${T('yunqiao console', '云桥控制台')}</h1>
    <form onSubmit=${withKey} id="signin-key-form">
      <label for="signin-token">${T('Admin key or an admin user’s session token', '管理员密钥或管理员用户的会话令牌')}</label>
      <input id="signin-token" type="password" autocomplete="off" value=${token} onInput=${(/** @type {any} */ e) => setToken(e.target.value)} />
      <${Button} busy=${busy} type="submit" id="signin-submit">${T('Sign in', '登录')}<//>
    </form>
    <details>
      <summary>${T('Sign in as an admin user with a WeChat login code', '用微信登录 code 以管理员用户登录')}</summary>
      <form onSubmit=${withCode}>
        <label for="signin-code">${T('Login code (with the built-in mock: mock:<name>:<n>)', '登录 code（内置模拟器：mock:<名字>:<序号>）')}</label>
        <input id="signin-code" autocomplete="off" value=${code} onInput=${(/** @type {any} */ e) => setCode(e.target.value)} />
        <${Button} busy=${busy} type="submit">${T('Log in', '登录')}<//>
      </form>
    </details>
    <p class="hint">${T('The key is kept in this tab only (sessionStorage) and sent in the Authorization header.', '密钥只保存在本标签页（sessionStorage），通过 Authorization 头发送。')}</p>
    <${ErrorBox} error=${error} />
    <${LangSwitch} />
  </main>`;
}

function LangSwitch() {
  return html`<label class="lang">
    <span class="sr-only">${T('Language', '语言')}</span>
    <select id="lang" value=${lang} onChange=${(/** @type {any} */ e) => { setLang(e.target.value); rerender(); }}>
      <option value="en">English</option>
      <option value="zh">中文</option>
    </select>
  </label>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(!!session.token);
  const [r, setR] = useState(route());
  const [known, setKnown] = useState(/** @type {Set<string> | null} */ (null));
  useEffect(() => {
    const on = () => setR(route());
    addEventListener('hashchange', on);
    paths().then(setKnown);
    return () => removeEventListener('hashchange', on);
  }, []);
  if (!signedIn) return html`<${SignIn} onIn=${() => setSignedIn(true)} />`;
  const shown = PAGES.filter((p) => !p.needs || (known && known.has(p.needs)));
  const page = PAGES.find((p) => p.id === r.page) || PAGES[0];
  const Page = page.C;
  return html`<div class="shell">
    <a class="skip" href="#main">${T('Skip to content', '跳到内容')}</a>
    <nav aria-label=${T('Pages', '页面')}>
      <div class="brand">${T('yunqiao', '云桥')}</div>
      <ul>
        ${shown.map((p) => html`<li><a href=${'#/' + p.id} id=${'nav-' + p.id} aria-current=${p.id === page.id ? 'page' : undefined}>${T(p.en, p.zh)}</a></li>`)}
      </ul>
      <${LangSwitch} />
      <button class="link" id="signout" onClick=${() => { session.clear(); setSignedIn(false); }}>${T('Sign out', '退出')}</button>
    </nav>
    <main id="main" tabindex="-1">
      <h1>${T(page.en, page.zh)}</h1>
      <${Page} rest=${r.rest} key=${page.id + '/' + r.rest.join('/')} onUnauthorized=${() => setSignedIn(false)} />
    </main>
  </div>`;
}

let n = 0;
function rerender() {
  // A language switch redraws everything (a fresh key), state kept by the hash.
  n += 1;
  render(html`<${App} key=${n} />`, /** @type {HTMLElement} */ (document.getElementById('app')));
}
rerender();
