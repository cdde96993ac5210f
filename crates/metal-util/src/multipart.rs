//! A `multipart/form-data` body with one file field, as `curl -F field=@file` sends it: what
//! metal-api's firmware upload (`PUT /v1/firmware/...`) reads. Built whole in memory; the
//! boundary is chosen so that it does not occur in the content.

/// The `Content-Type` header value and the body of a form holding `content` as the file
/// `filename` in the field `field`.
pub fn file_form(field: &str, filename: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = boundary_for(content);
    let filename: String = filename
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A boundary that is not part of `content`: a fixed prefix and a counter, raised until it
/// does not occur.
fn boundary_for(content: &[u8]) -> String {
    (0u64..)
        .map(|n| format!("metal-form-boundary-{n:016x}"))
        .find(|b| !content.windows(b.len()).any(|w| w == b.as_bytes()))
        .expect("some boundary is absent from any finite content")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_never_occurs_in_the_content() {
        let tricky = b"x\r\n--metal-form-boundary-0000000000000000\r\n".to_vec();
        let (ct, body) = file_form("file", "bios\"1.bin", &tricky);
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        assert_eq!(boundary, "metal-form-boundary-0000000000000001");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")), "{text}");
        assert!(
            text.contains("name=\"file\"; filename=\"bios_1.bin\""),
            "{text}"
        );
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")), "{text}");
        assert_eq!(
            body.windows(tricky.len()).filter(|w| *w == tricky).count(),
            1
        );
    }
}
