//! Printing results: the output formats of `-o`, and the two printers of metalctl: the list
//! printer (table unless `-o` says otherwise) and the describe printer (YAML unless `-o` says
//! otherwise). Tables are built by each resource; this module decides how they are shown.

pub mod color;
pub mod humanize;
pub mod table;
pub mod template;

use std::io::Write;
use std::str::FromStr;

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

pub use table::Table;

/// A value of `-o/--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Wide,
    Markdown,
    Yaml,
    Json,
    Template,
}

impl FromStr for Format {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "table" => Self::Table,
            "wide" => Self::Wide,
            "markdown" => Self::Markdown,
            "yaml" => Self::Yaml,
            "json" => Self::Json,
            "template" => Self::Template,
            other => bail!(
                "unknown output format {other:?}, must be one of table, wide, markdown, yaml, json, template"
            ),
        })
    }
}

/// Writes results to the output in the chosen format.
pub struct Printer {
    explicit: Option<Format>,
    template: Option<String>,
    no_headers: bool,
    documents: usize,
    out: Box<dyn Write + Send>,
}

impl Printer {
    /// `format` is the `-o` value if given; `--template` alone implies `-o template`.
    pub fn new(
        format: Option<&str>,
        template: Option<String>,
        no_headers: bool,
        out: Box<dyn Write + Send>,
    ) -> Result<Self> {
        let template = template.filter(|t| !t.is_empty());
        let explicit = match format.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(f.parse::<Format>()?),
            None if template.is_some() => Some(Format::Template),
            None => None,
        };
        if explicit == Some(Format::Template) && template.is_none() {
            bail!("-o template needs a template given with --template");
        }
        Ok(Self {
            explicit,
            template,
            no_headers,
            documents: 0,
            out,
        })
    }

    /// Prints a list: a table unless `-o` says otherwise; `table(wide)` builds the table.
    pub fn list<T: Serialize>(
        &mut self,
        items: &[T],
        table: impl FnOnce(bool) -> Table,
    ) -> Result<()> {
        let format = self.explicit.unwrap_or(Format::Table);
        match format {
            Format::Table | Format::Wide | Format::Markdown => self.table(format, table),
            Format::Yaml => {
                let text = serde_yaml::to_string(items).context("encoding yaml")?;
                self.write(&text)
            }
            Format::Json => self.json(&items),
            Format::Template => {
                for item in items {
                    self.template_one(item)?;
                }
                Ok(())
            }
        }
    }

    /// Prints one entity: YAML unless `-o` says otherwise. Several calls print several YAML
    /// documents separated by `---`.
    pub fn describe<T: Serialize>(
        &mut self,
        item: &T,
        table: impl FnOnce(bool) -> Table,
    ) -> Result<()> {
        let format = self.explicit.unwrap_or(Format::Yaml);
        match format {
            Format::Table | Format::Wide | Format::Markdown => self.table(format, table),
            Format::Yaml => self.yaml_document(item),
            Format::Json => self.json(item),
            Format::Template => self.template_one(item),
        }
    }

    /// Prints a value that has no table form (versions, health): YAML for the table formats.
    pub fn value<T: Serialize>(&mut self, item: &T) -> Result<()> {
        match self.explicit.unwrap_or(Format::Yaml) {
            Format::Json => self.json(item),
            Format::Template => self.template_one(item),
            _ => self.yaml_document(item),
        }
    }

    /// Writes plain text.
    pub fn write(&mut self, text: &str) -> Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }

    fn table(&mut self, format: Format, table: impl FnOnce(bool) -> Table) -> Result<()> {
        let t = table(format == Format::Wide);
        let text = if format == Format::Markdown {
            t.render_markdown(!self.no_headers)
        } else {
            t.render_plain(!self.no_headers)
        };
        self.write(&text)
    }

    fn yaml_document<T: Serialize>(&mut self, item: &T) -> Result<()> {
        let text = serde_yaml::to_string(item).context("encoding yaml")?;
        if self.documents > 0 {
            self.write("---\n")?;
        }
        self.documents += 1;
        self.write(&text)
    }

    fn json<T: Serialize + ?Sized>(&mut self, item: &T) -> Result<()> {
        let mut text = serde_json::to_string_pretty(item).context("encoding json")?;
        text.push('\n');
        self.write(&text)
    }

    fn template_one<T: Serialize>(&mut self, item: &T) -> Result<()> {
        let data = serde_json::to_value(item).context("encoding json")?;
        let tmpl = self.template.as_deref().unwrap_or_default();
        let mut text = template::render(tmpl, &data)?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.write(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[derive(Serialize)]
    struct Item {
        id: &'static str,
    }

    fn table(items: &[Item], wide: bool) -> Table {
        let mut t = Table::new(if wide { vec!["ID", "Wide"] } else { vec!["ID"] });
        for i in items {
            t.push(if wide { vec![i.id, "w"] } else { vec![i.id] });
        }
        t
    }

    fn print(format: Option<&str>, template: Option<&str>, list: bool) -> String {
        let buf = Buf::default();
        let mut p = Printer::new(
            format,
            template.map(Into::into),
            false,
            Box::new(buf.clone()),
        )
        .unwrap();
        let items = [Item { id: "a" }, Item { id: "b" }];
        if list {
            p.list(&items, |w| table(&items, w)).unwrap();
        } else {
            for i in &items {
                p.describe(i, |w| table(std::slice::from_ref(i), w))
                    .unwrap();
            }
        }
        buf.text()
    }

    #[test]
    fn list_defaults_to_table_and_describe_to_yaml() {
        assert_eq!(print(None, None, true), "ID\na\nb\n");
        assert_eq!(print(None, None, false), "id: a\n---\nid: b\n");
        assert_eq!(print(Some("wide"), None, true), "ID  WIDE\na   w\nb   w\n");
        assert_eq!(print(Some("table"), None, false), "ID\na\nID\nb\n");
        assert_eq!(print(Some("yaml"), None, true), "- id: a\n- id: b\n");
        assert_eq!(
            print(Some("json"), None, true),
            "[\n  {\n    \"id\": \"a\"\n  },\n  {\n    \"id\": \"b\"\n  }\n]\n"
        );
        assert_eq!(
            print(Some("markdown"), None, true),
            "| ID  |\n|-----|\n| a   |\n| b   |\n"
        );
    }

    #[test]
    fn template_output() {
        assert_eq!(print(Some("template"), Some("{{ .id }}"), true), "a\nb\n");
        assert_eq!(print(None, Some("id={{ .id }}"), false), "id=a\nid=b\n");
    }

    #[test]
    fn bad_formats_are_refused() {
        let err = Printer::new(Some("xml"), None, false, Box::new(Buf::default()))
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("unknown output format \"xml\""));
        assert!(Printer::new(Some("template"), None, false, Box::new(Buf::default())).is_err());
    }
}
