//! The WeChat sandbox's own tests: every rule it enforces, over plain HTTP, and one full
//! authorization walk. They need no AWS service: a small platform server ([`support`]) receives
//! the pushes and the browser's redirect.

mod jssdk;
mod miniprogram;
mod oauth;
mod support;

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::*;
use wechat_sandbox::component_api::{
    AuthorizerInfoAnswer, AuthorizerListAnswer, AuthorizerTokenAnswer, ComponentTokenAnswer,
    PreAuthCodeAnswer, QueryAuthAnswer,
};
use wechat_sandbox::defaults::{
    COMPONENT_APPID as TEST_COMPONENT_APPID, COMPONENT_APPSECRET as TEST_APPSECRET,
    ENCODING_AES_KEY as TEST_ENCODING_AES_KEY, TOKEN as TEST_TOKEN,
};
use wechat_sandbox::{ALL_APIS, AccountKind, PushRecord, SandboxConfig};

const OFFICIAL: &str = "wx1c4e7a9d2b5f8036"; // 深蓝便民缴费, a verified service account
const SUBSCRIPTION: &str = "wx3f2a6c8d1e4b7a90"; // 晨读小站, an unverified subscription account
const MINI_PROGRAM: &str = "wx5d8a1f3c7e9b2046"; // 巷口早餐铺点餐
const MOBILE_PAGE: &str = "/wxaopen/safe/bindcomponent";
const OLD_MOBILE_PAGE: &str = "/safe/bindcomponent";

// ----- the component APIs -----

#[tokio::test]
async fn component_token_checks_appid_secret_and_ticket() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    let ticket = wx.sandbox.ticket().ticket;
    let body = |appid: &str, secret: &str, ticket: &str| {
        json!({
            "component_appid": appid,
            "component_appsecret": secret,
            "component_verify_ticket": ticket,
        })
    };
    let api = "api_component_token";
    assert_eq!(
        wx.errcode(
            api,
            None,
            body("wx0000000000000000", TEST_APPSECRET, &ticket)
        )
        .await,
        40013
    );
    assert_eq!(
        wx.errcode(api, None, body(TEST_COMPONENT_APPID, "wrong", &ticket))
            .await,
        40125
    );
    assert_eq!(
        wx.errcode(api, None, json!({"component_appsecret": TEST_APPSECRET}))
            .await,
        41002
    );
    assert_eq!(
        wx.errcode(api, None, json!({"component_appid": TEST_COMPONENT_APPID}))
            .await,
        41004
    );
    assert_eq!(
        wx.errcode(
            api,
            None,
            body(TEST_COMPONENT_APPID, TEST_APPSECRET, "ticket@@@forged")
        )
        .await,
        61006
    );
    assert_eq!(wx.errcode(api, None, token_body()).await, 61006);
    // Not JSON, and no body at all.
    assert_eq!(
        wx.call_raw(api, None, "component_appid=wx".into()).await["errcode"],
        47001
    );
    assert_eq!(
        wx.call_raw(api, None, String::new()).await["errcode"],
        44002
    );

    let answer: ComponentTokenAnswer = wx
        .ok(
            api,
            None,
            body(TEST_COMPONENT_APPID, TEST_APPSECRET, &ticket),
        )
        .await;
    assert_eq!(answer.expires_in, 7200);
    assert!(answer.component_access_token.len() > 100);

    // A ticket is good for 12 hours, then 61005.
    wx.sandbox.advance(Duration::from_secs(12 * 3600 - 60));
    wx.ok::<ComponentTokenAnswer>(
        api,
        None,
        body(TEST_COMPONENT_APPID, TEST_APPSECRET, &ticket),
    )
    .await;
    wx.sandbox.advance(Duration::from_secs(120));
    assert_eq!(
        wx.errcode(
            api,
            None,
            body(TEST_COMPONENT_APPID, TEST_APPSECRET, &ticket)
        )
        .await,
        61005
    );
    assert_eq!(wx.sandbox.calls_to(api), 11);
}

#[tokio::test]
async fn a_new_component_token_invalidates_the_previous_after_the_grace_period() {
    let wx = Wx::with(SandboxConfig {
        component_token_grace: Duration::from_secs(120),
        ..quick_config()
    })
    .await;
    wx.sandbox.freeze_clock(true);
    let first = wx.component_token().await;
    let second = wx.component_token().await;
    assert_ne!(first, second);
    // Within the grace period both work.
    wx.pre_auth_code(&first).await;
    wx.sandbox.advance(Duration::from_secs(119));
    wx.pre_auth_code(&first).await;
    wx.sandbox.advance(Duration::from_secs(1));
    let body = json!({ "component_appid": TEST_COMPONENT_APPID });
    assert_eq!(
        wx.errcode("api_create_preauthcode", Some(&first), body.clone())
            .await,
        40001
    );
    wx.pre_auth_code(&second).await;

    // And every token expires after 7200 s.
    wx.sandbox.advance(Duration::from_secs(7200));
    assert_eq!(
        wx.errcode("api_create_preauthcode", Some(&second), body)
            .await,
        42001
    );
}

#[tokio::test]
async fn every_api_taking_a_component_token_checks_it() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let body = json!({
        "component_appid": TEST_COMPONENT_APPID,
        "authorization_code": "x",
        "authorizer_appid": OFFICIAL,
        "authorizer_refresh_token": "x",
        "offset": 0,
        "count": 10,
    });
    for api in [
        "api_create_preauthcode",
        "api_query_auth",
        "api_authorizer_token",
        "api_get_authorizer_info",
        "api_get_authorizer_list",
    ] {
        assert_eq!(wx.errcode(api, None, body.clone()).await, 41001, "{api}");
        assert_eq!(
            wx.errcode(api, Some("89_unknown"), body.clone()).await,
            40001,
            "{api}"
        );
        assert_eq!(
            wx.call(
                api,
                Some(&token),
                json!({"component_appid": "wx0000000000000000"})
            )
            .await["errcode"],
            40013,
            "{api}"
        );
    }
    wx.sandbox.advance(Duration::from_secs(7200));
    for api in ["api_create_preauthcode", "api_get_authorizer_list"] {
        assert_eq!(
            wx.errcode(api, Some(&token), body.clone()).await,
            42001,
            "{api}"
        );
    }
}

