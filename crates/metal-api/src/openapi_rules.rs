//! What the server checks beyond the Rust types, declared in the document: the request fields
//! it answers 400 for when empty, out of range, not one of a set, not an address or a prefix,
//! and the path and query parameters it parses. Without these a client (or schemathesis) that
//! follows the document sends requests the server refuses for reasons the document hides.
//!
//! The rules name component schemas and their properties (and parameters by path and name);
//! a test fails when one names nothing. What a schema cannot say (one field depending on
//! another, a key blob that must decode, state) stays in the validation code only; the
//! schemathesis gate lists those messages (`.ci/schemathesis_verdict.py`).

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AdditionalProperties, Array, ArrayItems, Object, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::Number;

/// An IPv4 address as Rust parses it (no leading zeros).
macro_rules! ipv4 {
    () => {
        r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
    };
}
/// An IPv6 address (the forms of RFC 4291 section 2.2, without a zone).
macro_rules! ipv6 {
    () => {
        concat!(
            r"(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
            r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}",
            r"|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}",
            r"|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}",
            r"|:((:[0-9a-fA-F]{1,4}){1,7}|:)|::(ffff(:0{1,4})?:)?",
            ipv4!(),
            r"|([0-9a-fA-F]{1,4}:){1,4}:",
            ipv4!(),
            ")"
        )
    };
}

/// An IPv4 or IPv6 address (`metal_domain::prefix::parse_ip`).
pub const IP: &str = concat!("^(", ipv4!(), "|", ipv6!(), ")$");
/// Empty, or an IPv4 or IPv6 address.
pub const IP_OR_EMPTY: &str = concat!("^(|", ipv4!(), "|", ipv6!(), ")$");
/// A prefix in CIDR notation (`metal_domain::prefix::parse_cidr`; that its host bits are zero
/// is not said here).
pub const CIDR: &str = concat!(
    "^(",
    ipv4!(),
    "/(3[0-2]|[12]?[0-9])|",
    ipv6!(),
    "/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$"
);
/// An entity id (`metal_domain::misc::validate_id`), with min and max length 1 and 128.
pub const ID: &str = r"^[^\s\x00-\x1f\x7f-\x9f/?#%]*$";
/// Not only whitespace: the server trims before it checks for empty. Rust's whitespace is
/// Unicode's, which has U+0085 (NEL); ECMA-262's `\s` (the pattern dialect) does not.
pub const NOT_BLANK: &str = r"[^\s\x85]";
/// No whitespace at all (Rust's, so U+0085 too).
pub const NO_SPACE: &str = r"^[^\s\x85]+$";
/// An image id: os, `-`, a version of up to three numbers (`metal_domain::image::parse_image_id`).
pub const IMAGE_ID: &str =
    r"^[^\s/?#%]+-v?[0-9]{1,19}(\.[0-9]{1,19}){0,2}(\+[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$";
/// One segment of a firmware key: a name without `/`, `\` or control characters, not only dots
/// (`metal_domain::firmware::FirmwareKey::new`; at most 255 bytes, so 63 characters here).
pub const SEGMENT: &str =
    r"^[^/\\\x00-\x1f\x7f-\x9f]*[^./\\\x00-\x1f\x7f-\x9f][^/\\\x00-\x1f\x7f-\x9f]*$";

