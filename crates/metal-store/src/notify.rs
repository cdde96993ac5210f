//! Wake-ups across replicas, both halves: [`notify`] inside a transaction (PostgreSQL delivers
//! it to every listening replica when the transaction commits) and [`Listener`], which receives
//! them on a connection of its own and reconnects after errors.
//!
//! SQLite is one process: there is no other replica to wake, so [`notify`] does nothing and
//! [`Store::listener`] has nothing to listen to. The replica that made a change wakes its own
//! streams after its commit on both backends (its in-process registries of open streams); doing
//! it from here would wake them before the commit, when they would read the old state.

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::error::StoreResult;
use crate::{Backend, Conn, Store};

/// What a wake-up is about; the payload says whom it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A machine was allocated (payload: the machine id): its Wait stream answers.
    Allocation,
    /// A BMC command was queued or acknowledged (payload: the partition id): the partition's
    /// command streams look at the queue.
    BmcCommands,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 2] = [Channel::Allocation, Channel::BmcCommands];

    /// The PostgreSQL channel name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Allocation => "metal_allocation",
            Self::BmcCommands => "metal_bmc_commands",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A received wake-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: Channel,
    pub payload: String,
}

/// Sends `NOTIFY channel, payload` inside the transaction of `conn`: PostgreSQL delivers it to
/// every listening replica when the transaction commits. A no-op on SQLite (one process).
pub async fn notify(
    conn: &mut Conn,
    backend: Backend,
    channel: Channel,
    payload: &str,
) -> StoreResult<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel.name())
            .bind(payload)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Receives the wake-ups of other replicas (PostgreSQL `LISTEN` on every [`Channel`]).
pub struct Listener {
    url: String,
    conn: Option<PgListener>,
}

/// The pause before connecting again after a failed or lost listener connection.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

impl Store {
    /// A listener for the wake-ups of other replicas; `None` on SQLite, which has none.
    pub fn listener(&self) -> Option<Listener> {
        (self.backend == Backend::Postgres).then(|| Listener {
            url: self.url.clone(),
            conn: None,
        })
    }
}

impl Listener {
    /// The next wake-up. Connection errors are logged and retried (every 2 s), so this only
    /// returns with a notification; wake-ups sent while the connection was down are lost (the
    /// streams also look again on their own schedule).
    pub async fn recv(&mut self) -> Notification {
        loop {
            let conn = match &mut self.conn {
                Some(c) => c,
                None => match self.connect().await {
                    Ok(c) => self.conn.insert(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for allocations failed, retrying");
                        tokio::time::sleep(RECONNECT_AFTER).await;
                        continue;
                    }
                },
            };
            match conn.recv().await {
                Ok(n) => {
                    if let Some(channel) = Channel::from_name(n.channel()) {
                        return Notification {
                            channel,
                            payload: n.payload().to_string(),
                        };
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "allocation listener lost its connection");
                    self.conn = None;
                }
            }
        }
    }

    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        let mut l = PgListener::connect(&self.url).await?;
        l.listen_all(Channel::ALL.map(Channel::name)).await?;
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::from_name(c.name()), Some(c));
        }
        assert_eq!(Channel::from_name("other"), None);
    }
}