#[tokio::test]
async fn pre_auth_codes_are_single_use_and_expire() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let referer = Some("http://127.0.0.1:9000/authorize");
    let form = |pre: &str| {
        vec![
            (
                "component_appid".to_owned(),
                TEST_COMPONENT_APPID.to_owned(),
            ),
            ("pre_auth_code".to_owned(), pre.to_owned()),
            ("redirect_uri".to_owned(), "http://127.0.0.1/cb".to_owned()),
            ("authorizer_appid".to_owned(), OFFICIAL.to_owned()),
        ]
    };

    let pre = wx.pre_auth_code(&token).await;
    // Opening the page does not use the code up (the administrator may reload it).
    for _ in 0..2 {
        let (status, _) = wx
            .open(PC_PAGE, &page_params(&pre, "http://127.0.0.1/cb"), referer)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(wx.confirm(PC_PAGE, &form(&pre)).await.is_ok());
    let (status, text) = wx.confirm(PC_PAGE, &form(&pre)).await.unwrap_err();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("授权链接已失效（pre_auth_code was already used）"),
        "{text}"
    );
    let (_, text) = wx
        .open(PC_PAGE, &page_params(&pre, "http://127.0.0.1/cb"), referer)
        .await;
    assert!(text.contains("pre_auth_code was already used"), "{text}");

    // Valid for 1800 s.
    let pre = wx.pre_auth_code(&token).await;
    wx.sandbox.advance(Duration::from_secs(1800));
    let token = wx.component_token().await;
    let (status, text) = wx
        .open(PC_PAGE, &page_params(&pre, "http://127.0.0.1/cb"), referer)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("pre_auth_code has expired"), "{text}");
    assert!(
        wx.confirm(PC_PAGE, &form(&pre))
            .await
            .unwrap_err()
            .1
            .contains("pre_auth_code has expired")
    );
    let (_, text) = wx
        .open(
            PC_PAGE,
            &page_params("preauthcode@@@forged", "http://127.0.0.1/cb"),
            referer,
        )
        .await;
    assert!(text.contains("pre_auth_code is unknown"), "{text}");
    drop(token);
}

