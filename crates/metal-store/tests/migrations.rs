//! The SQLite and PostgreSQL migration sets describe one schema: the same files, line for
//! line, except for the lines listed here, where the two dialects must differ.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// (file, SQLite line, PostgreSQL line): every place where the two sets may differ.
const DIALECT_LINES: &[(&str, &str, &str)] = &[
    (
        "0001_catalog.sql",
        "    seq INTEGER PRIMARY KEY AUTOINCREMENT,",
        "    seq BIGSERIAL PRIMARY KEY,",
    ),
    (
        "0007_machine_commands.sql",
        "    seq INTEGER PRIMARY KEY AUTOINCREMENT,",
        "    seq BIGSERIAL PRIMARY KEY,",
    ),
];

fn dir(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend)
}

fn files(backend: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir(backend))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_differ_only_in_the_listed_lines() {
    let (sqlite, postgres) = (files("sqlite"), files("postgres"));
    assert_eq!(
        sqlite, postgres,
        "both backends have the same migration files"
    );
    let mut used = BTreeSet::new();
    for file in &sqlite {
        let read = |b: &str| std::fs::read_to_string(dir(b).join(file)).unwrap();
        let (s, p) = (read("sqlite"), read("postgres"));
        let (s, p): (Vec<&str>, Vec<&str>) = (s.lines().collect(), p.lines().collect());
        assert_eq!(s.len(), p.len(), "{file}: both versions have as many lines");
        for (n, (a, b)) in s.iter().zip(&p).enumerate() {
            if a == b {
                continue;
            }
            let allowed = DIALECT_LINES
                .iter()
                .position(|(f, x, y)| f == file && x == a && y == b);
            assert!(
                allowed.is_some(),
                "{file}:{}: the backends differ in a line not listed in DIALECT_LINES:\n  sqlite:   {a}\n  postgres: {b}",
                n + 1
            );
            used.extend(allowed);
        }
    }
    assert_eq!(
        used.len(),
        DIALECT_LINES.len(),
        "every listed difference is still there"
    );
}
