//! The HTTP routes a SAM template deploys: each `AWS::Serverless::Function`'s `HttpApi`
//! events, with the function named by its `BuildProperties.Binary`.

use std::collections::HashMap;
use std::path::Path;

use serde_yaml::Value;

use crate::{BoxError, WsRoutes};

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
    /// The WebSocket API's `$connect`, `$default` and `$disconnect` functions, when the
    /// template has all three (routes → integrations → functions).
    pub ws_routes: Option<WsRoutes>,
    /// Every function's binary name.
    pub binaries: Vec<String>,
    /// Functions an EventBridge schedule invokes (`Schedule` events), with their
    /// expressions.
    pub schedules: Vec<(String, String)>,
    /// The environment variables each function is given (`Globals.Function.Environment`
    /// and its own `Environment`), by binary name; values are the template's, unresolved.
    pub env_names: HashMap<String, Vec<String>>,
}

/// The names of an `Environment.Variables` mapping.
fn env_var_names(env: Option<&Value>) -> Vec<String> {
    env.and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Template {
    /// Whether `binary` is given the variable `name` on AWS.
    pub fn gives(&self, binary: &str, name: &str) -> bool {
        self.env_names
            .get(binary)
            .is_some_and(|v| v.iter().any(|n| n == name))
    }
}

/// The text of a `!Sub` (or a plain string).
fn sub_text(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str(),
        Value::Mapping(m) => m.get("Fn::Sub").and_then(Value::as_str),
        other => other.as_str(),
    }
}

