//! Authorized accounts' users (docs/users.md): identity tokens that an ordinary JWT library
//! verifies with the key set the service publishes, across a rotation of the key's secret;
//! mini program login against the sandbox's jscode2session; JS-SDK configurations the sandbox's
//! `wx.config` check accepts, from a ticket fetched once per lifetime across containers.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::join_all;
use wxopen::store::{AuthorizerStatus, MarkIf};
use wxopen_tests::platform::Platform;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
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

// ----- mini program login and the JS-SDK, against the sandbox -----

/// The sandbox's first official account and first mini program.
const OFFICIAL: &str = "wx3f2a6c8d1e4b7a90";
const MINI_PROGRAM: &str = "wx5d8a1f3c7e9b2046";
/// A page of the platform's, on the sandbox's 网页开发域名 (127.0.0.1, any port).
const PAGE_ORIGIN: &str = "http://127.0.0.1:8080";

/// A platform on the sandbox with both accounts authorized and stored.
async fn platform() -> Platform {
    let mut platform = Platform::new().await;
    platform.config.jssdk_origins = vec![PAGE_ORIGIN.to_owned()];
    platform.store_ticket().await;
    let tokens = platform.tokens();
    for appid in [OFFICIAL, MINI_PROGRAM] {
        platform.authorize(&tokens, appid, "merchant-1").await;
    }
    platform
}

/// The function as one container builds it.
fn container(platform: &Platform) -> UserIdentity {
    let mut identity = UserIdentity::new(&platform.config, &platform.aws).unwrap();
    identity.tokens = platform.tokens().caching_component_token();
    identity
}

async fn login(identity: &UserIdentity, appid: &str, body: &str) -> (u16, Value) {
    let (status, headers, body) = call(
        identity,
        request(Method::POST, &format!("/miniprogram/{appid}/login"), body),
    )
    .await;
    assert_eq!(headers["cache-control"], "no-store");
    (status, body)
}

fn code_body(code: &str) -> String {
    json!({ "code": code }).to_string()
}

#[tokio::test]
async fn a_mini_program_user_logs_in_once_per_code() {
    let platform = platform().await;
    let identity = container(&platform);
    let code = platform.sandbox.login_code(MINI_PROGRAM, "alice");
    let (status, body) = login(&identity, MINI_PROGRAM, &code_body(&code)).await;
    assert_eq!(status, 200, "{body}");
    let openid = platform.sandbox.user_openid(MINI_PROGRAM, "alice");
    let unionid = platform.sandbox.user_unionid("alice");
    assert_eq!(body["openid"], openid);
    assert_eq!(body["unionid"], unionid);
    assert_eq!(body["expires_in"], 7200);
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(fields, ["expires_in", "openid", "session", "unionid"]);
    // The session_key never leaves the service.
    let session_key = platform.sandbox.session_key(MINI_PROGRAM, "alice").unwrap();
    assert!(!body.to_string().contains(&session_key));
    let claims = verify(
        body["session"].as_str().unwrap(),
        &jwks(&identity).await,
        &identity.issuer.issuer,
        MINI_PROGRAM,
    )
    .unwrap();
    assert_eq!((claims.sub, claims.unionid), (openid, Some(unionid)));
    assert_eq!(platform.sandbox.calls_to("jscode2session"), 1);

    // The same code again: WeChat's 40163, no token.
    let (status, body) = login(&identity, MINI_PROGRAM, &code_body(&code)).await;
    assert_eq!((status, &body["errcode"]), (400, &json!(40163)), "{body}");
    assert_eq!(body["error"], "code_refused");
    assert!(body.get("session").is_none());
    // A code WeChat never issued, and one issued for another account: 40029.
    let other = platform.sandbox.login_code("wx9d3b5f7a1c2e4068", "alice");
    for code in ["0123456789abcdef0123456789abcdef", other.as_str()] {
        let (status, body) = login(&identity, MINI_PROGRAM, &code_body(code)).await;
        assert_eq!((status, &body["errcode"]), (400, &json!(40029)), "{body}");
        assert_eq!(body["errmsg"], "invalid code");
    }
    assert_eq!(platform.sandbox.calls_to("jscode2session"), 4);

    // An account unbound from the open platform account: no unionid, none in the token.
    platform
        .sandbox
        .set_open_platform_bound(MINI_PROGRAM, false);
    let code = platform.sandbox.login_code(MINI_PROGRAM, "bob");
    let (status, body) = login(&identity, MINI_PROGRAM, &code_body(&code)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("unionid").is_none(), "{body}");
    let claims = verify(
        body["session"].as_str().unwrap(),
        &jwks(&identity).await,
        &identity.issuer.issuer,
        MINI_PROGRAM,
    )
    .unwrap();
    assert_eq!(claims.unionid, None);
}

