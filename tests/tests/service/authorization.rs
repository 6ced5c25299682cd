//! The merchant's authorization, end to end over plain HTTP: our landing page (auth-link), the
//! sandbox's authorization page, our callback (auth-callback) and WeChat's `authorized` push to
//! the ticket receiver, against DynamoDB Local and the Secrets Manager emulator.

use reqwest::StatusCode;
use wxopen::authorization::RebindPolicy;
use wxopen::store::AuthorizerStatus;
use wxopen_tests::service::{Service, between, link_params};

#[tokio::test]
async fn callback_only_stores_and_binds_the_account() {
    let s = Service::with(RebindPolicy::Refuse, false).await;
    let (wechat, referer) = s.open_wechat_page("merchant=shop-1").await;
    assert!(
        wechat.contains("/cgi-bin/componentloginpage?component_appid="),
        "{wechat}"
    );
    let callback = s.confirm(&wechat, &referer, &s.appid(0)).await;
    assert!(
        callback.starts_with(&s.url("/authorize/callback?session=")),
        "{callback}"
    );
    assert!(callback.contains("&auth_code=") && callback.ends_with("&expires_in=600"));

    let (status, html) = s.get(&callback).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(&format!(
            "<strong id=\"account-name\">{}</strong>",
            s.name(0)
        )),
        "{html}"
    );
    assert!(html.contains("授权成功"));
    let account = s.account(&s.appid(0)).await.unwrap();
    assert_eq!(account.merchant.as_deref(), Some("shop-1"));
    assert_eq!(account.status, AuthorizerStatus::Authorized);
    assert!(account.access_token.is_some() && account.refresh_token.is_some());
    assert!(!account.func_info.is_empty());
    assert_eq!(s.sandbox.calls_to("api_query_auth"), 1);
    assert_eq!(s.sandbox.calls_to("api_get_authorizer_info"), 1);

    // Reloading the result page shows the same, exchanging nothing.
    let (status, again) = s.get(&callback).await;
    assert_eq!(status, StatusCode::OK);
    assert!(again.contains(&s.name(0)));
    assert_eq!(s.sandbox.calls_to("api_query_auth"), 1);
}

#[tokio::test]
async fn push_only_stores_and_binds_the_account_through_its_pre_auth_code() {
    let s = Service::start().await;
    let (wechat, referer) = s.open_wechat_page("merchant=shop-2&auth_type=2").await;
    // The browser never comes back; the push does, and the receiver acts on it at once.
    let _callback = s.confirm(&wechat, &referer, &s.appid(3)).await;
    let pushes = s.sandbox.wait_for_pushes(1).await.unwrap();
    assert!(
        pushes
            .iter()
            .any(|p| p.info_type == "authorized" && p.success),
        "{pushes:?}"
    );
    let account = s.account(&s.appid(3)).await.expect("stored by the push");
    assert_eq!(account.merchant.as_deref(), Some("shop-2"));
    assert_eq!(s.sandbox.calls_to("api_query_auth"), 1);
    let events = s
        .app
        .link
        .tokens
        .store
        .authorization_events(&s.component, &s.appid(3))
        .await
        .unwrap();
    assert!(
        events.iter().all(|e| !e.pending),
        "settled: nothing left for the refresher"
    );
}

#[tokio::test]
async fn push_then_callback_exchange_the_code_once() {
    let s = Service::start().await;
    let (wechat, referer) = s.open_wechat_page("merchant=shop-3").await;
    let callback = s.confirm(&wechat, &referer, &s.appid(1)).await;
    s.sandbox.wait_for_pushes(1).await.unwrap();
    let (status, html) = s.get(&callback).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&s.name(1)));
    assert_eq!(s.sandbox.calls_to("api_query_auth"), 1);
    assert_eq!(
        s.account(&s.appid(1)).await.unwrap().merchant.as_deref(),
        Some("shop-3")
    );
}

