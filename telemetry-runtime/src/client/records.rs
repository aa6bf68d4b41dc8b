//! Building a record's JSON text from an event: scrubbing, caps, system properties, tags.

use std::borrow::Cow;

use serde_json::Value;

use super::Client;
use crate::event::{BuiltinEvent, Event, Field};
use crate::limits::{MAX_ARRAY_ITEMS, SYSTEM_KEYS};
use crate::record::{self, Emit, Fixed, RecordWriter, SystemProps};
use crate::scrub::ArgScrubber;

impl Client {
    /// Scrubs a string the application supplied, as every recorded string is.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.inner.scrubber.scrub(text).into_owned()
    }

    /// Builds the record (envelope) for an event, exactly as it would be sent.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env, Outcome};
    /// use telemetry_runtime::event::CommandEvent;
    /// let client = Client::builder().app("mytool", "1.0.0").env(Env::empty()).build();
    /// let ev = CommandEvent::new("run", vec![], Outcome::Success, Default::default());
    /// let record = client.build_record(&ev);
    /// assert_eq!(record["event"], "command");
    /// assert_eq!(record["source"], "mytool");
    /// assert_eq!(record["properties"]["version"], "1.0.0");
    /// ```
    #[must_use]
    pub fn build_record(&self, event: &dyn Event) -> Value {
        record::parse(&self.record_json(event))
    }

    /// The JSON text of an application's event: its properties map, scrubbed.
    pub(super) fn record_json(&self, event: &dyn Event) -> String {
        let mut map = event.properties();
        for value in map.values_mut() {
            self.scrub_value(value);
        }
        // An application's event cannot override the system keys.
        let mut props: Vec<(&String, &Value)> = map
            .iter()
            .filter(|(k, _)| !SYSTEM_KEYS.contains(&k.as_str()))
            .collect();
        props.sort_by(|a, b| a.0.cmp(b.0));
        record::write(event.kind(), self.fixed(), &AppProps(&props))
    }

    /// The JSON text of a built-in event: the same record as [`record_json`](Self::record_json)
    /// gives, written from borrowed fields with no intermediate map.
    pub(super) fn builtin_json(&self, event: &dyn BuiltinEvent) -> String {
        let fixed = self.fixed();
        record::write(
            event.kind(),
            fixed,
            &BuiltinFields {
                client: self,
                event,
                fixed,
            },
        )
    }

    /// Scrubs the items of a list (at most [`MAX_ARRAY_ITEMS`]) as a command line: an item
    /// right after a bare secret flag (`--password`, then the secret) is redacted whole, one
    /// after `-u`/`--user` or a password program's `-p` loses its password.
    fn scrub_list<'s>(&'s self, items: &'s [String]) -> impl Iterator<Item = Cow<'s, str>> {
        let mut args = ArgScrubber::new(&self.inner.scrubber);
        items
            .iter()
            .take(MAX_ARRAY_ITEMS)
            .map(move |s| args.next(s))
    }

    /// Scrubs a string an event holds (the empty string, often an absent session or agent,
    /// is left as it is without a scan: no rule changes it).
    fn scrub_cow<'s>(&self, s: &'s str) -> Cow<'s, str> {
        if s.is_empty() {
            Cow::Borrowed(s)
        } else {
            self.inner.scrubber.scrub(s)
        }
    }

    /// Scrubs a name through the client's cache of names.
    fn scrub_name<'s>(&'s self, name: &'s str) -> Cow<'s, str> {
        if name.is_empty() {
            return Cow::Borrowed(name);
        }
        self.inner
            .names
            .get_or_scrub(name, |n| self.inner.scrubber.scrub(n))
    }

    /// What every record repeats (creates the anonymous id at the first record).
    fn fixed(&self) -> &Fixed {
        self.inner.fixed.get_or_init(|| {
            let tags: Vec<(String, String)> = self
                .inner
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), self.inner.scrubber.scrub(v).into_owned()))
                .collect();
            Fixed::new(
                &SystemProps {
                    user_uuid: self.user_uuid(),
                    version: &self.inner.version,
                    os: crate::config::go_os(),
                    os_language: &self.inner.os_language,
                },
                &tags,
                &self.inner.app,
                |s| self.inner.scrubber.scrub(s).into_owned(),
            )
        })
    }

    fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.inner.scrubber.scrub_in_place(s),
            Value::Array(items) => {
                items.truncate(MAX_ARRAY_ITEMS);
                let mut args = ArgScrubber::new(&self.inner.scrubber);
                for v in items.iter_mut() {
                    match v {
                        Value::String(s) => {
                            if let Cow::Owned(clean) = args.next(s) {
                                *s = clean;
                            }
                        }
                        _ => self.scrub_value(v),
                    }
                }
            }
            Value::Object(map) => map.values_mut().for_each(|v| self.scrub_value(v)),
            _ => {}
        }
    }
}

