//! The driver of the metalctl end-to-end tests (`*e2e.rs`): runs the metalctl binary of this
//! build against a metal-api with a key and its own `HOME` (so no context of the user is read),
//! checks its exit code, and reads its tables.

// every test binary includes this module and uses a part of it
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use metal_testkit::TestApi;
use serde_json::Value;

/// metalctl pointed at one metal-api (`METALCTL_API_URL`, `METALCTL_HMAC`).
pub struct Ctl {
    url: String,
    key: String,
    home: tempfile::TempDir,
}

impl Ctl {
    /// metalctl against `url`, signing with `key`.
    pub fn new(url: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key: key.into(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// metalctl against a test API with its admin key.
    pub fn admin(api: &TestApi) -> Self {
        Self::new(api.url(), api.keys.admin.clone())
    }

    /// The command with the environment set, to add more (`EDITOR`, another key).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_metalctl"));
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("METALCTL_API_URL", &self.url)
            .env("METALCTL_HMAC", &self.key)
            .env_remove("METALCTL_API_TOKEN");
        cmd
    }

    /// Runs with `stdin` as standard input (none: empty).
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let Some(input) = stdin else {
            return cmd.stdin(Stdio::null()).output().expect("metalctl runs");
        };
        let mut child = cmd.stdin(Stdio::piped()).spawn().expect("metalctl runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        success(args, self.run(args, None))
    }

    /// Runs and expects exit code 1; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert_eq!(
            out.status.code(),
            Some(1),
            "metalctl {args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Runs with `-o json` and expects success; returns the parsed output.
    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(&with_json(args))).unwrap()
    }

    /// [`Self::ok`] without blocking the runtime (for tests whose agents run in-process).
    pub async fn ok_async(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::from(self.command(args))
            .stdin(Stdio::null())
            .output()
            .await
            .expect("metalctl runs");
        success(args, out)
    }

    /// [`Self::json`] without blocking the runtime.
    pub async fn json_async(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok_async(&with_json(args)).await).unwrap()
    }

    /// Writes a file into metalctl's home; returns its path.
    pub fn file(&self, name: &str, content: &str) -> String {
        let p = self.home.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_string()
    }
}

fn success(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "metalctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn with_json<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    all
}

/// The column names of a table.
pub fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The table without its header.
pub fn rows(table: &str) -> Vec<&str> {
    table.lines().skip(1).collect()
}

/// The lines that contain `needle`.
pub fn rows_with<'a>(table: &'a str, needle: &str) -> Vec<&'a str> {
    table.lines().filter(|l| l.contains(needle)).collect()
}

/// The one row that starts with `id`.
pub fn row_of<'a>(table: &'a str, id: &str) -> &'a str {
    let found: Vec<&str> = table.lines().filter(|l| l.starts_with(id)).collect();
    assert_eq!(found.len(), 1, "one row of {id}: {table}");
    found[0]
}