#[tokio::test]
async fn authorization_codes_are_single_use_and_expire() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    let token = wx.component_token().await;
    let code = wx.authorize(&token, OFFICIAL).await;
    assert!(code.starts_with("queryauthcode@@@"));
    let answer = wx.query_auth(&token, &code).await;
    assert_eq!(answer.authorization_info.authorizer_appid, OFFICIAL);
    assert_eq!(answer.authorization_info.expires_in, 7200);
    let body =
        |code: &str| json!({ "component_appid": TEST_COMPONENT_APPID, "authorization_code": code });
    assert_eq!(
        wx.errcode("api_query_auth", Some(&token), body(&code))
            .await,
        61010
    );
    assert_eq!(
        wx.errcode(
            "api_query_auth",
            Some(&token),
            body("queryauthcode@@@forged")
        )
        .await,
        61010
    );

    // Good until AuthorizationCodeExpiredTime (an hour), not after.
    let code = wx.authorize(&token, MINI_PROGRAM).await;
    let late = wx.authorize(&token, SUBSCRIPTION).await;
    wx.sandbox.advance(Duration::from_secs(3599));
    let token = wx.component_token().await;
    wx.query_auth(&token, &code).await;
    wx.sandbox.advance(Duration::from_secs(1));
    assert_eq!(
        wx.errcode("api_query_auth", Some(&token), body(&late))
            .await,
        61010
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_old_one_works_for_the_grace_period() {
    let wx = Wx::with(SandboxConfig {
        refresh_token_grace: Duration::from_secs(300),
        ..quick_config()
    })
    .await;
    wx.sandbox.freeze_clock(true);
    let token = wx.component_token().await;
    let code = wx.authorize(&token, OFFICIAL).await;
    let first = wx
        .query_auth(&token, &code)
        .await
        .authorization_info
        .authorizer_refresh_token;
    assert!(first.starts_with("refreshtoken@@@"));

    let answer: AuthorizerTokenAnswer =
        serde_json::from_value(wx.refresh(&token, OFFICIAL, &first).await).unwrap();
    let second = answer.authorizer_refresh_token;
    assert_ne!(second, first);
    assert_eq!(answer.expires_in, 7200);
    // The old one keeps working a few minutes, then 61023.
    wx.sandbox.advance(Duration::from_secs(299));
    let token = wx.component_token().await;
    let third = wx.refresh(&token, OFFICIAL, &first).await["authorizer_refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    wx.sandbox.advance(Duration::from_secs(1));
    assert_eq!(wx.refresh(&token, OFFICIAL, &first).await["errcode"], 61023);
    // `second` was retired by the refresh that made `third`, 1 s ago: still in its grace.
    assert!(
        wx.refresh(&token, OFFICIAL, &second)
            .await
            .get("errcode")
            .is_none()
    );
    assert_eq!(
        wx.refresh(&token, OFFICIAL, "refreshtoken@@@forged").await["errcode"],
        61023
    );
    // Another account's refresh token is not this one's.
    let other = wx.authorize(&token, MINI_PROGRAM).await;
    let other = wx
        .query_auth(&token, &other)
        .await
        .authorization_info
        .authorizer_refresh_token;
    assert_eq!(wx.refresh(&token, OFFICIAL, &other).await["errcode"], 61023);
    drop(third);
}

#[tokio::test]
async fn refresh_tokens_stay_the_same_without_rotation() {
    let wx = Wx::with(SandboxConfig {
        refresh_token_rotation: false,
        ..quick_config()
    })
    .await;
    let token = wx.component_token().await;
    let code = wx.authorize(&token, MINI_PROGRAM).await;
    let refresh = wx
        .query_auth(&token, &code)
        .await
        .authorization_info
        .authorizer_refresh_token;
    for _ in 0..3 {
        let answer = wx.refresh(&token, MINI_PROGRAM, &refresh).await;
        assert_eq!(answer["authorizer_refresh_token"], refresh.as_str());
        assert_eq!(answer["expires_in"], 7200);
    }
}

#[tokio::test]
async fn a_withdrawn_account_is_refused_and_unauthorized_is_pushed() {
    let platform = Platform::start().await;
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let code = wx.authorize(&token, OFFICIAL).await;
    let refresh = wx
        .query_auth(&token, &code)
        .await
        .authorization_info
        .authorizer_refresh_token;
    // Never authorized: 61003.
    assert_eq!(wx.info(&token, SUBSCRIPTION).await["errcode"], 61003);
    assert_eq!(
        wx.refresh(&token, SUBSCRIPTION, &refresh).await["errcode"],
        61003
    );

    wx.sandbox.set_event_url(Some(&platform.event_url()));
    let record = wx.sandbox.withdraw(OFFICIAL).await.unwrap().unwrap();
    assert_eq!(
        (record.info_type.as_str(), record.success, record.attempts),
        ("unauthorized", true, 1)
    );
    assert_eq!(record.authorizer_appid.as_deref(), Some(OFFICIAL));
    let received = platform.received();
    let push = &received.last().unwrap().push;
    assert_eq!(
        push.info,
        Info::Unauthorized {
            authorizer_appid: OFFICIAL.into()
        }
    );

    assert_eq!(
        wx.refresh(&token, OFFICIAL, &refresh).await["errcode"],
        61003
    );
    assert_eq!(wx.info(&token, OFFICIAL).await["errcode"], 61003);
    let list: AuthorizerListAnswer = wx
        .ok(
            "api_get_authorizer_list",
            Some(&token),
            json!({"component_appid": TEST_COMPONENT_APPID, "offset": 0, "count": 100}),
        )
        .await;
    assert_eq!(list.total_count, 0);
    assert!(!wx.sandbox.accounts().iter().any(|a| a.authorized));
    // Withdrawing twice, or an unknown account, is an error of the control.
    assert!(wx.sandbox.withdraw(OFFICIAL).await.is_err());
    assert!(wx.sandbox.withdraw("wx0000000000000000").await.is_err());
}

#[tokio::test]
async fn authorizer_info_is_realistic_for_official_accounts_and_mini_programs() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    for appid in [OFFICIAL, SUBSCRIPTION, MINI_PROGRAM] {
        let code = wx.authorize(&token, appid).await;
        wx.query_auth(&token, &code).await;
    }

    let raw = wx.info(&token, OFFICIAL).await;
    assert!(
        raw["authorizer_info"].get("MiniProgramInfo").is_none(),
        "{raw}"
    );
    let info: AuthorizerInfoAnswer = serde_json::from_value(raw).unwrap();
    let a = &info.authorizer_info;
    assert_eq!(a.nick_name, "深蓝便民缴费");
    assert_eq!((a.service_type_info.id, a.verify_type_info.id), (2, 0));
    assert!(a.user_name.starts_with("gh_"));
    assert_eq!(a.principal_name, "深圳市深蓝信息科技有限公司");
    assert!(a.head_img.starts_with("http://wx.qlogo.cn/"));
    assert!(a.qrcode_url.starts_with("http://mmbiz.qpic.cn/"));
    assert_eq!(a.business_info.open_pay, 1);
    assert_eq!(info.authorization_info.authorizer_appid, OFFICIAL);
    assert!(
        info.authorization_info
            .authorizer_refresh_token
            .starts_with("refreshtoken@@@")
    );
    let ids: Vec<u32> = info
        .authorization_info
        .func_info
        .iter()
        .map(|f| f.funcscope_category.id)
        .collect();
    assert!(
        ids.starts_with(&[1, 2, 3, 4]) && ids.contains(&24),
        "{ids:?}"
    );

    let info: AuthorizerInfoAnswer =
        serde_json::from_value(wx.info(&token, SUBSCRIPTION).await).unwrap();
    assert_eq!(
        (
            info.authorizer_info.service_type_info.id,
            info.authorizer_info.verify_type_info.id
        ),
        (0, -1)
    );
    assert_eq!(info.authorizer_info.principal_name, "个人");

    let raw = wx.info(&token, MINI_PROGRAM).await;
    let mini = &raw["authorizer_info"]["MiniProgramInfo"];
    assert_eq!(
        mini["network"]["RequestDomain"][0],
        "https://api.xiangkou.example.com"
    );
    assert_eq!(
        mini["categories"][0],
        json!({"first": "餐饮", "second": "点餐平台"})
    );
    let info: AuthorizerInfoAnswer = serde_json::from_value(raw).unwrap();
    let ids: Vec<u32> = info
        .authorization_info
        .func_info
        .iter()
        .map(|f| f.funcscope_category.id)
        .collect();
    assert_eq!(ids, [17, 18, 19, 25, 30, 31, 37]);
}

#[tokio::test]
async fn authorizer_list_pages_and_returns_refresh_tokens() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let mut refresh = HashMap::new();
    for appid in [OFFICIAL, SUBSCRIPTION, MINI_PROGRAM] {
        let code = wx.authorize(&token, appid).await;
        let r = wx
            .query_auth(&token, &code)
            .await
            .authorization_info
            .authorizer_refresh_token;
        refresh.insert(appid.to_owned(), r);
        wx.sandbox.advance(Duration::from_secs(1));
    }
    let token = wx.component_token().await;
    let page = |offset: u32, count: u32| json!({ "component_appid": TEST_COMPONENT_APPID, "offset": offset, "count": count });
    let first: AuthorizerListAnswer = wx
        .ok("api_get_authorizer_list", Some(&token), page(0, 2))
        .await;
    let second: AuthorizerListAnswer = wx
        .ok("api_get_authorizer_list", Some(&token), page(2, 2))
        .await;
    let empty: AuthorizerListAnswer = wx
        .ok("api_get_authorizer_list", Some(&token), page(3, 2))
        .await;
    assert_eq!(
        (first.total_count, second.total_count, empty.total_count),
        (3, 3, 3)
    );
    assert_eq!(
        (first.list.len(), second.list.len(), empty.list.len()),
        (2, 1, 0)
    );
    let listed: Vec<_> = first.list.iter().chain(&second.list).collect();
    // Oldest authorization first, each with its current refresh token.
    assert_eq!(
        listed
            .iter()
            .map(|a| a.authorizer_appid.as_str())
            .collect::<Vec<_>>(),
        [OFFICIAL, SUBSCRIPTION, MINI_PROGRAM]
    );
    for a in listed {
        assert_eq!(a.refresh_token, refresh[&a.authorizer_appid]);
        assert!(a.auth_time > 1_700_000_000);
    }
    assert_eq!(
        wx.errcode("api_get_authorizer_list", Some(&token), page(0, 501))
            .await,
        40097
    );
    assert_eq!(
        wx.errcode("api_get_authorizer_list", Some(&token), page(0, 0))
            .await,
        40097
    );
    wx.ok::<AuthorizerListAnswer>("api_get_authorizer_list", Some(&token), page(0, 500))
        .await;
}

