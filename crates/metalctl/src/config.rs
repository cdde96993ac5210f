//! The metalctl config file (`config.yaml`) with its named contexts, and the resolution of
//! the effective connection settings: flag > environment (both handled by clap) > current
//! context > built-in default.
//!
//! Search order when `--config` is not given: `/etc/metalctl/config.yaml`,
//! `$HOME/.metalctl/config.yaml`, `./config.yaml`; the first that exists wins. Keys this
//! program does not know are kept when the file is rewritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use metal_client::{Auth, HmacAuthType};
use serde::{Deserialize, Serialize};

/// API URL used when neither flag, environment nor context names one.
pub const DEFAULT_API_URL: &str = "http://localhost:8080/cloud";
/// Issuer shown for the built-in default context.
pub const DEFAULT_ISSUER_URL: &str = "http://localhost:8080/";
/// System-wide config file, searched first.
pub const SYSTEM_CONFIG: &str = "/etc/metalctl/config.yaml";

/// One named context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Context {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub custom_scopes: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hmac_auth_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub certificate_authority_data: String,
    /// Our extension: a bearer token stored with the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// Keys of other tools, kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_yaml::Value>,
}

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigFile {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub current: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub previous: String,
    pub contexts: BTreeMap<String, Context>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_yaml::Value>,
}

/// A config file and where it lives (or would live, if it does not exist yet).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub path: PathBuf,
    pub exists: bool,
    pub file: ConfigFile,
}

/// The candidate files in search order, without `--config`.
pub fn search_paths(home: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from(SYSTEM_CONFIG)];
    if let Some(home) = home {
        paths.push(home.join(".metalctl").join("config.yaml"));
    }
    paths.push(PathBuf::from("config.yaml"));
    paths
}

/// `$HOME/.metalctl/config.yaml`: where a new config file is written.
pub fn user_config_path(home: Option<&Path>) -> PathBuf {
    match home {
        Some(home) => home.join(".metalctl").join("config.yaml"),
        None => PathBuf::from("config.yaml"),
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(dirs::home_dir)
}

impl LoadedConfig {
    /// Loads `explicit` (an error if unreadable), else the first file of the search order,
    /// else an empty config to be written to `$HOME/.metalctl/config.yaml`.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let home = home_dir();
        Self::load_from(explicit, &search_paths(home.as_deref()), home.as_deref())
    }

    pub fn load_from(
        explicit: Option<&Path>,
        search: &[PathBuf],
        home: Option<&Path>,
    ) -> Result<Self> {
        if let Some(path) = explicit {
            let file = read_file(path)?;
            return Ok(Self {
                path: path.to_path_buf(),
                exists: true,
                file,
            });
        }
        for path in search {
            if path.is_file() {
                return Ok(Self {
                    path: path.clone(),
                    exists: true,
                    file: read_file(path)?,
                });
            }
        }
        Ok(Self {
            path: user_config_path(home),
            exists: false,
            file: ConfigFile::default(),
        })
    }

    /// The current context, if `current` names one that exists.
    pub fn current_context(&self) -> Option<&Context> {
        self.file.contexts.get(&self.file.current)
    }

    /// Writes the file with mode 0600, creating its directory.
    pub fn save(&mut self) -> Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        let text = serde_yaml::to_string(&self.file).context("encoding the config file")?;
        metal_util::fs::write_private(&self.path, text.as_bytes())
            .with_context(|| format!("writing config file {}", self.path.display()))?;
        self.exists = true;
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    serde_yaml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

/// Connection settings given by flag or environment (`None` = not given).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub api_url: Option<String>,
    pub api_token: Option<String>,
    pub hmac: Option<String>,
    pub hmac_auth_type: Option<String>,
}

/// The settings a client is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_url: String,
    pub auth: Auth,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Resolves URL and credentials. Credentials come as a whole from the first layer that has
