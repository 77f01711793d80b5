// Shared pieces: the html tag, errors, busy buttons, JSON fields, progress.
import { h } from 'preact';
import htm from 'htm';
import { useState } from 'preact/hooks';
import { T } from './i18n.js';

export const html = htm.bind(h);

/** @param {{error: any}} p */
export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert" data-code=${error.code || ''}>
    <strong>${error.code || T('Error', '错误')}</strong> ${error.message || String(error)}
  </div>`;
}

/**
 * Runs `fn` with a busy flag and an error slot.
 * @returns {[boolean, any, (fn: () => Promise<any>) => Promise<any>, (e: any) => void]}
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(/** @type {any} */ (null));
  /** @param {() => Promise<any>} fn */
  const run = async (fn) => {
    setBusy(true);
    setError(null);
    try {
      return await fn();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return [busy, error, run, setError];
}

/** @param {{busy?: boolean, children?: any, [k: string]: any}} p */
export function Button({ busy, children, ...rest }) {
  return html`<button ...${rest} disabled=${busy || rest.disabled} aria-busy=${busy ? 'true' : 'false'}>
    ${busy ? html`<span class="spinner" aria-hidden="true"></span>` : null}${children}
  </button>`;
}

/**
 * Parses JSON typed by the admin, or throws an error the page shows.
 * @param {string} text
 * @param {string} what
 */
export function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw { code: 'INVALID_JSON', message: `${what}: ${e instanceof Error ? e.message : e}` };
  }
}

/** @param {{value: number, max: number | null, label: string}} p */
export function Progress({ value, max, label }) {
  const pct = max ? Math.round((value / max) * 100) : null;
  return html`<div class="progress">
    <progress value=${max ? value : undefined} max=${max || undefined} aria-label=${label}></progress>
    <span>${pct !== null ? pct + '%' : fmtBytes(value)}</span>
  </div>`;
}

/** @param {number} n */
export function fmtBytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
  return (n / 1024 / 1024).toFixed(1) + ' MB';
}

/** A JSON value shown in a cell. @param {any} v */
export function cell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
