//! Who gets a function worker, and who waits.
//!
//! The workers are few (`functions.workers`), and a call may hold one for its whole time
//! limit while it waits on `http.fetch`. So that no caller can make others wait:
//!
//! * **Two lanes.** Client calls may use at most `workers - reserve` workers; hooks,
//!   schedules and deploys (the *system* lane) may use all of them and go first, so a
//!   flood of calls never starves a hooked write or an admin's deploy.
//! * **Per caller and per module.** One caller runs at most `per_caller` calls at once
//!   and has at most `per_caller_queued` waiting; one module runs at most `per_module`
//!   client calls at once. Past a limit the call is refused at once with 429
//!   `FUNCTION_BUSY` instead of joining the queue.
//! * **A bounded queue, on the call's own clock.** At most `queue` client calls wait;
//!   time spent waiting counts against the call's time limit; a call whose caller hung
//!   up leaves the queue (its future is dropped) and never runs.
//! * **A memory budget.** The `memory_mb` of the calls running at once never exceeds
//!   `memory_mb` of the server; a call waits (in order: a large call is not overtaken
//!   forever by small ones) until it fits.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;
use tokio::sync::oneshot;

use crate::{Code, Error};

/// Most worker processes a server (or a Lambda sandbox) runs.
pub const MAX_WORKERS: usize = 64;

/// The limits above, from the server's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    pub workers: usize,
    pub reserve: usize,
    pub per_caller: usize,
    pub per_caller_queued: usize,
    pub per_module: usize,
    pub queue: usize,
    pub memory_mb: usize,
}

impl AdmissionConfig {
    /// The limits both faces accept (`functions.workers` and the rest), named as in
    /// the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(format!("workers is 1 to {MAX_WORKERS}"));
        }
        if !(64..=1024 * 1024).contains(&self.memory_mb) {
            return Err("memory_mb is 64 to 1048576".into());
        }
        for (name, v, max) in [
            ("per_caller", self.per_caller, MAX_WORKERS),
            ("per_caller_queued", self.per_caller_queued, 10_000),
            ("per_module", self.per_module, MAX_WORKERS),
            ("queue", self.queue, 100_000),
        ] {
            if !(1..=max).contains(&v) {
                return Err(format!("{name} is 1 to {max}"));
            }
        }
        Ok(())
    }

    /// The defaults with what the configuration sets instead.
    pub fn with_overrides(
        mut self,
        per_caller: Option<usize>,
        per_caller_queued: Option<usize>,
        per_module: Option<usize>,
        queue: Option<usize>,
    ) -> AdmissionConfig {
        self.per_caller = per_caller.unwrap_or(self.per_caller);
        self.per_caller_queued = per_caller_queued.unwrap_or(self.per_caller_queued);
        self.per_module = per_module.unwrap_or(self.per_module);
        self.queue = queue.unwrap_or(self.queue);
        self
    }

    /// Defaults derived from the worker count and memory budget.
    pub fn for_workers(workers: usize, memory_mb: usize) -> AdmissionConfig {
        let reserve = if workers >= 2 {
            (workers / 4).max(1)
        } else {
            0
        };
        let client = workers.saturating_sub(reserve).max(1);
        AdmissionConfig {
            workers,
            reserve,
            per_caller: (client / 3).max(1),
            per_caller_queued: 16,
            per_module: (client * 3 / 4).max(1),
            queue: 256,
            memory_mb,
        }
    }
}

/// Which lane a run takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lane {
    /// A client's call: `caller` and `module` name whose limits it counts against.
    Client { caller: String, module: String },
    /// Hooks, schedules, deploys.
    System,
    /// A hook of a write a running function made: its caller holds a worker and waits
    /// for it, so it is let in at once (there are at most `MAX_HOOK_DEPTH` of these per
    /// running call); it still counts against the memory budget.
    Nested,
}

#[derive(Default)]
struct Counts {
    running: usize,
    queued: usize,
}