/// The logical ids `${Name}` / `${Name.Attr}` a `!Sub` string refers to.
fn sub_refs(text: &str) -> Vec<&str> {
    text.split("${")
        .skip(1)
        .filter_map(|r| r.split('}').next())
        .map(|r| r.split('.').next().unwrap_or(r))
        .collect()
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
        let mut binary_of: HashMap<String, String> = HashMap::new();
        let mut schedules = Vec::new();
        let global_env = env_var_names(
            doc.get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get("Environment")),
        );
        let mut env_names: HashMap<String, Vec<String>> = HashMap::new();
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
            binary_of.insert(name.to_string(), binary.to_string());
            let mut names = global_env.clone();
            names.extend(env_var_names(
                r.get("Properties").and_then(|p| p.get("Environment")),
            ));
            env_names.insert(binary.to_string(), names);
            let Some(events) = r
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping)
            else {
                continue;
            };
            for (_, e) in events {
                if e.get("Type").and_then(Value::as_str) == Some("Schedule") {
                    let expr = e
                        .get("Properties")
                        .and_then(|p| p.get("Schedule"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    schedules.push((binary.to_string(), expr.to_string()));
                    continue;
                }
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
        // WebSocket routes: RouteKey → Target "integrations/${Integration}" → the
        // integration's URI, which names "${Function.Arn}".
        let function_of_integration = |id: &str| -> Option<String> {
            let uri = resources
                .get(id)?
                .get("Properties")?
                .get("IntegrationUri")?;
            sub_refs(sub_text(uri)?)
                .into_iter()
                .find_map(|r| binary_of.get(r).cloned())
        };
        let mut ws: HashMap<String, String> = HashMap::new();
        for (_, r) in resources {
            if r.get("Type").and_then(Value::as_str) != Some("AWS::ApiGatewayV2::Route") {
                continue;
            }
            let props = r.get("Properties");
            let key = props
                .and_then(|p| p.get("RouteKey"))
                .and_then(Value::as_str);
            let target = props.and_then(|p| p.get("Target")).and_then(sub_text);
            if let (Some(key), Some(target)) = (key, target)
                && let Some(f) = sub_refs(target)
                    .into_iter()
                    .find_map(&function_of_integration)
            {
                ws.insert(key.to_string(), f);
            }
        }
        let ws_routes = match (
            ws.get("$connect"),
            ws.get("$default"),
            ws.get("$disconnect"),
        ) {
            (Some(c), Some(d), Some(x)) => Some(WsRoutes {
                connect: c.clone(),
                default: d.clone(),
                disconnect: x.clone(),
            }),
            _ => None,
        };
        Ok(Template {
            http_routes,
            ws_routes,
            binaries,
            schedules,
            env_names,
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
  Conn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: yq-ws-connect
  ConnIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Conn.Arn}/invocations"
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      RouteKey: $connect
      Target: !Sub "integrations/${ConnIntegration}"
  DefaultRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      RouteKey: $default
      Target: !Sub "integrations/${ConnIntegration}"
"#,
        )
        .unwrap();
        assert_eq!(t.binaries, ["yq-tables", "yq-ws-connect"]);
        assert!(t.ws_routes.is_none(), "no $disconnect route");
        assert_eq!(
            t.http_routes.iter().map(HttpRoute::key).collect::<Vec<_>>(),
            ["ANY /v1/tables/{proxy+}", "POST /v1/batch", "$default"]
        );
    }

    #[test]
    fn the_repository_template_routes_every_api() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let t = Template::load(&path).unwrap();
        let ws = t.ws_routes.clone().expect("the WebSocket routes");
        assert_eq!(
            (
                ws.connect.as_str(),
                ws.default.as_str(),
                ws.disconnect.as_str()
            ),
            ("yq-ws-connect", "yq-ws-message", "yq-ws-disconnect")
        );
        let to = |m: &str, p: &str| {
            t.http_routes
                .iter()
                .filter_map(|r| r.matches(m, p).map(|(rank, _)| (rank, r.function.as_str())))
                .max()
                .map(|(_, f)| f)
        };
        assert_eq!(to("POST", "/v1/auth/login"), Some("yq-auth"));
        assert_eq!(to("GET", "/v1/tables"), Some("yq-tables"));
        assert_eq!(to("POST", "/v1/tables/t/query"), Some("yq-tables"));
        assert_eq!(to("POST", "/v1/batch"), Some("yq-tables"));
        assert_eq!(to("PUT", "/v1/kv/ns/key"), Some("yq-tables"));
        assert_eq!(to("POST", "/v1/events/room.1"), Some("yq-tables"));
        assert_eq!(
            to("GET", "/v1/events/room.1"),
            Some("yq-admin"),
            "POST only"
        );
        assert_eq!(to("PUT", "/v1/topics/rules/room.*"), Some("yq-admin"));
        assert_eq!(to("POST", "/v1/files"), Some("yq-upload"));
        assert_eq!(to("GET", "/v1/files"), Some("yq-upload"));
        assert_eq!(to("POST", "/v1/files/abc/complete"), Some("yq-upload"));
        assert_eq!(to("DELETE", "/v1/files/abc"), Some("yq-upload"));
        assert_eq!(to("GET", "/v1/files/abc/content"), Some("yq-upload"));
        assert_eq!(to("POST", "/v1/qrcode"), Some("yq-wechat"));
        assert_eq!(to("POST", "/v1/wechat/push"), Some("yq-wechat"));
        assert_eq!(to("GET", "/v1/admin/users"), Some("yq-admin"));
        assert_eq!(to("GET", "/v1/health"), Some("yq-admin"));
        assert_eq!(to("GET", "/v1/nowhere"), Some("yq-admin"), "$default");
        assert_eq!(to("GET", "/console"), Some("yq-admin"));
        assert_eq!(to("GET", "/console/app.js"), Some("yq-admin"));
        assert_eq!(to("GET", "/console/"), Some("yq-admin"), "$default");
        assert_eq!(to("POST", "/v1/pay/orders"), Some("yq-pay"));
        assert_eq!(to("GET", "/v1/pay/orders"), Some("yq-pay"));
        assert_eq!(to("GET", "/v1/pay/orders/yq123"), Some("yq-pay"));
        assert_eq!(to("POST", "/v1/pay/orders/yq123/close"), Some("yq-pay"));
        assert_eq!(to("POST", "/v1/pay/notify"), Some("yq-pay-notify"));
        assert_eq!(to("GET", "/v1/admin/pay/orders"), Some("yq-pay"));
        assert_eq!(to("GET", "/v1/admin/pay/orders/yq123"), Some("yq-pay"));
        assert_eq!(to("GET", "/v1/admin/users"), Some("yq-admin"));
        assert_eq!(
            to("GET", "/v1/pay/notify"),
            Some("yq-admin"),
            "notify is POST only"
        );
        // The WeChat app secret reaches the functions that call WeChat, and no other.
        let secret = "YUNQIAO_WECHAT_SECRET";
        for f in [
            "yq-auth",
            "yq-tables",
            "yq-upload",
            "yq-fn",
            "yq-schedule",
            "yq-wechat",
            "yq-pay",
            "yq-pay-notify",
        ] {
            assert!(t.gives(f, secret), "{f} calls WeChat");
            assert!(t.gives(f, "YUNQIAO_WECHAT_APPID"), "{f}");
        }
        for f in [
            "yq-admin",
            "yq-ws-connect",
            "yq-ws-message",
            "yq-ws-disconnect",
        ] {
            assert!(!t.gives(f, secret), "{f} has no use for the app secret");
        }
        assert!(t.gives("yq-admin", "YUNQIAO_ADMIN_KEY"), "Globals");
    }
}