#[tokio::test]
async fn accounts_the_platform_does_not_serve_cost_no_wechat_call() {
    let platform = platform().await;
    let tokens = platform.tokens();
    // Withdrawn, as the `unauthorized` push records it.
    platform.sandbox.withdraw(MINI_PROGRAM).await.unwrap();
    let now = wxopen::unix_now();
    assert!(
        tokens
            .store
            .mark_authorizer(
                &platform.component,
                MINI_PROGRAM,
                AuthorizerStatus::Withdrawn,
                MarkIf::NotAuthorizedSince(now),
                now,
            )
            .await
            .unwrap()
    );
    let identity = container(&platform);
    let before = wxopen_tests::items_of(&platform.aws, &platform.component).await;
    let unknown = "wx9d3b5f7a1c2e4068";
    for (appid, status, error) in [
        (MINI_PROGRAM, 403, "not_authorized"),
        (unknown, 404, "unknown_account"),
        (OFFICIAL, 403, "wrong_account_kind"),
        ("wx123", 400, "bad_appid"),
    ] {
        let code = platform.sandbox.login_code(appid, "alice");
        let (got, body) = login(&identity, appid, &code_body(&code)).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{appid}: {body}"
        );
    }
    assert_eq!(platform.sandbox.calls_to("jscode2session"), 0);
    assert_eq!(
        wxopen_tests::items_of(&platform.aws, &platform.component).await,
        before
    );
}

#[tokio::test]
async fn a_withdrawal_wechat_reports_first_is_refused_and_wechat_failing_is_a_502() {
    let platform = platform().await;
    let identity = container(&platform);
    // Warm: the account is known to this container as an authorized mini program.
    let code = platform.sandbox.login_code(MINI_PROGRAM, "alice");
    assert_eq!(
        login(&identity, MINI_PROGRAM, &code_body(&code)).await.0,
        200
    );

    // WeChat fails: a 502 that names WeChat's errcode; the code was not repeated.
    platform.sandbox.fail_next("jscode2session", -1, 1);
    let code = platform.sandbox.login_code(MINI_PROGRAM, "alice");
    let (status, body) = login(&identity, MINI_PROGRAM, &code_body(&code)).await;
    assert_eq!(
        (status, &body["error"], &body["errcode"]),
        (502, &json!("wechat_error"), &json!(-1)),
        "{body}"
    );
    assert_eq!(platform.sandbox.calls_to("jscode2session"), 2);

    // The account withdrew and the push has not been recorded yet: WeChat's 61003 is a 403.
    platform.sandbox.withdraw(MINI_PROGRAM).await.unwrap();
    let code = platform.sandbox.login_code(MINI_PROGRAM, "alice");
    let (status, body) = login(&identity, MINI_PROGRAM, &code_body(&code)).await;
    assert_eq!((status, &body["errcode"]), (403, &json!(61003)), "{body}");
    assert_eq!(body["error"], "not_authorized");
}

async fn js_config(identity: &UserIdentity, appid: &str, url: Option<&str>) -> (u16, Value) {
    let mut request = request(Method::GET, &format!("/jssdk/{appid}/config"), "");
    if let Some(url) = url {
        request = lambda_http::RequestExt::with_query_string_parameters(
            request,
            std::collections::HashMap::from([("url".to_owned(), vec![url.to_owned()])]),
        );
    }
    let (status, _, body) = call(identity, request).await;
    (status, body)
}

/// Every call the sandbox received.
fn wechat_calls(platform: &Platform) -> u64 {
    platform.sandbox.calls().per_api.values().sum()
}