#[derive(Default)]
struct State {
    running: usize,
    /// Nested runs (outside `running`: they use no place of their own).
    nested: usize,
    client_running: usize,
    memory: usize,
    callers: HashMap<String, Counts>,
    modules: HashMap<String, usize>,
    queued: usize,
    waiters: VecDeque<Waiter>,
    next_id: u64,
}

struct Waiter {
    id: u64,
    lane: Lane,
    memory: usize,
    tx: oneshot::Sender<()>,
}

pub struct Admission {
    cfg: AdmissionConfig,
    state: Mutex<State>,
}

/// A running call's place; dropping it lets the next one in.
pub struct Permit {
    adm: Arc<Admission>,
    lane: Lane,
    memory: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.adm.release(&self.lane, self.memory);
    }
}

fn busy(reason: &str, message: String) -> Error {
    Error::new(Code::FunctionBusy, message).with_details(json!({"reason": reason}))
}

/// Removes a waiter that gave up (its deadline passed, or its caller went away), or
/// gives back the place it was granted as it gave up.
struct WaitGuard {
    adm: Arc<Admission>,
    id: u64,
    lane: Lane,
    memory: usize,
    armed: bool,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let still_waiting = {
            let mut st = self.adm.lock();
            match st.waiters.iter().position(|w| w.id == self.id) {
                Some(at) => {
                    st.waiters.remove(at);
                    st.queued -= 1;
                    if let Lane::Client { caller, .. } = &self.lane {
                        forget_queued(&mut st, caller);
                    }
                    true
                }
                None => false,
            }
        };
        if !still_waiting {
            // Granted between the deadline and here: hand the place on.
            self.adm.release(&self.lane, self.memory);
        }
    }
}

fn forget_queued(st: &mut State, caller: &str) {
    if let Some(c) = st.callers.get_mut(caller) {
        c.queued = c.queued.saturating_sub(1);
        if c.running == 0 && c.queued == 0 {
            st.callers.remove(caller);
        }
    }
}

impl Admission {
    pub fn new(cfg: AdmissionConfig) -> Arc<Admission> {
        Arc::new(Admission {
            cfg,
            state: Mutex::new(State::default()),
        })
    }

