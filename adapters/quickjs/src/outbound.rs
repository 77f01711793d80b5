//! `http.fetch` for cloud functions, on reqwest. The domain has already checked the host
//! against the module's list; here redirects are never followed (an allowed host could
//! send the call anywhere) and bodies are read up to a limit.

use std::collections::BTreeMap;

use async_trait::async_trait;
use yunqiao_core::functions::host::MAX_FETCH_BYTES;
use yunqiao_core::functions::settings::forbidden_address;
use yunqiao_core::functions::{FetchRequest, FetchResponse, Outbound};

pub struct HttpOutbound {
    client: reqwest::Client,
}

/// Resolves names as the system does, then drops every address a function may not reach
/// (link-local and metadata always; loopback and private networks unless allowed): a
/// listed name that resolves there (or is made to, by its DNS) reaches nothing.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let ok: Vec<std::net::SocketAddr> = found
                .filter(|a| forbidden_address(a.ip(), allow).is_none())
                .collect();
            if ok.is_empty() {
                return Err(format!("{host} resolves to no address a function may reach").into());
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl HttpOutbound {
    /// `allow_private`: loopback and private-network addresses are reachable too.
    pub fn new(allow_private: bool) -> Result<HttpOutbound, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(GuardedResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("yunqiao-functions")
            .build()
            .map_err(|e| e.without_url().to_string())?;
        Ok(HttpOutbound { client })
    }
}

#[async_trait]
impl Outbound for HttpOutbound {
    async fn fetch(&self, req: FetchRequest) -> Result<FetchResponse, String> {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut r = self.client.request(method, &req.url).timeout(req.timeout);
        for (k, v) in &req.headers {
            r = r.header(k, v);
        }
        if let Some(b) = req.body {
            r = r.body(b);
        }
        // Errors drop the URL: its query may carry a key.
        let mut resp = r.send().await.map_err(|e| e.without_url().to_string())?;
        let status = resp.status().as_u16();
        let headers: BTreeMap<String, String> = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_string(), v.to_string()))
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            if body.len() + chunk.len() > MAX_FETCH_BYTES {
                return Err(format!(
                    "the response is larger than {MAX_FETCH_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchResponse {
            status,
            headers,
            body,
        })
    }
}
