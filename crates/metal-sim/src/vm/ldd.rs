//! Which shared libraries a dynamically linked program needs, as `ldd` reports them.
//!
//! Pure parsing of `ldd` output; the caller runs `ldd`. Returns absolute paths, including the
//! dynamic loader; `linux-vdso` (inside the kernel) and "not found" lines are reported apart.

/// The libraries of one program.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Libraries {
    pub paths: Vec<String>,
    pub missing: Vec<String>,
}

/// Parses the standard output of `ldd PROGRAM`.
pub fn parse(out: &str) -> Libraries {
    let mut libs = Libraries::default();
    for line in out.lines() {
        let line = line.trim();
        if let Some((name, rest)) = line.split_once("=>") {
            let rest = rest.trim();
            if rest.starts_with("not found") {
                libs.missing.push(name.trim().to_string());
            } else if let Some(path) = rest
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/'))
            {
                libs.paths.push(path.to_string());
            }
        } else if let Some(path) = line
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            libs.paths.push(path.to_string());
        }
    }
    libs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_table() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibudev.so.1 => /lib/x86_64-linux-gnu/libudev.so.1 (0x7f)\n\t/lib64/ld-linux-x86-64.so.2 (0x7f)\n",
                &["/lib/x86_64-linux-gnu/libudev.so.1", "/lib64/ld-linux-x86-64.so.2"],
                &[],
            ),
            ("\tnot a dynamic executable\n", &[], &[]),
            ("\tstatically linked\n", &[], &[]),
            ("\tlibfoo.so.1 => not found\n", &[], &["libfoo.so.1"]),
        ];
        for (out, paths, missing) in cases {
            let got = parse(out);
            assert_eq!(got.paths, *paths, "{out}");
            assert_eq!(got.missing, *missing, "{out}");
        }
    }
}