    pub fn config(&self) -> AdmissionConfig {
        self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a run in `lane` needing `memory` may start now, and if not, whether only
    /// memory stands in its way.
    fn fits(&self, st: &State, lane: &Lane, memory: usize) -> (bool, bool) {
        let mem_ok = st.memory + memory <= self.cfg.memory_mb;
        let slot_ok = st.running < self.cfg.workers
            && match lane {
                Lane::System | Lane::Nested => true,
                Lane::Client { caller, module } => {
                    st.client_running < self.cfg.workers - self.cfg.reserve
                        && st.callers.get(caller).map_or(0, |c| c.running) < self.cfg.per_caller
                        && st.modules.get(module).copied().unwrap_or(0) < self.cfg.per_module
                }
            };
        (slot_ok && mem_ok, slot_ok && !mem_ok)
    }

    fn start(st: &mut State, lane: &Lane, memory: usize) {
        st.running += 1;
        st.memory += memory;
        if let Lane::Client { caller, module } = lane {
            st.client_running += 1;
            st.callers.entry(caller.clone()).or_default().running += 1;
            *st.modules.entry(module.clone()).or_default() += 1;
        }
    }

    fn release(&self, lane: &Lane, memory: usize) {
        let mut st = self.lock();
        st.memory -= memory;
        if *lane == Lane::Nested {
            st.nested -= 1;
            self.dispatch(&mut st);
            return;
        }
        st.running -= 1;
        if let Lane::Client { caller, module } = lane {
            st.client_running -= 1;
            if let Some(c) = st.callers.get_mut(caller) {
                c.running -= 1;
                if c.running == 0 && c.queued == 0 {
                    st.callers.remove(caller);
                }
            }
            if let Some(m) = st.modules.get_mut(module) {
                *m -= 1;
                if *m == 0 {
                    st.modules.remove(module);
                }
            }
        }
        self.dispatch(&mut st);
    }

    /// Lets in every waiter that fits: the system lane first, then clients in order. A
    /// waiter held back only by memory holds back the waiters of its lane behind it.
    fn dispatch(&self, st: &mut State) {
        for system in [true, false] {
            let mut i = 0;
            while i < st.waiters.len() {
                let w = &st.waiters[i];
                if (w.lane == Lane::System) != system {
                    i += 1;
                    continue;
                }
                let (ok, memory_only) = self.fits(st, &w.lane, w.memory);
                if !ok {
                    if memory_only {
                        break;
                    }
                    i += 1;
                    continue;
                }
                let Some(w) = st.waiters.remove(i) else { break };
                st.queued -= 1;
                if let Lane::Client { caller, .. } = &w.lane {
                    forget_queued(st, caller);
                }
                Self::start(st, &w.lane, w.memory);
                if w.tx.send(()).is_err() {
                    // Its future is already gone (and found it granted): nothing to do,
                    // its guard releases the place.
                }
            }
        }
    }

    /// Waits for a place until `deadline`. Refused at once (429 `FUNCTION_BUSY`) when the
    /// caller or the queue is at its limit; refused when the deadline passes first.
    pub async fn acquire(
        self: &Arc<Self>,
        lane: Lane,
        memory_mb: usize,
        deadline: Instant,
    ) -> Result<Permit, Error> {
        let memory = memory_mb.min(self.cfg.memory_mb);
        let rx = {
            let mut st = self.lock();
            if lane == Lane::Nested {
                st.memory += memory;
                st.nested += 1;
                return Ok(Permit {
                    adm: self.clone(),
                    lane,
                    memory,
                });
            }
            let ahead = st
                .waiters
                .iter()
                .any(|w| (w.lane == Lane::System) == (lane == Lane::System));
            if !ahead && self.fits(&st, &lane, memory).0 {
                Self::start(&mut st, &lane, memory);
                return Ok(Permit {
                    adm: self.clone(),
                    lane,
                    memory,
                });
            }
            if let Lane::Client { caller, .. } = &lane {
                let queued = st.callers.get(caller).map_or(0, |c| c.queued);
                if queued >= self.cfg.per_caller_queued {
                    return Err(busy(
                        "caller",
                        format!(
                            "you have {} function calls running and {queued} waiting; wait for them to end",
                            self.cfg.per_caller
                        ),
                    ));
                }
                if st.queued >= self.cfg.queue {
                    return Err(busy(
                        "queue",
                        "too many function calls are waiting; try again shortly".into(),
                    ));
                }
                st.callers.entry(caller.clone()).or_default().queued += 1;
            }
            let (tx, rx) = oneshot::channel();
            st.next_id += 1;
            let id = st.next_id;
            st.queued += 1;
            st.waiters.push_back(Waiter {
                id,
                lane: lane.clone(),
                memory,
                tx,
            });
            // A place may have freed between the check above and now.
            self.dispatch(&mut st);
            (rx, id)
        };
        let (rx, id) = rx;
        let mut guard = WaitGuard {
            adm: self.clone(),
            id,
            lane: lane.clone(),
            memory,
            armed: true,
        };
        match tokio::time::timeout_at(deadline.into(), rx).await {
            Ok(Ok(())) => {
                guard.armed = false;
                Ok(Permit {
                    adm: self.clone(),
                    lane,
                    memory,
                })
            }
            _ => Err(busy(
                "waited",
                "every function worker stayed busy for this call's whole time limit; try again shortly"
                    .into(),
            )),
        }
    }

    /// Runs now (nested ones included), waiting, and the memory in use.
    pub fn load(&self) -> (usize, usize, usize) {
        let st = self.lock();
        (st.running + st.nested, st.queued, st.memory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn client(c: &str, m: &str) -> Lane {
        Lane::Client {
            caller: c.into(),
            module: m.into(),
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    fn cfg() -> AdmissionConfig {
        AdmissionConfig {
            workers: 4,
            reserve: 1,
            per_caller: 2,
            per_caller_queued: 2,
            per_module: 3,
            queue: 8,
            memory_mb: 256,
        }
    }

    #[tokio::test]
    async fn one_caller_cannot_take_every_worker() {
        let a = Admission::new(cfg());
        let p1 = a.acquire(client("mallory", "m"), 64, soon()).await.unwrap();
        let _p2 = a.acquire(client("mallory", "m"), 64, soon()).await.unwrap();
        // Her third and fourth wait; her fifth is refused at once.
        let a2 = a.clone();
        let w3 = tokio::spawn(async move { a2.acquire(client("mallory", "m"), 64, soon()).await });
        let a2 = a.clone();
        let w4 = tokio::spawn(async move { a2.acquire(client("mallory", "m"), 64, soon()).await });
        tokio::task::yield_now().await;
        while a.load().1 < 2 {
            tokio::task::yield_now().await;
        }
        let e = a
            .acquire(client("mallory", "m"), 64, soon())
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::FunctionBusy);
        assert_eq!(e.status(), 429);
        // Bob gets in at once, past her waiting calls.
        let bob = a.acquire(client("bob", "other"), 64, soon()).await.unwrap();
        // A hook gets the reserved worker though the client lane is full.
        let hook = a.acquire(Lane::System, 64, soon()).await.unwrap();
        assert_eq!(a.load().0, 4);
        drop(p1);
        let p3 = w3.await.unwrap().unwrap();
        drop((p3, bob, hook));
        let _p4 = w4.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_nested_run_never_waits() {
        let a = Admission::new(AdmissionConfig {
            workers: 1,
            reserve: 0,
            ..cfg()
        });
        let outer = a.acquire(client("a", "m"), 64, soon()).await.unwrap();
        // Its hook runs though the only worker is taken (by the run waiting for it).
        let hook = a.acquire(Lane::Nested, 64, Instant::now()).await.unwrap();
        assert_eq!(a.load(), (2, 0, 128));
        drop((hook, outer));
        assert_eq!(a.load(), (0, 0, 0));
    }

    #[tokio::test]
    async fn system_lane_goes_first_and_memory_is_a_budget() {
        let a = Admission::new(AdmissionConfig {
            memory_mb: 128,
            ..cfg()
        });
        let big = a.acquire(client("a", "m"), 512, soon()).await.unwrap();
        // The budget is used up: a small client call waits even with workers free.
        let a2 = a.clone();
        let small = tokio::spawn(async move { a2.acquire(client("b", "m"), 8, soon()).await });
        while a.load().1 < 1 {
            tokio::task::yield_now().await;
        }
        let a3 = a.clone();
        let hook = tokio::spawn(async move { a3.acquire(Lane::System, 8, soon()).await });
        while a.load().1 < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(a.load().2, 128);
        drop(big);
        let h = hook.await.unwrap().unwrap();
        let s = small.await.unwrap().unwrap();
        assert_eq!(a.load(), (2, 0, 16));
        drop((h, s));
        assert_eq!(a.load(), (0, 0, 0));
    }

    #[tokio::test]
    async fn waiting_counts_against_the_deadline_and_a_gone_caller_leaves_the_queue() {
        let a = Admission::new(AdmissionConfig {
            workers: 1,
            reserve: 0,
            ..cfg()
        });
        let held = a.acquire(client("a", "m"), 8, soon()).await.unwrap();
        let e = a
            .acquire(
                client("b", "m"),
                8,
                Instant::now() + Duration::from_millis(20),
            )
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::FunctionBusy);
        assert_eq!(a.load().1, 0, "a waiter past its deadline is gone");
        // A caller that hangs up (its future dropped) leaves no trace.
        let a2 = a.clone();
        let gone = tokio::spawn(async move { a2.acquire(client("c", "m"), 8, soon()).await });
        while a.load().1 < 1 {
            tokio::task::yield_now().await;
        }
        gone.abort();
        let _ = gone.await;
        assert_eq!(a.load().1, 0);
        drop(held);
        assert_eq!(a.load(), (0, 0, 0));
        let again = a.acquire(client("d", "m"), 8, soon()).await.unwrap();
        drop(again);
    }
}
