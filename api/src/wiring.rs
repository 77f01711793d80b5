//! The composition root: a process's domain services, built from the adapters its face
//! chose and the one [`Config`]. `yunqiao serve`, every Lambda sandbox and the tests all
//! build their [`AppState`] here, so a new area adds its adapter to [`AppBuilder`] and
//! its service to [`AppBuilder::build`] once, and both faces have it.
//!
//! ```ignore
//! let state = AppState::builder()
//!     .store(store, StoreWriters::OnlyThisProcess)
//!     .wechat(wechat)
//!     .sockets(Sockets::Local(hub))
//!     .served_blobs(disk)              // or .blobs(s3)
//!     .thumbnailer(images)
//!     .functions(sandbox, outbound)
//!     .background(spawner)
//!     .build(&config)?;
//! ```

use std::sync::Arc;

use yunqiao_config::Config;
use yunqiao_core::auth::Auth;
use yunqiao_core::blob::{BlobStore, ServedBlobStore};
use yunqiao_core::clock::{SharedClock, SystemClock};
use yunqiao_core::files::thumbs::{ThumbWorker, Thumbnailer};
use yunqiao_core::functions::{Outbound, Spawner, sandbox::Sandbox};
use yunqiao_core::store::ItemStore;
use yunqiao_core::wechat::WeChat;

use crate::{AppState, HttpConfig, PUSH_CONCURRENCY, Services, Sockets};

/// Who writes the store, which decides how long the caches may trust what they hold
/// (`cache.bound_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreWriters {
    /// This process alone (the embedded store): caches forget on its own writes.
    OnlyThisProcess,
    /// Other processes too (DynamoDB: several servers, every Lambda sandbox).
    Several,
}

/// An adapter [`AppBuilder::build`] needs and was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingAdapter(pub &'static str);

impl std::fmt::Display for MissingAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the app was built without its {} adapter", self.0)
    }
}

impl std::error::Error for MissingAdapter {}

/// The adapters of one process, gathered by its face; [`AppBuilder::build`] makes the
/// services from them and the configuration.
pub struct AppBuilder {
    store: Option<(Arc<dyn ItemStore>, StoreWriters)>,
    wechat: Option<Arc<dyn WeChat>>,
    clock: SharedClock,
    sockets: Option<Sockets>,
    blobs: Option<Arc<dyn BlobStore>>,
    served_blobs: Option<Arc<dyn ServedBlobStore>>,
    thumbnailer: Option<Arc<dyn Thumbnailer>>,
    sandbox: Arc<dyn Sandbox>,
    outbound: Arc<dyn Outbound>,
    spawner: Option<Spawner>,
    pay: Option<yunqiao_core::pay::PaySettings>,
    about: crate::About,
}

impl AppState {
    /// The composition root (see [`crate::wiring`]).
    pub fn builder() -> AppBuilder {
        AppBuilder {
            store: None,
            wechat: None,
            clock: Arc::new(SystemClock),
            sockets: None,
            blobs: None,
            served_blobs: None,
            thumbnailer: None,
            sandbox: Arc::new(yunqiao_core::functions::sandbox::NoSandbox),
            outbound: Arc::new(yunqiao_core::functions::host::NoOutbound),
            spawner: None,
            pay: None,
            about: crate::About::default(),
        }
    }
}

impl AppBuilder {
    /// The item store every service keeps its data in (required).
    pub fn store(mut self, store: Arc<dyn ItemStore>, writers: StoreWriters) -> Self {
        self.store = Some((store, writers));
        self
    }

    /// WeChat's login and phone-number API (required).
    pub fn wechat(mut self, wechat: Arc<dyn WeChat>) -> Self {
        self.wechat = Some(wechat);
        self
    }

    /// The clock (default: the system's).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Where live-channel sockets are held (required).
    pub fn sockets(mut self, sockets: Sockets) -> Self {
        self.sockets = Some(sockets);
        self
    }