/// A constraint on a value the server enforces (400 otherwise).
#[derive(Clone, Copy)]
pub enum Check {
    /// Only that the field is required.
    Present,
    /// At least one character.
    NonEmpty,
    /// A character other than whitespace.
    NotBlank,
    /// An entity id.
    Id,
    /// Matches the pattern.
    Pattern(&'static str),
    /// Matches the pattern, at most this many characters.
    PatternMax(&'static str, usize),
    /// One of these strings.
    OneOf(fn() -> Vec<&'static str>),
    /// An integer at least this.
    Min(i64),
    /// An integer in this range.
    Range(i64, i64),
    /// An array with at least this many items, each satisfying the check.
    Items(usize, &'static Check),
    /// An array of distinct items, at least this many, each satisfying the check.
    UniqueItems(usize, &'static Check),
    /// A map whose keys satisfy the check.
    Keys(&'static Check),
    /// A map from address family (`IPv4`, `IPv6`) to a prefix length of that family
    /// (`metal_domain::network::parse_lengths`).
    FamilyLengths,
}

const ANY: Check = Check::Present;
const NON_EMPTY_ITEM: Check = Check::NonEmpty;
const IP_ITEM: Check = Check::Pattern(IP);
const CIDR_ITEM: Check = Check::Pattern(CIDR);
const NOT_BLANK_ITEM: Check = Check::NotBlank;
const ID_KEY: Check = Check::Id;
/// An os of an image constraint: not empty and not `*` (`metal_domain::sic`).
const OS_KEY: Check = Check::Pattern(r"^([^*]|\*.)");
const SIZE_ITEM: Check = Check::Pattern(r"^[^*]+$");
/// Empty or an http(s) URL (`metal_domain::partition`; the server takes any text after the
/// scheme, the document asks for no brackets: a literal IPv6 host is not declared).
const URL: Check = Check::Pattern(r"^(https?://[^\[\]]*)?$");
const FEATURE_ITEM: Check = Check::OneOf(|| vec!["machine", "firewall"]);
const ISSUE_ITEM: Check = Check::OneOf(|| {
    metal_domain::issues::IssueType::ALL
        .map(|t| t.id())
        .to_vec()
});

fn families() -> Vec<&'static str> {
    vec!["IPv4", "IPv6"]
}
fn classifications() -> Vec<&'static str> {
    vec!["preview", "supported", "deprecated"]
}
fn ip_types() -> Vec<&'static str> {
    vec!["", "static", "ephemeral"]
}

use Check::*;

/// (schema, property, required, check). `required` marks the property required in the schema;
/// the check applies to the value when it is given.
#[rustfmt::skip]
pub const FIELDS: &[(&str, &str, bool, Check)] = &[
    // catalog
    ("ImageCreateRequest", "id", true, Pattern(IMAGE_ID)),
    ("ImageCreateRequest", "url", true, NonEmpty),
    ("ImageCreateRequest", "features", false, Items(0, &FEATURE_ITEM)),
    ("ImageCreateRequest", "classification", false, OneOf(classifications)),
    ("ImageUpdateRequest", "id", true, NonEmpty),
    ("ImageUpdateRequest", "url", false, NonEmpty),
    ("ImageUpdateRequest", "features", false, Items(0, &FEATURE_ITEM)),
    ("ImageUpdateRequest", "classification", false, OneOf(classifications)),
    ("SizeCreateRequest", "id", true, NonEmpty),
    ("SizeUpdateRequest", "id", true, NonEmpty),
    ("SizeImageConstraintCreateRequest", "id", true, NonEmpty),
    ("SizeImageConstraintUpdateRequest", "id", true, NonEmpty),
    ("SizeImageConstraintTryRequest", "size", true, NonEmpty),
    ("SizeImageConstraintTryRequest", "image", true, Pattern(IMAGE_ID)),
    ("SizeSuggestRequest", "machineID", true, NonEmpty),
    ("FilesystemLayoutCreateRequest", "id", true, NonEmpty),
    ("FilesystemLayoutUpdateRequest", "id", true, NonEmpty),
    ("FilesystemLayoutTryRequest", "size", true, NonEmpty),
    ("FilesystemLayoutTryRequest", "image", true, Pattern(IMAGE_ID)),
    ("FilesystemLayoutMatchRequest", "machine", true, NonEmpty),
    ("FilesystemLayoutMatchRequest", "filesystemlayout", true, NonEmpty),
    ("SizeImageConstraintBase", "images", false, Keys(&OS_KEY)),
    ("FilesystemLayoutConstraints", "images", false, Keys(&OS_KEY)),
    ("FilesystemLayoutConstraints", "sizes", false, UniqueItems(0, &SIZE_ITEM)),
    ("PartitionCreateRequest", "id", true, Id),
    ("PartitionCreateRequest", "privatenetworkprefixlength", false, Range(16, 30)),
    ("PartitionUpdateRequest", "id", true, NonEmpty),
    ("PartitionUpdateRequest", "privatenetworkprefixlength", false, Range(16, 30)),
    ("BootConfiguration", "imageurl", false, URL),
    ("BootConfiguration", "kernelurl", false, URL),
    ("DnsServer", "ip", true, Pattern(IP)),
    ("NtpServer", "address", true, Pattern(NO_SPACE)),
    // tenants and projects (the create and update bodies are the entities themselves)
    ("Tenant", "meta", true, ANY),
    ("Project", "meta", true, ANY),
    ("Project", "tenant_id", true, NotBlank),
    ("Meta", "id", true, Id),
    ("Quota", "quota", false, Min(0)),
    // networks and IPs
    ("NetworkCreateRequest", "prefixes", true, Items(1, &CIDR_ITEM)),
    ("NetworkCreateRequest", "destinationprefixes", false, Items(0, &CIDR_ITEM)),
    ("NetworkCreateRequest", "additionalAnnouncableCIDRs", false, Items(0, &CIDR_ITEM)),
    ("NetworkCreateRequest", "defaultchildprefixlength", false, FamilyLengths),
    ("NetworkUpdateRequest", "id", true, NonEmpty),
    ("NetworkUpdateRequest", "prefixes", false, Items(0, &CIDR_ITEM)),
    ("NetworkUpdateRequest", "destinationprefixes", false, Items(0, &CIDR_ITEM)),
    ("NetworkUpdateRequest", "additionalAnnouncableCIDRs", false, Items(0, &CIDR_ITEM)),
    ("NetworkUpdateRequest", "defaultchildprefixlength", false, FamilyLengths),
    ("NetworkFindRequest", "prefixes", false, Items(0, &CIDR_ITEM)),
    ("NetworkFindRequest", "destinationprefixes", false, Items(0, &CIDR_ITEM)),
    ("NetworkFindRequest", "addressfamily", false, OneOf(families)),
    ("NetworkAllocateRequest", "projectid", true, NonEmpty),
    ("NetworkAllocateRequest", "partitionid", true, NonEmpty),
    ("NetworkAllocateRequest", "addressfamily", false, OneOf(families)),
    ("NetworkAllocateRequest", "destinationprefixes", false, Items(0, &CIDR_ITEM)),
    ("NetworkAllocateRequest", "length", false, FamilyLengths),
    ("IpAllocateRequest", "networkid", true, NonEmpty),
    ("IpAllocateRequest", "projectid", true, NonEmpty),
    ("IpAllocateRequest", "type", false, OneOf(ip_types)),
    ("IpAllocateRequest", "addressfamily", false, OneOf(families)),
    ("IpAllocateRequest", "tags", false, Items(0, &NOT_BLANK_ITEM)),
    ("IpUpdateRequest", "ipaddress", true, Pattern(IP)),
    ("IpUpdateRequest", "type", false, OneOf(ip_types)),
    ("IpUpdateRequest", "tags", false, Items(0, &NOT_BLANK_ITEM)),
    ("IpFindRequest", "ipaddress", false, Pattern(IP)),
    ("IpFindRequest", "type", false, OneOf(ip_types)),
    ("IpFindRequest", "addressfamily", false, OneOf(families)),
    ("IpFindRequest", "networkprefix", false, CIDR_ITEM),
    // machines
    ("MachineAllocateRequest", "imageid", true, Pattern(IMAGE_ID)),
    ("MachineAllocateRequest", "projectid", true, NonEmpty),
    ("MachineAllocateRequest", "networks", true, Items(1, &ANY)),
    ("MachineAllocateRequest", "ips", false, Items(0, &IP_ITEM)),
    ("MachineStateRequest", "value", true, OneOf(|| vec!["", "RESERVED", "LOCKED"])),
    ("MachineIpmiReports", "partitionid", true, NonEmpty),
    ("MachineIpmiReports", "reports", false, Keys(&ID_KEY)),
    ("MachineIpmiReport", "BMCIp", false, Pattern(IP_OR_EMPTY)),
    ("MachineIssuesRequest", "only", false, Items(0, &ISSUE_ITEM)),
    ("MachineIssuesRequest", "omit", false, Items(0, &ISSUE_ITEM)),
    ("MachineIssuesRequest", "severity", false, OneOf(|| vec!["", "minor", "major", "critical"])),
    ("MachineIssuesRequest", "last_error_threshold", false, Min(0)),
    // size reservations
    ("SizeReservationCreateRequest", "id", true, Id),
    ("SizeReservationCreateRequest", "sizeid", true, NonEmpty),
    ("SizeReservationCreateRequest", "projectid", true, NonEmpty),
    ("SizeReservationCreateRequest", "partitionids", true, UniqueItems(1, &NON_EMPTY_ITEM)),
    ("SizeReservationCreateRequest", "amount", true, Min(1)),
    ("SizeReservationUpdateRequest", "id", true, NonEmpty),
    ("SizeReservationUpdateRequest", "partitionids", false, UniqueItems(1, &NON_EMPTY_ITEM)),
    ("SizeReservationUpdateRequest", "amount", false, Min(1)),
    // switches
    ("SwitchRegisterRequest", "id", true, Id),
    ("SwitchRegisterRequest", "partition_id", true, NotBlank),
    ("SwitchRegisterRequest", "rack_id", true, NotBlank),
    ("SwitchOs", "vendor", true, OneOf(|| metal_domain::switch::register::OS_VENDORS.to_vec())),
    ("SwitchNic", "name", true, NotBlank),
    ("SwitchUpdateRequest", "id", true, NonEmpty),
    ("SwitchMigrateRequest", "old_switch_id", true, NotBlank),
    ("SwitchMigrateRequest", "new_switch_id", true, NotBlank),
    ("SwitchNotifyRequest", "sync_duration", false, Min(0)),
    ("SwitchPortToggleRequest", "nic", true, NotBlank),
    ("SwitchPortToggleRequest", "status", true, OneOf(|| vec!["UP", "DOWN", "up", "down"])),
    // firmware: an enum, as the reference has it (a pattern `^(bios|bmc)$` lets clients send
    // "bios\n", which Python's `$` matches)
    ("MachineUpdateFirmwareRequest", "kind", true, OneOf(|| vec!["bios", "bmc"])),
    ("MachineUpdateFirmwareRequest", "revision", true, PatternMax(SEGMENT, 63)),
    // vpn
    ("VpnRequest", "pid", true, NotBlank),
    ("VpnRequest", "expiration", false, Min(1)),
];

/// (path, parameter, check) for path and query parameters.
#[rustfmt::skip]
pub const PARAMS: &[(&str, &str, Check)] = &[
    ("/v1/image/{id}/latest", "id", Pattern(IMAGE_ID)),
    ("/v1/image/{id}/query", "id", Pattern(IMAGE_ID)),
    ("/v1/ip/allocate/{ip}", "ip", Pattern(IP)),
    ("/v1/ip/free/{id}", "id", Pattern(IP)),
    ("/v1/firmware", "kind", OneOf(|| vec!["bios", "bmc"])),
    ("/v1/firmware/{kind}/{vendor}/{board}/{revision}", "kind", OneOf(|| vec!["bios", "bmc"])),
    ("/v1/firmware/{kind}/{vendor}/{board}/{revision}", "vendor", PatternMax(SEGMENT, 63)),
    ("/v1/firmware/{kind}/{vendor}/{board}/{revision}", "board", PatternMax(SEGMENT, 63)),
    ("/v1/firmware/{kind}/{vendor}/{board}/{revision}", "revision", PatternMax(SEGMENT, 63)),
];

/// Applies `check` to a value's schema; false when the schema has no place for it.
fn constrain(schema: &mut RefOr<Schema>, check: &Check) -> bool {
    match (check, schema) {
        (Present, _) => true,
        (Items(min, item) | UniqueItems(min, item), RefOr::T(Schema::Array(a))) => {
            constrain_array(a, *min, matches!(check, UniqueItems(..)), item)
        }
        (FamilyLengths, RefOr::T(Schema::Object(o))) => {
            let length = |max: isize| {
                let mut l = Object::with_type(Type::Integer);
                l.minimum = Some(Number::Int(1));
                l.maximum = Some(Number::Int(max));
                RefOr::T(Schema::Object(l))
            };
            o.properties.insert("IPv4".into(), length(32));
            o.properties.insert("IPv6".into(), length(128));
            o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            true
        }
        (Keys(key), RefOr::T(Schema::Object(o))) => {
            let mut names = RefOr::T(Schema::Object(Object::with_type(Type::String)));
            let done = constrain(&mut names, key);
            if let RefOr::T(names) = names {
                o.property_names = Some(Box::new(names));
            }
            done
        }
        (_, RefOr::T(Schema::Object(o))) => constrain_value(o, check),
        _ => false,
    }
}

fn constrain_array(a: &mut Array, min: usize, unique: bool, item: &Check) -> bool {
    if min > 0 {
        a.min_items = Some(min);
    }
    if unique {
        a.unique_items = true;
    }
    match &mut a.items {
        ArrayItems::RefOrSchema(items) => constrain(items, item),
        _ => false,
    }
}

fn constrain_value(o: &mut Object, check: &Check) -> bool {
    match *check {
        NonEmpty => o.min_length = Some(1),
        NotBlank => o.pattern = Some(NOT_BLANK.into()),
        Id => {
            o.min_length = Some(1);
            o.max_length = Some(128);
            o.pattern = Some(ID.into());
        }
        Pattern(p) => o.pattern = Some(p.into()),
        PatternMax(p, max) => {
            o.pattern = Some(p.into());
            o.max_length = Some(max);
        }
        OneOf(values) => o.enum_values = Some(values().into_iter().map(Into::into).collect()),
        Min(min) => o.minimum = Some(Number::Int(min as isize)),
        Range(min, max) => {
            o.minimum = Some(Number::Int(min as isize));
            o.maximum = Some(Number::Int(max as isize));
        }
        Present | Items(..) | UniqueItems(..) | Keys(..) | FamilyLengths => return false,
    }
    true
}

/// The object of a component schema that holds `property`: the schema itself, or the part of
/// an `allOf` (a flattened struct) that declares it.
fn holder<'a>(schema: &'a mut Schema, property: &str) -> Option<&'a mut Object> {
    match schema {
        Schema::Object(o) if o.properties.contains_key(property) => Some(o),
        Schema::AllOf(all) => all.items.iter_mut().find_map(|item| match item {
            RefOr::T(s) => holder(s, property),
            RefOr::Ref(_) => None,
        }),
        _ => None,
    }
}

fn operations<'a>(doc: &'a mut OpenApi, path: &str) -> Vec<&'a mut Operation> {
    match doc.paths.paths.get_mut(path) {
        Some(item) => crate::openapi_bounds::item_operations(item).collect(),
        None => vec![],
    }
}

