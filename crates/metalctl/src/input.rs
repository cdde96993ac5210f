//! Reading entities from `-f <file|->`: YAML (JSON being a subset of it), several documents
//! separated by `---` for bulk operations, and a top-level list counting as one document
//! per element. Empty documents are skipped.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

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

/// Parses every document of `text` as a `T`.
pub fn parse_documents<T: DeserializeOwned>(text: &str, source: &str) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(doc)
            .with_context(|| format!("parsing document {} of {source}", i + 1))?;
        let elements = match value {
            serde_yaml::Value::Null => continue,
            serde_yaml::Value::Sequence(items) => items,
            other => vec![other],
        };
        for (j, element) in elements.into_iter().enumerate() {
            let item = serde_yaml::from_value(element).with_context(|| {
                format!(
                    "document {} (entry {}) of {source} does not fit",
                    i + 1,
                    j + 1
                )
            })?;
            out.push(item);
        }
    }
    Ok(out)
}

/// Reads and parses `-f`; an error if there is nothing in it.
pub fn read_documents<T: DeserializeOwned>(file: &str) -> Result<Vec<T>> {
    let source = if file == "-" { "standard input" } else { file };
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