    /// Where files live, when S3 (or any store) checks its own presigned forms and URLs
    /// (default: no files, for tools and tests that do not need them).
    pub fn blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self.served_blobs = None;
        self
    }

    /// Where files live, when this server answers the store's presigned forms and URLs
    /// itself (the disk store: `/v1/blobs`).
    pub fn served_blobs<B: ServedBlobStore>(mut self, blobs: Arc<B>) -> Self {
        self.blobs = Some(blobs.clone());
        self.served_blobs = Some(blobs);
        self
    }

    /// What makes thumbnails of image files (`?thumb=`; default: none, and every size
    /// is `THUMB_SIZE_NOT_ALLOWED`). Its sizes are `files.thumb_sizes`.
    pub fn thumbnailer(mut self, thumbnailer: Arc<dyn Thumbnailer>) -> Self {
        self.thumbnailer = Some(thumbnailer);
        self
    }

    /// Where cloud functions run and what they may reach (default: no cloud functions,
    /// for tools and tests that do not need them).
    pub fn functions(mut self, sandbox: Arc<dyn Sandbox>, outbound: Arc<dyn Outbound>) -> Self {
        self.sandbox = sandbox;
        self.outbound = outbound;
        self
    }

    /// Runs after-hooks and scheduled runs in the background (default: awaited, as on
    /// Lambda, where nothing runs after an answer).
    pub fn background(mut self, spawner: Spawner) -> Self {
        self.spawner = Some(spawner);
        self
    }

    /// WeChat Pay's settings, keys read (`pay.settings(appid)` of the configuration;
    /// default: none, and `/v1/pay/*` answers `PAY_UNAVAILABLE`). Its calls go through
    /// the [`wechat`](Self::wechat) adapter's `pay_http`.
    pub fn pay(mut self, settings: Option<yunqiao_core::pay::PaySettings>) -> Self {
        self.pay = settings;
        self
    }

    /// What the health page of the console says this process runs on: its store
    /// (`embedded`, `dynamodb`) and WeChat (`mock`, or the API base it calls); the face
    /// follows from the sockets.
    pub fn about(mut self, store: &str, wechat: &str) -> Self {
        self.about.store = store.to_string();
        self.about.wechat = wechat.to_string();
        self
    }

    /// The domain services, with every setting from `cfg`: sessions and the admin key,
    /// the scan limit, the caches' bound, the function limits, hosts and secrets, and the
    /// files API's limits (the files service exists only with a blob store).
    pub fn build(self, cfg: &Config) -> Result<AppState, MissingAdapter> {
        use yunqiao_core::live::{Live, Push, RateLimiter};
        let (store, writers) = self.store.ok_or(MissingAdapter("store"))?;
        let wechat = self.wechat.ok_or(MissingAdapter("wechat"))?;
        let appid = wechat.appid().to_string();
        let sockets = self.sockets.ok_or(MissingAdapter("sockets"))?;
        let clock = self.clock;
        let freshness = cfg.cache.freshness(writers == StoreWriters::Several);
        // A process holding its sockets counts frame rates in memory; Lambda sandboxes
        // share nothing, so there the store counts.
        let mut about = self.about;
        (about.face, about.live_url) = match sockets {
            Sockets::Local(_) => ("server".to_string(), None),
            Sockets::Remote(_) => ("lambda".to_string(), cfg.live.ws_url.clone()),
        };
        about.pay = self.pay.is_some();
        about.files = self.blobs.is_some();
        let (push, hub, limiter): (Arc<dyn Push>, _, _) = match sockets {
            Sockets::Local(h) => (h.clone(), Some(h), RateLimiter::in_memory()),
            Sockets::Remote(p) => (p, None, RateLimiter::InStore),
        };
        let thumbnailer = self.thumbnailer;
        let files = self.blobs.clone().map(|blobs| {
            let files = yunqiao_core::files::Files::new(
                store.clone(),
                blobs,
                clock.clone(),
                cfg.files.limits(),
            );
            Arc::new(match thumbnailer {
                Some(t) => {
                    let tc = cfg.files.thumbs();
                    files.with_thumbs(yunqiao_core::files::Thumbs::new(
                        ThumbWorker::new(t, &tc),
                        tc.sizes,
                    ))
                }
                None => files,
            })
        });
        let mut tables = yunqiao_core::tables::Tables::new(store.clone(), clock.clone())
            .with_scan_limit(cfg.tables.scan_limit)
            .with_cache(freshness);
        let mut auth = Auth::new(store.clone(), wechat.clone(), clock.clone(), cfg.auth())
            .with_cache(freshness);
        if let Some(f) = &files {
            tables = tables.with_files(Arc::new(crate::files::TableFiles(f.clone())));
            auth = auth.with_avatars(f.clone());
        }
        let tables = Arc::new(tables);
        let auth = Arc::new(auth);
        tables.set_text_checks(auth.wechat().clone());
        if let Some(f) = &files {
            f.set_media_checks(Arc::new(yunqiao_core::wechat::media::WxMediaChecker {
                auth: auth.clone(),
                wechat: auth.wechat().clone(),
            }));
        }
        let qrcodes = files.clone().map(|f| {
            Arc::new(yunqiao_core::wechat::qrcode::QrCodes::new(
                auth.wechat().clone(),
                f,
                store.clone(),
                clock.clone(),
                cfg.wechat.qrcode_users,
                cfg.files.public_url.clone(),
            ))
        });
        let kv = Arc::new(yunqiao_core::kv::Kv::new(store.clone(), clock.clone()));
        let live = Live::new(
            store.clone(),
            clock.clone(),
            push,
            auth.clone(),
            tables.clone(),
            limiter,
            PUSH_CONCURRENCY,
        );
        let pay = Arc::new(yunqiao_core::pay::Pay::new(
            self.pay,
            store.clone(),
            wechat,
            clock.clone(),
            tables.clone(),
        ));
        let functions =
            yunqiao_core::functions::Functions::new(yunqiao_core::functions::FunctionsDeps {
                qrcodes: qrcodes.clone(),
                store: store.clone(),
                clock: clock.clone(),
                auth: auth.clone(),
                tables: tables.clone(),
                kv: kv.clone(),
                live: live.clone(),
                sandbox: self.sandbox,
                outbound: self.outbound,
                secrets: cfg
                    .functions
                    .secrets
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                spawner: self.spawner,
                admission: cfg.functions.admission(),
                allow_private_hosts: cfg.functions.allow_private_hosts,
                freshness,
            });
        let runner: Arc<dyn yunqiao_core::tables::HookRunner> = functions.clone();
        pay.set_hooks(Arc::downgrade(&runner));
        let wechat_push = Arc::new(
            yunqiao_core::wechat::push::WxPush::new(
                cfg.wechat
                    .push_secrets()
                    .map(|secrets| yunqiao_core::wechat::push::PushConfig {
                        secrets,
                        appid,
                        handler: cfg
                            .wechat
                            .push_function
                            .as_deref()
                            .and_then(yunqiao_core::wechat::push::parse_handler),
                    }),
                store,
                clock,
                functions.clone(),
            )
            .with_files(files.clone()),
        );
        Ok(AppState(Arc::new(Services {
            wechat_push,
            pay,
            kv,
            live,
            functions,
            tables,
            auth,
            hub,
            blobs: self.blobs,
            served_blobs: self.served_blobs,
            files,
            qrcodes,
            public_url: cfg.files.public_url.clone(),
            about,
        })))
    }
}

