//! The S3 BlobStore.
//!
//! Objects live in one bucket under their keys as given. Reads, writes and presigned GET
//! URLs go through the SDK; presigned POST forms (browser-based uploads, which
//! `wx.uploadFile` can send) are signed here, because the SDK has no POST-policy support:
//! a SigV4 policy document that fixes the bucket, the key, the exact `Content-Type`, the
//! size range and the expiry, signed with the credentials current at the time of the call.
//!
//! Checksums are computed and validated only when an operation requires them: the SDK's
//! default (a CRC32 on every request) would otherwise end up in presigned URLs and is not
//! understood by every S3-compatible server.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    Credentials, ProvideCredentials, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use yunqiao_core::blob::{
    Blob, BlobError, BlobMeta, BlobStore, DEFAULT_CONTENT_TYPE, PostForm, UploadPolicy,
    inline_safe, validate_content_type, validate_expiry, validate_key,
};
use yunqiao_core::clock::{SharedClock, SystemClock};

use crate::dynamo::sdk_config;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Cached temporary credentials are refreshed this long before they expire.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

/// Where the bucket is. `yunqiao serve` and the Lambda functions build it from the
/// configuration's `[files]` section (`files.bucket`, `files.s3_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// An S3-compatible server's URL (`http://127.0.0.1:9000`); `None` for AWS itself.
    pub endpoint: Option<String>,
    /// Address the bucket as `{endpoint}/{bucket}` rather than `{bucket}.{host}`.
    pub path_style: bool,
}

impl S3Config {
    /// The URL of the bucket itself, where presigned POST forms are sent:
    /// `{scheme}://{host}/{bucket}` (path style) or `{scheme}://{bucket}.{host}`.
    pub fn bucket_url(&self) -> String {
        let (scheme, host) = match &self.endpoint {
            Some(ep) => {
                let ep = ep.trim_end_matches('/');
                let (scheme, host) = ep.split_once("://").unwrap_or(("https", ep));
                (scheme, host.to_string())
            }
            // China's regions (where most mini-programs live) have their own domain.
            None if self.region.starts_with("cn-") => {
                ("https", format!("s3.{}.amazonaws.com.cn", self.region))
            }
            None => ("https", format!("s3.{}.amazonaws.com", self.region)),
        };
        // A dotted bucket name would not match the TLS certificate of `*.{host}`.
        if self.path_style || self.bucket.contains('.') {
            format!("{scheme}://{host}/{}", self.bucket)
        } else {
            format!("{scheme}://{}.{host}", self.bucket)
        }
    }
}

/// The S3 [`BlobStore`]. Cheap to clone.
#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
    region: String,
    bucket_url: String,
    credentials: Arc<CredentialSource>,
    /// The time forms and URLs are signed at.
    clock: SharedClock,
}

impl Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("bucket_url", &self.bucket_url)
            .finish_non_exhaustive()
    }
}

impl S3BlobStore {
    /// A store on an SDK configuration shared with other clients (its HTTP client and
    /// credentials); the bucket, region, endpoint and addressing style come from `cfg`
    /// and apply to S3 only.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, cfg: &S3Config) -> Self {
        let mut conf = aws_sdk_s3::config::Builder::from(sdk)
            .region(aws_sdk_s3::config::Region::new(cfg.region.clone()))
            .force_path_style(cfg.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        // Exactly `cfg`'s endpoint (not one set on the shared configuration), so that
        // presigned POST forms go where the client's requests go.
        conf.set_endpoint_url(cfg.endpoint.clone());
        S3BlobStore {
            client: Client::from_conf(conf.build()),
            bucket: cfg.bucket.clone(),
            region: cfg.region.clone(),
            bucket_url: cfg.bucket_url(),
            credentials: Arc::new(CredentialSource {
                provider: sdk.credentials_provider(),
                cached: Mutex::new(None),
            }),
            clock: Arc::new(SystemClock),
        }
    }

