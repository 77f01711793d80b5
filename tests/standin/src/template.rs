//! The HTTP routes a SAM template deploys: each `AWS::Serverless::Function`'s `HttpApi`
//! events, with the function named by its `BuildProperties.Binary`.

use std::collections::HashMap;
use std::path::Path;

use serde_yaml::Value;

use crate::BoxError;

/// How specific a route's match is: (full 2 / greedy 1 / `$default` 0, literal
/// segments, method over `ANY`).
pub type Rank = (u8, usize, u8);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// Upper case; `None` is `ANY`.
    pub method: Option<String>,
    /// A path pattern (`/v1/tables/{proxy+}`) or `$default`.
    pub path: String,
    pub function: String,
}

impl HttpRoute {
    /// API Gateway's route key: `GET /v1/health`, `ANY /v1/kv/{proxy+}`, `$default`.
    pub fn key(&self) -> String {
        if self.path == "$default" {
            return "$default".into();
        }
        format!("{} {}", self.method.as_deref().unwrap_or("ANY"), self.path)
    }

    /// How specifically this route matches `method path`, with the path parameters; the
    /// highest rank wins (full matches over greedy ones, more literal segments first,
    /// a method over `ANY`, anything over `$default`).
    pub fn matches(&self, method: &str, path: &str) -> Option<(Rank, HashMap<String, String>)> {
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return None;
        }
        let by_method = u8::from(self.method.is_some());
        if self.path == "$default" {
            return Some(((0, 0, by_method), HashMap::new()));
        }
        let pat: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut params = HashMap::new();
        let mut literal = 0;
        for (i, p) in pat.iter().enumerate() {
            if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                let rest = &segs[i.min(segs.len())..];
                if rest.is_empty() || rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                params.insert(name.to_string(), rest.join("/"));
                return Some(((1, literal, by_method), params));
            }
            let s = segs.get(i)?;
            if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if s.is_empty() {
                    return None;
                }
                params.insert(name.to_string(), s.to_string());
            } else if p == s {
                literal += 1;
            } else {
                return None;
            }
        }
        (pat.len() == segs.len()).then_some(((2, literal, by_method), params))
    }
}

/// What the stand-in needs of `template.yaml`.
#[derive(Debug, Clone)]
pub struct Template {
    pub http_routes: Vec<HttpRoute>,
    /// Every function's binary name.
    pub binaries: Vec<String>,
}

impl Template {
    pub fn load(path: &Path) -> Result<Template, BoxError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, BoxError> {
        let doc: Value = serde_yaml::from_str(text)?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or("the template has no Resources")?;
        let mut http_routes = Vec::new();
        let mut binaries = Vec::new();
        for (name, r) in resources {
            if r.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let name = name.as_str().unwrap_or("?");
            let binary = r
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("function {name} has no Metadata.BuildProperties.Binary"))?;
            binaries.push(binary.to_string());
            let Some(events) = r
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping)
            else {
                continue;
            };
            for (_, e) in events {
                if e.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let props = e.get("Properties");
                let path = props
                    .and_then(|p| p.get("Path"))
                    .and_then(Value::as_str)
                    .unwrap_or("$default");
                let method = props
                    .and_then(|p| p.get("Method"))
                    .and_then(Value::as_str)
                    .map(str::to_ascii_uppercase)
                    .filter(|m| m != "ANY" && m != "X-AMAZON-APIGATEWAY-ANY-METHOD");
                http_routes.push(HttpRoute {
                    method,
                    path: path.to_string(),
                    function: binary.to_string(),
                });
            }
        }
        Ok(Template {
            http_routes,
            binaries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(m: Option<&str>, p: &str) -> HttpRoute {
        HttpRoute {
            method: m.map(str::to_string),
            path: p.into(),
            function: "f".into(),
        }
    }

    #[test]
    fn routes_match_like_api_gateway() {
        let greedy = route(None, "/v1/tables/{proxy+}");
        let exact = route(None, "/v1/tables");
        let get = route(Some("GET"), "/v1/health");
        let dflt = route(None, "$default");
        assert!(greedy.matches("GET", "/v1/tables").is_none());
        let (_, p) = greedy.matches("POST", "/v1/tables/t/records").unwrap();
        assert_eq!(p["proxy"], "t/records");
        assert!(exact.matches("GET", "/v1/tables").is_some());
        assert!(exact.matches("GET", "/v1/tables/x").is_none());
        assert!(get.matches("POST", "/v1/health").is_none());
        let a = get.matches("GET", "/v1/health").unwrap().0;
        let d = dflt.matches("GET", "/v1/health").unwrap().0;
        assert!(a > d);
        assert!(exact.matches("GET", "/v1/tables").unwrap().0 > d);
        let one = route(None, "/v1/users/{id}");
        assert!(one.matches("GET", "/v1/users/").is_none());
        assert_eq!(one.matches("GET", "/v1/users/7").unwrap().1["id"], "7");
    }

    #[test]
    fn reads_http_api_events() {
        let t = Template::parse(
            r#"
Resources:
  Tables:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: yq-tables
    Properties:
      Environment:
        Variables:
          T: !Ref Table
      Events:
        Proxy:
          Type: HttpApi
          Properties:
            Path: /v1/tables/{proxy+}
            Method: ANY
        Batch:
          Type: HttpApi
          Properties: { Path: /v1/batch, Method: post }
        Fallback:
          Type: HttpApi
  Table:
    Type: AWS::DynamoDB::Table
"#,
        )
        .unwrap();
        assert_eq!(t.binaries, ["yq-tables"]);
        assert_eq!(
            t.http_routes.iter().map(HttpRoute::key).collect::<Vec<_>>(),
            ["ANY /v1/tables/{proxy+}", "POST /v1/batch", "$default"]
        );
    }
}
