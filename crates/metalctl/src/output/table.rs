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

/// Width of a string in terminal columns: emoji (the status symbols) and wide characters take
/// two, ANSI escape sequences (colours) none.
pub fn display_width(s: &str) -> usize {
    let mut width = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, ended by a letter
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        // terminals draw emoji and east-asian wide characters in two columns, combining marks
        // and variation selectors in none
        width += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
    }
    width
}

/// Shortens `s` to at most `max` characters by replacing its middle with `...` (metal-lib's
/// `TruncateMiddle`): `abcdefghij` at 7 becomes `ab...ij`.
pub fn truncate_middle(s: &str, max: usize) -> String {
    const ELLIPSIS: &str = "...";
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    if max <= ELLIPSIS.len() {
        return chars[..max].iter().collect();
    }
    let keep = max - ELLIPSIS.len();
    let (start, end) = (keep.div_ceil(2), keep / 2);
    let mut out: String = chars[..start].iter().collect();
    out.push_str(ELLIPSIS);
    out.extend(&chars[chars.len() - end..]);
    out
}

#[cfg(test)]
mod width_tests {
    use super::display_width;

    #[test]
    fn emoji_take_two_columns() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("💀"), 2);
        assert_eq!(display_width("🚧\u{a0}🔒"), 5);
        assert_eq!(display_width("├─╴x"), 4);
        assert_eq!(display_width("\x1b[32m●\x1b[0m"), 1);
    }
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
    fn colours_take_no_room() {
        assert_eq!(display_width("\x1b[32m●\x1b[0m"), 1);
        assert_eq!(display_width("a\x1b[1;31mbc\x1b[0m"), 3);
        let mut t = Table::new(["ID", "", "Name"]);
        t.push(["a", "\x1b[32m●\x1b[0m", "x"]);
        t.push(["bb", "◕", "y"]);
        assert_eq!(
            t.render_plain(true),
            "ID     NAME\na   \x1b[32m●\x1b[0m  x\nbb  ◕  y\n"
        );
    }

    #[test]
    fn middle_truncation() {
        assert_eq!(truncate_middle("abcdefghij", 10), "abcdefghij");
        assert_eq!(truncate_middle("abcdefghij", 7), "ab...ij");
        assert_eq!(truncate_middle("abcdefghij", 8), "abc...ij");
        assert_eq!(truncate_middle("abcdefghij", 3), "abc");
        assert_eq!(truncate_middle("äöüäöüäöü", 6), "äö...ü");
        let long = "a-very-long-name-of-an-ip-address-for-a-service";
        let t = truncate_middle(long, 30);
        assert_eq!(t, "a-very-long-na...for-a-service");
        assert_eq!(t.chars().count(), 30);
    }

    #[test]
    fn empty_table_prints_header_only() {
        let t = Table::new(["ID", "Name"]);
        assert_eq!(t.render_plain(true), "ID  NAME\n");
        assert_eq!(t.render_plain(false), "");
    }
}
