//! The little XML reading S3's answers need: the text of the elements of a given name
//! (`<Key>`, `<NextContinuationToken>`, `<Code>`, `<Message>`), unescaped. S3 answers are
//! flat enough for this: the elements read here hold text only and carry no attributes, and
//! characters such as `<` and `&` in object keys come escaped.

/// The unescaped text of every `<tag>...</tag>` element, in document order (`<tag/>` counts
/// as empty).
pub fn texts(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let empty = format!("<{tag}/>");
    let mut out = Vec::new();
    let mut rest = xml;
    loop {
        let next_open = rest.find(&open);
        let next_empty = rest.find(&empty);
        match (next_open, next_empty) {
            (Some(o), e) if e.is_none_or(|e| o < e) => {
                let body = &rest[o + open.len()..];
                let Some(end) = body.find(&close) else { break };
                out.push(unescape(&body[..end]));
                rest = &body[end + close.len()..];
            }
            (_, Some(e)) => {
                out.push(String::new());
                rest = &rest[e + empty.len()..];
            }
            _ => break,
        }
    }
    out
}

/// The text of the first `<tag>` element.
pub fn text(xml: &str, tag: &str) -> Option<String> {
    texts(xml, tag).into_iter().next()
}

/// Replaces XML's five named entities and numeric character references.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semi) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let entity = &after[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_answer() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>firmware</Name><Prefix/>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>bios/dell/R640/1.2</Key><Size>4</Size></Contents>
<Contents><Key>bios/a&amp;b &lt;c&gt;/X/&#233;&#x20AC;</Key><Size>4</Size></Contents>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>"#;
        assert_eq!(
            texts(xml, "Key"),
            ["bios/dell/R640/1.2", "bios/a&b <c>/X/é€"]
        );
        assert_eq!(text(xml, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(text(xml, "Prefix").as_deref(), Some(""));
        assert_eq!(
            text(xml, "NextContinuationToken").as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        assert_eq!(text(xml, "Missing"), None);
    }

    #[test]
    fn error_answer_and_odd_entities() {
        let xml = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>fw</BucketName></Error>";
        assert_eq!(text(xml, "Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(
            text(xml, "Message").as_deref(),
            Some("The specified bucket does not exist")
        );
        assert_eq!(unescape("a & b &bogus; &#xZZ; &"), "a & b &bogus; &#xZZ; &");
        assert_eq!(texts("<Key>unterminated", "Key"), Vec::<String>::new());
    }
}
