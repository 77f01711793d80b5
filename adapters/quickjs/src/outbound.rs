//! `http.fetch` for cloud functions, on reqwest. The domain has already checked the host
//! against the module's list; here redirects are never followed (an allowed host could
//! send the call anywhere) and bodies are read up to a limit.

use std::collections::BTreeMap;

use async_trait::async_trait;
use yunqiao_core::functions::host::MAX_FETCH_BYTES;
use yunqiao_core::functions::{FetchRequest, FetchResponse, Outbound};

pub struct HttpOutbound {
    client: reqwest::Client,
}

impl HttpOutbound {
    pub fn new() -> Result<HttpOutbound, String> {
        let client = reqwest::Client::builder()
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
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}
