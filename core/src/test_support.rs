//! Fixtures for the domain's unit tests: the in-memory store on a manual clock, and the
//! services over it, with a scripted sandbox standing in for QuickJS.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::auth::{Auth, AuthConfig, Caller};
use crate::clock::{ManualClock, SharedClock};
use crate::functions::sandbox::{Failure, Host, Job, Limits, Outcome, Sandbox};
use crate::functions::{Functions, FunctionsDeps, ModuleInput, admission};
use crate::kv::Kv;
use crate::live::{Live, NoPush, RateLimiter};
use crate::memory_store::MemoryStore;
use crate::store::ItemStore;
use crate::tables::{TableDef, Tables};
use crate::wechat::{WeChat, WxError, WxSession};

/// 2027-01-15T08:00:00Z.
pub const START_MS: i64 = 1_800_000_000_000;

/// JSON to a map (panics on anything but an object).
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

pub fn def(v: Value) -> TableDef {
    serde_json::from_value(v).expect("table definition")
}

pub fn user(id: &str) -> Caller {
    Caller::test_user(id, &[])
}

/// No WeChat here: nobody logs in (tests make callers with [`Caller::test_user`]).
struct NoWeChat;

#[async_trait]
impl WeChat for NoWeChat {
    async fn code_to_session(&self, _code: &str) -> Result<WxSession, WxError> {
        Err(WxError::Transport("no WeChat in unit tests".into()))
    }
}

/// One run the sandbox was asked for.
#[derive(Debug, Clone)]
pub struct Run {
    pub module: String,
    pub export: String,
    pub args: Vec<Value>,
    pub context: Value,
}

/// A sandbox that runs no JavaScript: a module's exports are its lines
/// `export async function <name>(`, and each run answers what the test queued for that
/// export (by default `null`), recording what it was asked.
#[derive(Default)]
pub struct Scripted {
    answers: Mutex<HashMap<String, VecDeque<Result<Value, Failure>>>>,
    /// Answered once the queue of an export is empty.
    always: Mutex<HashMap<String, Result<Value, Failure>>>,
    runs: Mutex<Vec<Run>>,
}

impl Scripted {
    /// The next run of `export` answers `r`.
    pub fn then(&self, export: &str, r: Result<Value, Failure>) {
        self.answers
            .lock()
            .unwrap()
            .entry(export.into())
            .or_default()
            .push_back(r);
    }

    /// Every run of `export` past the queued ones answers `r`.
    pub fn always(&self, export: &str, r: Result<Value, Failure>) {
        self.always.lock().unwrap().insert(export.into(), r);
    }

    pub fn runs(&self) -> Vec<Run> {
        self.runs.lock().unwrap().clone()
    }

    pub fn runs_of(&self, export: &str) -> Vec<Run> {
        self.runs()
            .into_iter()
            .filter(|r| r.export == export)
            .collect()
    }
}

pub fn thrown(message: &str) -> Failure {
    Failure::Exception {
        message: message.into(),
        stack: String::new(),
    }
}

#[async_trait]
impl Sandbox for Scripted {
    async fn run(&self, job: Job, _host: Arc<dyn Host>) -> Outcome {
        self.runs.lock().unwrap().push(Run {
            module: job.module.clone(),
            export: job.export.clone(),
            args: job.args.clone(),
            context: job.context.clone(),
        });
        let queued = self
            .answers
            .lock()
            .unwrap()
            .get_mut(&job.export)
            .and_then(VecDeque::pop_front);
        let result = queued
            .or_else(|| self.always.lock().unwrap().get(&job.export).cloned())
            .unwrap_or(Ok(Value::Null));
        Outcome {
            result,
            logs: Vec::new(),
        }
    }

    async fn exports(&self, source: Arc<str>, _limits: Limits) -> Result<Vec<String>, String> {
        if source.contains("syntax error") {
            return Err("SyntaxError: unexpected token".into());
        }
        Ok(source
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                l.strip_prefix("export async function ")
                    .or_else(|| l.strip_prefix("export function "))
            })
            .filter_map(|l| l.split('(').next())
            .map(|n| n.trim().to_string())
            .collect())
    }
}

/// The domain's services over the in-memory store, on a manual clock.
pub struct World {
    pub clock: ManualClock,
    pub store: Arc<dyn ItemStore>,
    pub tables: Arc<Tables>,
    pub kv: Arc<Kv>,
    pub live: Arc<Live>,
    pub functions: Arc<Functions>,
    pub sandbox: Arc<Scripted>,
}

impl World {
    pub fn new() -> World {
        World::over(|clock| Arc::new(MemoryStore::new(clock)))
    }

    /// The services over the store `store` makes (on the world's clock).
    pub fn over(store: impl FnOnce(SharedClock) -> Arc<dyn ItemStore>) -> World {
        let clock = ManualClock::at(START_MS);
        let shared: SharedClock = Arc::new(clock.clone());
        let store = store(shared.clone());
        let tables = Arc::new(Tables::new(store.clone(), shared.clone()));
        let auth = Arc::new(Auth::new(
            store.clone(),
            Arc::new(NoWeChat),
            shared.clone(),
            AuthConfig::default(),
        ));
        let kv = Arc::new(Kv::new(store.clone(), shared.clone()));
        let live = Live::new(
            store.clone(),
            shared.clone(),
            Arc::new(NoPush),
            auth.clone(),
            tables.clone(),
            RateLimiter::in_memory(),
            4,
        );
        let sandbox = Arc::new(Scripted::default());
        let functions = Functions::new(FunctionsDeps {
            qrcodes: None,
            store: store.clone(),
            clock: shared,
            auth,
            tables: tables.clone(),
            kv: kv.clone(),
            live: live.clone(),
            sandbox: sandbox.clone(),
            outbound: Arc::new(crate::functions::host::NoOutbound),
            secrets: HashMap::new(),
            // Background work is awaited: what a test checks next has happened.
            spawner: None,
            admission: admission::AdmissionConfig::for_workers(2, 1024),
            allow_private_hosts: false,
            freshness: crate::cache::Freshness::OwnWrites,
        });
        World {
            clock,
            store,
            tables,
            kv,
            live,
            functions,
            sandbox,
        }
    }

    pub async fn table(&self, name: &str, d: Value) {
        self.tables
            .put_schema(&Caller::AdminKey, name, &def(d), false)
            .await
            .expect("table definition");
    }

    pub async fn deploy(&self, module: &str, input: Value) -> Value {
        let input: ModuleInput = serde_json::from_value(input).expect("module input");
        self.functions
            .deploy(&Caller::AdminKey, module, input)
            .await
            .expect("deploy")
            .0
    }
}