#[tokio::test]
async fn start_push_ticket_checks_the_secret_and_pushes_a_ticket() {
    let platform = Platform::start().await;
    let wx = Wx::with(SandboxConfig {
        event_url: Some(platform.event_url()),
        ..quick_config()
    })
    .await;
    let before = wx.sandbox.ticket();
    let body = |secret: &str| json!({ "component_appid": TEST_COMPONENT_APPID, "component_secret": secret });
    assert_eq!(
        wx.errcode("api_start_push_ticket", None, body("wrong"))
            .await,
        40125
    );
    assert!(wx.sandbox.pushes().is_empty());
    let answer = wx
        .call("api_start_push_ticket", None, body(TEST_APPSECRET))
        .await;
    assert_eq!(answer, json!({"errcode": 0, "errmsg": "ok"}));

    let records = wx.sandbox.wait_for_pushes(1).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].info_type.as_str(), records[0].success),
        ("component_verify_ticket", true)
    );
    let now = wx.sandbox.ticket();
    assert_ne!(now, before);
    let received = platform.received();
    assert_eq!(
        received[0].push.info,
        Info::VerifyTicket {
            ticket: now.ticket.clone()
        }
    );
    // Both the old and the new ticket work within their 12 hours.
    for ticket in [before.ticket, now.ticket] {
        let mut b = token_body();
        b["component_verify_ticket"] = ticket.into();
        wx.ok::<ComponentTokenAnswer>("api_component_token", None, b)
            .await;
    }
}

// ----- the authorization pages -----

#[tokio::test]
async fn the_referer_rule_is_enforced_on_every_page_path() {
    let wx = Wx::with(SandboxConfig {
        auth_domains: vec!["auth.example.com".into(), "127.0.0.1:9000".into()],
        ..quick_config()
    })
    .await;
    let token = wx.component_token().await;
    let pre = wx.pre_auth_code(&token).await;
    let params = page_params(
        &pre,
        "https://auth.example.com/authorize/callback?merchant=m1",
    );
    for path in [PC_PAGE, MOBILE_PAGE, OLD_MOBILE_PAGE] {
        let (status, text) = wx.open(path, &params, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(text.contains("授权入口页所在域名：空"), "{text}");
        assert!(text.contains("请确认授权入口页所在域名，与授权后回调页所在域名相同"));

        let (status, text) = wx
            .open(path, &params, Some("https://evil.example.net/x"))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            text.contains("授权入口页所在域名：evil.example.net<"),
            "{text}"
        );
        // A configured host:port does not accept another port.
        let (_, text) = wx
            .open(path, &params, Some("http://127.0.0.1:9001/authorize"))
            .await;
        assert!(
            text.contains("授权入口页所在域名：127.0.0.1:9001<"),
            "{text}"
        );

        for referer in [
            "https://auth.example.com/authorize?merchant=m1",
            "https://auth.example.com:8443/authorize",
            "http://127.0.0.1:9000/lambda-url/auth-link/authorize",
        ] {
            let (status, text) = wx.open(path, &params, Some(referer)).await;
            assert_eq!(status, StatusCode::OK, "{path} {referer}: {text}");
            assert!(text.contains("公众平台帐号授权"));
        }
    }
}

