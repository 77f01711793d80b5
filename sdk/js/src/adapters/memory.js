/** Storage kept in memory: values are copied through JSON, like every real storage. */
export function memoryStorage() {
  const m = new Map()
  return {
    get(key) {
      return m.has(key) ? JSON.parse(m.get(key)) : undefined
    },
    set(key, value) {
      m.set(key, JSON.stringify(value === undefined ? null : value))
    },
    remove(key) {
      m.delete(key)
    },
    clear() {
      m.clear()
    },
    keys() {
      return Array.from(m.keys())
    },
  }
}
