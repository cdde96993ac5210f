//! Which kernel module files an initramfs needs, in which order to load them.
//!
//! Pure: works on the text of `modules.dep`, `modules.alias`, `modules.softdep` and
//! `modules.builtin` (as `depmod` writes them) and returns paths relative to
//! `/lib/modules/<kver>`. A name is a module name (`-` and `_` are the same), else an exact
//! alias (`crc32c` -> `crc32c_intel`, `crc32c_generic`); built-in modules need nothing.
//! `pre:` soft dependencies (ext4 wants `crypto-crc32c`) are loaded first when they resolve.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

/// The parsed module database of one kernel.
#[derive(Debug, Default, Clone)]
pub struct ModuleDb {
    /// name -> (relative path, direct and indirect dependencies as names)
    modules: BTreeMap<String, (String, Vec<String>)>,
    aliases: BTreeMap<String, Vec<String>>,
    softdeps: BTreeMap<String, Vec<String>>,
    builtin: BTreeSet<String>,
}

/// `md-mod` and `md_mod` name the same module.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// The module name of a path such as `kernel/drivers/md/md-mod.ko` (also `.ko.xz` etc.).
pub fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    normalize(stem)
}

impl ModuleDb {
    /// Parses the files' contents; `alias`, `softdep` and `builtin` may be empty.
    pub fn parse(dep: &str, alias: &str, softdep: &str, builtin: &str) -> Self {
        let mut db = ModuleDb::default();
        for line in dep.lines() {
            let Some((path, deps)) = line.split_once(':') else {
                continue;
            };
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let deps = deps.split_whitespace().map(name_of).collect();
            db.modules.insert(name_of(path), (path.to_string(), deps));
        }
        for line in alias.lines() {
            let mut it = line.split_whitespace();
            if let (Some("alias"), Some(a), Some(m)) = (it.next(), it.next(), it.next()) {
                db.aliases
                    .entry(a.to_string())
                    .or_default()
                    .push(normalize(m));
            }
        }
        for line in softdep.lines() {
            let mut it = line.split_whitespace();
            if it.next() != Some("softdep") {
                continue;
            }
            let Some(m) = it.next() else { continue };
            let mut pre = Vec::new();
            let mut in_pre = false;
            for word in it {
                match word {
                    "pre:" => in_pre = true,
                    "post:" => in_pre = false,
                    w if in_pre => pre.push(w.to_string()),
                    _ => {}
                }
            }
            db.softdeps.entry(normalize(m)).or_default().extend(pre);
        }
        for line in builtin.lines() {
            let line = line.trim();
            if !line.is_empty() {
                db.builtin.insert(name_of(line));
            }
        }
        db
    }

    /// Module names that `name` stands for: itself, or what an exact alias names. Empty when
    /// built in.
    fn lookup(&self, name: &str) -> Result<Vec<String>> {
        let n = normalize(name);
        if self.modules.contains_key(&n) {
            return Ok(vec![n]);
        }
        if self.builtin.contains(&n) {
            return Ok(vec![]);
        }
        if let Some(targets) = self.aliases.get(name) {
            let found: Vec<String> = targets
                .iter()
                .filter(|t| self.modules.contains_key(*t))
                .cloned()
                .collect();
            if !found.is_empty() || targets.iter().all(|t| self.builtin.contains(t)) {
                return Ok(found);
            }
        }
        bail!("kernel module {name:?} is neither in modules.dep, an alias nor built in")
    }

    /// The relative paths of `names` and everything they need, each once, dependencies
    /// before the modules that use them (the order to `insmod` them).
    pub fn resolve(&self, names: &[&str]) -> Result<Vec<String>> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for name in names {
            for m in self.lookup(name)? {
                self.visit(&m, &mut seen, &mut order);
            }
        }
        Ok(order
            .into_iter()
            .map(|m| self.modules[&m].0.clone())
            .collect())
    }

    fn visit(&self, m: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(m.to_string()) {
            return;
        }
        // Soft dependencies that do not resolve are optional by definition.
        for soft in self.softdeps.get(m).into_iter().flatten() {
            for s in self.lookup(soft).unwrap_or_default() {
                self.visit(&s, seen, order);
            }
        }
        if let Some((_, deps)) = self.modules.get(m) {
            for d in deps.clone() {
                self.visit(&d, seen, order);
            }
        }
        order.push(m.to_string());
    }

    /// A `modules.dep` holding only `paths` (all of them resolved by [`Self::resolve`]).
    pub fn dep_subset(&self, paths: &[String]) -> String {
        let mut out = String::new();
        for p in paths {
            let (_, deps) = &self.modules[&name_of(p)];
            let deps: Vec<&str> = deps
                .iter()
                .filter_map(|d| self.modules.get(d).map(|(p, _)| p.as_str()))
                .collect();
            out.push_str(&format!("{p}: {}\n", deps.join(" ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/md/raid1.ko: kernel/drivers/md/md-mod.ko
kernel/drivers/md/md-mod.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
";
    const ALIAS: &str = "alias crypto-crc32c crc32c_intel\nalias crypto-crc32c crc32c_generic\n";
    const SOFT: &str = "# comment\nsoftdep ext4 pre: crypto-crc32c\n";
    const BUILTIN: &str = "kernel/net/packet/af_packet.ko\n";

    fn db() -> ModuleDb {
        ModuleDb::parse(DEP, ALIAS, SOFT, BUILTIN)
    }

    fn pos(v: &[String], s: &str) -> usize {
        v.iter()
            .position(|p| p.ends_with(s))
            .unwrap_or_else(|| panic!("{s} not in {v:?}"))
    }

    #[test]
    fn resolves_table() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["raid1"], &["md-mod.ko", "raid1.ko"]),
            (&["md_mod", "raid1"], &["md-mod.ko", "raid1.ko"]),
            (&["af_packet"], &[]),
            (
                &["crypto-crc32c"],
                &["crc32c-intel.ko", "crc32c_generic.ko"],
            ),
            (
                &["virtio_net"],
                &["failover.ko", "net_failover.ko", "virtio_net.ko"],
            ),
        ];
        for (names, want) in cases {
            let got = db().resolve(names).unwrap();
            let got: Vec<&str> = got.iter().map(|p| p.rsplit('/').next().unwrap()).collect();
            assert_eq!(&got, want, "{names:?}");
        }
    }

    #[test]
    fn dependencies_and_softdeps_come_first() {
        let got = db().resolve(&["ext4"]).unwrap();
        assert_eq!(got.len(), 6);
        for dep in ["jbd2.ko", "mbcache.ko", "crc16.ko", "crc32c_generic.ko"] {
            assert!(
                pos(&got, dep) < pos(&got, "ext4.ko"),
                "{dep} after ext4: {got:?}"
            );
        }
    }

    #[test]
    fn unknown_module_is_an_error() {
        let err = db().resolve(&["nope"]).unwrap_err().to_string();
        assert!(err.contains("\"nope\""), "{err}");
    }

    #[test]
    fn dep_subset_keeps_only_listed() {
        let d = db();
        let paths = d.resolve(&["raid1"]).unwrap();
        assert_eq!(
            d.dep_subset(&paths),
            "kernel/drivers/md/md-mod.ko: \nkernel/drivers/md/raid1.ko: kernel/drivers/md/md-mod.ko\n"
        );
    }
}