#[tokio::test]
async fn the_redirect_uri_must_be_on_the_authorization_domain() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let pre = wx.pre_auth_code(&token).await;
    let referer = Some("http://localhost:3000/");
    let (status, text) = wx
        .open(
            PC_PAGE,
            &page_params(&pre, "https://evil.example.net/cb"),
            referer,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        text.contains("授权后回调页所在域名：evil.example.net<"),
        "{text}"
    );
    let (status, text) = wx
        .open(
            PC_PAGE,
            &[
                ("component_appid", TEST_COMPONENT_APPID),
                ("pre_auth_code", &pre),
            ],
            referer,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("缺少 redirect_uri"), "{text}");
    let (_, text) = wx
        .open(
            PC_PAGE,
            &[
                ("component_appid", "wx0000000000000000"),
                ("pre_auth_code", &pre),
                ("redirect_uri", "http://localhost/cb"),
            ],
            referer,
        )
        .await;
    assert!(text.contains("component_appid 不是本第三方平台"), "{text}");
    // The confirmation is checked the same way (it cannot be posted around the page).
    let (status, _) = wx
        .confirm(
            PC_PAGE,
            &[
                ("component_appid", TEST_COMPONENT_APPID),
                ("pre_auth_code", &pre),
                ("redirect_uri", "https://evil.example.net/cb"),
                ("authorizer_appid", OFFICIAL),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pages_offer_accounts_by_auth_type_and_biz_appid() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let pre = wx.pre_auth_code(&token).await;
    let referer = Some("http://127.0.0.1:9000/authorize");
    let offered = |html: &str| -> Vec<String> {
        html.split("name=\"authorizer_appid\" value=\"")
            .skip(1)
            .map(|s| s[..18].to_owned())
            .collect()
    };
    let kind_of = |appid: &str| {
        wx.sandbox
            .accounts()
            .into_iter()
            .find(|a| a.account.appid == appid)
            .unwrap()
            .account
            .kind
    };
    let params = |auth_type: &'static str, biz: Option<&'static str>| {
        let mut params = vec![
            ("component_appid", TEST_COMPONENT_APPID.to_owned()),
            ("pre_auth_code", pre.clone()),
            ("redirect_uri", "http://127.0.0.1/cb".to_owned()),
            ("auth_type", auth_type.to_owned()),
        ];
        if let Some(biz) = biz {
            params.push(("biz_appid", biz.to_owned()));
        }
        params
    };

    let (_, html) = wx.open(MOBILE_PAGE, &params("1", None), referer).await;
    let official = offered(&html);
    assert_eq!(official.len(), 8);
    assert!(
        official
            .iter()
            .all(|a| kind_of(a) == AccountKind::OfficialAccount)
    );
    assert!(html.contains("公众号权限集") && !html.contains("小程序权限集"));
    let (_, html) = wx.open(MOBILE_PAGE, &params("2", None), referer).await;
    let minis = offered(&html);
    assert_eq!(minis.len(), 8);
    assert!(minis.iter().all(|a| kind_of(a) == AccountKind::MiniProgram));
    let (_, html) = wx.open(MOBILE_PAGE, &params("3", None), referer).await;
    assert_eq!(offered(&html).len(), 16);
    // biz_appid wins over auth_type.
    let (_, html) = wx
        .open(MOBILE_PAGE, &params("1", Some(MINI_PROGRAM)), referer)
        .await;
    assert_eq!(offered(&html), [MINI_PROGRAM]);
    assert!(html.contains("巷口早餐铺点餐"));
    let (status, html) = wx
        .open(
            MOBILE_PAGE,
            &params("1", Some("wx0000000000000000")),
            referer,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("biz_appid"));
    let (status, _) = wx.open(MOBILE_PAGE, &params("7", None), referer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Confirming an account the page did not offer is refused, and the code stays usable.
    let form = |appid: &'static str, auth_type: &'static str| {
        vec![
            ("component_appid", TEST_COMPONENT_APPID.to_owned()),
            ("pre_auth_code", pre.clone()),
            ("redirect_uri", "http://127.0.0.1/cb".to_owned()),
            ("auth_type", auth_type.to_owned()),
            ("authorizer_appid", appid.to_owned()),
        ]
    };
    let (status, text) = wx
        .confirm(MOBILE_PAGE, &form(MINI_PROGRAM, "1"))
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("该帐号不在本次可授权的范围内"));
    // Unticking every permission set on the form is refused too.
    let mut unticked = form(OFFICIAL, "1");
    unticked.push(("funcs_listed", "1".into()));
    assert!(
        wx.confirm(MOBILE_PAGE, &unticked)
            .await
            .unwrap_err()
            .1
            .contains("请至少选择一项权限")
    );
    // Sets the account cannot grant are dropped; what remains is granted.
    let mut some = form(OFFICIAL, "1");
    some.extend([
        ("func", "1".into()),
        ("func", "15".into()),
        ("func", "17".into()),
    ]);
    let location = wx.confirm(MOBILE_PAGE, &some).await.unwrap();
    let code = query_of(&location)["auth_code"].clone();
    let answer = wx.query_auth(&token, &code).await;
    let ids: Vec<u32> = answer
        .authorization_info
        .func_info
        .iter()
        .map(|f| f.funcscope_category.id)
        .collect();
    assert_eq!(ids, [1, 15]);
}

#[tokio::test]
async fn confirming_redirects_with_the_code_and_pushes_authorized_then_updateauthorized() {
    let platform = Platform::start().await;
    let wx = Wx::with(SandboxConfig {
        event_url: Some(platform.event_url()),
        ..quick_config()
    })
    .await;
    let token = wx.component_token().await;
    let redirect_uri = "http://127.0.0.1:9000/authorize/callback?merchant=m%201&x=y#done";

    let mut codes = Vec::new();
    for (round, expected) in [(1, "authorized"), (2, "updateauthorized")] {
        let pre = wx.pre_auth_code(&token).await;
        let location = wx
            .confirm(
                PC_PAGE,
                &[
                    ("component_appid", TEST_COMPONENT_APPID),
                    ("pre_auth_code", &pre),
                    ("redirect_uri", redirect_uri),
                    ("authorizer_appid", MINI_PROGRAM),
                ],
            )
            .await
            .unwrap();
        // The redirect_uri's own parameters are kept; auth_code and expires_in=600 appended.
        assert!(location.starts_with("http://127.0.0.1:9000/authorize/callback?merchant=m%201&x=y&auth_code=queryauthcode%40%40%40"), "{location}");
        assert!(location.ends_with("&expires_in=600#done"), "{location}");
        let query = query_of(&location);
        assert_eq!(query["merchant"], "m 1");
        let code = query["auth_code"].clone();

        let records = wx.sandbox.wait_for_pushes(round).await.unwrap();
        let record = &records[round - 1];
        assert_eq!(
            (record.info_type.as_str(), record.success, record.attempts),
            (expected, true, 1)
        );
        let received = platform.received();
        let push = &received[round - 1].push;
        let grant = match &push.info {
            Info::Authorized(g) if round == 1 => g,
            Info::UpdateAuthorized(g) if round == 2 => g,
            other => panic!("{other:?}"),
        };
        assert_eq!(grant.authorizer_appid, MINI_PROGRAM);
        assert_eq!(grant.authorization_code, code);
        assert_eq!(
            grant.authorization_code_expired_time,
            push.create_time + 3600
        );
        assert_eq!(grant.pre_auth_code.as_deref(), Some(pre.as_str()));
        assert_eq!(push.app_id, TEST_COMPONENT_APPID);
        codes.push(code);
    }
    // Each confirmation's code is exchangeable once.
    for code in codes {
        wx.query_auth(&token, &code).await;
    }
}

// ----- pushes -----

#[tokio::test]
async fn pushes_are_encrypted_and_signed_like_wechats() {
    let platform = Platform::start().await;
    let wx = Wx::with(SandboxConfig {
        event_url: Some(platform.event_url()),
        ..quick_config()
    })
    .await;
    let record = wx.sandbox.push_ticket().await.unwrap();
    assert_eq!(
        (
            record.success,
            record.attempts,
            record.status,
            record.body.as_deref()
        ),
        (true, 1, Some(200), Some("success"))
    );
    assert_eq!(record.url, platform.event_url());
    let received = platform.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    let mut names: Vec<_> = r.query.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "encrypt_type",
            "msg_signature",
            "nonce",
            "signature",
            "timestamp"
        ]
    );
    // Stamped when sent, right after the ticket was issued.
    let sent: i64 = r.query["timestamp"].parse().unwrap();
    assert!((0..=5).contains(&(sent - r.push.create_time)), "{sent}");
    assert_eq!(
        r.push.info,
        Info::VerifyTicket {
            ticket: wx.sandbox.ticket().ticket
        }
    );
    assert!(
        record
            .xml
            .contains("<InfoType><![CDATA[component_verify_ticket]]></InfoType>")
    );

    // Without an event URL there is nowhere to push.
    wx.sandbox.set_event_url(None);
    assert!(wx.sandbox.push_ticket().await.is_err());
}

#[tokio::test]
async fn pushes_are_retried_when_not_answered_success() {
    let platform = Platform::start().await;
    let wx = Wx::with(SandboxConfig {
        event_url: Some(platform.event_url()),
        push_timeout: Duration::from_millis(500),
        ..quick_config()
    })
    .await;

    platform.reply_next(&[Reply::Status(500, "busy"), Reply::Status(200, "fail")]);
    let record = wx.sandbox.push_ticket().await.unwrap();
    assert_eq!((record.success, record.attempts), (true, 3));
    let got: Vec<_> = record
        .history
        .iter()
        .map(|a| (a.status, a.body.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(500), Some("busy")),
            (Some(200), Some("fail")),
            (Some(200), Some("success"))
        ]
    );
    // A retry is the very same request.
    let received = platform.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.query == received[0].query));

    // No answer within the timeout counts as a failure too.
    platform.reply_next(&[Reply::Hang(Duration::from_secs(5))]);
    let record = wx.sandbox.push_ticket().await.unwrap();
    assert_eq!((record.success, record.attempts), (true, 2));
    assert_eq!(record.history[0].error.as_deref(), Some("timed out"));

    // Up to 3 retries, then it gives up and records the failure.
    platform.reply_next(&[Reply::Status(503, "down"); 4]);
    let record = wx.sandbox.push_ticket().await.unwrap();
    assert_eq!(
        (record.success, record.attempts, record.status),
        (false, 4, Some(503))
    );
    assert_eq!(wx.sandbox.pushes().len(), 3);
    assert_eq!(wx.sandbox.pushes()[2], record);

    // Nobody listening at all.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nobody = format!("http://{}/events", closed.local_addr().unwrap());
    drop(closed);
    wx.sandbox.set_event_url(Some(&nobody));
    let record = wx.sandbox.push_ticket().await.unwrap();
    assert_eq!(
        (record.success, record.attempts, record.status),
        (false, 4, None)
    );
    assert_eq!(
        record.history[0].error.as_deref(),
        Some("connection failed")
    );
}

