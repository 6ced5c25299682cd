//! Authorized accounts' users (docs/users.md): identity tokens that an ordinary JWT library
//! verifies with the key set the service publishes, across a rotation of the key's secret.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde_json::Value;
use user_identity::{UserIdentity, handle};
use wxopen::identity::{IdentityClaims, User};
use wxopen_tests::{aws, config, unique_appid};

/// A request as API Gateway hands it to the function.
fn request(method: Method, path: &str, body: &str) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::Text(body.to_owned()))
        .unwrap()
}

/// The function's answer: status, headers and JSON body.
async fn call(
    identity: &UserIdentity,
    request: Request,
) -> (u16, lambda_http::http::HeaderMap, Value) {
    let response = handle(identity, request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("not a text body: {other:?}"),
    };
    (status, headers, body)
}

/// The key set, as a verifier fetches it.
async fn jwks(identity: &UserIdentity) -> JwkSet {
    let (status, headers, body) =
        call(identity, request(Method::GET, "/.well-known/jwks.json", "")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_value(body).unwrap()
}

/// What an ordinary verifier does: the key named by the token's `kid`, ES256, the expected
/// issuer and audience, the expiry.
fn verify(token: &str, keys: &JwkSet, issuer: &str, aud: &str) -> Result<IdentityClaims, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = keys.find(&kid).ok_or_else(|| format!("no key {kid}"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[aud]);
    validation.leeway = 0;
    jsonwebtoken::decode::<IdentityClaims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// The function on a secret of its own (so a rotation touches no other test), read afresh on
/// every use.
async fn identity_with_own_secret(value: &str) -> (UserIdentity, String) {
    let aws = aws().await;
    let secret_id = format!("wxopen/identity-{}", unique_appid());
    aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name(&secret_id)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    let mut config = config(&unique_appid(), "wxopen/local");
    config.identity_secret_id = secret_id.clone();
    config.secret_max_age = Duration::ZERO;
    (UserIdentity::new(&config, &aws).unwrap(), secret_id)
}

const USER: User<'static> = User {
    appid: "wx1111111111111111",
    openid: "o-user-1",
    unionid: Some("u-user-1"),
};

#[tokio::test]
async fn a_minted_token_verifies_with_the_published_key_set() {
    let aws = aws().await;
    let identity = UserIdentity::new(&config(&unique_appid(), "wxopen/local"), &aws).unwrap();
    let issuer = identity.issuer.issuer.clone();
    let now = wxopen::unix_now();
    let session = identity.issuer.mint(&USER, now).await.unwrap();
    assert_eq!(session.expires_in, 7200);

    let keys = jwks(&identity).await;
    assert_eq!(keys.keys.len(), 1, "no rotation yet: one key");
    let published = serde_json::to_value(&keys.keys[0]).unwrap();
    assert_eq!(
        (
            &published["kty"],
            &published["crv"],
            &published["alg"],
            &published["use"]
        ),
        (
            &Value::from("EC"),
            &Value::from("P-256"),
            &Value::from("ES256"),
            &Value::from("sig")
        )
    );
    let claims = verify(&session.token, &keys, &issuer, USER.appid).unwrap();
    assert_eq!(
        claims,
        IdentityClaims {
            iss: issuer.clone(),
            sub: USER.openid.into(),
            aud: USER.appid.into(),
            unionid: USER.unionid.map(str::to_owned),
            iat: now,
            exp: now + 7200,
        }
    );

    // Another account's audience, another issuer, an expired token: refused.
    assert!(verify(&session.token, &keys, &issuer, "wx2222222222222222").is_err());
    assert!(
        verify(
            &session.token,
            &keys,
            "https://other.example.com",
            USER.appid
        )
        .is_err()
    );
    let expired = identity.issuer.mint(&USER, now - 7300).await.unwrap();
    let refused = verify(&expired.token, &keys, &issuer, USER.appid).unwrap_err();
    assert!(refused.contains("Expired"), "{refused}");
    // A token altered after signing.
    let mut parts: Vec<String> = session.token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert!(verify(&parts.join("."), &keys, &issuer, USER.appid).is_err());
}

#[tokio::test]
async fn after_a_rotation_both_keys_are_published_and_old_tokens_still_verify() {
    let (identity, secret_id) =
        identity_with_own_secret("first-identity-secret-value-0123456789abcdef").await;
    let issuer = identity.issuer.issuer.clone();
    let now = wxopen::unix_now();
    let before = identity.issuer.mint(&USER, now).await.unwrap();
    let old_keys = jwks(&identity).await;
    assert_eq!(old_keys.keys.len(), 1);

    // The operator rotates: a new value becomes AWSCURRENT, the old one AWSPREVIOUS.
    aws_sdk_secretsmanager::Client::new(&aws().await)
        .put_secret_value()
        .secret_id(&secret_id)
        .secret_string("second-identity-secret-value-0123456789abcdef")
        .send()
        .await
        .unwrap();
    let after = identity.issuer.mint(&USER, now).await.unwrap();
    let keys = jwks(&identity).await;
    let kids: Vec<&str> = keys
        .keys
        .iter()
        .map(|k| k.common.key_id.as_deref().unwrap())
        .collect();
    let old_kid = old_keys.keys[0].common.key_id.as_deref().unwrap();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert_eq!(kids[1], old_kid, "the previous key is still published");
    let new_kid = jsonwebtoken::decode_header(&after.token)
        .unwrap()
        .kid
        .unwrap();
    assert_eq!(kids[0], new_kid, "new tokens are signed with the new key");
    assert_ne!(new_kid, old_kid);

    for token in [&before.token, &after.token] {
        assert_eq!(
            verify(token, &keys, &issuer, USER.appid).unwrap().sub,
            USER.openid
        );
    }
    // A verifier still holding the old key set cannot verify the new key's tokens: it fetches
    // the key set again on an unknown kid (docs/users.md).
    assert!(verify(&after.token, &old_keys, &issuer, USER.appid).is_err());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_refused() {
    let identity =
        UserIdentity::new(&config(&unique_appid(), "wxopen/local"), &aws().await).unwrap();
    let (status, _, body) = call(&identity, request(Method::GET, "/nothing/here", "")).await;
    assert_eq!((status, &body["error"]), (404, &Value::from("not_found")));
    let (status, _, body) = call(
        &identity,
        request(Method::POST, "/.well-known/jwks.json", ""),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (405, &Value::from("method_not_allowed"))
    );
}