/// any (flag/env, then the context); within a layer an HMAC key wins over a token.
pub fn resolve(over: &Overrides, ctx: Option<&Context>) -> Result<Settings> {
    let api_url = non_empty(&over.api_url)
        .or_else(|| ctx.map(|c| c.url.trim()).filter(|u| !u.is_empty()))
        .unwrap_or(DEFAULT_API_URL)
        .to_string();
    let auth_type_str = non_empty(&over.hmac_auth_type).or_else(|| {
        ctx.map(|c| c.hmac_auth_type.trim())
            .filter(|t| !t.is_empty())
    });
    let auth_type = match auth_type_str {
        Some(t) => t.parse::<HmacAuthType>()?,
        None => HmacAuthType::Admin,
    };
    let hmac_auth = |key: &str| Auth::Hmac {
        key: key.to_string(),
        auth_type,
    };
    let auth = if let Some(key) = non_empty(&over.hmac) {
        hmac_auth(key)
    } else if let Some(token) = non_empty(&over.api_token) {
        Auth::Bearer(token.to_string())
    } else if let Some(key) = ctx.and_then(|c| non_empty(&c.hmac)) {
        hmac_auth(key)
    } else if let Some(token) = ctx.and_then(|c| non_empty(&c.api_token)) {
        Auth::Bearer(token.to_string())
    } else {
        Auth::None
    };
    Ok(Settings { api_url, auth })
}

/// Makes `name` the current context, remembering the old one as previous.
/// Returns false if it already was current.
pub fn switch(file: &mut ConfigFile, name: &str) -> Result<bool> {
    if !file.contexts.contains_key(name) {
        bail!("context {name} not found");
    }
    if file.current == name {
        return Ok(false);
    }
    file.previous = std::mem::replace(&mut file.current, name.to_string());
    Ok(true)
}