#[tokio::test]
async fn tickets_are_pushed_on_schedule() {
    let platform = Platform::start().await;
    let wx = Wx::with(SandboxConfig {
        event_url: Some(platform.event_url()),
        ticket_interval: Duration::from_millis(100),
        ..quick_config()
    })
    .await;
    let records = wx.sandbox.wait_for_pushes(3).await.unwrap();
    assert!(
        records
            .iter()
            .all(|r| r.info_type == "component_verify_ticket" && r.success)
    );
    let tickets: Vec<_> = platform
        .received()
        .into_iter()
        .map(|r| match r.push.info {
            Info::VerifyTicket { ticket } => ticket,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(tickets.len() >= 3);
    // Each push carries a new ticket.
    let mut unique = tickets.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), tickets.len());
}

// ----- faults and counters -----

#[tokio::test]
async fn injected_errcodes_for_the_next_calls_and_at_a_rate() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let body = json!({ "component_appid": TEST_COMPONENT_APPID });
    let api = "api_create_preauthcode";

    wx.sandbox.fail_next(api, 45009, 2);
    wx.sandbox.fail_next(ALL_APIS, -1, 1);
    assert_eq!(wx.errcode(api, Some(&token), body.clone()).await, 45009);
    assert_eq!(wx.errcode(api, Some(&token), body.clone()).await, 45009);
    assert_eq!(wx.errcode(api, Some(&token), body.clone()).await, -1);
    wx.pre_auth_code(&token).await;
    assert!(wx.sandbox.faults().is_empty());

    // Injected errors change nothing: the token is not superseded by a faulted call.
    wx.sandbox.fail_next("api_component_token", 61004, 1);
    let mut b = token_body();
    b["component_verify_ticket"] = wx.sandbox.ticket().ticket.into();
    assert_eq!(wx.errcode("api_component_token", None, b).await, 61004);

    wx.sandbox.fail_at_rate(api, 40001, 1.0);
    for _ in 0..5 {
        assert_eq!(wx.errcode(api, Some(&token), body.clone()).await, 40001);
    }
    wx.sandbox.clear_faults();
    wx.sandbox.fail_at_rate(api, 61023, 0.5);
    let mut seen = (0, 0);
    for _ in 0..60 {
        match wx
            .call(api, Some(&token), body.clone())
            .await
            .get("errcode")
        {
            Some(code) => {
                assert_eq!(code, 61023);
                seen.0 += 1;
            }
            None => seen.1 += 1,
        }
    }
    // Both outcomes at a 0.5 rate over 60 calls (each all-one-way run has odds of 2^-60).
    assert!(seen.0 > 0 && seen.1 > 0, "{seen:?}");
    wx.sandbox.clear_faults();
    wx.sandbox.fail_next(api, 61007, 1);
    let answer = wx.call(api, Some(&token), body).await;
    assert_eq!(answer["errcode"], 61007);
}

#[tokio::test]
async fn latency_and_hangs_outlast_a_client_timeout() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let call = || {
        impatient
            .post(wx.url("/cgi-bin/component/api_create_preauthcode"))
            .query(&[("component_access_token", &token)])
            .body(json!({ "component_appid": TEST_COMPONENT_APPID }).to_string())
            .send()
    };
    wx.sandbox
        .hang_next("api_create_preauthcode", Duration::from_secs(30), 1);
    assert!(call().await.unwrap_err().is_timeout());
    // Only the next call hangs.
    assert_eq!(call().await.unwrap().status(), StatusCode::OK);

    wx.sandbox
        .set_latency("api_create_preauthcode", Duration::from_secs(3));
    assert!(call().await.unwrap_err().is_timeout());
    // A patient client gets the answer after the latency.
    wx.pre_auth_code(&token).await;
    assert_eq!(wx.sandbox.calls_to("api_create_preauthcode"), 4);
}

#[tokio::test]
async fn calls_are_counted_per_api_and_per_authorizer() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let code = wx.authorize(&token, OFFICIAL).await;
    let refresh = wx
        .query_auth(&token, &code)
        .await
        .authorization_info
        .authorizer_refresh_token;
    for _ in 0..2 {
        wx.refresh(&token, OFFICIAL, &refresh).await;
    }
    wx.refresh(&token, MINI_PROGRAM, "x").await;
    wx.info(&token, OFFICIAL).await;
    let unknown = wx
        .http
        .post(wx.url("/cgi-bin/component/api_no_such_thing"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown.json::<Value>().await.unwrap()["errcode"], 48001);

    let s = &wx.sandbox;
    assert_eq!(s.calls_to("api_component_token"), 1);
    assert_eq!(s.calls_to("api_create_preauthcode"), 1);
    assert_eq!(s.calls_to("api_query_auth"), 1);
    assert_eq!(s.calls_to("api_authorizer_token"), 3);
    assert_eq!(s.calls_to("api_no_such_thing"), 1);
    assert_eq!(s.calls_for("api_authorizer_token", OFFICIAL), 2);
    assert_eq!(s.calls_for("api_authorizer_token", MINI_PROGRAM), 1);
    assert_eq!(s.calls_for("api_query_auth", OFFICIAL), 1);
    assert_eq!(s.calls_for("api_get_authorizer_info", OFFICIAL), 1);
    s.reset_calls();
    assert_eq!(s.calls(), Default::default());
}

impl Wx {
    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        )
    }
}

