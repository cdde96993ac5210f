//! From a kernel log message to the fields droptailer pushes.
//!
//! A message counts when it starts with one of the configured drop or accept prefixes
//! (`nftables-metal-dropped: `, …); the prefix is removed and the rest split into netfilter's
//! `KEY=value` tokens: the value is everything after the first `=` (empty for flags such as
//! `SYN`, `DF`, `ACK`), `MAC` is kept as it comes. `ACTION` is added: `drop` or `accept`.
//!
//! Two differences to metal-stack's parser, both fixes: a value keeps what follows a further
//! `=` (upstream drops it), and the embedded header netfilter prints for ICMP errors
//! (`[SRC=… DST=… PROTO=UDP …]`) goes to one field `INNER` instead of its keys overwriting the
//! outer packet's `DST`, `PROTO` and ports.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The log prefixes of drops and accepts, as metal-stack's client has them by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefixes {
    pub drops: Vec<String>,
    pub accepts: Vec<String>,
}

/// The default drop prefixes (`DROPTAILER_PREFIXES_OF_DROPS`).
pub const DEFAULT_DROPS: &str = "nftables-metal-dropped: ,nftables-firewall-dropped: ";
/// The default accept prefixes (`DROPTAILER_PREFIXES_OF_ACCEPTS`).
pub const DEFAULT_ACCEPTS: &str = "nftables-metal-accepted: ,nftables-firewall-accepted: ";

impl Default for Prefixes {
    fn default() -> Self {
        Self {
            drops: split_list(DEFAULT_DROPS),
            accepts: split_list(DEFAULT_ACCEPTS),
        }
    }
}

/// A comma-separated list as the environment variables hold it; spaces are part of the
/// prefixes (`nftables-metal-dropped: ` ends with one) and empty items are left out.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

impl Prefixes {
    /// The action of a message and the message without its prefix.
    fn classify<'a>(&self, message: &'a str) -> Option<(&'static str, &'a str)> {
        for p in &self.drops {
            if let Some(rest) = message.strip_prefix(p.as_str()) {
                return Some(("drop", rest));
            }
        }
        for p in &self.accepts {
            if let Some(rest) = message.strip_prefix(p.as_str()) {
                return Some(("accept", rest));
            }
        }
        None
    }

    /// Where the first prefix starts in a line (a log file line has a header before it).
    pub fn find(&self, line: &str) -> Option<usize> {
        self.drops
            .iter()
            .chain(&self.accepts)
            .filter_map(|p| line.find(p.as_str()))
            .min()
    }
}

/// The fields of a kernel log message, or `None` when it has none of the prefixes.
pub fn fields(message: &str, prefixes: &Prefixes) -> Option<BTreeMap<String, String>> {
    let (action, rest) = prefixes.classify(message)?;
    let mut fields = BTreeMap::new();
    let mut inner: Option<Vec<&str>> = None;
    for token in rest.split_whitespace() {
        if let Some(open) = inner.as_mut() {
            match token.strip_suffix(']') {
                Some(last) => {
                    if !last.is_empty() {
                        open.push(last);
                    }
                    let text = open.join(" ");
                    fields.insert("INNER".to_string(), text);
                    inner = None;
                }
                None => open.push(token),
            }
            continue;
        }
        if let Some(first) = token.strip_prefix('[') {
            // `[SRC=… ]`: the header of the packet an ICMP error is about
            match first.strip_suffix(']') {
                Some(only) => {
                    fields.insert("INNER".to_string(), only.to_string());
                }
                None => {
                    inner = Some(if first.is_empty() {
                        vec![]
                    } else {
                        vec![first]
                    })
                }
            }
            continue;
        }
        let (key, value) = token.split_once('=').unwrap_or((token, ""));
        if key.is_empty() {
            continue;
        }
        fields.insert(key.to_string(), value.to_string());
    }
    if let Some(open) = inner {
        fields.insert("INNER".to_string(), open.join(" "));
    }
    fields.insert("ACTION".to_string(), action.to_string());
    Some(fields)
}

/// A line of metal-stack's journal formatter, `<unix seconds>@<MESSAGE>`: its time and
/// message. Only the first `@` separates (upstream loses what follows a second one).
pub fn journal_line(line: &str) -> Option<(SystemTime, &str)> {
    let (secs, message) = line.split_once('@')?;
    let secs: u64 = secs.trim().parse().ok()?;
    Some((UNIX_EPOCH + Duration::from_secs(secs), message))
}