#[tokio::test]
async fn callback_then_push_exchange_the_code_once() {
    let s = Service::with(RebindPolicy::Refuse, false).await;
    let (wechat, referer) = s.open_wechat_page("merchant=shop-4").await;
    let callback = s.confirm(&wechat, &referer, &s.appid(2)).await;
    let (status, _) = s.get(&callback).await;
    assert_eq!(status, StatusCode::OK);
    // Now WeChat's push arrives, late, with the same code.
    let events_url = format!(
        "{}/wechat/component/events",
        s.server.base_url().trim_end_matches('/')
    );
    s.sandbox.set_event_url(Some(&events_url));
    let push = s.authorized_push(&callback, &s.appid(2)).await;
    let response = s
        .http
        .post(format!(
            "{events_url}?timestamp={}&nonce={}&encrypt_type=aes&msg_signature={}",
            push.timestamp, push.nonce, push.msg_signature
        ))
        .body(push.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "success");
    assert_eq!(s.sandbox.calls_to("api_query_auth"), 1);
    assert_eq!(
        s.account(&s.appid(2)).await.unwrap().merchant.as_deref(),
        Some("shop-4")
    );
}

#[tokio::test]
async fn expired_unknown_forged_and_foreign_sessions_are_refused() {
    let s = Service::with(RebindPolicy::Refuse, false).await;
    let unknown = s.url(
        "/authorize/callback?session=0123456789abcdef0123456789abcdef&auth_code=x&expires_in=600",
    );
    let (status, html) = s.get(&unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("无法识别此授权链接"), "{html}");
    for forged in [
        "session=../../etc&auth_code=x",
        "session=abc&auth_code=x",
        "auth_code=x",
        "session=0123456789abcdef0123456789abcdef",
    ] {
        let (status, _) = s
            .get(&s.url(&format!("/authorize/callback?{forged}")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{forged}");
    }

    // An expired session: nothing is exchanged, nothing stored.
    let (wechat, referer) = s.open_wechat_page("merchant=shop-5").await;
    let callback = s.confirm(&wechat, &referer, &s.appid(0)).await;
    let session = between(&callback, "session=", "&").to_owned();
    let client = aws_sdk_dynamodb::Client::new(&s.aws);
    client
        .update_item()
        .table_name(std::env::var("TABLE_NAME").unwrap())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "{}#session#{session}",
                s.component
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("session".into()),
        )
        .update_expression("SET session_expires_at = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await
        .unwrap();
    let (status, html) = s.get(&callback).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("已过期"), "{html}");
    assert!(s.account(&s.appid(0)).await.is_none());
    assert_eq!(s.sandbox.calls_to("api_query_auth"), 0);

    // A session used with another code is refused.
    let (wechat, referer) = s.open_wechat_page("merchant=shop-5").await;
    let first = s.confirm(&wechat, &referer, &s.appid(1)).await;
    assert_eq!(s.get(&first).await.0, StatusCode::OK);
    let reused = first.replace(between(&first, "auth_code=", "&"), "another-code");
    let (status, html) = s.get(&reused).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("已被使用"), "{html}");
}

