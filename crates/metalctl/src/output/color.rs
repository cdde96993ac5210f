//! Colours for table cells: ANSI escape codes, written only when standard output is a
//! terminal and `NO_COLOR` is not set (<https://no-color.org>). Table widths ignore the codes
//! (see [`super::table::display_width`]), so coloured and plain tables align the same way.

/// The colours metalctl uses (status dots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Red,
    Green,
    Yellow,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Self::Red => "31",
            Self::Green => "32",
            Self::Yellow => "33",
        }
    }
}

/// Whether to colour: only on a terminal, and never with `NO_COLOR` set to a non-empty value.
pub fn wanted(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `text` in `color` when `enabled`, as it is otherwise.
pub fn paint(text: &str, color: Color, enabled: bool) -> String {
    if enabled {
        format!("\x1b[{}m{text}\x1b[0m", color.code())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painting() {
        assert_eq!(paint("●", Color::Green, false), "●");
        assert_eq!(paint("●", Color::Green, true), "\x1b[32m●\x1b[0m");
        assert_eq!(paint("◕", Color::Red, true), "\x1b[31m◕\x1b[0m");
        assert_eq!(paint("◒", Color::Yellow, true), "\x1b[33m◒\x1b[0m");
        assert!(!wanted(false));
    }
}