/// An application's properties, scrubbed and sorted.
struct AppProps<'a>(&'a [(&'a String, &'a Value)]);

impl Emit for AppProps<'_> {
    fn emit<W: RecordWriter>(&self, w: &mut W) {
        for (k, v) in self.0 {
            w.json(k, v);
        }
    }
}

/// A built-in event's fields, scrubbed as they are written (they come sorted by key, never a
/// system key, with plain keys).
struct BuiltinFields<'a> {
    client: &'a Client,
    event: &'a dyn BuiltinEvent,
    fixed: &'a Fixed,
}

impl Emit for BuiltinFields<'_> {
    fn emit<W: RecordWriter>(&self, w: &mut W) {
        let client = self.client;
        self.event.fields(&mut |k, f| match f {
            Field::Str(s) => w.str(k, true, &client.scrub_cow(s)),
            Field::Action(a) => w.str(k, true, self.fixed.action(a)),
            Field::Name(s) => w.str(k, true, &client.scrub_name(s)),
            Field::U64(n) => w.u64(k, true, n),
            Field::Bool(b) => w.bool(k, true, b),
            Field::F64(x) => w.f64(k, true, x),
            Field::List(items) => w.list(k, true, client.scrub_list(items)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;
    use crate::event::{
        AgentName, CommandEvent, SessionEndEvent, SessionId, SessionStartEvent, TokenEvent,
    };
    use crate::event::{EventKind, ToolEvent};
    use crate::outcome::Outcome;
    use crate::record::fit_record;
    use serde_json::Map;
    use std::time::Duration;

    /// The reference record: a `Value` map built with the same steps (scrub, system keys,
    /// tags, size cap, envelope), which serde_json writes as the text the writer must match.
    fn reference_record(client: &Client, event: &dyn Event, id: &Value, ts: &Value) -> Value {
        let mut props = event.properties();
        for value in props.values_mut() {
            client.scrub_value(value);
        }
        for key in SYSTEM_KEYS {
            props.remove(key);
        }
        props.insert("user_uuid".into(), Value::from(client.user_uuid()));
        props.insert("version".into(), Value::from(client.inner.version.as_str()));
        props.insert("os".into(), Value::from(crate::config::go_os()));
        props.insert(
            "os_language".into(),
            Value::from(client.inner.os_language.as_str()),
        );
        props.insert("event_id".into(), id.clone());
        let mut tags = Vec::new();
        for (k, v) in &client.inner.tags {
            if !props.contains_key(k) {
                props.insert(k.clone(), Value::from(client.inner.scrubber.scrub(v)));
                tags.push(k.as_str());
            }
        }
        fit_record(&mut props, &tags);
        let mut record = Map::new();
        record.insert("event".into(), Value::from(event.kind().as_str()));
        record.insert("event_timestamp".into(), ts.clone());
        record.insert("source".into(), Value::from(client.inner.app.as_str()));
        record.insert("properties".into(), Value::Object(props));
        Value::Object(record)
    }

    /// The written JSON is byte for byte `serde_json`'s text of the reference record.
    fn assert_exact(client: &Client, event: &dyn Event, line: &str) {
        let parsed: Value = serde_json::from_str(line).unwrap();
        let id = &parsed["properties"]["event_id"];
        assert!(
            uuid::Uuid::parse_str(id.as_str().unwrap()).is_ok_and(|u| u.get_version_num() == 4)
        );
        let reference = reference_record(client, event, id, &parsed["event_timestamp"]);
        assert_eq!(line, serde_json::to_string(&reference).unwrap());
    }

    struct Custom(Map<String, Value>);
    impl Event for Custom {
        fn kind(&self) -> EventKind {
            EventKind::Command
        }
        fn properties(&self) -> Map<String, Value> {
            self.0.clone()
        }
    }

    fn client(tags: &str) -> Client {
        Client::builder()
            .app("tool \"quoted\" ✓", "1.2.3-beta")
            .env(Env::from_pairs([
                ("TELEMETRY_TAGS", tags),
                ("LANG", "de_DE.UTF-8"),
                ("HOME", "/home/jane"),
                ("USER", "jane"),
            ]))
            .build()
    }

    #[test]
    fn written_records_are_exactly_the_reference_records() {
        let long = "x".repeat(300);
        let awkward = "tab\t quote\" backslash\\ nl\n ctl\u{1} é ✓ 🎉 /home/jane/x mail a@b.io";
        trait Both: Event + BuiltinEvent {}
        impl<T: Event + BuiltinEvent> Both for T {}
        let builtins: Vec<Box<dyn Both>> = vec![
            Box::new(ToolEvent {
                tool_name: "read_file".into(),
                session_id: "s-1".into(),
                agent_name: "root".into(),
                duration: Duration::from_millis(7),
                outcome: Outcome::Success,
            }),
            Box::new(ToolEvent {
                tool_name: awkward.into(),
                session_id: SessionId::default(),
                agent_name: AgentName::default(),
                duration: Duration::MAX,
                outcome: Outcome::failure(format!("password=hunter2 {awkward}")),
            }),
            Box::new(CommandEvent::new(
                "run",
                vec!["--fast".into(), awkward.into()],
                Outcome::Success,
                Duration::ZERO,
            )),
            // Too large: 40 long args are cut (array items, then lengths).
            Box::new(CommandEvent::new(
                "big",
                vec![long.clone(); 40],
                Outcome::failure(long.clone()),
                Duration::ZERO,
            )),
            Box::new(TokenEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
                model_name: "openai/gpt-4o".into(),
                input_tokens: 10,
                output_tokens: u64::MAX,
                cost: 0.1 + 0.2,
            }),
            Box::new(TokenEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
                model_name: "m".into(),
                input_tokens: 0,
                output_tokens: 0,
                cost: f64::NAN,
            }),
            Box::new(SessionStartEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
            }),
            Box::new(SessionEndEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
                duration: Duration::from_secs(3),
                tool_calls: 2,
                input_tokens: 1,
                output_tokens: 2,
                cost: 1e-7,
                error_count: 1,
                errors: vec![awkward.into()],
            }),
        ];
        let custom = Custom(
            serde_json::json!({
                "action": "custom",
                "event_id": "mine",
                "user_uuid": "mine",
                "team": "overridden by the event",
                "nested": {"path": "/home/jane/notes", "n": [1, 2.5, null, true]},
                "list": (0..40).map(|i| format!("item {i}")).collect::<Vec<_>>(),
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        let huge = Custom(
            serde_json::json!({"action": "huge", "blob": "y".repeat(20_000)})
                .as_object()
                .unwrap()
                .clone(),
        );
        for tags in [
            "",
            "team=platform,os=spoof,event_id=spoof,action=spoof,team=again,contact=jane@example.com",
        ] {
            let client = client(tags);
            for event in &builtins {
                let event: &dyn Both = &**event;
                // Twice: the second time, names come from the client's memory.
                assert_exact(&client, event, &client.builtin_json(event));
                assert_exact(&client, event, &client.builtin_json(event));
                assert_exact(&client, event, &client.record_json(event));
            }
            for event in [&custom, &huge] {
                assert_exact(&client, event, &client.record_json(event));
            }
        }
    }
}