/// Swaps current and previous (`metalctl context -`); returns the new current name.
pub fn switch_back(file: &mut ConfigFile) -> Result<String> {
    if file.previous.is_empty() {
        bail!("no previous context found");
    }
    let prev = file.previous.clone();
    switch(file, &prev)?;
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_WRITTEN: &str = "\
current: local
contexts:
  local:
    url: http://localhost:8080/
    hmac: admin-key
    hmac_auth_type: Metal-Admin
  prod:
    url: https://api.example/metal
    issuer_url: https://dex.example/dex
    client_id: metal_client
    api_token: tok
    custom_key: kept
";

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_the_context_written_by_the_server() {
        let home = tempfile::tempdir().unwrap();
        write(home.path(), ".metalctl/config.yaml", SERVER_WRITTEN);
        let search = search_paths(Some(home.path()))[1..2].to_vec();
        let cfg = LoadedConfig::load_from(None, &search, Some(home.path())).unwrap();
        assert!(cfg.exists);
        let s = resolve(&Overrides::default(), cfg.current_context()).unwrap();
        assert_eq!(s.api_url, "http://localhost:8080/");
        match s.auth {
            Auth::Hmac { key, auth_type } => {
                assert_eq!(key, "admin-key");
                assert_eq!(auth_type, HmacAuthType::Admin);
            }
            other => panic!("unexpected auth {other:?}"),
        }
    }

    #[test]
    fn search_order_and_explicit_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a.yaml",
            "current: a\ncontexts: {a: {url: 'http://a'}}\n",
        );
        let b = write(
            dir.path(),
            "b.yaml",
            "current: b\ncontexts: {b: {url: 'http://b'}}\n",
        );
        let missing = dir.path().join("missing.yaml");
        let cfg =
            LoadedConfig::load_from(None, &[missing.clone(), b.clone(), a.clone()], None).unwrap();
        assert_eq!(cfg.file.current, "b");
        let cfg = LoadedConfig::load_from(Some(&a), &[b], None).unwrap();
        assert_eq!(cfg.file.current, "a");
        let err = LoadedConfig::load_from(Some(&missing), &[], None).unwrap_err();
        assert!(format!("{err:#}").contains("reading config file"));
        let cfg = LoadedConfig::load_from(None, &[missing], Some(dir.path())).unwrap();
        assert!(!cfg.exists);
        assert_eq!(cfg.path, dir.path().join(".metalctl/config.yaml"));
    }

    #[test]
    fn precedence_flag_env_over_context_over_default() {
        let file: ConfigFile = serde_yaml::from_str(SERVER_WRITTEN).unwrap();
        let local = file.contexts.get("local");
        let prod = file.contexts.get("prod");

        let s = resolve(&Overrides::default(), None).unwrap();
        assert_eq!(s.api_url, DEFAULT_API_URL);
        assert!(matches!(s.auth, Auth::None));

        let over = Overrides {
            api_url: Some("http://flag:1/".into()),
            hmac_auth_type: Some("Metal-View".into()),
            ..Default::default()
        };
        let s = resolve(&over, local).unwrap();
        assert_eq!(s.api_url, "http://flag:1/");
        assert!(matches!(
            s.auth,
            Auth::Hmac { ref key, auth_type: HmacAuthType::View } if key == "admin-key"
        ));

        // a token given on the command line beats the context's hmac key
        let over = Overrides {
            api_token: Some("cli-token".into()),
            ..Default::default()
        };
        assert!(
            matches!(resolve(&over, local).unwrap().auth, Auth::Bearer(ref t) if t == "cli-token")
        );
        // an hmac key given on the command line beats a token
        let over = Overrides {
            api_token: Some("cli-token".into()),
            hmac: Some("k".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&over, prod).unwrap().auth,
            Auth::Hmac { .. }
        ));
        // the context's own token
        assert!(
            matches!(resolve(&Overrides::default(), prod).unwrap().auth, Auth::Bearer(ref t) if t == "tok")
        );

        let bad = Overrides {
            hmac_auth_type: Some("Metal-Root".into()),
            ..Default::default()
        };
        assert!(resolve(&bad, None).is_err());
    }

    #[test]
    fn switching_contexts_writes_0600_and_keeps_unknown_keys() {
        let home = tempfile::tempdir().unwrap();
        let path = write(home.path(), ".metalctl/config.yaml", SERVER_WRITTEN);
        let mut cfg = LoadedConfig::load_from(Some(&path), &[], None).unwrap();
        assert!(switch(&mut cfg.file, "prod").unwrap());
        assert!(!switch(&mut cfg.file, "prod").unwrap());
        assert_eq!(
            switch(&mut cfg.file, "nope").unwrap_err().to_string(),
            "context nope not found"
        );
        cfg.save().unwrap();

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut again = LoadedConfig::load_from(Some(&path), &[], None).unwrap();
        assert_eq!(again.file.current, "prod");
        assert_eq!(again.file.previous, "local");
        assert_eq!(
            again.file.contexts["prod"].extra.get("custom_key"),
            Some(&serde_yaml::Value::String("kept".into()))
        );
        assert_eq!(switch_back(&mut again.file).unwrap(), "local");
        assert_eq!(again.file.current, "local");
        assert_eq!(again.file.previous, "prod");

        let mut empty = ConfigFile::default();
        assert!(switch_back(&mut empty).is_err());
    }

    #[test]
    fn new_file_is_created_in_home() {
        let home = tempfile::tempdir().unwrap();
        let mut cfg = LoadedConfig::load_from(None, &[], Some(home.path())).unwrap();
        cfg.file.contexts.insert(
            "x".into(),
            Context {
                url: "http://x".into(),
                ..Default::default()
            },
        );
        switch(&mut cfg.file, "x").unwrap();
        cfg.save().unwrap();
        let text = std::fs::read_to_string(home.path().join(".metalctl/config.yaml")).unwrap();
        assert!(text.contains("current: x"), "{text}");
    }
}
