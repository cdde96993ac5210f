//! A minimal QMP client: connect to the VM's socket, negotiate capabilities, run one command.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// Runs `command` with `arguments` on the QMP socket at `path`; returns the `return` value.
pub fn execute(path: &Path, command: &str, arguments: Option<Value>) -> Result<Value> {
    let stream =
        UnixStream::connect(path).with_context(|| format!("connecting {}", path.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let read_reply = |reader: &mut BufReader<UnixStream>| -> Result<Value> {
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                bail!("QMP connection closed");
            }
            let v: Value = serde_json::from_str(&line).context("parsing QMP reply")?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                bail!("QMP error: {e}");
            }
            // greetings and events are skipped
        }
    };
    let mut greeting = String::new();
    reader.read_line(&mut greeting)?;
    writeln!(writer, "{}", json!({"execute": "qmp_capabilities"}))?;
    read_reply(&mut reader)?;
    let mut cmd = json!({ "execute": command });
    if let Some(args) = arguments {
        cmd["arguments"] = args;
    }
    writeln!(writer, "{cmd}")?;
    read_reply(&mut reader)
}
