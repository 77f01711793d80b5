import { YunqiaoError } from './errors.js'
import { call, isCallbackObject, seg, splitCallbacks } from './util.js'

/** Names a proxy must not turn into calls (promises, JSON, inspection). */
const NOT_EXPORTS = ['then', 'catch', 'finally', 'toJSON', 'constructor', 'inspect', 'valueOf', 'toString', '$$typeof', 'asymmetricMatch', 'nodeType']

/**
 * `client.fn('chatroom').createRoom(name, opts)`: `POST /v1/fn/chatroom/createRoom` with
 * `{"args": [name, opts]}`, resolving to the answer's `result`. A last argument made only
 * of `success`/`fail`/`complete` callbacks is taken as callbacks, not sent.
 */
export function moduleProxy(client, module) {
  if (typeof module !== 'string' || !module) throw new YunqiaoError('INVALID_ARGUMENT', 'fn takes a module name')
  const cache = {}
  return new Proxy(
    {},
    {
      get(_, prop) {
        if (typeof prop === 'symbol' || NOT_EXPORTS.indexOf(prop) >= 0) return undefined
        if (!cache[prop]) {
          cache[prop] = (...args) => {
            const cb = args.length && isCallbackObject(args[args.length - 1]) ? args.pop() : null
            return callExport(client, module, prop, args, cb)
          }
        }
        return cache[prop]
      },
      has() {
        return true
      },
    },
  )
}

/**
 * POST to a function route with the session's token, sent once (a call may have run). A
 * 401 ends the session only when the server says the token is bad (`INVALID_TOKEN`): any
 * other 401 is the function's own answer (`FunctionError(code, message, 401)`, a host
 * call's error it lets through, an export for users called anonymously) and leaves the
 * session alone — as for every request (see Http).
 */
function post(client, path, body) {
  return client.http.request('POST', path, { body })
}

export function callExport(client, module, name, args, cb) {
  return call(cb, async () => {
    const { data } = await post(client, `/v1/fn/${seg(module)}/${seg(name)}`, { args: args || [] })
    return data && typeof data === 'object' ? data.result : data
  })
}

/** CloudBase's shape: `callFunction({name, data})` → `{result, requestID, errMsg}`. */
export function callFunction(client, opts) {
  const [cb, o] = splitCallbacks(opts)
  return call(cb, async () => {
    if (!o.name) throw new YunqiaoError('INVALID_ARGUMENT', 'callFunction takes {name, data}')
    const { data, requestId } = await post(client, `/v1/fn/${seg(o.name)}`, { data: o.data === undefined ? null : o.data })
    return {
      result: data && typeof data === 'object' ? data.result : data,
      requestID: requestId || null,
      errMsg: 'cloud.callFunction:ok',
    }
  })
}
