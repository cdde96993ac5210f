"""The verdict of `.ci/schemathesis`: reads the NDJSON event streams of the two runs
(`reference.ndjson`, `ours.ndjson` in OUT_DIR), prints per run a table of the checks (cases
checked, passed, failed, gating) and every distinct failure (check, operation, status, the
server's message), marks the gating ones with `*` and exits 1 when there is one, or when a run
did not finish. The rules are explained in the header of `.ci/schemathesis` and in
docs/benchmarks.md ("schemathesis").

Usage: python3 schemathesis_verdict.py OUT_DIR [RUN...]   (runs: reference ours)
"""

import base64
import collections
import json
import os
import re
import sys

# Checks whose every failure fails the script, in both runs.
ALWAYS = {"not_a_server_error", "response_schema_conformance", "content_type_conformance"}
# Operations the reference puts under its global security requirement that metal-stack's
# metal-api serves to guests as well, as we do: a 2xx without credentials is expected there.
PUBLIC_IN_GO = {"GET /v1/health", "GET /v1/version"}

# 400 answers to requests our document allows, for rules a JSON schema cannot state: (operation
# regex, message regex, why). Everything else the server refuses as malformed is declared in
# the document (crates/metal-api/src/openapi_rules.rs, openapi_bounds.rs), and a 400 to a
# request it allows fails the run.
NOT_EXPRESSIBLE = [
    # one field depending on another
    (r".", r"has max .* lower than min|given more than once|requires an identifier",
     "cross-field: size constraints (max >= min, one per type, gpu needs an identifier)"),
    (r"/v1/network", r"can only be set for a private super network|is not allowed on a private"
     r" super network|cannot be both|needs a partition|must be longer than the prefix"
     r"|is not a prefix length of",
     "cross-field: network kinds and their prefixes"),
    (r"/v1/switch/migrate", r"must differ", "cross-field: old and new switch"),
    (r"/v1/switch/register", r"identifier or mac should be given|is given twice|twice",
     "cross-field: nics need an identifier or a mac, unique"),
    (r"/v1/(machine|firewall)/allocate", r"without autoacquire|needs an ip or a network"
     r"|are required when no uuid is given",
     "cross-field: an ip for every network without autoacquire; partition and size or a uuid"),
    (r"/v1/machine/\{id\}/state", r"a description is required",
     "cross-field: a state other than available needs a description"),
    (r"/v1/filesystemlayout",
     r"^(?!.*(should not be empty|is required|JSON object|request body))",
     "a layout's devices, raids, volume groups and filesystems must refer to each other"),
    # JSON Schema's "integer" admits a number written with a fraction or an exponent when its
    # value is whole (35880.0, 1e3); metal-api (Go) refuses those for its integer fields, as we
    # do, and no schema keyword can say "digits only"
    (r".", r"invalid type: floating point (`[^`]*`|…), expected [ui](\d+|…)",
     "an integer field takes digits only (35880.0 is refused, as by metal-api (Go))"),
    # values whose validity a pattern cannot decide
    (r".", r"has host bits set", "a prefix must have its host bits zero"),
    (r".", r"is not an ssh public key", "an ssh key's base64 blob must name its key type"),
    (r".", r"image constraint for os", "version constraints (>= 12.0, *) have a grammar"),
    (r".", r"names no machine", "the machine tag needs a machine id"),
    (r".", r"is reserved", "the size id `unknown` is reserved"),
    # the state: what exists and how it is used (metal-api (Go) answers 400 there too)
    (r"DELETE /v1/(project|tenant)/", r"there are still|still owns",
     "state: the project or tenant is in use"),
    (r"/v1/network/free/", r"was not allocated from a private super network", "state"),
    (r"POST /v1/network$", r"the prefixes of a child network cannot be changed",
     "state: the network is a child network"),
    (r"PUT /v1/network$", r"parentnetworkid cannot be set on create",
     "cross-field: a child network is cut from its parent by POST /v1/network/allocate"),
    (r"/v1/machine", r"is not allocated", "state: the machine is not allocated"),
    (r"/v1/machine/\{id\}/reinstall", r"either locked, not allocated", "state: the machine"),
    (r"/v1/(machine|firewall)/allocate", r"no .* found|does not have the feature|machine .* is in",
     "state: the image, size or machine named must exist and fit (400, as metal-api (Go))"),
]


