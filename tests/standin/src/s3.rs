//! S3 for the Lambda face: s3s with its file-system backend, in-process on 127.0.0.1,
//! with authentication on, so that every SigV4 signature the functions make (requests,
//! presigned GET URLs, POST policies) is checked as S3 checks it.
//!
//! s3s-fs does not apply a presigned GET's `response-content-type` and
//! `response-content-disposition` overrides, which S3 does (they are signed into the
//! URL, and s3s checks that signature): this server applies them to the answer, as S3
//! would.

use http::{HeaderValue, Request, Response, header};
use hyper::body::Incoming;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

use crate::BoxError;

/// A running S3 server; its objects live (in a temporary directory) as long as it does.
pub struct S3Server {
    /// `http://127.0.0.1:<port>`: the functions' `YUNQIAO_S3_ENDPOINT` (path style).
    pub endpoint: String,
    pub bucket: String,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    /// A server that accepts these credentials only, with `bucket` created.
    pub async fn start(
        access_key: &str,
        secret_key: &str,
        bucket: &str,
    ) -> Result<S3Server, BoxError> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join(bucket))?;
        let fs = s3s_fs::FileSystem::new(dir.path()).map_err(|e| format!("s3s-fs: {e:?}"))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                let with_overrides = service_fn(move |req: Request<Incoming>| {
                    let overrides = response_overrides(&req);
                    let service = service.clone();
                    async move {
                        let mut resp = Service::call(&service, req).await?;
                        if resp.status().is_success() {
                            apply(&mut resp, &overrides);
                        }
                        Ok::<_, s3s::HttpError>(resp)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), with_overrides)
                        .await;
                });
            }
        });
        Ok(S3Server {
            endpoint: format!("http://{addr}"),
            bucket: bucket.to_string(),
            task,
            _dir: dir,
        })
    }
}

impl S3Server {
    /// Whether an object is stored under `key` (s3s-fs keeps it as a file named by it).
    pub fn has_object(&self, key: &str) -> bool {
        self._dir.path().join(&self.bucket).join(key).is_file()
    }
}

/// A GET's `response-content-type` and `response-content-disposition`.
fn response_overrides<B>(req: &Request<B>) -> Vec<(header::HeaderName, String)> {
    if req.method() != http::Method::GET {
        return Vec::new();
    }
    let query = req.uri().query().unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .filter_map(|(k, v)| {
            let name = match k.as_ref() {
                "response-content-type" => header::CONTENT_TYPE,
                "response-content-disposition" => header::CONTENT_DISPOSITION,
                _ => return None,
            };
            Some((name, v.into_owned()))
        })
        .collect()
}

fn apply<B>(resp: &mut Response<B>, overrides: &[(header::HeaderName, String)]) {
    for (name, value) in overrides {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(name.clone(), v);
        }
    }
}