/// Applies every rule; answers the rules that found no place (empty for the document the
/// route table builds).
pub fn apply(doc: &mut OpenApi) -> Vec<String> {
    let mut missed = Vec::new();
    for (schema, property, required, check) in FIELDS {
        let object = doc
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut(*schema))
            .and_then(|s| match s {
                RefOr::T(s) => holder(s, property),
                RefOr::Ref(_) => None,
            });
        let Some(object) = object else {
            missed.push(format!("{schema}.{property}"));
            continue;
        };
        if *required && !object.required.iter().any(|r| r == property) {
            object.required.push(property.to_string());
        }
        let value = object.properties.get_mut(*property);
        if !value.is_some_and(|v| constrain(v, check)) {
            missed.push(format!("{schema}.{property}: no place for the check"));
        }
    }
    for (path, name, check) in PARAMS {
        let mut found = false;
        for op in operations(doc, path) {
            for p in op.parameters.iter_mut().flatten() {
                if p.name == *name {
                    found |= p.schema.as_mut().is_some_and(|s| constrain(s, check));
                }
            }
        }
        if !found {
            missed.push(format!("{path} {name}"));
        }
    }
    missed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(p: &str) -> regex::Regex {
        regex::Regex::new(p).unwrap()
    }

    #[test]
    fn every_rule_names_a_field_or_parameter() {
        let (_, paths, schemas) = crate::rest::routes().finish();
        let mut doc = crate::openapi::document(paths, schemas, "/");
        // the document has them applied once; a second pass finds them all again
        assert_eq!(apply(&mut doc), Vec::<String>::new());
    }

    #[test]
    fn addresses_and_prefixes_match_what_the_server_parses() {
        let ip = regex(IP);
        for good in [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "2001:db8::",
            "1:2:3:4:5:6:7:8",
            "::ffff:10.0.0.1",
            "1:2::10.0.0.1",
        ] {
            assert!(ip.is_match(good), "{good}");
            assert!(metal_domain::prefix::parse_ip("ip", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1.2.3",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.4.5",
            ":::",
            "1:2:3:4:5:6:7:8:9",
            "fe80::1%eth0",
            "g::1",
        ] {
            assert!(!ip.is_match(bad), "{bad}");
        }
        let cidr = regex(CIDR);
        for good in [
            "10.0.0.0/8",
            "0.0.0.0/0",
            "10.0.0.0/32",
            "::/0",
            "2001:db8::/32",
            "fd00::/128",
        ] {
            assert!(cidr.is_match(good), "{good}");
            assert!(
                metal_domain::prefix::parse_cidr("p", good).is_ok(),
                "{good}"
            );
        }
        for bad in ["10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/08", "x/8"] {
            assert!(!cidr.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn whitespace_is_rusts() {
        // ECMA-262's \s lacks U+0085, which Rust trims: the patterns name it (schemathesis
        // sent "\u{85}…" as an ntp server)
        for p in [NOT_BLANK, NO_SPACE] {
            assert!(p.contains(r"\x85"), "{p}");
            assert!(!regex(p).is_match("\u{85}"), "{p}");
        }
        assert!(regex(NOT_BLANK).is_match(" a "));
        assert!(regex(NO_SPACE).is_match("ntp.example.com"));
        assert!(!regex(NO_SPACE).is_match("a b"));
    }

    #[test]
    fn ids_match_the_id_rule() {
        let id = regex(ID);
        for good in ["fra-equ01", "00000000-0000-0000-0000-000000000001", "ü"] {
            assert!(id.is_match(good), "{good}");
            assert!(metal_domain::misc::validate_id("x", good).is_ok(), "{good}");
        }
        for bad in [
            "a b",
            "a/b",
            "a?b",
            "a#b",
            "a%b",
            "a\tb",
            "a\u{85}b",
            "a\u{a0}b",
            "a\u{2028}b",
        ] {
            assert!(!id.is_match(bad), "{bad:?}");
            assert!(
                metal_domain::misc::validate_id("x", bad).is_err(),
                "{bad:?}"
            );
        }
        let image = regex(IMAGE_ID);
        for good in [
            "debian-12.0.20241207",
            "firewall-debian-3.0",
            "ubuntu-v20.04",
            "a-1+b.2",
        ] {
            assert!(image.is_match(good), "{good}");
            assert!(metal_domain::image::parse_image_id(good).is_ok(), "{good}");
        }
        for bad in [
            "debian",
            "-12",
            "debian-x",
            "debian-1.2.3.4",
            "debian-1-rc1",
        ] {
            assert!(!image.is_match(bad), "{bad}");
        }
    }
}