/// What the page's `wx.config` does with the configuration: WeChat's check.
fn wx_config(platform: &Platform, page: &str, config: &Value) -> Result<(), String> {
    platform.sandbox.verify_js_config(
        config["appId"].as_str().unwrap(),
        page,
        config["timestamp"].as_i64().unwrap(),
        config["nonceStr"].as_str().unwrap(),
        config["signature"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn a_js_sdk_configuration_passes_wx_config_and_a_warm_one_calls_no_wechat() {
    let platform = platform().await;
    let identity = container(&platform);
    let page = format!("{PAGE_ORIGIN}/shop/item?id=7&from=share#section-2");
    let (status, config) = js_config(&identity, OFFICIAL, Some(&page)).await;
    assert_eq!(status, 200, "{config}");
    let mut fields: Vec<&str> = config
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(fields, ["appId", "nonceStr", "signature", "timestamp"]);
    assert_eq!(config["appId"], OFFICIAL);
    wx_config(&platform, &page, &config).unwrap();
    assert_eq!(platform.sandbox.calls_to("getticket"), 1);
    // Not for another page.
    assert!(wx_config(&platform, &format!("{PAGE_ORIGIN}/shop/other"), &config).is_err());

    // Warm, in this container and in another: no WeChat call, a fresh nonce each time.
    platform.sandbox.reset_calls();
    let other = container(&platform);
    for identity in [&identity, &other] {
        let (status, again) = js_config(identity, OFFICIAL, Some(&page)).await;
        assert_eq!(status, 200, "{again}");
        assert_ne!(again["nonceStr"], config["nonceStr"]);
        wx_config(&platform, &page, &again).unwrap();
    }
    assert_eq!(wechat_calls(&platform), 0, "{:?}", platform.sandbox.calls());
}

/// Marks the stored ticket of `appid` expired, as if its lifetime had passed.
async fn expire_stored_ticket(platform: &Platform, appid: &str) {
    aws_sdk_dynamodb::Client::new(&platform.aws)
        .update_item()
        .table_name(&platform.config.table_name)
        .key(
            "pk",
            AttributeValue::S(wxopen::store::authorizer_pk(&platform.component, appid)),
        )
        .key("sk", AttributeValue::S("jsapi_ticket".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::N((wxopen::unix_now() - 10).to_string()),
        )
        .condition_expression("attribute_exists(pk)")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn sixteen_containers_with_an_expired_ticket_make_one_getticket_call() {
    let platform = platform().await;
    let page = format!("{PAGE_ORIGIN}/pay");
    assert_eq!(
        js_config(&container(&platform), OFFICIAL, Some(&page))
            .await
            .0,
        200
    );
    expire_stored_ticket(&platform, OFFICIAL).await;
    platform.sandbox.reset_calls();

    let containers: Vec<UserIdentity> = (0..16).map(|_| container(&platform)).collect();
    let answers = join_all(
        containers
            .iter()
            .map(|identity| js_config(identity, OFFICIAL, Some(&page))),
    )
    .await;
    for (status, config) in &answers {
        assert_eq!(*status, 200, "{config}");
        wx_config(&platform, &page, config).unwrap();
    }
    assert_eq!(platform.sandbox.calls_to("getticket"), 1);
    assert_eq!(platform.sandbox.jsapi_tickets(OFFICIAL).len(), 2);
}

#[tokio::test]
async fn a_refused_authorizer_token_is_replaced_and_getticket_tried_once_more() {
    let platform = platform().await;
    let tokens = platform.tokens();
    let before = tokens
        .store
        .authorizer(&platform.component, OFFICIAL)
        .await
        .unwrap()
        .unwrap()
        .access_token;
    platform.sandbox.reset_calls();
    platform.sandbox.fail_next("getticket", 40001, 1);
    let page = format!("{PAGE_ORIGIN}/pay");
    let (status, config) = js_config(&container(&platform), OFFICIAL, Some(&page)).await;
    assert_eq!(status, 200, "{config}");
    wx_config(&platform, &page, &config).unwrap();
    assert_eq!(platform.sandbox.calls_to("getticket"), 2);
    assert_eq!(platform.sandbox.calls_to("api_authorizer_token"), 1);
    let after = tokens
        .store
        .authorizer(&platform.component, OFFICIAL)
        .await
        .unwrap()
        .unwrap()
        .access_token;
    assert_ne!(before, after, "the refused token was replaced");
}

#[tokio::test]
async fn pages_elsewhere_and_mini_programs_get_no_configuration_and_cost_nothing() {
    let platform = platform().await;
    let identity = container(&platform);
    let before = wxopen_tests::items_of(&platform.aws, &platform.component).await;
    platform.sandbox.reset_calls();
    for (appid, url, status, error) in [
        (
            OFFICIAL,
            Some("https://evil.example.com/page"),
            400,
            "origin_not_allowed",
        ),
        (
            OFFICIAL,
            Some("http://127.0.0.1:8081/page"),
            400,
            "origin_not_allowed",
        ),
        (OFFICIAL, Some("/shop/item"), 400, "bad_url"),
        (OFFICIAL, None, 400, "bad_url"),
        (
            MINI_PROGRAM,
            Some("http://127.0.0.1:8080/page"),
            403,
            "wrong_account_kind",
        ),
        (
            "wx9d3b5f7a1c2e4068",
            Some("http://127.0.0.1:8080/page"),
            404,
            "unknown_account",
        ),
    ] {
        let (got, body) = js_config(&identity, appid, url).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{url:?}: {body}"
        );
    }
    assert_eq!(wechat_calls(&platform), 0, "{:?}", platform.sandbox.calls());
    assert_eq!(
        wxopen_tests::items_of(&platform.aws, &platform.component).await,
        before
    );
}

/// The template routes the five paths to the function, each public and throttled below the
/// API's default, and keeps the identity key in a secret of its own the function alone reads.
#[test]
fn the_template_routes_throttles_and_keys_the_users_function() {
    use serde_yaml_ng::Value;
    let template: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap(),
    )
    .unwrap();
    let reference = |value: &Value| match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str().unwrap().to_owned(),
        other => panic!("not a !Ref: {other:?}"),
    };
    let default = |parameter: &str| {
        template["Parameters"][parameter]["Default"]
            .as_u64()
            .unwrap()
    };
    let resources = &template["Resources"];
    let function = &resources["UserIdentityFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"],
        Value::from("user-identity")
    );
    let properties = &function["Properties"];
    let mut routes: Vec<String> = Vec::new();
    for (_, event) in properties["Events"].as_mapping().unwrap() {
        let event = &event["Properties"];
        assert!(event.get("Auth").is_none(), "public routes");
        let settings = &event["RouteSettings"];
        assert!(
            default(&reference(&settings["ThrottlingRateLimit"]))
                < default("ApiThrottlingRateLimit")
        );
        assert!(
            default(&reference(&settings["ThrottlingBurstLimit"]))
                < default("ApiThrottlingBurstLimit")
        );
        routes.push(format!(
            "{} {}",
            event["Method"].as_str().unwrap(),
            event["Path"].as_str().unwrap()
        ));
    }
    routes.sort();
    assert_eq!(
        routes,
        [
            "GET /.well-known/jwks.json",
            "GET /jssdk/{appid}/config",
            "GET /oauth/{appid}/authorize",
            "GET /oauth/{appid}/callback",
            "POST /miniprogram/{appid}/login",
        ]
    );
    let variables = &properties["Environment"]["Variables"];
    assert_eq!(
        reference(&variables["IDENTITY_SECRET_ID"]),
        "IdentityKeySecret"
    );
    assert_eq!(reference(&variables["JSSDK_ORIGINS"]), "JssdkOrigins");
    let key = &resources["IdentityKeySecret"]["Properties"]["GenerateSecretString"];
    assert!(key["PasswordLength"].as_u64().unwrap() >= wxopen::identity::MIN_SECRET_LEN as u64);
    assert!(key.get("SecretStringTemplate").is_none(), "a plain string");
    // Least privilege: reads and conditional updates of the table, its two secrets.
    let statements = properties["Policies"][0]["Statement"]
        .as_sequence()
        .unwrap();
    let actions: Vec<&str> = statements
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_sequence()
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
                .unwrap_or_else(|| vec![s["Action"].as_str().unwrap()])
        })
        .collect();
    assert_eq!(
        actions,
        [
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "secretsmanager:GetSecretValue"
        ]
    );
    let secrets: Vec<String> = statements[1]["Resource"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(reference)
        .collect();
    // The link key signs web login states.
    assert_eq!(
        secrets,
        ["ComponentSecret", "IdentityKeySecret", "LinkKeySecret"]
    );
}
