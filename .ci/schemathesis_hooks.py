"""schemathesis hooks for metal-api (loaded by `.ci/schemathesis` via SCHEMATHESIS_HOOKS).

Signs every generated request as metal-stack's clients do (metal-lib's `security` package):
`Authorization: Metal-Admin <hex(HMAC-SHA256(key, X-Date ‖ method ‖ X-Data-Salt))>` with
`X-Date` an RFC 3339 time and `X-Data-Salt` a random string. It is registered as a schemathesis
auth provider, so schemathesis knows the credentials are explicit and valid: its `ignored_auth`
check then repeats successful requests without the header and with a made-up one and fails when
the server still answers 2xx.

The key comes from METAL_SCHEMATHESIS_HMAC_KEY (the admin key of the server under test) and is
never printed. Run as a program (`python3 schemathesis_hooks.py seed URL DIR`) it applies the
YAML files of DIR (examples/) through the REST API, signed the same way, so that lists are not
empty and schemathesis finds ids to reuse.
"""

import datetime
import hashlib
import hmac
import json
import os
import secrets
import sys
import urllib.error
import urllib.request

AUTH_TYPE = "Metal-Admin"


def _key() -> bytes:
    key = os.environ.get("METAL_SCHEMATHESIS_HMAC_KEY", "")
    if not key:
        raise RuntimeError("METAL_SCHEMATHESIS_HMAC_KEY is not set")
    return key.encode()


def signed_headers(method: str) -> dict:
    """The three headers of an HMAC-signed request for `method`."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    salt = secrets.token_hex(12)
    mac = hmac.new(_key(), (date + method.upper() + salt).encode(), hashlib.sha256)
    return {
        "Authorization": f"{AUTH_TYPE} {mac.hexdigest()}",
        "X-Date": date,
        "X-Data-Salt": salt,
    }


try:
    import schemathesis
except ImportError:  # the seeding mode runs without schemathesis
    schemathesis = None

if schemathesis is not None:

    # schemathesis 4.32.5 reads every string of a response that starts with http(s):// as a URL
    # (to learn links) and stops the whole run when one does not parse ("Invalid IPv6 URL" for
    # `http://[`). The server stores such strings as given; skip them instead of crashing.
    try:
        from schemathesis.engine import observations as _observations

        _same_origin_path = _observations._same_origin_path

        def _lenient_same_origin_path(value, origin):
            try:
                return _same_origin_path(value, origin)
            except ValueError:
                return None

        _observations._same_origin_path = _lenient_same_origin_path
    except (ImportError, AttributeError):
        pass

    # hypothesis describes filter lambdas by parsing their source file; CPython 3.11's parser
    # fails now and then when two workers parse at once ("AST constructor recursion depth
    # mismatch", python/cpython#106905) and the operation's test stops with a runtime error.
    # The description only names the filter, so a plain one does.
    try:
        from hypothesis.internal import lambda_sources as _lambda_sources

        _describe = _lambda_sources._lambda_description

        def _safe_lambda_description(f, *args, **kwargs):
            try:
                return _describe(f, *args, **kwargs)
            except SystemError:
                return "lambda: <unknown>"

        _lambda_sources._lambda_description = _safe_lambda_description
    except (ImportError, AttributeError):
        pass

    # refresh_interval=None: no caching, every case gets its own date and salt; retry_on=[]: a
    # 401 is a finding, not a reason to sign again.
    @schemathesis.auth(refresh_interval=None, retry_on=[])
    class MetalHmac:
        def get(self, case, context):
            return AUTH_TYPE

        def set(self, case, data, context):
            if case.headers is None:
                case.headers = {}
            case.headers.update(signed_headers(case.method))


# --- seeding -------------------------------------------------------------------------------

# (file, path): created with PUT in this order (a project needs its tenant, a size-image
# constraint its size, a network its partition).
SEED = [
    ("partition.yaml", "/v1/partition"),
    ("sizes.yaml", "/v1/size"),
    ("images.yaml", "/v1/image"),
    ("filesystemlayouts.yaml", "/v1/filesystemlayout"),
    ("sizeimageconstraints.yaml", "/v1/size-image-constraint"),
    ("networks.yaml", "/v1/network"),
    ("tenant.yaml", "/v1/tenant"),
    ("project.yaml", "/v1/project"),
]


def _request(url: str, method: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for name, value in signed_headers(method).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {url}: {e.code} {e.read().decode(errors='replace')}")


def seed(base: str, directory: str) -> None:
    import yaml

    created = 0
    for name, path in SEED:
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            # metalctl reads a RAID level written as a number; the API takes a string
            for raid in doc.get("raid") or []:
                raid["level"] = str(raid["level"])
            _request(base.rstrip("/") + path, "PUT", doc)
            created += 1
    # a tenant network cut from the private super network, so IPs and networks can be allocated
    _request(
        base.rstrip("/") + "/v1/network/allocate",
        "POST",
        {
            "name": "web",
            "partitionid": "fra-equ01",
            "projectid": "00000000-0000-0000-0000-000000000001",
        },
    )
    print(f"seeded {created + 1} entities from {directory}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "seed":
        sys.exit("usage: schemathesis_hooks.py seed BASE_URL EXAMPLES_DIR")
    seed(sys.argv[2], sys.argv[3])
