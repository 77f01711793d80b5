/**
 * The one error every call rejects with: the server's `{"error": {code, message, details}}`
 * with the HTTP status, or `NETWORK_ERROR` (status 0) when the request never got an answer.
 */
export class YunqiaoError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{status?: number, details?: any, requestId?: string, cause?: any, retryable?: boolean}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message)
    this.name = 'YunqiaoError'
    this.code = code
    this.status = extra.status || 0
    this.details = extra.details === undefined ? null : extra.details
    /**
     * Whether sending the same request again is safe and may succeed: true for a 429, and
     * for a transport failure or 503 of a request that is safe to repeat (the SDK has
     * retried those already); false for a write that got no answer (it may have landed).
     */
    this.retryable = !!extra.retryable
    if (extra.requestId) this.requestId = extra.requestId
    if (extra.cause !== undefined) this.cause = extra.cause
  }

  /** wx-style message, so code written for `fail({errMsg})` keeps working. */
  get errMsg() {
    return `${this.code}: ${this.message}`
  }

  toJSON() {
    return { code: this.code, message: this.message, details: this.details, status: this.status }
  }
}

const STATUS_CODES = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'BODY_TOO_LARGE',
  429: 'RATE_LIMITED',
}

/** A code for an error answer that carried no error body (HEAD, proxies, gateways). */
export function codeForStatus(status) {
  if (STATUS_CODES[status]) return STATUS_CODES[status]
  if (status >= 500) return 'SERVER_ERROR'
  return 'HTTP_ERROR'
}

export function networkError(message, cause, details) {
  return new YunqiaoError('NETWORK_ERROR', message || 'the request got no answer', {
    status: 0,
    cause,
    details: details || null,
  })
}
