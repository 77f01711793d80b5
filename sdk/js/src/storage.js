import { YunqiaoError } from './errors.js'
import { call } from './util.js'

/**
 * XpmJS' Stor over the platform's storage (wx storage, localStorage or memory): promise
 * methods and their `…Sync` twins. A missing key reads as `undefined` on every platform.
 */
export class Stor {
  constructor(storage) {
    this._s = storage
  }

  set(key, value) {
    return call(null, () => {
      need(key)
      this._s.set(key, value)
      return value
    })
  }

  get(key) {
    return call(null, () => {
      need(key)
      return this._s.get(key)
    })
  }

  remove(key) {
    return call(null, () => {
      need(key)
      this._s.remove(key)
      return true
    })
  }

  clear() {
    return call(null, () => {
      this._s.clear()
      return true
    })
  }

  keys() {
    return call(null, () => this._s.keys())
  }

  setSync(key, value) {
    need(key)
    this._s.set(key, value)
    return true
  }

  getSync(key) {
    need(key)
    return this._s.get(key)
  }

  rmSync(key) {
    need(key)
    this._s.remove(key)
    return true
  }

  removeSync(key) {
    return this.rmSync(key)
  }

  clearSync() {
    this._s.clear()
    return true
  }

  /** Sets one field of an object stored under `name`. */
  setMap(name, key, value) {
    return call(null, () => this.setMapSync(name, key, value))
  }

  getMap(name, key) {
    return call(null, () => this.getMapSync(name, key))
  }

  setMapSync(name, key, value) {
    need(name)
    const m = this._s.get(name)
    const data = m && typeof m === 'object' ? m : {}
    data[key] = value
    this._s.set(name, data)
    return true
  }

  getMapSync(name, key) {
    need(name)
    const m = this._s.get(name)
    return m && typeof m === 'object' ? m[key] : undefined
  }
}

function need(key) {
  if (typeof key !== 'string' || !key) throw new YunqiaoError('INVALID_ARGUMENT', 'storage keys are non-empty strings')
}
