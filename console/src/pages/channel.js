// The channel debugger: a live socket signed in as the console's admin; subscribe to a
// topic or watch a table and see the frames as they come; publish, send a direct
// message, ask who is online.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, openSocket } from '../api.js';
import { T } from '../i18n.js';
import { ErrorBox, html, parseJson } from '../ui.js';

const KEEP = 200;

export function ChannelPage() {
  const ws = useRef(/** @type {WebSocket | null} */ (null));
  const [state, setState] = useState('closed');
  const [frames, setFrames] = useState(/** @type {{dir: string, at: string, text: string}[]} */ ([]));
  const [me, setMe] = useState(/** @type {string | null} */ (null));
  const [tables, setTables] = useState(/** @type {string[]} */ ([]));
  const [topic, setTopic] = useState('');
  const [where, setWhere] = useState('');
  const [pub, setPub] = useState({ topic: '', data: '{"text":"hi"}' });
  const [dm, setDm] = useState({ to: '', kind: 'user', cmd: 'debug', body: '{}' });
  const [online, setOnline] = useState(/** @type {any} */ (null));
  const [error, setError] = useState(/** @type {any} */ (null));
  const seq = useRef(0);
  /** @type {{current: Map<string, (f: any) => void>}} */
  const waiting = useRef(new Map());

  /** @param {string} dir @param {string} text */
  const log = (dir, text) => setFrames((f) => [{ dir, at: new Date().toLocaleTimeString(), text }, ...f].slice(0, KEEP));
  /** Where the sockets are: this origin's /v1/ws, or (on AWS) API Gateway's. */
  const liveUrl = useRef(/** @type {string | undefined} */ (undefined));
  const connect = () => {
    setError(null);
    const s = openSocket(liveUrl.current);
    ws.current = s;
    setState('connecting');
    s.onopen = () => {
      setState('open');
      send({ type: 'hello' }).then((a) => setMe(a.connection || null));
    };
    s.onclose = (e) => {
      setState('closed');
      log('•', `closed ${e.code} ${e.reason || ''}`);
    };
    s.onerror = () => setError({ code: 'SOCKET', message: T('The socket could not open or failed.', '连接无法打开或已出错。') });
    s.onmessage = (e) => {
      log('←', String(e.data));
      try {
        const f = JSON.parse(String(e.data));
        if (f.id !== undefined && waiting.current.has(String(f.id))) {
          const done = waiting.current.get(String(f.id));
          waiting.current.delete(String(f.id));
          if (done) done(f);
        }
      } catch {}
    };
  };
  const [remote, setRemote] = useState(false);
  useEffect(() => {
    // On AWS the sockets are API Gateway's (the stack's WebSocketUrl), not this origin's.
    get('/v1/admin/about')
      .then((a) => {
        liveUrl.current = a.live_url || undefined;
        if (a.face === 'lambda' && !a.live_url) setRemote(true);
        else connect();
      })
      .catch(() => connect());
    get('/v1/tables').then((t) => setTables(t.items.map((/** @type {any} */ x) => x.name))).catch(() => {});
    return () => ws.current && ws.current.close();
  }, []);
  /** A request frame; resolves with its answer. @param {any} frame @returns {Promise<any>} */
  const send = (frame) =>
    new Promise((resolve) => {
      const s = ws.current;
      if (!s || s.readyState !== WebSocket.OPEN) {
        setError({ code: 'SOCKET', message: T('Not connected.', '未连接。') });
        return;
      }
      seq.current += 1;
      const id = 'c' + seq.current;
      waiting.current.set(id, (f) => {
        if (f.type === 'error') setError(f);
        else setError(null);
        resolve(f);
      });
      const text = JSON.stringify({ ...frame, id });
      log('→', text);
      s.send(text);
    });
  const guard = (/** @type {() => void} */ fn) => {
    try {
      fn();
    } catch (e) {
      setError(e);
    }
  };
  const subscribe = (/** @type {Event} */ e) => {
    e.preventDefault();
    guard(() => {
      /** @type {any} */
      const f = { type: 'subscribe', topic: topic.trim() };
      if (where.trim()) f.where = parseJson(where, 'where');
      send(f);
    });
  };
  const publish = (/** @type {Event} */ e) => {
    e.preventDefault();
    guard(() => send({ type: 'publish', topic: pub.topic.trim(), data: parseJson(pub.data, 'data') }));
  };
  const direct = (/** @type {Event} */ e) => {
    e.preventDefault();
    guard(() => send({ type: 'send', to: { [dm.kind]: dm.to.trim() }, cmd: dm.cmd, body: parseJson(dm.body, 'body') }));
  };
  const who = () => send({ type: 'online' }).then((a) => a.type === 'ack' && setOnline(a));
  if (remote)
    return html`<p role="status" id="socket-remote">${T(
      'On AWS the live channel is served by API Gateway at the stack’s WebSocketUrl, and this function was not told where (YUNQIAO_WS_URL): deploy the current template.',
      '在 AWS 上，实时信道由 API Gateway 在栈输出的 WebSocketUrl 提供，而这个函数没有得到它的地址（YUNQIAO_WS_URL）：请部署当前的模板。',
    )}</p>`;
  return html`<section class="channel">
    <p role="status" id="socket-state" data-state=${state}>
      ${T('Socket', '连接')}: <strong>${state === 'open' ? T('open', '已连接') : state === 'connecting' ? T('connecting…', '连接中…') : T('closed', '已关闭')}</strong>
      ${me ? html` · ${T('connection', '连接 ID')} <code>${me}</code>` : null}
      ${state === 'closed' ? html` <button onClick=${connect} id="reconnect">${T('Reconnect', '重新连接')}</button>` : null}
    </p>
    <${ErrorBox} error=${error} />
    <div class="cols">
      <div>
        <form onSubmit=${subscribe} class="stack">
          <h2>${T('Subscribe', '订阅')}</h2>
          <label>${T('Topic (or table:<name> to watch a table)', '主题（或 table:<表名> 以监听数据表）')} <input id="sub-topic" list="table-topics" value=${topic} onInput=${(/** @type {any} */ e) => setTopic(e.target.value)} /></label>
          <datalist id="table-topics">${tables.map((t) => html`<option value=${'table:' + t} />`)}</datalist>
          <label>${T('Where (tables, JSON, optional)', 'where（数据表，JSON，可选）')} <input id="sub-where" value=${where} onInput=${(/** @type {any} */ e) => setWhere(e.target.value)} /></label>
          <div class="row">
            <button type="submit" id="sub-go">${T('Subscribe', '订阅')}</button>
            <button type="button" onClick=${() => send({ type: 'unsubscribe', topic: topic.trim() })}>${T('Unsubscribe', '取消订阅')}</button>
          </div>
        </form>
        <form onSubmit=${publish} class="stack">
          <h2>${T('Publish', '发布')}</h2>
          <label>${T('Topic', '主题')} <input id="pub-topic" value=${pub.topic} onInput=${(/** @type {any} */ e) => setPub({ ...pub, topic: e.target.value })} /></label>
          <label>${T('Data (JSON)', '数据（JSON）')} <input id="pub-data" value=${pub.data} onInput=${(/** @type {any} */ e) => setPub({ ...pub, data: e.target.value })} /></label>
          <button type="submit" id="pub-go">${T('Publish', '发布')}</button>
        </form>
        <form onSubmit=${direct} class="stack">
          <h2>${T('Direct message', '私信')}</h2>
          <div class="row">
            <select aria-label=${T('Send to', '发送给')} value=${dm.kind} onChange=${(/** @type {any} */ e) => setDm({ ...dm, kind: e.target.value })}><option value="user">${T('user id', '用户 ID')}</option><option value="connection">${T('connection id', '连接 ID')}</option></select>
            <input aria-label=${T('Recipient', '接收者')} id="dm-to" value=${dm.to} onInput=${(/** @type {any} */ e) => setDm({ ...dm, to: e.target.value })} />
          </div>
          <label>cmd <input id="dm-cmd" value=${dm.cmd} onInput=${(/** @type {any} */ e) => setDm({ ...dm, cmd: e.target.value })} /></label>
          <label>${T('Body (JSON)', '内容（JSON）')} <input id="dm-body" value=${dm.body} onInput=${(/** @type {any} */ e) => setDm({ ...dm, body: e.target.value })} /></label>
          <button type="submit" id="dm-go">${T('Send', '发送')}</button>
        </form>
        <div class="stack">
          <h2>${T('Who is online', '在线用户')}</h2>
          <button id="online-go" onClick=${who}>${T('Ask', '查询')}</button>
          ${online ? html`<ul id="online">${online.users.map((/** @type {any} */ u) => html`<li><code>${u.id}</code> ${u.nickname || ''}</li>`)}${online.users.length === 0 ? html`<li>${T('Nobody', '无人在线')}</li>` : null}${online.more ? html`<li>…</li>` : null}</ul>` : null}
        </div>
      </div>
      <div>
        <div class="row"><h2>${T('Frames', '帧')}</h2><button class="link" onClick=${() => setFrames([])}>${T('Clear', '清空')}</button></div>
        <ol id="frames" class="frames" aria-live="polite">${frames.map((f) => html`<li class=${f.dir === '←' ? 'in' : 'out'}><span class="dir" aria-label=${f.dir === '←' ? T('received', '收到') : T('sent', '发出')}>${f.dir}</span> <time>${f.at}</time> <code>${f.text}</code></li>`)}</ol>
      </div>
    </div>
  </section>`;
}
