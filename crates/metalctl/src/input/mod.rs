//! Reading entities from `-f <file|->`: YAML (JSON being a subset of it), several documents
//! separated by `---` for bulk operations, and a top-level list counting as one document
//! per element. Empty documents are skipped.
//!
//! Every file metalctl reads goes through here, and is read as metal-stack's CLI reads it: a
//! scalar is taken as text where the field is a string ([`lenient`]), and a key the type does
//! not know is warned about on standard error, naming the file, the key's path and the key it
//! was probably meant to be ([`unknown`]). A warning never fails the command.

mod lenient;
mod schema;
mod unknown;

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use lenient::Lenient;

/// Reads the text of `-f`: `-` is standard input.
pub fn read_source(file: &str) -> Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(Path::new(file)).with_context(|| format!("reading {file}"))
    }
}

/// The name of `-f`'s source in messages.
pub fn source_name(file: &str) -> &str {
    if file == "-" {
        "standard input"
    } else {
        file
    }
}

/// Documents read from a file, and the warnings about the keys they hold that were ignored.
#[derive(Debug)]
pub struct Parsed<T> {
    pub docs: Vec<T>,
    pub warnings: Vec<String>,
}

impl<T> Parsed<T> {
    /// Prints the warnings to standard error and returns the documents.
    pub fn warn(self) -> Vec<T> {
        for w in &self.warnings {
            eprintln!("{w}");
        }
        self.docs
    }
}

/// Reads one YAML value as a `T`, leniently, noting every key it ignores (with its path).
fn from_value<T: DeserializeOwned>(
    value: serde_yaml::Value,
    ignored: &mut Vec<Vec<unknown::Step>>,
) -> Result<T, serde_yaml::Error> {
    serde_ignored::deserialize(Lenient(value), |path| ignored.push(unknown::steps(&path)))
}

/// The warnings about the keys ignored in the document `place` of `source`.
fn warnings<T: DeserializeOwned>(
    source: &str,
    place: Option<String>,
    ignored: &[Vec<unknown::Step>],
    schema: &mut Option<schema::Schema>,
) -> Vec<String> {
    if ignored.is_empty() {
        return Vec::new();
    }
    let schema = schema.get_or_insert_with(schema::of::<T>);
    ignored
        .iter()
        .map(|path| {
            let place = place
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            let hint = unknown::suggestion(schema, path)
                .map(|s| format!(", did you mean {s:?}?"))
                .unwrap_or_default();
            format!(
                "warning: {source}{place}: unknown key {:?} is ignored{hint}",
                unknown::display(path)
            )
        })
        .collect()
}

/// Parses every document of `text` as a `T`, with warnings about ignored keys.
pub fn parse<T: DeserializeOwned>(text: &str, source: &str) -> Result<Parsed<T>> {
    let mut values = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(doc)
            .with_context(|| format!("parsing document {} of {source}", i + 1))?;
        match value {
            serde_yaml::Value::Null => {}
            serde_yaml::Value::Sequence(items) => values.extend(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(j, item)| (i + 1, j + 1, item)),
            ),
            other => values.push((i + 1, 1, other)),
        }
    }
    let several = values.len() > 1;
    let mut parsed = Parsed {
        docs: Vec::new(),
        warnings: Vec::new(),
    };
    let mut schema = None;
    for (doc, entry, value) in values {
        let mut ignored = Vec::new();
        let item = from_value(value, &mut ignored)
            .with_context(|| format!("document {doc} (entry {entry}) of {source} does not fit"))?;
        let place = several.then(|| format!("document {doc}, entry {entry}"));
        parsed
            .warnings
            .extend(warnings::<T>(source, place, &ignored, &mut schema));
        parsed.docs.push(item);
    }
    Ok(parsed)
}

/// Parses every document of `text` as a `T`; warnings go to standard error.
pub fn parse_documents<T: DeserializeOwned>(text: &str, source: &str) -> Result<Vec<T>> {
    Ok(parse(text, source)?.warn())
}

/// Parses `text` as exactly one `T` (a file that is not a list of entities); warnings go to
/// standard error.
pub fn parse_one<T: DeserializeOwned>(text: &str, source: &str) -> Result<T> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).with_context(|| format!("parsing {source}"))?;
    let mut ignored = Vec::new();
    let item = from_value(value, &mut ignored).with_context(|| format!("{source} does not fit"))?;
    for w in warnings::<T>(source, None, &ignored, &mut None) {
        eprintln!("{w}");
    }
    Ok(item)
}