    /// Signs forms and URLs at `clock`'s time (default: the system's). S3 checks them
    /// against its own clock: a form signed at a past time expires that much sooner.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock's time.
    fn now(&self) -> SystemTime {
        let ms = u64::try_from(self.clock.now_ms()).unwrap_or(0);
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    /// Builds the SDK configuration (rustls, the standard credential chain) and the store.
    pub async fn connect(cfg: &S3Config) -> Self {
        let sdk = sdk_config(&cfg.region, None).await;
        S3BlobStore::from_sdk(&sdk, cfg)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket when it does not exist: for development and tests. In AWS,
    /// `template.yaml` owns the bucket.
    pub async fn create_bucket_if_missing(&self) -> Result<(), BlobError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        let mut req = self.client.create_bucket().bucket(&self.bucket);
        if self.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err("create bucket", e)),
        }
    }

    /// Signs a POST policy; see [`BlobStore::presign_post`].
    async fn sign_post(&self, key: &str, policy: &UploadPolicy) -> Result<PostForm, BlobError> {
        let creds = self.credentials.get().await?;
        let now_secs = self
            .now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| BlobError::Unavailable(format!("system clock: {e}")))?
            .as_secs();
        let iso = |secs: u64| -> Result<String, BlobError> {
            let secs = i64::try_from(secs)
                .map_err(|_| BlobError::Invalid("expiry out of range".into()))?;
            DateTime::from_secs(secs)
                .fmt(DateTimeFormat::DateTime)
                .map_err(|e| BlobError::Invalid(format!("expiry out of range: {e}")))
        };
        // `2026-01-02T03:04:05Z` -> `20260102T030405Z`.
        let amz_date: String = iso(now_secs)?
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let day = amz_date.get(..8).unwrap_or_default();
        let expiration = iso(now_secs.saturating_add(policy.expires_in.as_secs()))?;
        let credential = format!(
            "{}/{day}/{}/s3/aws4_request",
            creds.access_key_id(),
            self.region
        );

        let mut fields: Vec<(String, String)> = vec![
            ("key".into(), key.into()),
            ("Content-Type".into(), policy.content_type.clone()),
            ("x-amz-algorithm".into(), ALGORITHM.into()),
            ("x-amz-credential".into(), credential.clone()),
            ("x-amz-date".into(), amz_date.clone()),
        ];
        let mut conditions: Vec<Value> = vec![
            json!({ "bucket": self.bucket }),
            json!(["eq", "$key", key]),
            json!(["eq", "$Content-Type", policy.content_type]),
            json!(["content-length-range", policy.min_bytes, policy.max_bytes]),
            json!({ "x-amz-algorithm": ALGORITHM }),
            json!({ "x-amz-credential": credential }),
            json!({ "x-amz-date": amz_date }),
        ];
        if let Some(token) = creds.session_token() {
            fields.push(("x-amz-security-token".into(), token.into()));
            conditions.push(json!({ "x-amz-security-token": token }));
        }
        let document = json!({ "expiration": expiration, "conditions": conditions });
        let encoded = base64::engine::general_purpose::STANDARD.encode(document.to_string());

        let signing_key = signing_key(creds.secret_access_key(), day, &self.region, "s3")?;
        let signature = hex::encode(hmac_sha256(&signing_key, encoded.as_bytes())?);
        fields.push(("policy".into(), encoded));
        fields.push(("x-amz-signature".into(), signature));
        Ok(PostForm {
            url: self.bucket_url.clone(),
            fields,
        })
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<BlobMeta, BlobError> {
        validate_key(key)?;
        validate_content_type(content_type)?;
        let size = bytes.len() as u64;
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk_err("put object", e))?;
        Ok(BlobMeta {
            size,
            content_type: content_type.to_string(),
            etag: etag(out.e_tag()),
        })
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        validate_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(sdk_err("get object", e)),
        };
        let content_type = content_type(out.content_type());
        let etag = etag(out.e_tag());
        let bytes: Vec<u8> = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Unavailable(format!("get object: reading the body: {e}")))?
            .into_bytes()
            .into();
        Ok(Some(Blob {
            meta: BlobMeta {
                size: bytes.len() as u64,
                content_type,
                etag,
            },
            bytes,
        }))
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, BlobError> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(BlobMeta {
                size: out
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: content_type(out.content_type()),
                etag: etag(out.e_tag()),
            })),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(sdk_err("head object", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            // S3 answers 204 for a missing key; some compatible servers answer 404.
            Ok(_) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(sdk_err("delete object", e)),
        }
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Option<BlobMeta>, BlobError> {
        validate_key(from)?;
        validate_key(to)?;
        // CopyObject copies one version of the source, on S3's side, up to 5 GB (the
        // largest upload a form allows); the content type goes with it.
        match self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, copy_source_key(from)))
            .key(to)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(sdk_err("copy object", e)),
        }
        self.head(to).await
    }

    async fn presign_post(&self, key: &str, policy: &UploadPolicy) -> Result<PostForm, BlobError> {
        validate_key(key)?;
        policy.validate()?;
        self.sign_post(key, policy).await
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, BlobError> {
        self.sign_get(key, None, expires_in).await
    }

    async fn read_prefix(&self, key: &str, n: usize) -> Result<Option<Vec<u8>>, BlobError> {
        self.ranged_prefix(key, n).await
    }

    /// S3 sends no `nosniff` and no sandbox: what a browser would run is asked for as an
    /// attachment of raw bytes (`response-content-disposition`, `response-content-type`,
    /// both signed into the URL).
    async fn presign_get_as(
        &self,
        key: &str,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<String, BlobError> {
        self.sign_get(key, Some(content_type), expires_in).await
    }
}

impl S3BlobStore {
    /// The first `n` bytes with a ranged GET (a range past the end is refused by S3 as
    /// 416 only for an empty object, which is read whole instead).
    async fn ranged_prefix(&self, key: &str, n: usize) -> Result<Option<Vec<u8>>, BlobError> {
        validate_key(key)?;
        if n == 0 {
            return Ok(self.head(key).await?.map(|_| Vec::new()));
        }
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", n - 1))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                return Ok(self.get(key).await?.map(|b| b.bytes));
            }
            Err(e) => return Err(sdk_err("get object range", e)),
        };
        let mut bytes: Vec<u8> = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Unavailable(format!("get object: reading the body: {e}")))?
            .into_bytes()
            .into();
        bytes.truncate(n);
        Ok(Some(bytes))
    }

    async fn sign_get(
        &self,
        key: &str,
        content_type: Option<&str>,
        expires_in: Duration,
    ) -> Result<String, BlobError> {
        validate_key(key)?;
        validate_expiry(expires_in)?;
        let presigning = PresigningConfig::builder()
            .start_time(self.now())
            .expires_in(expires_in)
            .build()
            .map_err(|e| BlobError::Invalid(format!("presigning: {e}")))?;
        let mut get = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some(ct) = content_type
            && !inline_safe(ct)
        {
            get = get
                .response_content_disposition("attachment")
                .response_content_type(DEFAULT_CONTENT_TYPE);
        }
        let req = get
            .presigned(presigning)
            .await
            .map_err(|e| sdk_err("presign get", e))?;
        Ok(req.uri().to_string())
    }
}