def excused(operation, message):
    for op, msg, why in NOT_EXPRESSIBLE:
        if re.search(op, operation) and re.search(msg, message):
            return why
    return None


# Errors that are the server's: it closed the connection without an answer (a panicked task),
# refused it (it died) or did not answer in time.
SERVER_ERRORS = (
    r"Connection aborted|RemoteDisconnected|Connection refused|Read timed out|ConnectionError"
)


def judge(run, check, operation, status, title, message):
    """None when a failure is listed only; otherwise why it fails the run."""
    if check in ALWAYS:
        return "always"
    if check == "ignored_auth":
        if run == "reference" and "without authentication" in title and operation in PUBLIC_IN_GO:
            return None
        return "credentials not enforced"
    if run == "ours" and check == "positive_data_acceptance" and status == 400:
        return None if excused(operation, message) else "the document hides a bound"
    return None


def events(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def body_message(response):
    content = response.get("content")
    if isinstance(content, dict) and "$base64" in content:
        content = base64.b64decode(content["$base64"]).decode(errors="replace")
    try:
        return str(json.loads(content).get("message", ""))
    except (TypeError, ValueError, AttributeError):
        return str(content or "")[:200]


def analyse(path):
    counts = collections.defaultdict(collections.Counter)  # check -> status -> n
    failures = collections.Counter()  # (check, operation, status, title, message) -> n
    errors = collections.Counter()
    finished = False
    for event in events(path):
        if "EngineFinished" in event:
            finished = True
        if "FatalError" in event:
            errors[("fatal", str(event["FatalError"])[:300])] += 1
        if "NonFatalError" in event:
            e = event["NonFatalError"]
            value = e.get("value", "")
            text = value.get("message", str(value)) if isinstance(value, dict) else str(value)
            errors[(e.get("label", "?"), text.splitlines()[0][:160] if text else "")] += 1
        scenario = event.get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario.get("recorder", {})
        interactions = recorder.get("interactions", {})
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                name, status = check["name"], check["status"]
                counts[name][status] += 1
                info = check.get("failure_info")
                if status != "failure" or not info:
                    continue
                failure = info["failure"]
                interaction = interactions.get(failure.get("case_id")) or interactions.get(case_id)
                response = (interaction or {}).get("response") or {}
                message = body_message(response)
                # ids, numbers and quoted values vary between cases of one finding
                message = re.sub(r'"[^"]*"|`[^`]*`|\d+', "…", message)
                key = (
                    name,
                    failure.get("operation", recorder.get("label", "?")),
                    response.get("status_code"),
                    failure.get("title", ""),
                    message,
                )
                failures[key] += 1
    return counts, failures, errors, finished


def main():
    out = sys.argv[1]
    failed = False
    for run in sys.argv[2:] or ["reference", "ours"]:
        path = os.path.join(out, f"{run}.ndjson")
        if not os.path.exists(path):
            print(f"\n### {run}: no report ({path})")
            failed = True
            continue
        counts, failures, errors, finished = analyse(path)
        gated = collections.Counter()
        for key in failures:
            if judge(run, *key):
                gated[key[0]] += 1
        print(f"\n### {run}\n")
        print("| check | checked | passed | failed | gating (distinct) |")
        print("|---|---|---|---|---|")
        for check in sorted(counts):
            c = counts[check]
            row = [check, sum(c.values()), c["success"], c["failure"], gated[check]]
            print("| " + " | ".join(map(str, row)) + " |")
        if failures:
            print("\nfailures (* gating; x cases):")
        for key, n in sorted(failures.items(), key=str):
            check, op, status, title, message = key
            why = judge(run, *key)
            excuse = excused(op, message) if check == "positive_data_acceptance" else None
            mark = "*" if why else " "
            note = f" [{why}]" if why else (f" [{excuse}]" if excuse else "")
            shown = message if len(message) <= 160 else message[:159] + "…"
            print(f" {mark} {check}: {op} -> {status} {title}: {shown} (x{n}){note}")
        for (label, text), n in sorted(errors.items()):
            server = re.search(SERVER_ERRORS, text) is not None
            print(f" {'*' if server else '!'} error in {label}: {text} (x{n})"
                  + (" [the server dropped the request]" if server else ""))
            failed |= server
        if not finished:
            print(f" ! the {run} run did not finish")
        failed |= sum(gated.values()) > 0 or not finished
    print("\nverdict:", "FAILED (gating failures marked *)" if failed else "passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
