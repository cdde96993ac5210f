//! Plain tables as metalctl prints them (tablewriter's borderless style): header in UPPER
//! CASE, columns left aligned and separated by two spaces, cells may span several lines; and
//! the same table as Markdown.

/// A table: a header and rows of cells; a cell may contain newlines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    fn columns(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.header.len()))
            .max()
            .unwrap_or(0)
    }

    /// The borderless rendering; `headers: false` leaves out the header line.
    pub fn render_plain(&self, headers: bool) -> String {
        let cols = self.columns();
        let header: Vec<String> = self.header.iter().map(|h| h.to_uppercase()).collect();
        let mut lines_of_rows: Vec<Vec<Vec<&str>>> = Vec::new();
        if headers && !header.is_empty() {
            lines_of_rows.push(header.iter().map(|h| vec![h.as_str()]).collect());
        }
        for row in &self.rows {
            lines_of_rows.push(row.iter().map(|c| c.lines().collect()).collect());
        }
        let mut widths = vec![0usize; cols];
        for row in &lines_of_rows {
            for (i, cell) in row.iter().enumerate() {
                for line in cell {
                    widths[i] = widths[i].max(display_width(line));
                }
            }
        }
        let mut out = String::new();
        for row in &lines_of_rows {
            let height = row.iter().map(Vec::len).max().unwrap_or(0).max(1);
            for l in 0..height {
                let mut line = String::new();
                for (i, width) in widths.iter().enumerate() {
                    let text = row.get(i).and_then(|c| c.get(l)).copied().unwrap_or("");
                    line.push_str(text);
                    if i + 1 < cols {
                        let pad = width - display_width(text) + 2;
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        out
    }

    /// GitHub-flavoured Markdown: pipes and a separator line under the header; line breaks
    /// inside a cell become `<br>`.
    pub fn render_markdown(&self, headers: bool) -> String {
        let cols = self.columns();
        let cell = |s: &str| {
            s.replace('|', "\\|")
                .lines()
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let header: Vec<String> = (0..cols)
            .map(|i| {
                cell(
                    &self
                        .header
                        .get(i)
                        .map(|h| h.to_uppercase())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                (0..cols)
                    .map(|i| cell(r.get(i).map_or("", String::as_str)))
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| display_width(h).max(3)).collect();
        for row in &rows {
            for (i, c) in row.iter().enumerate() {
                widths[i] = widths[i].max(display_width(c));
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (c, w) in cells.iter().zip(&widths) {
                s.push(' ');
                s.push_str(c);
                s.extend(std::iter::repeat_n(' ', w - display_width(c)));
                s.push_str(" |");
            }
            s.push('\n');
            s
        };
        let mut out = String::new();
        if headers {
            out.push_str(&line(&header));
            out.push('|');
            for w in &widths {
                out.push_str(&"-".repeat(w + 2));
                out.push('|');
            }
            out.push('\n');
        }
        for row in &rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// Width of a string in terminal columns, counting characters (good enough for the ASCII,
/// latin and box-drawing text of our tables).
pub fn display_width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(["ID", "Name", "Description"]);
        t.push(["p1", "partition one", ""]);
        t.push(["partition-2", "two", "first line\nsecond"]);
        t
    }

    #[test]
    fn plain_rendering() {
        assert_eq!(
            sample().render_plain(true),
            "\
ID           NAME           DESCRIPTION
p1           partition one
partition-2  two            first line
                            second
"
        );
        assert_eq!(
            sample().render_plain(false),
            "\
p1           partition one
partition-2  two            first line
                            second
"
        );
    }

    #[test]
    fn markdown_rendering() {
        let mut t = sample();
        t.push(["a|b", "", ""]);
        assert_eq!(
            t.render_markdown(true),
            "\
| ID          | NAME          | DESCRIPTION          |
|-------------|---------------|----------------------|
| p1          | partition one |                      |
| partition-2 | two           | first line<br>second |
| a\\|b        |               |                      |
"
        );
    }

    #[test]
    fn empty_table_prints_header_only() {
        let t = Table::new(["ID", "Name"]);
        assert_eq!(t.render_plain(true), "ID  NAME\n");
        assert_eq!(t.render_plain(false), "");
    }
}