impl From<&Config> for HttpConfig {
    fn from(cfg: &Config) -> HttpConfig {
        HttpConfig {
            body_limit: cfg.body_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunqiao_core::memory_store::MemoryStore;

    struct NoWeChat;

    #[async_trait::async_trait]
    impl WeChat for NoWeChat {
        async fn code_to_session(
            &self,
            _: &str,
        ) -> Result<yunqiao_core::wechat::WxSession, yunqiao_core::wechat::WxError> {
            Err(yunqiao_core::wechat::WxError::Transport("none".into()))
        }
    }

    fn store() -> Arc<dyn ItemStore> {
        Arc::new(MemoryStore::new(Arc::new(SystemClock)))
    }

    #[tokio::test]
    async fn both_faces_build_from_one_config() {
        let cfg = Config::from_env(&yunqiao_config::Env::from_pairs([
            ("YUNQIAO_ADMIN_KEY", "an-admin-key-of-some-length"),
            ("YUNQIAO_BODY_LIMIT", "4096"),
        ]))
        .unwrap();
        let local = AppState::builder()
            .store(store(), StoreWriters::OnlyThisProcess)
            .wechat(Arc::new(NoWeChat))
            .sockets(Sockets::Local(Arc::default()))
            .build(&cfg)
            .unwrap();
        assert!(local.hub.is_some());
        let remote = AppState::builder()
            .store(store(), StoreWriters::Several)
            .wechat(Arc::new(NoWeChat))
            .sockets(Sockets::Remote(Arc::new(yunqiao_core::live::NoPush)))
            .build(&cfg)
            .unwrap();
        assert!(remote.hub.is_none());
        // No blob store, no files service (its routes answer 404).
        assert!(local.files.is_none() && remote.files.is_none());
        // The admin key of the configuration, on both.
        for s in [&local, &remote] {
            let c = s
                .auth
                .authenticate(Some("an-admin-key-of-some-length"))
                .await
                .unwrap();
            assert!(c.is_admin());
        }
        assert_eq!(HttpConfig::from(&cfg).body_limit, 4096);
    }

    #[test]
    fn a_missing_adapter_is_named() {
        let e = AppState::builder()
            .store(store(), StoreWriters::Several)
            .sockets(Sockets::Remote(Arc::new(yunqiao_core::live::NoPush)))
            .build(&Config::default())
            .err()
            .unwrap();
        assert_eq!(e, MissingAdapter("wechat"));
    }
}
