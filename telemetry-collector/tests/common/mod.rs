//! Shared by the integration tests: a real server on 127.0.0.1 over a SQLite file in a temp
//! dir, a keep-alive HTTP client, and record builders in the cagent and OTLP formats.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use telemetry_collector::{BackgroundServer, Config};

pub const JSON: &str = "application/json";

/// A server and its database directory; `restart` keeps the database.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub server: Option<BackgroundServer>,
    pub config: Config,
    agent: ureq::Agent,
}

impl Harness {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().join("collector.db"));
        adjust(&mut config);
        let server = BackgroundServer::start(config.clone()).unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            dir,
            server: Some(server),
            config,
            agent,
        }
    }

    pub fn db(&self) -> PathBuf {
        match &self.config.db {
            telemetry_collector::store::Db::Sqlite(p) => p.clone(),
            other => panic!("not a SQLite harness: {other}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.as_ref().unwrap().url(path)
    }

    /// Stops the server gracefully and starts a new one on the same database.
    pub fn restart(&mut self) {
        self.server.take().unwrap().stop().unwrap();
        self.server = Some(BackgroundServer::start(self.config.clone()).unwrap());
    }

    /// POSTs a body; returns the status and the body text.
    pub fn post(
        &self,
        path: &str,
        ctype: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut req = self
            .agent
            .post(&self.url(path))
            .header("Content-Type", ctype);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).expect("the server answers");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    }

    /// POSTs a body of bytes; returns the status, the answer's `Content-Type` and its body.
    pub fn post_bytes(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Option<String>, Vec<u8>) {
        let mut req = self.agent.post(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).expect("the server answers");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        (status, ctype, body)
    }

    pub fn track(&self, records: &[Value]) -> (u16, Value) {
        let body = json!({ "records": records }).to_string();
        let (status, text) = self.post("/events/v1/track", JSON, &body, &[]);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn otlp(&self, body: &Value) -> (u16, Value) {
        let (status, text) = self.post("/v1/logs", JSON, &body.to_string(), &[]);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut req = self.agent.get(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.call().expect("the server answers");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    }

    /// `GET /api/summary?days=N` (with the admin token when the config has one).
    pub fn summary(&self, days: u32) -> Value {
        let auth = self
            .config
            .admin_token
            .as_ref()
            .map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let (status, text) = self.get(&format!("/api/summary?days={days}"), &headers);
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn envelope(event: &str, id: &str, user: &str, mut props: Value) -> Value {
    let p = props.as_object_mut().unwrap();
    p.insert("user_uuid".into(), json!(user));
    p.insert("version".into(), json!("1.2.3"));
    p.insert("os".into(), json!("linux"));
    p.insert("os_language".into(), json!("en-US"));
    p.insert("event_id".into(), json!(id));
    json!({"event": event, "event_timestamp": now_ms(), "source": "cagent", "properties": props})
}

pub fn command(id: &str, user: &str, action: &str, error: Option<&str>, ms: i64) -> Value {
    let mut p =
        json!({"action": action, "args": ["a"], "is_success": error.is_none(), "duration_ms": ms});
    if let Some(e) = error {
        p["error"] = json!(e);
    }
    envelope("command", id, user, p)
}

pub fn tool(id: &str, user: &str, name: &str, error: Option<&str>, ms: i64) -> Value {
    let mut p = json!({"action": "call", "session_id": "s1", "agent_name": "root",
        "tool_name": name, "duration_ms": ms, "is_success": error.is_none()});
    if let Some(e) = error {
        p["error"] = json!(e);
    }
    envelope("tool", id, user, p)
}

pub fn token(id: &str, user: &str, model: &str, input: i64, output: i64, cost: f64) -> Value {
    envelope(
        "token",
        id,
        user,
        json!({"action": "usage", "session_id": "s1", "agent_name": "root",
        "model_name": model, "input_tokens": input, "output_tokens": output,
        "total_tokens": input + output, "cost": cost}),
    )
}

pub fn session_start(id: &str, user: &str, session: &str) -> Value {
    envelope(
        "session",
        id,
        user,
        json!({"action": "start", "session_id": session, "agent_name": "root"}),
    )
}

pub fn session_end(id: &str, user: &str, session: &str, errors: &[&str]) -> Value {
    envelope(
        "session",
        id,
        user,
        json!({"action": "end", "session_id": session, "agent_name": "root",
        "duration_ms": 900, "tool_calls": 2, "input_tokens": 10, "output_tokens": 5,
        "total_tokens": 15, "cost": 0.5, "error_count": errors.len(), "is_success": errors.is_empty(),
        "error": errors}),
    )
}

/// One OTLP attribute.
pub fn attr(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

pub fn s(v: &str) -> Value {
    json!({"stringValue": v})
}

pub fn i(v: i64) -> Value {
    json!({"intValue": v.to_string()})
}

/// An ExportLogsServiceRequest with the exporter's resource and the given log records.
pub fn otlp_request(records: Vec<Value>) -> Value {
    json!({"resourceLogs": [{
        "resource": {"attributes": [
            attr("service.name", s("cagent")), attr("service.version", s("9.9.9")),
            attr("os.type", s("darwin")), attr("telemetry.sdk.name", s("cli-telemetry")),
            attr("telemetry.sdk.language", s("rust")), attr("telemetry.sdk.version", s("0.1.0"))]},
        "scopeLogs": [{"scope": {"name": "cli-telemetry", "version": "0.1.0"}, "logRecords": records}]
    }]})
}

/// A log record as the exporter writes it: times in ns, severity from success.
pub fn log_record(event_name: &str, ok: bool, attrs: Vec<Value>) -> Value {
    let ns = (now_ms() * 1_000_000).to_string();
    json!({"timeUnixNano": ns, "observedTimeUnixNano": ns,
        "severityNumber": if ok { 9 } else { 17 }, "severityText": if ok { "INFO" } else { "ERROR" },
        "eventName": event_name, "attributes": attrs})
}

/// The named entry of a summary list (`commands`, `tools`, `models`, ...).
pub fn entry<'a>(summary: &'a Value, list: &str, name: &str) -> &'a Value {
    summary[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}: {summary:#}"))
}
