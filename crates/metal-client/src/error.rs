//! The client's error type. An answer of the server with an error status becomes
//! [`Error::Api`] carrying the status and the server's message (from the standard body
//! `{"statuscode": N, "message": "..."}`, else the raw body text), so a CLI can print exactly
//! what the server said.

/// An error of a metal-api call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured API URL cannot be used.
    #[error("invalid api url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The HTTP client could not be built (TLS backend set-up).
    #[error("cannot build the http client")]
    Build(#[source] reqwest::Error),
    /// The request body could not be encoded as JSON.
    #[error("cannot encode the request body for {method} {url}")]
    Encode {
        method: String,
        url: String,
        #[source]
        source: serde_json::Error,
    },
    /// The server was not reachable or the connection broke.
    #[error("cannot reach metal-api at {url}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{message}")]
    Api { status: u16, message: String },
    /// The server answered with a success status but a body that is not the expected JSON.
    #[error("unexpected answer to {method} {url}")]
    Decode {
        method: String,
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The HTTP status of an error answer of the server.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True if the server answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True if the server answered 409 (the entity exists already, or a concurrent change).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// Builds the error for an answer with status `status` and body `body`.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            message: Option<String>,
        }
        let message = match serde_json::from_slice::<serde_json::Value>(body) {
            // the standard body
            Ok(v @ serde_json::Value::Object(_)) => serde_json::from_value::<ErrorBody>(v)
                .ok()
                .and_then(|b| b.message)
                .filter(|m| !m.is_empty()),
            // the reference answers some 403s with the message as a JSON string
            Ok(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let message = message.unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_string();
            if text.is_empty() {
                format!("http status {status}")
            } else {
                text
            }
        });
        Self::Api { status, message }
    }
}

/// Result of a client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_from_standard_body() {
        let e = Error::from_response(404, br#"{"statuscode":404,"message":"no size with id x"}"#);
        assert_eq!(e.to_string(), "no size with id x");
        assert_eq!(e.status(), Some(404));
        assert!(e.is_not_found());
        assert!(!e.is_conflict());
    }

    #[test]
    fn message_from_string_body() {
        let e = Error::from_response(403, br#""tenant x not allowed""#);
        assert_eq!(e.to_string(), "tenant x not allowed");
    }

    #[test]
    fn message_falls_back_to_text() {
        let e = Error::from_response(502, b"Bad Gateway\n");
        assert_eq!(e.to_string(), "Bad Gateway");
        let e = Error::from_response(500, b"");
        assert_eq!(e.to_string(), "http status 500");
        let e = Error::from_response(409, br#"{"other":1}"#);
        assert_eq!(e.to_string(), r#"{"other":1}"#);
        assert!(e.is_conflict());
    }
}