/// The credentials for POST policies, fetched from the SDK's provider when needed:
/// temporary credentials (Lambda's, an instance role's) are kept until shortly before
/// they expire; static ones are cheap to read and are read on each call.
///
/// A form signed with temporary credentials stops working when they expire, whatever its
/// policy says; the same holds for the SDK's presigned URLs.
struct CredentialSource {
    provider: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<Credentials>>,
}

impl CredentialSource {
    async fn get(&self) -> Result<Credentials, BlobError> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_some_and(|t| t > SystemTime::now() + CREDENTIALS_MARGIN)
        };
        if let Ok(cached) = self.cached.lock()
            && let Some(c) = cached.as_ref()
            && fresh(c)
        {
            return Ok(c.clone());
        }
        let provider = self
            .provider
            .as_ref()
            .ok_or_else(|| BlobError::Unavailable("no AWS credentials provider".into()))?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            BlobError::Unavailable(format!("AWS credentials: {}", DisplayErrorContext(e)))
        })?;
        if creds.expiry().is_some()
            && let Ok(mut cached) = self.cached.lock()
        {
            *cached = Some(creds.clone());
        }
        Ok(creds)
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<Vec<u8>, BlobError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|e| BlobError::Unavailable(format!("hmac: {e}")))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// The SigV4 signing key for one day, region and service.
fn signing_key(secret: &str, day: &str, region: &str, service: &str) -> Result<Vec<u8>, BlobError> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), day.as_bytes())?;
    let k_region = hmac_sha256(&k_date, region.as_bytes())?;
    let k_service = hmac_sha256(&k_region, service.as_bytes())?;
    hmac_sha256(&k_service, b"aws4_request")
}

/// A key as CopyObject's `x-amz-copy-source` takes it: URL-encoded, `/` kept.
fn copy_source_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn etag(e: Option<&str>) -> String {
    e.unwrap_or_default().trim_matches('"').to_string()
}

fn content_type(c: Option<&str>) -> String {
    c.filter(|c| !c.is_empty())
        .unwrap_or(DEFAULT_CONTENT_TYPE)
        .to_string()
}

/// Whether the error says the object does not exist (not: the bucket does not). A HEAD
/// answer has no body, so S3's bodiless 404 for a missing bucket reads as a missing object
/// there; GET and DELETE name `NoSuchBucket` and are errors.
fn is_missing<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e.code() {
        Some("NoSuchKey" | "NotFound") => true,
        Some(_) => false,
        None => e.raw_response().is_some_and(|r| r.status().as_u16() == 404),
    }
}

fn sdk_err<E, R>(what: &str, e: SdkError<E, R>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    BlobError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(region: &str, endpoint: Option<&str>, path_style: bool, bucket: &str) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            region: region.into(),
            endpoint: endpoint.map(Into::into),
            path_style,
        }
    }

    #[test]
    fn bucket_urls() {
        let url = |c: S3Config| c.bucket_url();
        assert_eq!(
            url(cfg("us-east-1", None, false, "files")),
            "https://files.s3.us-east-1.amazonaws.com"
        );
        assert_eq!(
            url(cfg("ap-east-1", None, true, "files")),
            "https://s3.ap-east-1.amazonaws.com/files"
        );
        assert_eq!(
            url(cfg("cn-north-1", None, false, "files")),
            "https://files.s3.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            url(cfg("us-east-1", None, false, "my.files")),
            "https://s3.us-east-1.amazonaws.com/my.files"
        );
        assert_eq!(
            url(cfg("us-east-1", Some("http://127.0.0.1:9000/"), true, "b")),
            "http://127.0.0.1:9000/b"
        );
        assert_eq!(
            url(cfg("us-east-1", Some("https://s3.example.com"), false, "b")),
            "https://b.s3.example.com"
        );
    }

    /// The example from AWS's "Deriving the signing key" documentation.
    #[test]
    fn copy_sources_are_url_encoded() {
        assert_eq!(copy_source_key("up/01J/a b+c.png"), "up/01J/a%20b%2Bc.png");
        assert_eq!(copy_source_key("文"), "%E6%96%87");
    }

    #[test]
    fn sigv4_signing_key() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        )
        .unwrap();
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }
}
