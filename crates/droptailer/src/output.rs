//! The server's output line, byte for byte as metal-stack's droptailer server prints it:
//! `<timestamp> <JSON>` where the JSON object holds every field plus `timestamp`, keys sorted in
//! byte order, strings escaped as Go's `encoding/json` escapes them (`<`, `>`, `&`, U+2028 and
//! U+2029 as `\u` escapes; `\b`, `\f`, `\n`, `\r`, `\t`; other control characters as `\u00XX`),
//! and the timestamp in Go's `time.Time.String()` format of the entry's second, in UTC:
//! `2026-01-02 15:04:05 +0000 UTC`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Go's `time.Unix(secs, 0).String()` in UTC. Seconds outside chrono's range print as the
/// Unix epoch.
pub fn go_time(secs: i64) -> String {
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
}

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it.
pub fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON object of string fields, keys sorted, as Go marshals a `map[string]string`.
pub fn go_json_object(fields: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(fields.len() * 24 + 2);
    out.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(&mut out, k);
        out.push(':');
        go_json_string(&mut out, v);
    }
    out.push('}');
    out
}

/// The printed line of one entry (without the newline) and its JSON object alone (for the
/// JSON-lines file): `fields` gain `timestamp`.
pub fn line(secs: i64, mut fields: BTreeMap<String, String>) -> (String, String) {
    let ts = go_time(secs);
    fields.insert("timestamp".to_string(), ts.clone());
    let json = go_json_object(&fields);
    (format!("{ts} {json}"), json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_of_the_release_notes() {
        // the v0.10 release notes' example, with its placeholders filled in
        let fields: BTreeMap<String, String> = [
            ("ACTION", "accept"),
            ("DF", ""),
            ("DPT", "53"),
            ("DST", ""),
            ("ID", "8263"),
            ("IN", "vrf3981"),
            ("LEN", "73"),
            ("MAC", "52:54:00:12:34:56"),
            ("OUT", "vlan104009"),
            ("PREC", "0x00"),
            ("PROTO", "UDP"),
            ("SPT", "35609"),
            ("SRC", "10.0.16.2"),
            ("TOS", "0x00"),
            ("TTL", "62"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // 2022-06-21 11:08:12 UTC
        let (printed, json) = line(1_655_809_692, fields);
        assert_eq!(
            printed,
            "2022-06-21 11:08:12 +0000 UTC {\"ACTION\":\"accept\",\"DF\":\"\",\"DPT\":\"53\",\"DST\":\"\",\"ID\":\"8263\",\"IN\":\"vrf3981\",\"LEN\":\"73\",\"MAC\":\"52:54:00:12:34:56\",\"OUT\":\"vlan104009\",\"PREC\":\"0x00\",\"PROTO\":\"UDP\",\"SPT\":\"35609\",\"SRC\":\"10.0.16.2\",\"TOS\":\"0x00\",\"TTL\":\"62\",\"timestamp\":\"2022-06-21 11:08:12 +0000 UTC\"}"
        );
        assert!(printed.ends_with(&json));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["timestamp"], "2022-06-21 11:08:12 +0000 UTC");
    }

    #[test]
    fn strings_are_escaped_as_go_does() {
        let mut s = String::new();
        go_json_string(&mut s, "a\"b\\c<d>e&f\u{2028}\n\t\r\u{8}\u{c}\u{1}ü");
        assert_eq!(
            s,
            r#""a\"b\\c\u003cd\u003ee\u0026f\u2028\n\t\r\b\f\u0001ü""#
        );
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c<d>e&f\u{2028}\n\t\r\u{8}\u{c}\u{1}ü");
    }

    #[test]
    fn upper_case_keys_sort_before_timestamp() {
        let fields = [("timestamp".to_string(), "x".to_string())]
            .into_iter()
            .chain([
                ("a".to_string(), "1".to_string()),
                ("Z".to_string(), "2".to_string()),
            ])
            .collect();
        let (_, json) = line(0, fields);
        assert_eq!(
            json,
            r#"{"Z":"2","a":"1","timestamp":"1970-01-01 00:00:00 +0000 UTC"}"#
        );
    }
}
