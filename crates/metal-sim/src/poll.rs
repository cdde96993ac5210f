//! Waiting for a condition with a deadline, the way tests (and the harness, while a daemon or
//! a VM comes up) wait instead of sleeping: call `f` every interval until it is done, and fail
//! naming what was awaited, the deadline and the last state seen when the deadline passes.
//!
//! `f` returns a [`Poll`]: `bool` (done or not yet), `Option<T>` (done with a value) or
//! `Result<T, E>` (done with a value, or not yet, with the error shown on timeout);
//! [`equals`] makes one that compares.
//!
//! ```no_run
//! # async fn demo(ready: impl Fn() -> bool) {
//! use std::time::Duration;
//! metal_sim::until("the BMC to power on", Duration::from_secs(10), async || ready()).await;
//! # }
//! ```
//!
//! [`until`] polls every [`INTERVAL`] and panics at the deadline (for tests);
//! [`until_every`] takes the interval; [`try_until`] returns [`TimedOut`] instead of panicking
//! (for the harness and the lab); [`until_blocking`] and [`try_until_blocking`] poll a
//! synchronous `f` on the current thread.
//!
//! In a task given to `tokio::spawn`, let `f` own what it captures
//! (`move || std::future::ready(n.load(SeqCst) > 0)`): a closure that borrows makes the task's
//! future not `Send` ("implementation of `Send` is not general enough", a compiler limitation).

use std::fmt;
use std::time::{Duration, Instant};

/// How often [`until`] polls.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// The outcome of one poll: done with a value, or not yet (with what was seen, if anything).
pub trait Poll {
    type Output;
    fn ready(self) -> Result<Self::Output, Option<String>>;
}

impl Poll for bool {
    type Output = ();
    fn ready(self) -> Result<(), Option<String>> {
        if self {
            Ok(())
        } else {
            Err(None)
        }
    }
}

impl<T> Poll for Option<T> {
    type Output = T;
    fn ready(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: fmt::Display> Poll for Result<T, E> {
    type Output = T;
    fn ready(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(e.to_string()))
    }
}

/// The deadline passed before the condition held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TimedOut {
    /// What was awaited.
    pub what: String,
    pub deadline: Duration,
    /// The last state `f` reported, if it said one.
    pub last: Option<String>,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {}",
            self.deadline, self.what
        )?;
        match &self.last {
            Some(last) => write!(f, ": {last}"),
            None => Ok(()),
        }
    }
}

/// Polls `f` every [`INTERVAL`] until it is done and returns its value; panics after
/// `deadline`.
pub async fn until<P: Poll>(
    what: &str,
    deadline: Duration,
    f: impl AsyncFnMut() -> P,
) -> P::Output {
    until_every(what, deadline, INTERVAL, f).await
}

/// [`until`] polling every `interval`.
pub async fn until_every<P: Poll>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    f: impl AsyncFnMut() -> P,
) -> P::Output {
    try_until(what, deadline, interval, f)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `f` every `interval` until it is done and returns its value, or [`TimedOut`] when it
/// is still not done after `deadline`. `f` runs at least once.
pub async fn try_until<P: Poll>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    mut f: impl AsyncFnMut() -> P,
) -> Result<P::Output, TimedOut> {
    // owned: a borrowed `what` held across the awaits makes the future not `Send` for
    // `tokio::spawn` ("implementation of `Send` is not general enough")
    let what = what.to_string();
    let end = Instant::now() + deadline;
    loop {
        match f().await.ready() {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() >= end => return Err(timed_out(&what, deadline, last)),
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}

/// [`until_every`] for a synchronous `f`, sleeping the current thread between polls.
pub fn until_blocking<P: Poll>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    f: impl FnMut() -> P,
) -> P::Output {
    try_until_blocking(what, deadline, interval, f).unwrap_or_else(|e| panic!("{e}"))
}

/// [`try_until`] for a synchronous `f`, sleeping the current thread between polls.
pub fn try_until_blocking<P: Poll>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    mut f: impl FnMut() -> P,
) -> Result<P::Output, TimedOut> {
    let end = Instant::now() + deadline;
    loop {
        match f().ready() {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() >= end => return Err(timed_out(what, deadline, last)),
            Err(_) => std::thread::sleep(interval),
        }
    }
}

/// A poll that is done when `got == expected`, and shows both while it is not:
/// `until("2 machines", d, async || equals(count().await, 2))`.
pub fn equals<T: PartialEq + fmt::Debug>(got: T, expected: T) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("{got:?}, expected {expected:?}"))
    }
}

fn timed_out(what: &str, deadline: Duration, last: Option<String>) -> TimedOut {
    TimedOut {
        what: what.to_string(),
        deadline,
        last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn returns_the_value_once_done() {
        let mut n = 0;
        let v = until("n to reach 3", Duration::from_secs(5), async || {
            n += 1;
            (n >= 3).then_some(n * 10)
        })
        .await;
        assert_eq!(v, 30);
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn times_out_naming_what_and_the_last_state() {
        let mut n = 0;
        let e = try_until("the answer", 20 * MS, MS, async || {
            n += 1;
            Err::<(), _>(format!("got {n}"))
        })
        .await
        .unwrap_err();
        assert_eq!(e.what, "the answer");
        assert_eq!(e.last, Some(format!("got {n}")));
        assert!(n >= 2, "polled {n} times");
        assert_eq!(
            e.to_string(),
            format!("timed out after 20ms waiting for the answer: got {n}")
        );
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 5ms waiting for nothing")]
    async fn until_panics_at_the_deadline() {
        until_every("nothing", 5 * MS, MS, async || false).await;
    }

    #[test]
    fn blocking_polls_on_the_thread() {
        let start = Instant::now();
        until_blocking("10 ms to pass", Duration::from_secs(5), MS, || {
            start.elapsed() >= 10 * MS
        });
        let e = try_until_blocking("never", 5 * MS, MS, || None::<()>).unwrap_err();
        assert_eq!(e.to_string(), "timed out after 5ms waiting for never");
    }

    #[test]
    fn equals_shows_both_values() {
        assert_eq!(equals(2, 2), Ok(()));
        assert_eq!(equals(1, 2), Err("1, expected 2".to_string()));
    }
}
