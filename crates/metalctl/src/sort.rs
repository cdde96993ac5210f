//! `--sort-by`: a comma list of keys, each optionally suffixed `:asc` or `:desc`, applied in
//! order (later keys break ties of earlier ones). Each resource names its keys and yields a
//! [`SortKey`] per entity and key; lists are sorted by `id` when nothing is given.

use std::cmp::Ordering;

use anyhow::{bail, Result};
use clap::Args;

/// The `--sort-by` flag of list commands.
#[derive(Args, Debug, Clone, Default)]
pub struct SortArgs {
    /// Order by these keys (comma separated, each optionally with :asc or :desc).
    #[arg(long, env = "METALCTL_SORT_BY", value_delimiter = ',')]
    pub sort_by: Vec<String>,
}

/// A value to order by: texts compare lexically, numbers (and times as unix seconds)
/// numerically; an absent value sorts first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    None,
    Int(i128),
    Text(String),
}

impl From<&str> for SortKey {
    fn from(s: &str) -> Self {
        Self::Text(s.to_string())
    }
}

impl From<String> for SortKey {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<u64> for SortKey {
    fn from(n: u64) -> Self {
        Self::Int(n.into())
    }
}

impl From<i64> for SortKey {
    fn from(n: i64) -> Self {
        Self::Int(n.into())
    }
}

impl<T: chrono::TimeZone> From<Option<chrono::DateTime<T>>> for SortKey {
    fn from(t: Option<chrono::DateTime<T>>) -> Self {
        match t {
            Some(t) => Self::Int(t.timestamp().into()),
            None => Self::None,
        }
    }
}

/// One parsed key of `--sort-by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub key: String,
    pub descending: bool,
}

/// Parses `--sort-by` values against the keys a resource knows; empty means `default`.
pub fn parse(values: &[String], valid: &[&str], default: &str) -> Result<Vec<Order>> {
    let mut orders = Vec::new();
    for value in values.iter().flat_map(|v| v.split(',')) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let (key, descending) = match value.rsplit_once(':') {
            Some((k, "asc")) => (k, false),
            Some((k, "desc")) => (k, true),
            Some((_, dir)) => bail!("unknown sort direction {dir:?} in {value:?}, use asc or desc"),
            None => (value, false),
        };
        if !valid.contains(&key) {
            bail!(
                "unknown sort key {key:?}, valid keys are: {}",
                valid.join(", ")
            );
        }
        orders.push(Order {
            key: key.to_string(),
            descending,
        });
    }
    if orders.is_empty() {
        orders.push(Order {
            key: default.to_string(),
            descending: false,
        });
    }
    Ok(orders)
}

/// Sorts stably by the given orders.
pub fn sort<T>(items: &mut [T], orders: &[Order], key: impl Fn(&T, &str) -> SortKey) {
    items.sort_by(|a, b| {
        for o in orders {
            let ord = key(a, &o.key).cmp(&key(b, &o.key));
            let ord = if o.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["id", "name", "size"];

    fn parsed(v: &[&str]) -> Result<Vec<Order>> {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        parse(&v, KEYS, "id")
    }

    #[test]
    fn parsing() {
        let o = parsed(&["name:desc,id", "size:asc"]).unwrap();
        assert_eq!(
            o,
            vec![
                Order {
                    key: "name".into(),
                    descending: true
                },
                Order {
                    key: "id".into(),
                    descending: false
                },
                Order {
                    key: "size".into(),
                    descending: false
                },
            ]
        );
        assert_eq!(
            parsed(&[]).unwrap(),
            vec![Order {
                key: "id".into(),
                descending: false
            }]
        );
        assert_eq!(
            parsed(&["bogus"]).unwrap_err().to_string(),
            "unknown sort key \"bogus\", valid keys are: id, name, size"
        );
        assert!(parsed(&["id:up"]).is_err());
    }

    #[test]
    fn sorting_with_tie_breaks() {
        let mut items = vec![("b", 2u64), ("a", 2), ("c", 1)];
        let key = |i: &(&str, u64), k: &str| match k {
            "id" => SortKey::from(i.0),
            _ => SortKey::from(i.1),
        };
        sort(&mut items, &parsed(&["size:desc", "id"]).unwrap(), key);
        assert_eq!(items, vec![("a", 2), ("b", 2), ("c", 1)]);
        sort(&mut items, &parsed(&[]).unwrap(), key);
        assert_eq!(items, vec![("a", 2), ("b", 2), ("c", 1)]);
        sort(&mut items, &parsed(&["id:desc"]).unwrap(), key);
        assert_eq!(items, vec![("c", 1), ("b", 2), ("a", 2)]);
    }
}