#[tokio::test]
async fn control_endpoints_drive_the_sandbox_over_http() {
    use reqwest::Method;
    let platform = Platform::start().await;
    let wx = Wx::start().await;

    let (status, _) = wx.control(Method::POST, "/sandbox/push-ticket", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, url) = wx
        .control(
            Method::POST,
            "/sandbox/event-url",
            Some(json!({"event_url": platform.event_url()})),
        )
        .await;
    assert_eq!(url["event_url"], platform.event_url());
    let (status, record) = wx.control(Method::POST, "/sandbox/push-ticket", None).await;
    assert_eq!(status, StatusCode::OK);
    let record: PushRecord = serde_json::from_value(record).unwrap();
    assert!(record.success);
    let (_, ticket) = wx.control(Method::GET, "/sandbox/ticket", None).await;
    assert_eq!(ticket["ticket"], wx.sandbox.ticket().ticket);

    let (_, answer) = wx
        .control(
            Method::POST,
            "/sandbox/authorize",
            Some(json!({"authorizer_appid": OFFICIAL, "func_info": [1, 2, 17]})),
        )
        .await;
    assert_eq!(answer["grant"]["info_type"], "authorized");
    assert_eq!(answer["push"]["success"], true);
    let code = answer["grant"]["authorization_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, accounts) = wx.control(Method::GET, "/sandbox/accounts", None).await;
    let official = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appid"] == OFFICIAL)
        .unwrap();
    assert_eq!(
        (official["authorized"].clone(), official["granted"].clone()),
        (json!(true), json!([1, 2]))
    );
    assert_eq!(official["info"]["nick_name"], "深蓝便民缴费");

    let (status, faults) = wx
        .control(
            Method::POST,
            "/sandbox/faults",
            Some(json!({"kind": "errcode", "api": "api_query_auth", "errcode": -1, "next": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(faults.as_array().unwrap().len(), 1);
    let (status, _) = wx
        .control(
            Method::POST,
            "/sandbox/faults",
            Some(json!({"kind": "nonsense"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let token = wx.component_token().await;
    let body = json!({ "component_appid": TEST_COMPONENT_APPID, "authorization_code": code });
    assert_eq!(
        wx.errcode("api_query_auth", Some(&token), body.clone())
            .await,
        -1
    );
    wx.ok::<QueryAuthAnswer>("api_query_auth", Some(&token), body)
        .await;
    wx.control(
        Method::POST,
        "/sandbox/faults",
        Some(json!({"kind": "latency", "api": "*", "ms": 1})),
    )
    .await;
    let (status, _) = wx.control(Method::DELETE, "/sandbox/faults", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(wx.sandbox.faults().is_empty());

    let (_, calls) = wx.control(Method::GET, "/sandbox/calls", None).await;
    assert_eq!(calls["per_api"]["api_query_auth"], 2);
    assert_eq!(
        calls["per_authorizer"],
        json!([{"api": "api_query_auth", "authorizer_appid": OFFICIAL, "count": 2}])
    );
    wx.control(Method::DELETE, "/sandbox/calls", None).await;
    assert_eq!(wx.sandbox.calls_to("api_query_auth"), 0);

    let (_, answer) = wx
        .control(
            Method::POST,
            "/sandbox/withdraw",
            Some(json!({"authorizer_appid": OFFICIAL})),
        )
        .await;
    assert_eq!(answer["push"]["info_type"], "unauthorized");
    let (status, _) = wx
        .control(
            Method::POST,
            "/sandbox/withdraw",
            Some(json!({"authorizer_appid": "wx0000000000000000"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, pushes) = wx.control(Method::GET, "/sandbox/pushes", None).await;
    let kinds: Vec<_> = pushes
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["info_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["component_verify_ticket", "authorized", "unauthorized"]
    );

    let (_, clock) = wx
        .control(
            Method::POST,
            "/sandbox/clock/advance",
            Some(json!({"seconds": 7200})),
        )
        .await;
    assert_eq!(clock["offset_secs"], 7200);
    assert_eq!(
        wx.errcode(
            "api_create_preauthcode",
            Some(&token),
            json!({"component_appid": TEST_COMPONENT_APPID})
        )
        .await,
        42001
    );

    let (_, frozen) = wx
        .control(
            Method::POST,
            "/sandbox/clock/freeze",
            Some(json!({"frozen": true})),
        )
        .await;
    assert_eq!(frozen["frozen"], true);
    assert!(wx.sandbox.now() >= clock["now"].as_i64().unwrap());
    let (_, clock) = wx.control(Method::GET, "/sandbox/clock", None).await;
    assert_eq!(clock["now"], frozen["now"]);
}

#[tokio::test]
async fn the_home_page_lists_accounts_and_withdraws_one() {
    let platform = Platform::start().await;
    let wx = Wx::with(SandboxConfig {
        event_url: Some(platform.event_url()),
        ..quick_config()
    })
    .await;
    wx.sandbox.authorize(SUBSCRIPTION, None).await.unwrap();
    let html = wx
        .http
        .get(wx.url("/sandbox"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("晨读小站")
            && html.contains("已授权")
            && html.contains("全网发布测试帐号，第5组")
    );
    let response = wx
        .http
        .post(wx.url("/sandbox/ui/withdraw"))
        .form(&[("authorizer_appid", SUBSCRIPTION)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let kinds: Vec<_> = wx
        .sandbox
        .pushes()
        .into_iter()
        .map(|p| p.info_type)
        .collect();
    assert_eq!(kinds, ["authorized", "unauthorized"]);
    assert!(!wx.sandbox.accounts().iter().any(|a| a.authorized));
}

#[tokio::test]
async fn release_check_accounts_are_built_in_and_marked() {
    let wx = Wx::start().await;
    let accounts = wx.sandbox.accounts();
    let marked: Vec<_> = accounts
        .iter()
        .filter(|a| a.account.release_check_group.is_some())
        .collect();
    assert_eq!(marked.len(), 10);
    for (appid, user_name, group) in [
        ("wx570bc396a51b8ff8", "gh_3c884a361561", 1),
        ("wxd101a85aa106f53e", "gh_8dad206e9538", 1),
        ("wxa35b9c23cfe664eb", "gh_2b3713f184a6", 5),
        ("wx5910277cae6fd970", "gh_7818dcb60240", 5),
    ] {
        let a = accounts.iter().find(|a| a.account.appid == appid).unwrap();
        assert_eq!(a.account.info.user_name, user_name);
        assert_eq!(a.account.release_check_group, Some(group));
    }
    // They authorize like any other account.
    let token = wx.component_token().await;
    let code = wx.authorize(&token, "wx570bc396a51b8ff8").await;
    wx.query_auth(&token, &code).await;
}

// ----- the full walk, and the binary -----

#[tokio::test]
async fn the_full_authorization_walk_over_plain_http() {
    let platform = Platform::start().await;
    let wx = Wx::with(SandboxConfig {
        event_url: Some(platform.event_url()),
        ..quick_config()
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api = |name: &str| format!("{}/cgi-bin/component/{name}", wx.sandbox.base_url());

    // WeChat pushes a ticket (the service asks for one with api_start_push_ticket).
    let answer: Value = http
        .post(api("api_start_push_ticket"))
        .json(&json!({"component_appid": TEST_COMPONENT_APPID, "component_secret": TEST_APPSECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["errcode"], 0);
    wx.sandbox.wait_for_pushes(1).await.unwrap();
    let ticket = match &platform.received()[0].push.info {
        Info::VerifyTicket { ticket } => ticket.clone(),
        other => panic!("{other:?}"),
    };

    // Component token, then a pre-auth code.
    let token: ComponentTokenAnswer = http
        .post(api("api_component_token"))
        .json(&json!({"component_appid": TEST_COMPONENT_APPID, "component_appsecret": TEST_APPSECRET, "component_verify_ticket": ticket}))
        .send().await.unwrap().json().await.unwrap();
    let cat = token.component_access_token;
    let pre: PreAuthCodeAnswer = http
        .post(api("api_create_preauthcode"))
        .query(&[("component_access_token", &cat)])
        .json(&json!({"component_appid": TEST_COMPONENT_APPID}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // The PC page: refused without a Referer, served with one from the platform's domain.
    let redirect_uri = format!("{}/callback?merchant=m42", platform.base_url);
    let page_url = format!("{}{PC_PAGE}", wx.sandbox.base_url());
    let params = [
        ("component_appid", TEST_COMPONENT_APPID),
        ("pre_auth_code", &pre.pre_auth_code),
        ("redirect_uri", &redirect_uri),
        ("auth_type", "3"),
    ];
    let refused = http.get(&page_url).query(&params).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("授权入口页所在域名：空")
    );
    let page = http
        .get(&page_url)
        .query(&params)
        .header(
            "referer",
            format!("{}/authorize?merchant=m42", platform.base_url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();

    // The administrator picks the mini program and confirms with the form as served.
    let mut form = hidden_inputs(&html);
    form.push(("authorizer_appid".into(), MINI_PROGRAM.into()));
    for id in ["17", "18", "19", "30"] {
        form.push(("func".into(), id.into()));
    }
    let action = html
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let confirmed = http
        .post(format!("{}{action}", wx.sandbox.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::FOUND);
    let location = confirmed.headers()["location"].to_str().unwrap().to_owned();

    // The browser follows the redirect to the platform's callback.
    let callback = http.get(&location).send().await.unwrap();
    assert_eq!(callback.text().await.unwrap(), "授权成功");
    let landed = platform.state.callbacks.lock().unwrap()[0].clone();
    assert_eq!(landed["merchant"], "m42");
    assert_eq!(landed["expires_in"], "600");
    let code = landed["auth_code"].clone();

    // The authorized push carries the same code.
    let records = wx.sandbox.wait_for_pushes(2).await.unwrap();
    assert_eq!(records[1].info_type, "authorized");
    match &platform.received()[1].push.info {
        Info::Authorized(grant) => {
            assert_eq!(grant.authorization_code, code);
            assert_eq!(grant.authorizer_appid, MINI_PROGRAM);
            assert_eq!(
                grant.pre_auth_code.as_deref(),
                Some(pre.pre_auth_code.as_str())
            );
        }
        other => panic!("{other:?}"),
    }

    // Exchange the code, read the account, refresh its token.
    let auth: QueryAuthAnswer = http
        .post(api("api_query_auth"))
        .query(&[("component_access_token", &cat)])
        .json(&json!({"component_appid": TEST_COMPONENT_APPID, "authorization_code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let info = auth.authorization_info;
    assert_eq!(info.authorizer_appid, MINI_PROGRAM);
    let granted: Vec<u32> = info
        .func_info
        .iter()
        .map(|f| f.funcscope_category.id)
        .collect();
    assert_eq!(granted, [17, 18, 19, 30]);
    let account: AuthorizerInfoAnswer = http
        .post(api("api_get_authorizer_info"))
        .query(&[("component_access_token", &cat)])
        .json(&json!({"component_appid": TEST_COMPONENT_APPID, "authorizer_appid": MINI_PROGRAM}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account.authorizer_info.nick_name, "巷口早餐铺点餐");
    assert!(account.authorizer_info.mini_program_info.is_some());
    assert_eq!(
        account.authorization_info.authorizer_refresh_token,
        info.authorizer_refresh_token
    );
    let refreshed: AuthorizerTokenAnswer = http
        .post(api("api_authorizer_token"))
        .query(&[("component_access_token", &cat)])
        .json(&json!({"component_appid": TEST_COMPONENT_APPID, "authorizer_appid": MINI_PROGRAM, "authorizer_refresh_token": info.authorizer_refresh_token}))
        .send().await.unwrap().json().await.unwrap();
    assert_ne!(
        refreshed.authorizer_access_token,
        info.authorizer_access_token
    );
    assert_eq!(refreshed.expires_in, 7200);
    assert_eq!(
        wx.sandbox.calls_for("api_authorizer_token", MINI_PROGRAM),
        1
    );
}

/// The hidden inputs of a served form, decoded.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|tag| {
            let attr = |name: &str| {
                let value = tag
                    .split(&format!("{name}=\""))
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                value
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&#39;", "'")
                    .replace("&amp;", "&")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

#[tokio::test]
async fn the_binary_runs_from_a_config_file_and_flags() {
    use tokio::io::AsyncBufReadExt;

    let dir = std::env::temp_dir().join(format!("wechat-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sandbox.json");
    std::fs::write(
        &file,
        json!({
            "component_appid": "wx0123456789abcdef",
            "component_appsecret": "from-the-file",
            "ticket_interval_secs": 0,
            "component_token_grace_secs": 60,
        })
        .to_string(),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wechat-sandbox"))
        .args([
            "--config",
            file.to_str().unwrap(),
            "--port",
            "0",
            "--component-appsecret",
            "from-a-flag",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = first
        .strip_prefix("wechat-sandbox listening on ")
        .unwrap()
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");

    let http = reqwest::Client::new();
    let ticket: Value = http
        .get(format!("{base}/sandbox/ticket"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = |secret: &str| {
        http.post(format!("{base}/cgi-bin/component/api_component_token"))
            .json(&json!({"component_appid": "wx0123456789abcdef", "component_appsecret": secret, "component_verify_ticket": ticket["ticket"]}))
            .send()
    };
    // The flag overrides the file; the file's appid is the platform's.
    let answer: Value = token("from-the-file").await.unwrap().json().await.unwrap();
    assert_eq!(answer["errcode"], 40125);
    let answer: Value = token("from-a-flag").await.unwrap().json().await.unwrap();
    assert_eq!(answer["expires_in"], 7200);

    child.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn debug_output_shows_no_secret_token_or_code() {
    let wx = Wx::start().await;
    let token = wx.component_token().await;
    let code = wx.authorize(&token, OFFICIAL).await;
    let shown = format!("{:?} {:?}", wx.sandbox, wx.sandbox.config());
    for secret in [
        TEST_APPSECRET,
        TEST_TOKEN,
        TEST_ENCODING_AES_KEY,
        &token,
        &code,
        &wx.sandbox.ticket().ticket,
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
}