#[tokio::test]
async fn a_code_brought_to_another_merchants_session_is_refused() {
    let s = Service::start().await;
    // The attacker authorizes their account from their own link; the push names their session.
    let (wechat, referer) = s.open_wechat_page("merchant=attacker").await;
    let attacker_callback = s.confirm(&wechat, &referer, &s.appid(4)).await;
    s.sandbox.wait_for_pushes(1).await.unwrap();
    // ...and brings the code to the victim's session.
    let (victim_wechat, _) = s.open_wechat_page("merchant=victim").await;
    let victim_redirect: url::Url = url::Url::parse(&victim_wechat).unwrap();
    let victim_callback = victim_redirect
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    let code = between(&attacker_callback, "auth_code=", "&");
    let (status, html) = s
        .get(&format!(
            "{victim_callback}&auth_code={code}&expires_in=600"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("不属于当前链接"), "{html}");
    assert_eq!(
        s.account(&s.appid(4)).await.unwrap().merchant.as_deref(),
        Some("attacker")
    );
}

#[tokio::test]
async fn an_account_bound_elsewhere_is_not_taken_over_unless_the_policy_says_so() {
    for (policy, expected_status, owner) in [
        (RebindPolicy::Refuse, StatusCode::CONFLICT, "first-shop"),
        (RebindPolicy::TakeOver, StatusCode::OK, "second-shop"),
    ] {
        let s = Service::with(policy, false).await;
        let (wechat, referer) = s.open_wechat_page("merchant=first-shop").await;
        let callback = s.confirm(&wechat, &referer, &s.appid(0)).await;
        assert_eq!(s.get(&callback).await.0, StatusCode::OK);

        let (wechat, referer) = s.open_wechat_page("merchant=second-shop").await;
        let callback = s.confirm(&wechat, &referer, &s.appid(0)).await;
        let (status, html) = s.get(&callback).await;
        assert_eq!(status, expected_status, "{html}");
        if policy == RebindPolicy::Refuse {
            assert!(html.contains("此帐号已绑定其他商户"), "{html}");
        }
        assert_eq!(
            s.account(&s.appid(0)).await.unwrap().merchant.as_deref(),
            Some(owner)
        );
    }
}

#[tokio::test]
async fn updateauthorized_refreshes_permissions_and_unauthorized_withdraws() {
    let s = Service::start().await;
    let appid = s.appid(0);
    let (wechat, referer) = s.open_wechat_page("merchant=shop-6").await;
    let callback = s.confirm(&wechat, &referer, &appid).await;
    s.sandbox.wait_for_pushes(1).await.unwrap();
    assert_eq!(s.get(&callback).await.0, StatusCode::OK);
    let before = s.account(&appid).await.unwrap();

    // The administrator authorizes again with fewer permission sets: `updateauthorized`.
    let authorized = s.sandbox.authorize(&appid, Some(&[1, 2])).await.unwrap();
    assert_eq!(authorized.grant.info_type, "updateauthorized");
    assert!(authorized.push.unwrap().success);
    let after = s.account(&appid).await.unwrap();
    assert_eq!(after.func_info, vec![1, 2]);
    assert_ne!(after.refresh_token, before.refresh_token);
    assert_eq!(after.merchant.as_deref(), Some("shop-6"));

    // The account withdraws: `unauthorized`, acted on by the receiver.
    let push = s.sandbox.withdraw(&appid).await.unwrap().unwrap();
    assert!(push.success);
    let withdrawn = s.account(&appid).await.unwrap();
    assert_eq!(withdrawn.status, AuthorizerStatus::Withdrawn);
    assert_eq!(
        (withdrawn.access_token, withdrawn.refresh_token),
        (None, None)
    );
}

#[tokio::test]
async fn the_link_answers_json_refuses_bad_parameters_and_explains_wechat_failures() {
    let s = Service::start().await;
    let json: serde_json::Value = s
        .http
        .get(
            s.link("merchant=shop-7&mode=mobile&biz_appid=wx570bc396a51b8ff8")
                .await,
        )
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = json["url"].as_str().unwrap();
    assert!(
        url.contains("/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid="),
        "{url}"
    );
    assert!(url.contains("biz_appid=wx570bc396a51b8ff8") && url.ends_with("#wechat_redirect"));
    assert!(!url.contains("auth_type="));
    assert_eq!(json["expires_in"], 1800);

    // Inside WeChat, the mobile page is the default.
    let inside = s
        .http
        .get(format!("{}&format=json", s.link("merchant=shop-7").await))
        .header("user-agent", "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(inside.contains("bindcomponent"), "{inside}");

    // Every click gets its own pre_auth_code.
    let (a, _) = s.open_wechat_page("merchant=shop-7").await;
    let (b, _) = s.open_wechat_page("merchant=shop-7").await;
    let code = |u: &str| {
        url::Url::parse(u)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "pre_auth_code")
            .unwrap()
            .1
            .into_owned()
    };
    assert_ne!(code(&a), code(&b));

    for (query, reason) in [
        ("", "merchant is required"),
        ("merchant=a%20b", "merchant must be"),
        ("merchant=m&auth_type=4", "auth_type must be"),
        ("merchant=m&biz_appid=gh_123", "biz_appid must be"),
        ("merchant=m&mode=tv", "mode must be"),
    ] {
        let (status, html) = s.get(&s.url(&format!("/authorize?{query}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(html.contains(reason), "{query}: {html}");
    }
    let before = s.sandbox.calls_to("api_create_preauthcode");
    s.sandbox.fail_next("api_create_preauthcode", 45009, 1);
    let (status, html) = s
        .get(&format!("{}&go=1", s.link("merchant=shop-8").await))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        html.contains("暂时无法连接微信") && html.contains("重试"),
        "{html}"
    );
    assert_eq!(s.sandbox.calls_to("api_create_preauthcode"), before + 1);
}

/// `GET /authorize` as API Gateway hands it to auth-link.
fn link_request(url: &str) -> lambda_http::Request {
    use lambda_http::RequestExt;
    let url = url::Url::parse(url).unwrap();
    let mut query: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (k, v) in url.query_pairs() {
        query
            .entry(k.into_owned())
            .or_default()
            .push(v.into_owned());
    }
    lambda_http::http::Request::builder()
        .uri(format!(
            "{}?{}",
            url.path(),
            url.query().unwrap_or_default()
        ))
        .body(lambda_http::Body::Empty)
        .unwrap()
        .with_query_string_parameters(query)
}

#[tokio::test]
async fn only_minted_unexpired_links_start_authorizations_and_each_only_a_few() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    let s = Service::start().await;
    // The link function on a clock the test moves, so expiry and windows are exact.
    let now = Arc::new(AtomicI64::new(wxopen::unix_now()));
    let mut link = auth_link::AuthLink::new(
        &{
            let mut config = wxopen_tests::config(&s.component, "wxopen/local");
            config.wechat_api_base = s.sandbox.base_url().trim_end_matches('/').to_owned();
            config.wechat_mp_base = config.wechat_api_base.clone();
            config.public_base_url = Some(s.url(""));
            config
        },
        &s.aws,
    )
    .unwrap();
    let clock = now.clone();
    link.tokens = link
        .tokens
        .with_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    let answer = |url: String| {
        let link = &link;
        async move {
            let response = auth_link::handle(link, link_request(&url)).await.unwrap();
            let status = response.status().as_u16();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = String::from_utf8(response.body().to_vec()).unwrap();
            (status, body, retry)
        }
    };
    let params = link_params;
    let minted = link
        .mint(
            params("merchant=shop-9&auth_type=1"),
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert!(
        minted
            .url
            .starts_with(&s.url("/authorize?merchant=shop-9&auth_type=1&expires="))
    );
    assert_eq!(minted.expires_at, now.load(Ordering::SeqCst) + 600);
    let calls = || s.sandbox.calls_to("api_create_preauthcode");

    // Unsigned, altered, expired: refused with a page that says which, WeChat never asked.
    let (status, body, _) = answer(s.url("/authorize?merchant=shop-9&auth_type=1&go=1")).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("此链接未经平台签发") && body.contains("this link is not signed"),
        "{body}"
    );
    for altered in [
        minted.url.replace("shop-9", "shop-1"),
        minted.url.replace("auth_type=1", "auth_type=3"),
        minted.url.replace("auth_type=1&", ""),
        format!("{}&mode=mobile", minted.url),
        minted.url.replace(
            &format!("expires={}", minted.expires_at),
            &format!("expires={}", minted.expires_at + 1),
        ),
    ] {
        let (status, body, _) = answer(format!("{altered}&go=1")).await;
        assert_eq!(status, 403, "{altered}");
        assert!(body.contains("this link was altered"), "{altered}: {body}");
    }
    now.fetch_add(601, Ordering::SeqCst);
    let (status, body, _) = answer(format!("{}&go=1", minted.url)).await;
    assert_eq!(status, 410);
    assert!(
        body.contains("此链接已过期") && body.contains("this link has expired"),
        "{body}"
    );
    assert_eq!(calls(), 0);
    now.fetch_sub(601, Ordering::SeqCst);

    // Signed and current: the landing page, whose button carries the signature on.
    let (status, body, _) = answer(minted.url.clone()).await;
    assert_eq!(status, 200);
    let go = between(&body, "class=\"button\" href=\"", "\"").replace("&amp;", "&");
    assert_eq!(
        go,
        format!("{}&go=1", &minted.url[s.url("/authorize").len()..])
    );
    assert_eq!(calls(), 0);

    // A few starts per link and window, then 429 until the window turns.
    let window = wxopen::links::START_WINDOW_SECS;
    now.fetch_sub(
        now.load(Ordering::SeqCst).rem_euclid(window),
        Ordering::SeqCst,
    );
    let busy = link
        .mint(
            params("merchant=shop-9&auth_type=1"),
            std::time::Duration::from_secs(3 * window as u64),
        )
        .await
        .unwrap();
    for i in 0..wxopen::links::STARTS_PER_WINDOW {
        let (status, _, _) = answer(format!("{}&go=1", busy.url)).await;
        assert_eq!(status, 302, "start {i}");
    }
    let (status, body, retry) = answer(format!("{}&format=json", busy.url)).await;
    assert_eq!(status, 429);
    assert_eq!(retry.as_deref(), Some(window.to_string().as_str()));
    assert_eq!(
        body,
        format!(
            r#"{{"error":"This link has started {} authorizations this hour; try again in 60 minutes."}}"#,
            wxopen::links::STARTS_PER_WINDOW
        )
    );
    let (status, page, _) = answer(format!("{}&go=1", busy.url)).await;
    assert_eq!(status, 429);
    assert!(page.contains("此链接的授权尝试过于频繁"), "{page}");
    assert_eq!(calls(), wxopen::links::STARTS_PER_WINDOW as u64);
    // Another link has its own allowance, and the next window a fresh one.
    assert_eq!(answer(format!("{}&go=1", minted.url)).await.0, 302);
    now.fetch_add(window, Ordering::SeqCst);
    assert_eq!(answer(format!("{}&go=1", busy.url)).await.0, 302);
    assert_eq!(calls(), wxopen::links::STARTS_PER_WINDOW as u64 + 2);
}

#[tokio::test]
async fn the_back_office_mints_links_over_iam_and_bad_requests_are_refused() {
    let s = Service::start().await;
    let minted: serde_json::Value = s
        .http
        .post(s.url("/links"))
        .json(&serde_json::json!({"merchant": "shop-10", "auth_type": 2, "mode": "pc", "ttl_secs": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = minted["url"].as_str().unwrap();
    assert!(
        url.starts_with(&s.url("/authorize?merchant=shop-10&auth_type=2&mode=pc&expires=")),
        "{url}"
    );
    let expires_at = minted["expires_at"].as_i64().unwrap();
    assert!(url.contains(&format!("&expires={expires_at}&sig=")));
    let (status, page) = s.get(url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("小程序"), "{page}");

    // Without the IAM caller API Gateway adds, nothing is minted.
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/links")
        .body(lambda_http::Body::Text(r#"{"merchant":"shop-10"}"#.into()))
        .unwrap();
    let response = auth_link::handle(&s.app.link, request).await.unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_session_tries_only_a_few_codes_at_the_callback() {
    let s = Service::with(RebindPolicy::Refuse, false).await;
    let (wechat, _) = s.open_wechat_page("merchant=shop-11").await;
    let session = between(&wechat, "session%3D", "&").to_owned();
    let callback = |code: &str| {
        s.url(&format!(
            "/authorize/callback?session={session}&auth_code=queryauthcode%40%40%40{code}"
        ))
    };
    for i in 0..wxopen::authorization::CODE_ATTEMPTS_PER_SESSION {
        let (status, page) = s.get(&callback(&format!("forged-{i}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            page.contains("WeChat refused the authorization code"),
            "{page}"
        );
    }
    let asked = s.sandbox.calls_to("api_query_auth");
    assert_eq!(
        asked,
        wxopen::authorization::CODE_ATTEMPTS_PER_SESSION as u64
    );
    let (status, page) = s.get(&callback("forged-last")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.contains("此授权链接尝试次数过多")
            && page.contains("this authorization link was tried too many times"),
        "{page}"
    );
    assert_eq!(s.sandbox.calls_to("api_query_auth"), asked);
}

/// The template throttles every route, the merchant-facing routes that call WeChat more
/// strictly, and puts `POST /links` behind IAM with the link key's secret its own.
#[test]
fn the_template_throttles_the_public_routes_and_keeps_minting_behind_iam() {
    use serde_yaml_ng::Value;
    let template: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap(),
    )
    .unwrap();
    // `!Ref Name` as the name it refers to.
    let reference = |value: &Value| match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str().unwrap().to_owned(),
        other => panic!("not a !Ref: {other:?}"),
    };
    let default = |parameter: &str| {
        template["Parameters"][parameter]["Default"]
            .as_u64()
            .unwrap_or_else(|| panic!("{parameter} has a numeric default"))
    };
    let resources = &template["Resources"];
    let api = &resources["HttpApi"]["Properties"]["DefaultRouteSettings"];
    let (rate, burst) = (
        reference(&api["ThrottlingRateLimit"]),
        reference(&api["ThrottlingBurstLimit"]),
    );
    let mut throttled_public = Vec::new();
    for (name, resource) in resources.as_mapping().unwrap() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (event_name, event) in events {
            let properties = &event["Properties"];
            let Some(path) = properties["Path"].as_str() else {
                continue;
            };
            if path == "/authorize" || path == "/authorize/callback" {
                let settings = &properties["RouteSettings"];
                let (route_rate, route_burst) = (
                    reference(&settings["ThrottlingRateLimit"]),
                    reference(&settings["ThrottlingBurstLimit"]),
                );
                assert!(
                    default(&route_rate) < default(&rate),
                    "{name:?} {event_name:?}"
                );
                assert!(
                    default(&route_burst) < default(&burst),
                    "{name:?} {event_name:?}"
                );
                throttled_public.push(path);
            }
        }
    }
    throttled_public.sort();
    assert_eq!(throttled_public, ["/authorize", "/authorize/callback"]);

    let link = &resources["AuthLinkFunction"]["Properties"];
    let mint = &link["Events"]["MintLink"]["Properties"];
    assert_eq!(
        (&mint["Path"], &mint["Method"], &mint["Auth"]["Authorizer"]),
        (
            &Value::from("/links"),
            &Value::from("POST"),
            &Value::from("AWS_IAM")
        )
    );
    assert_eq!(
        reference(&link["Environment"]["Variables"]["LINK_SECRET_ID"]),
        "LinkKeySecret"
    );
    let key = &resources["LinkKeySecret"]["Properties"]["GenerateSecretString"];
    assert!(key["PasswordLength"].as_u64().unwrap() >= wxopen::links::MIN_KEY_LEN as u64);
    assert!(key.get("SecretStringTemplate").is_none(), "a plain string");
}

/// API Gateway's access log records the route key, never the path or query string (the
/// callback's auth_code, links' signatures); the table has point-in-time recovery.
#[test]
fn the_template_logs_no_query_strings_and_keeps_the_table_recoverable() {
    use serde_yaml_ng::Value;
    let template: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap(),
    )
    .unwrap();
    let resources = &template["Resources"];
    let format = resources["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
        .as_str()
        .unwrap();
    let variables: Vec<&str> = format
        .split("$context.")
        .skip(1)
        .map(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .next()
                .unwrap()
        })
        .collect();
    assert!(variables.contains(&"routeKey"), "{variables:?}");
    for variable in &variables {
        assert!(
            [
                "requestId",
                "requestTimeEpoch",
                "identity.sourceIp",
                "routeKey",
                "status",
                "responseLength",
                "responseLatency",
                "integrationErrorMessage",
            ]
            .contains(variable),
            "$context.{variable} may carry the path or query string"
        );
    }
    assert_eq!(
        resources["StateTable"]["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
}
