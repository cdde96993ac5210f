//! The server: prints every pushed line to stdout as metal-stack's server does
//! ([`crate::output`]) and, when asked, appends its JSON object to a JSON-lines file.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use metal_proto::droptailer::droptailer_server::Droptailer;
use metal_proto::droptailer::{Drop, Void};
use tonic::{Request, Response, Status};

/// Where the lines go.
pub struct Printer {
    out: Mutex<Box<dyn Write + Send>>,
    json: Option<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("json", &self.json.is_some())
            .finish_non_exhaustive()
    }
}

impl Printer {
    /// Lines to `out`, and their JSON objects to `json` if given; both flushed per line.
    pub fn new(out: Box<dyn Write + Send>, json: Option<Box<dyn Write + Send>>) -> Self {
        Self {
            out: Mutex::new(out),
            json: json.map(Mutex::new),
        }
    }

    fn print(&self, drop: Drop) -> std::io::Result<()> {
        // an entry without a time gets the time it arrived
        let secs = match drop.timestamp {
            Some(t) => t.seconds,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        };
        let (line, json) = crate::output::line(secs, drop.fields.into_iter().collect());
        {
            let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        if let Some(j) = &self.json {
            let mut j = j.lock().unwrap_or_else(|p| p.into_inner());
            j.write_all(json.as_bytes())?;
            j.write_all(b"\n")?;
            j.flush()?;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Droptailer for Printer {
    async fn push(&self, request: Request<Drop>) -> Result<Response<Void>, Status> {
        self.print(request.into_inner()).map_err(|e| {
            tracing::error!(error = %e, "cannot write the line");
            Status::unavailable(format!("cannot write the line: {e}"))
        })?;
        Ok(Response::new(Void {}))
    }
}