/// Reads and parses `-f`; an error if there is nothing in it.
pub fn read_documents<T: DeserializeOwned>(file: &str) -> Result<Vec<T>> {
    let source = source_name(file);
    let docs = parse_documents(&read_source(file)?, source)?;
    if docs.is_empty() {
        bail!("{source} contains no entities");
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        id: String,
        #[serde(default)]
        n: u32,
    }

    fn doc(id: &str, n: u32) -> Doc {
        Doc { id: id.into(), n }
    }

    #[test]
    fn multiple_documents() {
        let text = "---\nid: a\nn: 1\n---\n\n---\nid: b\n...\n";
        assert_eq!(
            parse_documents::<Doc>(text, "x").unwrap(),
            vec![doc("a", 1), doc("b", 0)]
        );
    }

    #[test]
    fn lists_and_json() {
        let text = "- id: a\n- id: b\n---\n{\"id\": \"c\", \"n\": 3}\n";
        assert_eq!(
            parse_documents::<Doc>(text, "x").unwrap(),
            vec![doc("a", 0), doc("b", 0), doc("c", 3)]
        );
        assert_eq!(
            parse_documents::<Doc>("[{\"id\":\"j\"}]", "x").unwrap(),
            vec![doc("j", 0)]
        );
    }

    #[test]
    fn errors_name_the_document() {
        let err = parse_documents::<Doc>("id: a\n---\nn: 2\n", "f.yaml").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("document 2 (entry 1) of f.yaml does not fit"),
            "{err:#}"
        );
        let err = parse_documents::<Doc>("id: [\n", "f.yaml").unwrap_err();
        assert!(
            format!("{err:#}").starts_with("parsing document 1 of f.yaml"),
            "{err:#}"
        );
    }

    const RAID: &str = include_str!("../../tests/fixtures/fsl-raid.yaml");
    const LVM: &str = include_str!("../../tests/fixtures/fsl-lvm-striped.yaml");

    #[test]
    fn release_note_layouts_are_read_as_metal_stack_reads_them() {
        use metal_domain::fsl::FilesystemLayout;
        let raid = parse::<FilesystemLayout>(RAID, "raid.yaml").unwrap();
        assert_eq!(raid.warnings, Vec::<String>::new());
        let l = &raid.docs[0];
        assert_eq!(l.raid[0].level, "1");
        assert_eq!(l.raid[0].createoptions, ["--metadata", "1.0"]);
        assert_eq!(l.disks[1].partitions[0].gpttype.as_deref(), Some("8300"));
        assert_eq!(l.filesystems[1].mountoptions.len(), 7);
        l.validate().unwrap();
        let lvm = parse::<FilesystemLayout>(LVM, "lvm.yaml").unwrap();
        assert_eq!(lvm.warnings, Vec::<String>::new());
        let l = &lvm.docs[0];
        assert_eq!(l.logicalvolumes[0].lvmtype, "striped");
        assert_eq!(l.logicalvolumes[0].device(), "/dev/vgroot/root");
        assert_eq!(l.volumegroups[0].devices.len(), 2);
        l.validate().unwrap();
        // the same, as JSON with a number where the wire has a string
        let json = r#"{"id": "j", "raid": [{"arrayname": "/dev/md0", "level": 0}]}"#;
        let j = parse::<FilesystemLayout>(json, "j.json").unwrap();
        assert_eq!(j.docs[0].raid[0].level, "0");
    }

    #[test]
    fn unknown_keys_are_warned_about_with_path_and_suggestion() {
        use metal_domain::sic::SizeImageConstraint;
        let sic =
            parse::<SizeImageConstraint>("id: c1\nimages:\n  ubuntu: '>= 20.04'\n", "sic.yaml")
                .unwrap();
        assert!(sic.docs[0].constraints.images.is_empty());
        assert_eq!(
            sic.warnings,
            [
                r#"warning: sic.yaml: unknown key "images" is ignored, did you mean "constraints.images"?"#
            ]
        );
        let text = format!(
            "{RAID}---\n{}",
            RAID.replace("partitions:", "partitons:")
                .replace("label: \"root\"}", "lable: x, bogus-key: 1}")
        );
        let fsl = parse::<metal_domain::fsl::FilesystemLayout>(&text, "f.yaml").unwrap();
        assert_eq!(fsl.docs.len(), 2);
        assert_eq!(
            fsl.warnings,
            [
                r#"warning: f.yaml (document 2, entry 1): unknown key "disks[0].partitons" is ignored, did you mean "disks[0].partitions"?"#,
                r#"warning: f.yaml (document 2, entry 1): unknown key "disks[1].partitons" is ignored, did you mean "disks[1].partitions"?"#,
                r#"warning: f.yaml (document 2, entry 1): unknown key "filesystems[0].lable" is ignored, did you mean "filesystems[0].label"?"#,
                r#"warning: f.yaml (document 2, entry 1): unknown key "filesystems[0].bogus-key" is ignored"#,
            ]
        );
    }

    #[test]
    fn files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, "id: a\n").unwrap();
        let docs: Vec<Doc> = read_documents(p.to_str().unwrap()).unwrap();
        assert_eq!(docs, vec![doc("a", 0)]);
        std::fs::write(&p, "---\n").unwrap();
        assert!(read_documents::<Doc>(p.to_str().unwrap()).is_err());
        assert!(read_documents::<Doc>("/nonexistent/file.yaml").is_err());
    }
}
