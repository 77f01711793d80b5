// @ts-check
/**
 * One transport queue per adapter (so per client): at most `max` requests, uploads and
 * downloads in flight together, the rest waiting in order. wx counts wx.request,
 * wx.uploadFile and wx.downloadFile against ONE limit of 10, and refuses the 11th
 * (`fail exceed max task count`) instead of queueing it.
 *
 * @param {number} max
 */
export function taskQueue(max) {
  const limit = max > 0 ? Math.floor(max) : 1
  let running = 0
  /** @type {Array<() => void>} */
  const waiting = []
  const release = () => {
    running--
    const go = waiting.shift()
    if (go) go()
  }
  return {
    limit,
    /** Tasks running now. */
    get running() {
      return running
    },
    /** Tasks waiting for a slot. */
    get queued() {
      return waiting.length
    },
    /**
     * Runs `start` once a slot is free; the slot is held until its promise settles.
     * @template T
     * @param {() => Promise<T>} start
     * @returns {Promise<T>}
     */
    run(start) {
      return new Promise((resolve, reject) => {
        const go = () => {
          running++
          let p
          try {
            p = Promise.resolve(start())
          } catch (e) {
            p = Promise.reject(e)
          }
          p.then(
            (v) => {
              release()
              resolve(v)
            },
            (e) => {
              release()
              reject(e)
            },
          )
        }
        if (running < limit) go()
        else waiting.push(go)
      })
    },
  }
}