/// The time in the header of a log file line: RFC 3339 (`2026-12-07T11:08:12.123456+00:00 host
/// kernel: …`, rsyslog's precise format), the traditional syslog format (`Dec  7 11:08:12 host
/// kernel: …`, local time of the current year, or of the previous one when that would be more
/// than a day ahead) or metal-stack's `<unix seconds>@…`. `None` when it has none of them.
pub fn header_time(line: &str, now: chrono::DateTime<chrono::Local>) -> Option<SystemTime> {
    if let Some((t, _)) = journal_line(line) {
        return Some(t);
    }
    let first = line.split_whitespace().next()?;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(first) {
        return Some(t.into());
    }
    // "Mmm dd HH:MM:SS": 15 characters, the day padded with a space
    let head = line.get(..15)?;
    use chrono::{Datelike, TimeZone};
    let at = |year: i32| {
        chrono::NaiveDateTime::parse_from_str(&format!("{year} {head}"), "%Y %b %e %H:%M:%S")
            .ok()
            .and_then(|n| chrono::Local.from_local_datetime(&n).earliest())
    };
    let t = at(now.year())?;
    let t = if t > now + chrono::Duration::days(1) {
        at(now.year() - 1)?
    } else {
        t
    };
    Some(t.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Real lines as the kernel's nf_log prints them for nftables `log prefix` rules.
    #[test]
    fn netfilter_lines() {
        let p = Prefixes::default();
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                // TCP SYN dropped on the internet VRF, 14-byte Ethernet header as MAC
                "nftables-metal-dropped: IN=vrf104009 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=1.2.3.4 DST=4.3.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=238 ID=46474 PROTO=TCP SPT=59265 DPT=445 WINDOW=1024 RES=0x00 SYN URGP=0 ",
                &[
                    ("ACTION", "drop"), ("DPT", "445"), ("DST", "4.3.2.1"), ("ID", "46474"),
                    ("IN", "vrf104009"), ("LEN", "40"),
                    ("MAC", "52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00"), ("OUT", ""),
                    ("PREC", "0x00"), ("PROTO", "TCP"), ("RES", "0x00"), ("SPT", "59265"),
                    ("SRC", "1.2.3.4"), ("SYN", ""), ("TOS", "0x00"), ("TTL", "238"),
                    ("URGP", "0"), ("WINDOW", "1024"),
                ],
            ),
            (
                // UDP DNS accepted, DF flag, MAC of odd length (a VXLAN-decapsulated frame as
                // netfilter prints it when the header is not Ethernet's 14 bytes)
                "nftables-firewall-accepted: IN=vrf3981 OUT=vlan104009 MAC=02:42:ac:11:00:02:0a SRC=10.0.16.2 DST=8.8.8.8 LEN=73 TOS=0x00 PREC=0x00 TTL=62 ID=8263 DF PROTO=UDP SPT=35609 DPT=53 LEN=53",
                &[
                    ("ACTION", "accept"), ("DF", ""), ("DPT", "53"), ("DST", "8.8.8.8"),
                    ("ID", "8263"), ("IN", "vrf3981"), ("LEN", "53"),
                    ("MAC", "02:42:ac:11:00:02:0a"), ("OUT", "vlan104009"), ("PREC", "0x00"),
                    ("PROTO", "UDP"), ("SPT", "35609"), ("SRC", "10.0.16.2"), ("TOS", "0x00"),
                    ("TTL", "62"),
                ],
            ),
            (
                // ICMP echo request
                "nftables-firewall-dropped: IN=vrf3981 OUT=vlan104009 MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=10.0.16.2 DST=203.0.113.100 LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=4711 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1",
                &[
                    ("ACTION", "drop"), ("CODE", "0"), ("DF", ""), ("DST", "203.0.113.100"),
                    ("ID", "7"), ("IN", "vrf3981"), ("LEN", "84"),
                    ("MAC", "52:54:00:12:34:56:52:54:00:65:43:21:08:00"), ("OUT", "vlan104009"),
                    ("PREC", "0x00"), ("PROTO", "ICMP"), ("SEQ", "1"), ("SRC", "10.0.16.2"),
                    ("TOS", "0x00"), ("TTL", "63"), ("TYPE", "8"),
                ],
            ),
            (
                // IPv6 TCP with several flags
                "nftables-metal-dropped: IN=vlan104009 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0010 DST=2001:0db8:0000:0000:0000:0000:0000:0001 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=917317 PROTO=TCP SPT=41000 DPT=22 WINDOW=64800 RES=0x00 ACK PSH URGP=0",
                &[
                    ("ACK", ""), ("ACTION", "drop"), ("DPT", "22"),
                    ("DST", "2001:0db8:0000:0000:0000:0000:0000:0001"), ("FLOWLBL", "917317"),
                    ("HOPLIMIT", "64"), ("IN", "vlan104009"), ("LEN", "80"),
                    ("MAC", "52:54:00:aa:bb:cc:52:54:00:11:22:33:86:dd"), ("OUT", ""),
                    ("PROTO", "TCP"), ("PSH", ""), ("RES", "0x00"), ("SPT", "41000"),
                    ("SRC", "2001:0db8:0000:0000:0000:0000:0000:0010"), ("TC", "0"),
                    ("URGP", "0"), ("WINDOW", "64800"),
                ],
            ),
            (
                // ICMP port unreachable: the embedded header must not overwrite the outer one
                "nftables-metal-accepted: IN=vrf104009 OUT=vrf3981 SRC=203.0.113.100 DST=10.0.16.2 LEN=96 TOS=0x00 PREC=0xC0 TTL=62 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.0.16.2 DST=203.0.113.100 LEN=68 TOS=0x00 PREC=0x00 TTL=62 ID=2 PROTO=UDP SPT=5000 DPT=6000 LEN=48 ] ",
                &[
                    ("ACTION", "accept"), ("CODE", "3"), ("DST", "10.0.16.2"), ("ID", "1"),
                    ("IN", "vrf104009"),
                    ("INNER", "SRC=10.0.16.2 DST=203.0.113.100 LEN=68 TOS=0x00 PREC=0x00 TTL=62 ID=2 PROTO=UDP SPT=5000 DPT=6000 LEN=48"),
                    ("LEN", "96"), ("OUT", "vrf3981"), ("PREC", "0xC0"), ("PROTO", "ICMP"),
                    ("SRC", "203.0.113.100"), ("TOS", "0x00"), ("TTL", "62"), ("TYPE", "3"),
                ],
            ),
            (
                // a value with a further '=' keeps it
                "nftables-metal-dropped: IN=a OUT= X=a=b",
                &[("ACTION", "drop"), ("IN", "a"), ("OUT", ""), ("X", "a=b")],
            ),
        ];
        for (line, want) in cases {
            assert_eq!(fields(line, &p).as_ref(), Some(&map(want)), "{line}");
        }
    }

    #[test]
    fn other_messages_are_skipped() {
        let p = Prefixes::default();
        for line in [
            "",
            "eth0: link up",
            " nftables-metal-dropped: IN=x",
            "nftables-metal-dropped:IN=x",
            "audit: nftables-metal-dropped: IN=x",
        ] {
            assert_eq!(fields(line, &p), None, "{line:?}");
        }
    }

    #[test]
    fn configured_prefixes_decide() {
        let p = Prefixes {
            drops: split_list("fw-drop: "),
            accepts: split_list("fw-ok: ,"),
        };
        assert_eq!(p.accepts, vec!["fw-ok: "]);
        assert_eq!(fields("fw-drop: SRC=1", &p).unwrap()["ACTION"], "drop");
        assert_eq!(fields("fw-ok: SRC=1", &p).unwrap()["ACTION"], "accept");
        assert_eq!(fields("nftables-metal-dropped: SRC=1", &p), None);
        assert_eq!(p.find("Dec  7 host kernel: [1.2] fw-ok: SRC=1"), Some(26));
    }

    #[test]
    fn journal_lines_split_at_the_first_at() {
        let (t, m) = journal_line("1655809692@nftables-metal-dropped: X=a@b").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1655809692));
        assert_eq!(m, "nftables-metal-dropped: X=a@b");
        assert_eq!(journal_line("no time"), None);
        assert_eq!(journal_line("12a@x"), None);
    }

    #[test]
    fn header_times() {
        use chrono::TimeZone;
        let now = chrono::Local
            .with_ymd_and_hms(2026, 12, 7, 12, 0, 0)
            .unwrap();
        let rfc = header_time("2026-12-07T11:08:12.5+00:00 fw kernel: x", now).unwrap();
        assert_eq!(
            rfc.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_millis(1_796_641_692_500)
        );
        let trad = header_time("Dec  7 11:08:12 fw kernel: [ 12.3] x", now).unwrap();
        let want: SystemTime = chrono::Local
            .with_ymd_and_hms(2026, 12, 7, 11, 8, 12)
            .unwrap()
            .into();
        assert_eq!(trad, want);
        // a December line read on the 1st of January is of the previous year
        let jan = chrono::Local
            .with_ymd_and_hms(2027, 1, 1, 0, 10, 0)
            .unwrap();
        let last_year = header_time("Dec 31 23:59:59 fw kernel: x", jan).unwrap();
        let want: SystemTime = chrono::Local
            .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
            .unwrap()
            .into();
        assert_eq!(last_year, want);
        assert_eq!(
            header_time("42@x", now),
            Some(UNIX_EPOCH + Duration::from_secs(42))
        );
        assert_eq!(header_time("kernel: x", now), None);
    }
}
