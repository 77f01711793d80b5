// Two languages, each string written once in both, where it is used: T('Tables', '数据表').
// The choice is kept in localStorage; the first default is the browser's language.

const KEY = 'yunqiao.console.lang';

/** @returns {'en' | 'zh'} */
function initial() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'en' || saved === 'zh') return saved;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  return langs[0] && langs[0].toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

/** @type {'en' | 'zh'} */
export let lang = initial();

/** @param {'en' | 'zh'} l */
export function setLang(l) {
  lang = l;
  localStorage.setItem(KEY, l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
}
document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';

/**
 * @param {string} en
 * @param {string} zh
 */
export const T = (en, zh) => (lang === 'zh' ? zh : en);
