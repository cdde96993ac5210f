//! Keys of a file that the target type does not read. The server ignores unknown fields as
//! metal-api does (so older and newer clients keep working); metalctl warns about each one, with
//! its path in the document (`images`, `disks[0].partitons`) and, where one is close, the key it
//! probably meant: a similar key at the same level, or the same key one level or more below
//! (`images` at the top of a size image constraint belongs under `constraints`).

use serde_ignored::Path;

use super::schema::{self, Schema};

/// One step of a path in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// The steps of a path reported by `serde_ignored`.
pub fn steps(path: &Path) -> Vec<Step> {
    let mut out = match path {
        Path::Root => return Vec::new(),
        Path::Seq { parent, .. }
        | Path::Map { parent, .. }
        | Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => steps(parent),
    };
    match path {
        Path::Seq { index, .. } => out.push(Step::Index(*index)),
        Path::Map { key, .. } => out.push(Step::Key(key.clone())),
        _ => {}
    }
    out
}

/// `disks[0].partitions`.
pub fn display(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// `disks[].partitions`: the path with list indices left out, as the schema knows it.
fn shape(steps: &[Step]) -> String {
    steps.iter().fold(String::new(), |acc, step| match step {
        Step::Key(k) => schema::key_shape(&acc, k),
        Step::Index(_) => format!("{acc}[]"),
    })
}

/// How alike two keys are, from 0 to 1; case does not count.
fn likeness(a: &str, b: &str) -> f64 {
    strsim::normalized_damerau_levenshtein(&a.to_lowercase(), &b.to_lowercase())
}

/// Below this, a key is not suggested for a misspelt one.
const ALIKE: f64 = 0.6;

/// The path of the key an unknown key at `path` was probably meant to be.
pub fn suggestion(schema: &Schema, path: &[Step]) -> Option<String> {
    let (Step::Key(key), parent) = path.split_last()? else {
        return None;
    };
    let parent_shape = shape(parent);
    let prefix = display(parent);
    let join = |rest: &str| match (prefix.is_empty(), rest.starts_with('[')) {
        (true, _) | (false, true) => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    };
    // a similar key at the same level
    let same_level = schema.get(&parent_shape).and_then(|fields| {
        fields
            .iter()
            .map(|f| (likeness(key, f), *f))
            .filter(|(l, _)| *l >= ALIKE)
            .max_by(|a, b| a.0.total_cmp(&b.0))
    });
    if let Some((_, field)) = same_level {
        return Some(join(field));
    }
    // the same key further down, the shallowest first
    schema
        .iter()
        .filter_map(|(shape, fields)| {
            let rest = match parent_shape.as_str() {
                "" => shape.as_str(),
                p => shape.strip_prefix(p)?,
            };
            if !(parent_shape.is_empty() || rest.starts_with(['.', '['])) {
                return None;
            }
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            if rest.is_empty() {
                return None;
            }
            let field = fields.iter().find(|f| f.eq_ignore_ascii_case(key))?;
            Some(schema::key_shape(rest, field))
        })
        .min_by_key(|rest| (rest.matches(['.', '[']).count(), rest.clone()))
        .map(|rest| join(&rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let shapes: [(&str, &'static [&'static str]); 4] = [
            ("", &["id", "constraints", "disks"]),
            ("constraints", &["sizes", "images"]),
            ("disks[]", &["device", "partitions"]),
            ("disks[].partitions[]", &["number", "label"]),
        ];
        shapes
            .into_iter()
            .map(|(shape, fields)| (shape.to_string(), fields))
            .collect()
    }

    fn key(k: &str) -> Step {
        Step::Key(k.into())
    }

    #[test]
    fn suggests_similar_keys_and_keys_further_down() {
        let s = schema();
        let at = |path: &[Step]| suggestion(&s, path);
        assert_eq!(at(&[key("images")]).as_deref(), Some("constraints.images"));
        assert_eq!(at(&[key("Disk")]).as_deref(), Some("disks"));
        assert_eq!(
            at(&[key("disks"), Step::Index(0), key("partitons")]).as_deref(),
            Some("disks[0].partitions")
        );
        assert_eq!(
            at(&[
                key("disks"),
                Step::Index(1),
                key("partitions"),
                Step::Index(0),
                key("lable")
            ])
            .as_deref(),
            Some("disks[1].partitions[0].label")
        );
        assert_eq!(
            at(&[key("label")]).as_deref(),
            Some("disks[].partitions[].label")
        );
        assert_eq!(at(&[key("completely-different")]), None);
        assert_eq!(at(&[key("constraints"), key("whatever")]), None);
    }

    #[test]
    fn paths_are_shown_with_indices() {
        let path = [key("disks"), Step::Index(0), key("partitons")];
        assert_eq!(display(&path), "disks[0].partitons");
        assert_eq!(shape(&path), "disks[].partitons");
    }
}
