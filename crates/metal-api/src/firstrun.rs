//! What makes the first start usable without hand-written configuration: HMAC keys that were
//! not given as flags are generated once and kept in the data directory (mode 0600), and a
//! metalctl context `local` pointing at this server is written into `~/.metalctl/config.yaml`.
//! Keys are never logged.

use std::path::{Path, PathBuf};

use anyhow::Context;
use metal_util::fs::write_private;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Secret};

/// The three HMAC keys; `None` disables that user.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HmacKeys {
    pub view: Option<String>,
    pub edit: Option<String>,
    pub admin: Option<String>,
}

impl std::fmt::Debug for HmacKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacKeys")
            .field("view", &self.view.as_ref().map(|_| "***"))
            .field("edit", &self.edit.as_ref().map(|_| "***"))
            .field("admin", &self.admin.as_ref().map(|_| "***"))
            .finish()
    }
}

fn random_key() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// Writes `content` with [`write_private`], creating the directory first.
fn save_private(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(path, content.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// A key flag's value, when given and not empty.
fn given(flag: &Option<Secret>) -> Option<String> {
    flag.as_ref()
        .map(|k| k.expose().to_string())
        .filter(|k| !k.is_empty())
}

/// The keys to use: the flags when any is given; otherwise the keys kept in the data
/// directory, generated on the first start. Returns whether they came from the data directory.
pub fn resolve_keys(config: &Config) -> anyhow::Result<(HmacKeys, bool)> {
    let flags = HmacKeys {
        view: given(&config.hmac_view_key),
        edit: given(&config.hmac_edit_key),
        admin: given(&config.hmac_admin_key),
    };
    if flags != HmacKeys::default() {
        return Ok((flags, false));
    }
    let path = config.data_dir().join("hmac-keys.yaml");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let keys: HmacKeys =
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        return Ok((keys, true));
    }
    let keys = HmacKeys {
        view: Some(random_key()),
        edit: Some(random_key()),
        admin: Some(random_key()),
    };
    save_private(&path, &serde_yaml::to_string(&keys)?)?;
    tracing::info!(path = %path.display(), "generated HMAC keys for Metal-View, Metal-Edit and Metal-Admin");
    Ok((keys, true))
}

/// `~/.metalctl/config.yaml`.
pub fn metalctl_config_path() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(".metalctl").join("config.yaml"))
}

/// Writes (or refreshes) the context `local` with this server's URL and admin key; makes it
/// current when no context is current. Other contexts are kept.
pub fn write_metalctl_context(path: &Path, url: &str, admin_key: &str) -> anyhow::Result<bool> {
    use serde_yaml::{Mapping, Value};
    let mut root: Mapping = match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        _ => Mapping::new(),
    };
    let mut ctx = Mapping::new();
    ctx.insert("url".into(), url.into());
    ctx.insert("hmac".into(), admin_key.into());
    ctx.insert("hmac_auth_type".into(), "Metal-Admin".into());
    let contexts = root
        .entry("contexts".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    let Value::Mapping(contexts) = contexts else {
        anyhow::bail!("{}: contexts is not a mapping", path.display());
    };
    let new = Value::Mapping(ctx);
    let changed = contexts.get("local") != Some(&new);
    contexts.insert("local".into(), new);
    let has_current = root
        .get("current")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty());
    if !has_current {
        root.insert("current".into(), "local".into());
    }
    if changed || !has_current {
        save_private(path, &serde_yaml::to_string(&root)?)?;
    }
    Ok(changed || !has_current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_added_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".metalctl/config.yaml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            "current: prod\ncontexts:\n  prod:\n    url: https://prod/metal\n",
        )
        .unwrap();
        assert!(write_metalctl_context(&path, "http://127.0.0.1:8080/", "k").unwrap());
        let v: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["current"].as_str(), Some("prod"));
        assert_eq!(
            v["contexts"]["prod"]["url"].as_str(),
            Some("https://prod/metal")
        );
        assert_eq!(v["contexts"]["local"]["hmac"].as_str(), Some("k"));
        assert!(!write_metalctl_context(&path, "http://127.0.0.1:8080/", "k").unwrap());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn fresh_config_gets_current_local() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        write_metalctl_context(&path, "http://x/", "k").unwrap();
        let v: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["current"].as_str(), Some("local"));
    }

    #[test]
    fn debug_hides_keys() {
        let k = HmacKeys {
            view: Some("secret".into()),
            edit: None,
            admin: None,
        };
        assert!(!format!("{k:?}").contains("secret"));
    }
}
