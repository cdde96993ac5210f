//! One module per entity type: how it is fetched and changed through the client, its table
//! columns (metalctl §1.7) and sort keys, and its resource-specific commands.

pub mod fsl;
pub mod image;
pub mod partition;
pub mod project;
pub mod sic;
pub mod size;
pub mod tenant;

use std::collections::BTreeMap;

/// `key=value` lines, sorted by key.
pub fn labels(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
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
        assert_eq!(non_empty(""), None);
        assert_eq!(non_empty("x"), Some("x".to_string()));
    }
}
