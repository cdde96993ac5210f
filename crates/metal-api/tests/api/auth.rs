//! Authentication and authorization, walked over every route of the route table: without
//! credentials, with a wrong signature, with a stale date, as each HMAC role, and with OIDC
//! bearer tokens (RSA keys made by openssl for the test, served to the API as a JWKS file).

use base64::Engine;
use metal_api::auth::{Access, Role};
use metal_testkit::{Backend, Caller, TestApi};
use reqwest::Method;
use serde_json::json;

struct Issuer {
    _dir: tempfile::TempDir,
    jwks_path: String,
    key_pem: Vec<u8>,
}

const ISSUER: &str = "https://issuer.test/dex";

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn make_issuer() -> Issuer {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let key_s = key.to_str().unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key_s,
    ]);
    let modulus = String::from_utf8(openssl(&["rsa", "-in", key_s, "-noout", "-modulus"])).unwrap();
    let hex_n = modulus.trim().trim_start_matches("Modulus=");
    let n = hex::decode(hex_n).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": b64.encode(n), "e": "AQAB"}]});
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    Issuer {
        key_pem: std::fs::read(&key).unwrap(),
        jwks_path: jwks_path.to_str().unwrap().to_string(),
        _dir: dir,
    }
}

fn token(issuer: &Issuer, iss: &str, groups: &[&str], exp_offset: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": iss, "sub": "user-1", "email": "jane@example.com", "name": "Jane",
        "groups": groups, "iat": now, "exp": now + exp_offset
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("k1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&issuer.key_pem).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn concrete(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn role_of(c: &Caller) -> Option<Role> {
    match c {
        Caller::View => Some(Role::View),
        Caller::Edit => Some(Role::Edit),
        Caller::Admin => Some(Role::Admin),
        _ => None,
    }
}

async fn walk(backend: Backend) {
    let issuer = make_issuer();
    let jwks = issuer.jwks_path.clone();
    let api = TestApi::start_with(backend, |c| {
        c.oidc_issuer = Some(ISSUER.into());
        c.oidc_jwks = Some(jwks);
    })
    .await
    .unwrap();

    let table = metal_api::rest::routes();
    let ops = table.operations();
    assert!(
        ops.len() >= 48,
        "the table holds every route ({})",
        ops.len()
    );
    let admin_token = token(&issuer, ISSUER, &["maas-all-all-admin"], 600);
    let view_token = token(&issuer, ISSUER, &["maas-all-all-view"], 600);
    let nogroup_token = token(&issuer, ISSUER, &["some-other-group"], 600);
    let expired = token(&issuer, ISSUER, &["maas-all-all-admin"], -600);
    let foreign = token(&issuer, "https://evil.test", &["maas-all-all-admin"], 600);

    for (method, path, access) in ops {
        let url = concrete(path);
        let body = (*method != Method::GET && *method != Method::DELETE).then(|| json!({}));
        let send = |caller: Caller| {
            let c = api.client(caller);
            let m = method.clone();
            let u = url.clone();
            let b = body.clone();
            async move { c.send(m, &u, b.as_ref()).await }
        };
        let what = format!("{method} {path} ({})", access.as_str());
        // without, or with bad credentials
        for caller in [
            Caller::Anonymous,
            Caller::WrongKey,
            Caller::StaleAdmin(600),
            Caller::Bearer(expired.clone()),
            Caller::Bearer(foreign.clone()),
            Caller::Bearer("garbage".into()),
        ] {
            let anonymous = matches!(caller, Caller::Anonymous);
            let r = send(caller.clone()).await;
            if *access == Access::Public {
                if anonymous {
                    assert!(
                        r.status < 400 || r.status == 500,
                        "{what} anonymous: {}",
                        r.status
                    );
                }
            } else {
                assert_eq!(r.status, 401, "{what} with {caller:?}: {:?}", r.body);
                assert_eq!(r.body["statuscode"], 401);
            }
        }
        // each role, by HMAC and by bearer token
        let callers = [
            (Caller::View, Some(Role::View)),
            (Caller::Edit, Some(Role::Edit)),
            (Caller::Admin, Some(Role::Admin)),
            (Caller::Bearer(admin_token.clone()), Some(Role::Admin)),
            (Caller::Bearer(view_token.clone()), Some(Role::View)),
            (Caller::Bearer(nogroup_token.clone()), None),
        ];
        for (caller, role) in callers {
            debug_assert!(role_of(&caller).is_none() || role_of(&caller) == role);
            let r = send(caller.clone()).await;
            let allowed = match access {
                Access::Public | Access::Authenticated => true,
                Access::Role(required) => role.is_some_and(|r| r >= *required),
            };
            if allowed {
                assert!(
                    r.status != 401 && r.status != 403,
                    "{what} as {caller:?} must pass auth: {} {:?}",
                    r.status,
                    r.body
                );
            } else {
                assert_eq!(r.status, 403, "{what} as {caller:?}: {:?}", r.body);
                assert!(r.message().contains("not member"), "{}", r.message());
            }
        }
    }

    // user/me tells who called
    let r = api
        .client(Caller::Bearer(admin_token))
        .get("v1/user/me")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["EMail"], "jane@example.com");
    assert_eq!(r.body["Issuer"], ISSUER);
    let r = api.client(Caller::Edit).get("v1/user/me").await;
    assert_eq!(r.body["EMail"], "metal-edit@metal-stack.io");
    assert_eq!(r.body["Groups"], json!(["maas-all-all-edit"]));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_enforces_its_access_sqlite() {
    walk(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_enforces_its_access_postgres() {
    walk(Backend::Postgres).await
}

/// The JWKS can come from the issuer's URL instead of a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_verify_against_a_jwks_url() {
    let issuer = make_issuer();
    let jwks = std::fs::read_to_string(&issuer.jwks_path).unwrap();
    let app = axum::Router::new().route(
        "/keys",
        axum::routing::get(move || {
            let j = jwks.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], j) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let api = TestApi::start_with(Backend::Sqlite, |c| {
        c.oidc_issuer = Some(ISSUER.into());
        c.oidc_jwks = Some(url);
        c.oidc_client_id = Some("metal-cli".into());
    })
    .await
    .unwrap();
    // the audience is checked when a client id is configured
    let t = token(&issuer, ISSUER, &["maas-all-all-view"], 600);
    let r = api.client(Caller::Bearer(t)).get("v1/user/me").await;
    assert_eq!(r.status, 401, "no aud claim: {:?}", r.body);
    let t = token_with(
        &issuer,
        json!({"aud": "metal-cli", "groups": ["maas-all-all-view"], "tenant": "acme"}),
    );
    let r = api
        .client(Caller::Bearer(t.clone()))
        .get("v1/user/me")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["Tenant"], "acme");
    let r = api
        .client(Caller::Bearer(t))
        .put("v1/size", json!({"id": "s"}))
        .await;
    assert_eq!(r.status, 403);
    api.stop().await;
}

fn token_with(issuer: &Issuer, extra: serde_json::Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims =
        json!({"iss": ISSUER, "sub": "u", "email": "u@example.com", "iat": now, "exp": now + 600});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&issuer.key_pem).unwrap(),
    )
    .unwrap()
}
