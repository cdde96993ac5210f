//! `-o template`: a Go text/template (via `gtmpl`) evaluated over the JSON shape of an object,
//! so `{{ .id }}` and `{{ .meta.id }}` name the wire fields, as in metalctl.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use gtmpl_value::{Number, Value};

/// Converts a JSON value into a template value; objects become maps (a missing key renders
/// as `<no value>`, as in Go).
pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(Number::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Number(Number::from(u))
            } else {
                Value::Number(Number::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        serde_json::Value::Object(map) => {
            Value::Map(map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect())
        }
    }
}

/// How long a template may take; gtmpl's lexer can loop forever on some malformed input.
const RENDER_TIMEOUT: Duration = Duration::from_secs(5);

/// Renders `template` over `data`.
pub fn render(template: &str, data: &serde_json::Value) -> Result<String> {
    check_actions_closed(template)?;
    let (tx, rx) = mpsc::channel();
    let tmpl = template.to_string();
    let value = to_value(data);
    std::thread::spawn(move || {
        let _ = tx.send(gtmpl::template(&tmpl, value).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(RENDER_TIMEOUT) {
        Ok(result) => result.map_err(|e| anyhow!("template error: {e}")),
        Err(_) => bail!("template error: evaluation did not finish, is the template malformed?"),
    }
}

/// Every `{{` needs a `}}` after it: gtmpl does not terminate on an action left open at
/// the end of the template.
fn check_actions_closed(template: &str) -> Result<()> {
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        match rest[open + 2..].find("}}") {
            Some(close) => rest = &rest[open + 2 + close + 2..],
            None => bail!("template error: unclosed action at {:?}", &rest[open..]),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_of_the_json_shape() {
        let data = json!({
            "id": "ubuntu-22.04",
            "meta": {"id": "p1", "version": 3},
            "features": ["machine", "firewall"],
            "expirationDate": null,
        });
        assert_eq!(render("{{ .id }}", &data).unwrap(), "ubuntu-22.04");
        assert_eq!(
            render("{{ .meta.id }}/{{ .meta.version }}", &data).unwrap(),
            "p1/3"
        );
        assert_eq!(
            render("{{ range .features }}{{ . }} {{ end }}", &data).unwrap(),
            "machine firewall "
        );
        assert_eq!(
            render("{{ index .features 1 }}", &data).unwrap(),
            "firewall"
        );
        assert_eq!(render("{{ .missing }}", &data).unwrap(), "<no value>");
        assert_eq!(
            render(r#"{{ if eq .id "ubuntu-22.04" }}yes{{ end }}"#, &data).unwrap(),
            "yes"
        );
        for bad in ["{{ .id ", "{{ ", "{{ .id }}{{ .id ", "{{ .id", "{{ end }}"] {
            assert!(render(bad, &data).is_err(), "{bad:?}");
        }
    }
}
