//! How `mipsock monitor` prints events: text lines like `ip monitor`, or JSON lines.
//!
//! Text: `<RFC 3339 UTC time, ms> <message> from <name>[<pid>] seq <n>`, e.g.
//! `2026-11-26T15:40:00.123Z BC_ADD hoa 2001:db8::beef coa 2001:db8:200::5 lifetime 40s mnp 2001:db8:281::/64 10.0.0.0/24 from had[1234] seq 7`;
//! membership and loss: `... JOIN from mrd[12]`, `... LEAVE from mrd[12] reason gone|left`,
//! `... GAP from had[1234] expected 8 got 12`.
//!
//! JSON (one object per line, stable; keys sorted):
//! - always `"time"` (RFC 3339 string) and `"type"` (`BC_ADD`, ..., `JOIN`, `LEAVE`, `GAP`);
//! - `"from": {"name": "had", "pid": 1234}`;
//! - messages add `"seq"` and the body's fields by name: addresses as strings, prefixes as
//!   `"2001:db8:281::/64"`, `"mnp6"`/`"mnp4"` as arrays, absent options as `null`, enums in
//!   kebab-case (`"command": "rereg"`, `"hint": {"index": 3}` / `{"address": "..."}` /
//!   `"home"`, `"reason": "expired"`, `"node_type": "mobile-router"`);
//!   `DUMP_REPLY` has `"request_id"`, `"bc"`/`"bul"` arrays of entries and `"done"`;
//!   `UNKNOWN` has `"kind"`;
//! - `GAP` adds `"expected"` and `"got"` (lost messages are `expected..got`, exclusive);
//! - `LEAVE` adds `"reason"`: `"left"` (said goodbye) or `"gone"` (socket closed).

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::bus::Event;
use crate::message::Body;
use crate::wire::Sender;

/// RFC 3339 UTC time with milliseconds.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// One text line (no newline).
pub fn text_line(t: SystemTime, ev: &Event) -> String {
    let time = timestamp(t);
    match ev {
        Event::Message(env) => format!("{time} {} from {} seq {}", env.body, env.sender, env.seq),
        Event::Gap {
            sender,
            expected,
            got,
        } => format!("{time} GAP from {sender} expected {expected} got {got}"),
        Event::PeerJoined(s) => format!("{time} JOIN from {s}"),
        Event::PeerLeft { sender, reason } => {
            format!("{time} LEAVE from {sender} reason {}", reason.as_str())
        }
    }
}

fn from(s: &Sender) -> Value {
    json!({"name": s.name, "pid": s.pid})
}

/// The body's own fields as a JSON object.
fn body_fields(body: &Body) -> Map<String, Value> {
    let v = match body {
        Body::NodeTypeInfo(m) => serde_json::to_value(m),
        Body::BcAdd(m) => serde_json::to_value(m),
        Body::BcRemove(m) => serde_json::to_value(m),
        Body::BulAdd(m) => serde_json::to_value(m),
        Body::BulRemove(m) => serde_json::to_value(m),
        Body::MdInfo(m) => serde_json::to_value(m),
        Body::HomeHint(m) => serde_json::to_value(m),
        Body::BeHint(m) => serde_json::to_value(m),
        Body::Dad(m) => serde_json::to_value(m),
        Body::RegistrationFailed(m) => serde_json::to_value(m),
        Body::DumpRequest(m) => serde_json::to_value(m),
        Body::DumpReply(m) => serde_json::to_value(m),
        Body::HaList(m) => serde_json::to_value(m),
        Body::HomePrefix(m) => serde_json::to_value(m),
        Body::Dropped(m) => serde_json::to_value(m),
        Body::Unknown { kind } => Ok(json!({ "kind": kind })),
        Body::BcFlush | Body::BulFlush | Body::Join(_) | Body::Leave(_) | Body::Hello(_) => {
            Ok(json!({}))
        }
    };
    match v {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// One JSON object (no newline).
pub fn json_line(t: SystemTime, ev: &Event) -> String {
    let mut obj = Map::new();
    match ev {
        Event::Message(env) => {
            obj = body_fields(&env.body);
            obj.insert("type".into(), json!(env.body.type_name()));
            obj.insert("from".into(), from(&env.sender));
            obj.insert("seq".into(), json!(env.seq));
        }
        Event::Gap {
            sender,
            expected,
            got,
        } => {
            obj.insert("type".into(), json!("GAP"));
            obj.insert("from".into(), from(sender));
            obj.insert("expected".into(), json!(expected));
            obj.insert("got".into(), json!(got));
        }
        Event::PeerJoined(s) => {
            obj.insert("type".into(), json!("JOIN"));
            obj.insert("from".into(), from(s));
        }
        Event::PeerLeft { sender, reason } => {
            obj.insert("type".into(), json!("LEAVE"));
            obj.insert("from".into(), from(sender));
            obj.insert("reason".into(), json!(reason.as_str()));
        }
    }
    obj.insert("time".into(), json!(timestamp(t)));
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::BcEntry;
    use crate::wire::Envelope;
    use std::time::{Duration, UNIX_EPOCH};

    fn bc_add() -> Event {
        Event::Message(Envelope {
            version: (1, 0),
            sender: Sender {
                name: "had".into(),
                pid: 1234,
            },
            seq: 7,
            body: Body::BcAdd(BcEntry {
                hoa: "2001:db8::beef".parse().unwrap(),
                coa: "2001:db8:200::5".parse().unwrap(),
                lifetime: 40,
                mnp6: vec!["2001:db8:281::/64".parse().unwrap()],
                mnp4: vec!["10.0.0.0/24".parse().unwrap()],
                ha: None,
                bu_seq: None,
                flags: 0,
            }),
        })
    }

    fn t() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_795_707_600_123)
    }

    #[test]
    fn text_line_is_ip_monitor_style() {
        assert_eq!(
            text_line(t(), &bc_add()),
            "2026-11-26T15:40:00.123Z BC_ADD hoa 2001:db8::beef coa 2001:db8:200::5 lifetime 40s mnp 2001:db8:281::/64 10.0.0.0/24 from had[1234] seq 7"
        );
    }

    #[test]
    fn json_line_has_documented_fields() {
        let v: Value = serde_json::from_str(&json_line(t(), &bc_add())).unwrap();
        assert_eq!(v["type"], "BC_ADD");
        assert_eq!(v["time"], "2026-11-26T15:40:00.123Z");
        assert_eq!(v["from"]["name"], "had");
        assert_eq!(v["from"]["pid"], 1234);
        assert_eq!(v["seq"], 7);
        assert_eq!(v["hoa"], "2001:db8::beef");
        assert_eq!(v["mnp6"][0], "2001:db8:281::/64");
        assert_eq!(v["mnp4"][0], "10.0.0.0/24");
        assert_eq!(v["lifetime"], 40);
        assert!(v["ha"].is_null());
        let gap = Event::Gap {
            sender: Sender {
                name: "m".into(),
                pid: 1,
            },
            expected: 3,
            got: 9,
        };
        let v: Value = serde_json::from_str(&json_line(t(), &gap)).unwrap();
        assert_eq!(
            (
                v["type"].as_str(),
                v["expected"].as_u64(),
                v["got"].as_u64()
            ),
            (Some("GAP"), Some(3), Some(9))
        );
    }
}
