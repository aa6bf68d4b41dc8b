//! What every record of a client repeats: the system properties and the tags, serialized once
//! per client, and the record's closing `source`.

use super::json::push_json_str;
use super::size::{rough_key, rough_str};
use crate::event::Action;
use crate::limits::{EVENT_ID, OS, OS_LANGUAGE, USER_UUID, VERSION};

/// The system properties of every record of a client (`event_id` aside: new in each record).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SystemProps<'a> {
    /// `user_uuid`: the anonymous id.
    pub(crate) user_uuid: &'a str,
    /// `version`: the application's version.
    pub(crate) version: &'a str,
    /// `os`: Go's name of the operating system.
    pub(crate) os: &'a str,
    /// `os_language`: the user's language.
    pub(crate) os_language: &'a str,
}

impl SystemProps<'_> {
    fn entries(&self) -> [(&'static str, &str); 4] {
        [
            (USER_UUID, self.user_uuid),
            (VERSION, self.version),
            (OS, self.os),
            (OS_LANGUAGE, self.os_language),
        ]
    }
}

/// The fixed part of a client's records.
#[derive(Debug)]
pub(crate) struct Fixed {
    /// Sorted by key.
    pub(super) props: Vec<FixedProp>,
    /// `},"source":"<app>"}`: closes the properties and the record.
    pub(super) tail: String,
    /// Room a record usually needs.
    pub(super) capacity: usize,
    /// The constant actions, scrubbed, indexed by [`Action`].
    actions: [String; 4],
}

#[derive(Debug)]
pub(super) struct FixedProp {
    pub(super) key: String,
    /// The value; `None` for `event_id`, which is new in every record.
    pub(super) value: Option<String>,
    /// `"key":"value"`, or `"event_id":` for `event_id`.
    pub(super) json: String,
    /// The property's part of the rough size.
    pub(super) rough: usize,
    /// A tag (an event's own property of the same name wins over it).
    pub(super) is_tag: bool,
}

/// A string as long as an `event_id`.
const EVENT_ID_SHAPE: &str = "00000000-0000-0000-0000-000000000000";

impl Fixed {
    /// `tags`: scrubbed, in the order given (a tag named like a system key or an earlier tag
    /// is left out); `app`: the `source`; `scrub`: the client's scrubber, for the constant
    /// actions.
    pub(crate) fn new(
        system: &SystemProps<'_>,
        tags: &[(String, String)],
        app: &str,
        scrub: impl Fn(&'static str) -> String,
    ) -> Self {
        let mut props: Vec<FixedProp> = system
            .entries()
            .iter()
            .map(|&(k, v)| FixedProp::new(k, Some(v), false))
            .collect();
        props.push(FixedProp::new(EVENT_ID, None, false));
        for (k, v) in tags {
            if !props.iter().any(|p| p.key == *k) {
                props.push(FixedProp::new(k, Some(v), true));
            }
        }
        props.sort_by(|a, b| a.key.cmp(&b.key));
        let mut tail = String::from("},\"source\":");
        push_json_str(&mut tail, app);
        tail.push('}');
        let capacity = 320 + tail.len() + props.iter().map(|p| p.json.len()).sum::<usize>();
        Self {
            props,
            tail,
            capacity,
            actions: Action::ALL.map(|a| scrub(a.as_str())),
        }
    }

    /// A constant action, scrubbed.
    pub(crate) fn action(&self, action: Action) -> &str {
        &self.actions[action as usize]
    }
}

impl FixedProp {
    fn new(key: &str, value: Option<&str>, is_tag: bool) -> Self {
        let mut json = String::new();
        push_json_str(&mut json, key);
        json.push(':');
        if let Some(v) = value {
            push_json_str(&mut json, v);
        }
        Self {
            key: key.to_owned(),
            value: value.map(str::to_owned),
            json,
            rough: rough_key(key) + rough_str(value.unwrap_or(EVENT_ID_SHAPE)),
            is_tag,
        }
    }

    /// Writes `"key":value` (the record's `event_id` for `event_id`), after a comma unless it
    /// is the first property.
    pub(super) fn write(&self, out: &mut String, id: &str, rough: &mut usize) {
        if !out.ends_with('{') {
            out.push(',');
        }
        out.push_str(&self.json);
        if self.value.is_none() {
            push_json_str(out, id);
        }
        *rough += self.rough;
    }
}
