//! One module per entity type: how it is fetched and changed through the client, its table
//! columns (metalctl §1.7) and sort keys, and its resource-specific commands.

pub mod firewall;
pub mod firmware;
pub mod fsl;
pub mod image;
pub mod ip;
pub mod machine;
pub mod network;
pub mod partition;
pub mod project;
pub mod reservation;
pub mod sic;
pub mod size;
pub mod switch;
pub mod tenant;
pub mod vpn;

use std::collections::BTreeMap;

/// `key=value` lines, sorted by key.
pub fn labels(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses `key=value` flag values into a map; a value without `=` is a key with an empty value.
pub fn parse_labels(values: &[String]) -> BTreeMap<String, String> {
    values
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `Some("")` and `None` are both "not given".
pub fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_lines() {
        let mut m = BTreeMap::new();
        m.insert("b".to_string(), "2".to_string());
        m.insert("a".to_string(), "1".to_string());
        assert_eq!(labels(&m), "a=1\nb=2");
        assert_eq!(labels(&BTreeMap::new()), "");
        let parsed = parse_labels(&["b=2".into(), "a=1=x".into(), "c".into(), String::new()]);
        assert_eq!(labels(&parsed), "a=1=x\nb=2\nc=");
        assert_eq!(non_empty(""), None);
        assert_eq!(non_empty("x"), Some("x".to_string()));
    }
}
