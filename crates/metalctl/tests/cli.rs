//! The `metalctl` binary end to end without a real metal-api: contexts in a temporary HOME,
//! flag and environment precedence, exit codes, and how answers of a stub HTTP server
//! (one canned answer per connection) are printed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;

/// Runs metalctl with HOME and the working directory set to `home` and no METALCTL_*
/// variables from the outer environment.
fn metalctl(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_metalctl"));
    cmd.args(args).current_dir(home).env("HOME", home);
    for (k, _) in std::env::vars() {
        if k.starts_with("METALCTL_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running metalctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Serves one request with `status` and `body`; returns the base URL and a receiver for the
/// request head.
fn stub(status: u16, body: &'static str) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metal/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut chunk).unwrap();
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(answer.as_bytes()).unwrap();
        let _ = tx.send(String::from_utf8_lossy(&buf).to_string());
    });
    (url, rx)
}

const CONFIG: &str = "\
current: local
contexts:
  local:
    url: http://127.0.0.1:1/
    hmac: admin-key
    hmac_auth_type: Metal-Admin
  other:
    url: http://other:8080/metal
    issuer_url: https://dex.example
";

fn home_with_config() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".metalctl")).unwrap();
    std::fs::write(home.path().join(".metalctl/config.yaml"), CONFIG).unwrap();
    home
}

#[test]
fn contexts_are_listed_and_switched() {
    let home = home_with_config();
    let h = home.path();
    let o = metalctl(h, &["context"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "\
NAME       API URL                  ISSUER URL
local [*]  http://127.0.0.1:1/
other      http://other:8080/metal  https://dex.example
"
    );
    let o = metalctl(h, &["ctx", "other"], &[]);
    assert_eq!(stdout(&o), "✔ switched context to \"other\"\n");
    assert_eq!(stdout(&metalctl(h, &["context", "short"], &[])), "other\n");
    let o = metalctl(h, &["ctx", "-"], &[]);
    assert_eq!(stdout(&o), "✔ switched context to \"local\"\n");
    let o = metalctl(h, &["ctx", "missing"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "Error: context missing not found\n");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(h.join(".metalctl/config.yaml")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn hmac_of_the_context_signs_requests() {
    let home = home_with_config();
    let (url, seen) = stub(200, r#"[{"id":"p1","name":"one","description":"first"}]"#);
    let o = metalctl(home.path(), &["partition", "ls", "--api-url", &url], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ID  NAME  DESCRIPTION\np1  one   first\n");
    let head = seen.recv().unwrap().to_ascii_lowercase();
    assert!(
        head.starts_with("get /metal/v1/partition http/1.1"),
        "{head}"
    );
    assert!(head.contains("authorization: metal-admin "), "{head}");
    assert!(head.contains("x-data-salt: "), "{head}");
}

#[test]
fn environment_overrides_the_context() {
    let home = home_with_config();
    let (url, seen) = stub(200, "[]");
    let o = metalctl(
        home.path(),
        &["image", "ls", "--show-usage", "--no-headers"],
        &[
            ("METALCTL_API_URL", url.as_str()),
            ("METALCTL_API_TOKEN", "tok"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let head = seen.recv().unwrap();
    assert!(
        head.starts_with("GET /metal/v1/image?show-usage=true "),
        "{head}"
    );
    assert!(head.contains("authorization: Bearer tok"), "{head}");
}

#[test]
fn server_errors_are_printed_with_exit_code_1() {
    let home = home_with_config();
    let (url, _seen) = stub(
        404,
        r#"{"statuscode":404,"message":"no size with id \"x\" found"}"#,
    );
    let o = metalctl(
        home.path(),
        &["size", "describe", "x", "--api-url", &url],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "Error: no size with id \"x\" found\n");
    assert_eq!(stdout(&o), "");
}

#[test]
fn health_prints_the_report_also_on_500() {
    let home = home_with_config();
    let (url, _seen) = stub(
        500,
        r#"{"status":"unhealthy","message":"database down","services":{}}"#,
    );
    let o = metalctl(home.path(), &["health", "--api-url", &url], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "status: unhealthy\nmessage: database down\nservices: {}\n"
    );
    assert_eq!(stderr(&o), "Error: metal-api is unhealthy\n");
}

#[test]
fn describe_defaults_to_yaml_and_honours_templates() {
    let home = home_with_config();
    let body = r#"{"meta":{"id":"p1","version":2},"name":"web","tenant_id":"acme"}"#;
    let (url, _seen) = stub(200, body);
    let o = metalctl(
        home.path(),
        &[
            "project",
            "get",
            "p1",
            "--api-url",
            &url,
            "--template",
            "{{ .meta.id }}@{{ .tenant_id }}",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "p1@acme\n");
    let (url, _seen) = stub(200, body);
    let o = metalctl(
        home.path(),
        &["project", "get", "p1", "--api-url", &url],
        &[],
    );
    assert!(
        stdout(&o).starts_with("meta:\n  id: p1\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_flags_fail_before_any_request() {
    let home = home_with_config();
    let o = metalctl(home.path(), &["size", "ls", "-o", "xml"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Error: unknown output format \"xml\""));
    let o = metalctl(home.path(), &["size", "ls", "--sort-by", "bogus"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Error: unknown sort key \"bogus\""));
    let o = metalctl(
        home.path(),
        &["-c", "/nonexistent/config.yaml", "size", "ls"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("reading config file /nonexistent/config.yaml"));
}

#[test]
fn version_prints_the_client_when_the_server_is_unreachable() {
    let home = home_with_config();
    // the context points at port 1, where nothing listens
    let o = metalctl(home.path(), &["version"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("client: metalctl "),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).starts_with("Error: failed to get server info: cannot reach metal-api at http://127.0.0.1:1/v1/version"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn network_list_searches_with_filters_and_prints_a_plain_tree() {
    let home = home_with_config();
    let body = r#"[
        {"id":"super","partitionid":"fra","privatesuper":true,"prefixes":["10.0.0.0/16"],
         "consumption":{"ipv4":{"available_ips":65536,"used_ips":2,"available_prefixes":10,"used_prefixes":9}}},
        {"id":"tenant","parentnetworkid":"super","partitionid":"fra","projectid":"p1","prefixes":["10.0.0.0/22"],
         "consumption":{"ipv4":{"available_ips":1024,"used_ips":2,"available_prefixes":0,"used_prefixes":0}}}
    ]"#;
    let (url, seen) = stub(200, body);
    let o = metalctl(
        home.path(),
        &["network", "ls", "--partition", "fra", "--api-url", &url],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // stdout is no terminal: the dots come without colour codes
    assert_eq!(
        stdout(&o),
        "\
ID         NAME  PROJECT  PARTITION  NAT    SHARED     PREFIXES     IP USAGE
super                     fra        false  false   ◕  10.0.0.0/16  2/65536
└─╴tenant        p1       fra        false  false   ●  10.0.0.0/22  2/1024
"
    );
    let head = seen.recv().unwrap();
    assert!(head.starts_with("POST /metal/v1/network/find "), "{head}");

    let (url, seen) = stub(200, "[]");
    let o = metalctl(
        home.path(),
        &["network", "ip", "ls", "--api-url", &url],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "IP  DESCRIPTION  NAME  NETWORK  PROJECT  TYPE  TAGS\n"
    );
    let head = seen.recv().unwrap();
    assert!(head.starts_with("GET /metal/v1/ip "), "{head}");
}
