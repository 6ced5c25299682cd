//! Mini program login: `sns/component/jscode2session` and the wx.login codes it exchanges.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use wechat_sandbox::WxError;
use wechat_sandbox::defaults::COMPONENT_APPID;
use wechat_sandbox::miniprogram_api::{API, SessionAnswer};

use super::support::*;
use super::{MINI_PROGRAM, OFFICIAL};

const OTHER_MINI_PROGRAM: &str = "wx2a6c8e0b4d7f1068"; // 云杉好物商城

impl Wx {
    /// Calls jscode2session with these parameters; the raw answer (HTTP 200, as WeChat's).
    pub async fn jscode2session(&self, params: &[(&str, &str)]) -> Value {
        self.get_api("/sns/component/jscode2session", params).await
    }

    /// A mini program login as the platform makes it.
    pub async fn login(&self, token: &str, appid: &str, code: &str) -> Value {
        self.jscode2session(&[
            ("appid", appid),
            ("js_code", code),
            ("grant_type", "authorization_code"),
            ("component_appid", COMPONENT_APPID),
            ("component_access_token", token),
        ])
        .await
    }
}

fn errcode(answer: &Value) -> i64 {
    let errcode = answer["errcode"].as_i64().unwrap_or(0);
    if errcode != 0 {
        let expected = WxError::from_errcode(errcode).to_string();
        let errmsg = answer["errmsg"].as_str().unwrap();
        assert!(errmsg.starts_with(&format!("{expected} rid: ")), "{answer}");
    }
    errcode
}

/// An authorized mini program and a component token.
async fn authorized(wx: &Wx, appid: &str) -> String {
    let token = wx.component_token().await;
    wx.sandbox.authorize(appid, None).await.unwrap();
    token
}

#[tokio::test]
async fn a_login_code_works_once_then_40163() {
    let wx = Wx::start().await;
    let token = authorized(&wx, MINI_PROGRAM).await;
    let code = wx.sandbox.login_code(MINI_PROGRAM, "alice");

    let answer = wx.login(&token, MINI_PROGRAM, &code).await;
    let session: SessionAnswer = serde_json::from_value(answer.clone()).unwrap();
    assert_eq!(
        session.openid,
        wx.sandbox.user_openid(MINI_PROGRAM, "alice")
    );
    assert_eq!(session.unionid, Some(wx.sandbox.user_unionid("alice")));
    assert_eq!(session.session_key.len(), 24, "16 bytes in base64");
    assert_eq!(
        wx.sandbox.session_key(MINI_PROGRAM, "alice"),
        Some(session.session_key.clone())
    );
    assert_eq!(answer.get("errcode"), None, "{answer}");

    assert_eq!(errcode(&wx.login(&token, MINI_PROGRAM, &code).await), 40163);
    // A new code for the same user: the same openid, a new session_key.
    let again: SessionAnswer = serde_json::from_value(
        wx.login(
            &token,
            MINI_PROGRAM,
            &wx.sandbox.login_code(MINI_PROGRAM, "alice"),
        )
        .await,
    )
    .unwrap();
    assert_eq!(again.openid, session.openid);
    assert_ne!(again.session_key, session.session_key);
    assert_eq!(wx.sandbox.calls_for(API, MINI_PROGRAM), 3);
}

#[tokio::test]
async fn unknown_expired_and_other_accounts_codes_are_40029_and_stay_usable() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    let token = authorized(&wx, MINI_PROGRAM).await;
    wx.sandbox
        .authorize(OTHER_MINI_PROGRAM, None)
        .await
        .unwrap();

    assert_eq!(
        errcode(&wx.login(&token, MINI_PROGRAM, "nosuchcode").await),
        40029
    );

    // Another mini program's code is refused, and not used up by the refusal.
    let theirs = wx.sandbox.login_code(OTHER_MINI_PROGRAM, "bob");
    assert_eq!(
        errcode(&wx.login(&token, MINI_PROGRAM, &theirs).await),
        40029
    );
    let session: SessionAnswer =
        serde_json::from_value(wx.login(&token, OTHER_MINI_PROGRAM, &theirs).await).unwrap();
    assert_eq!(
        session.openid,
        wx.sandbox.user_openid(OTHER_MINI_PROGRAM, "bob")
    );
    assert_ne!(session.openid, wx.sandbox.user_openid(MINI_PROGRAM, "bob"));

    // Five minutes: good one second before, 40029 from then on.
    let code = wx.sandbox.login_code(MINI_PROGRAM, "alice");
    let late = wx.sandbox.login_code(MINI_PROGRAM, "alice");
    wx.sandbox.advance(Duration::from_secs(299));
    assert_eq!(errcode(&wx.login(&token, MINI_PROGRAM, &code).await), 0);
    wx.sandbox.advance(Duration::from_secs(1));
    assert_eq!(errcode(&wx.login(&token, MINI_PROGRAM, &late).await), 40029);
}

#[tokio::test]
async fn only_authorized_mini_programs_log_users_in() {
    let wx = Wx::start().await;
    let token = authorized(&wx, MINI_PROGRAM).await;
    let code = wx.sandbox.login_code(MINI_PROGRAM, "alice");

    wx.sandbox.withdraw(MINI_PROGRAM).await.unwrap();
    assert_eq!(errcode(&wx.login(&token, MINI_PROGRAM, &code).await), 61003);
    // Authorized again, the code (not used by the refusal) works.
    wx.sandbox.authorize(MINI_PROGRAM, None).await.unwrap();
    assert_eq!(errcode(&wx.login(&token, MINI_PROGRAM, &code).await), 0);

    // Never authorized: 61003; an official account or an unknown appid: 40013.
    let other = wx.sandbox.login_code(OTHER_MINI_PROGRAM, "alice");
    assert_eq!(
        errcode(&wx.login(&token, OTHER_MINI_PROGRAM, &other).await),
        61003
    );
    wx.sandbox.authorize(OFFICIAL, None).await.unwrap();
    let official = wx.sandbox.login_code(OFFICIAL, "alice");
    assert_eq!(errcode(&wx.login(&token, OFFICIAL, &official).await), 40013);
    let unknown = wx.sandbox.login_code("wx0000000000000000", "alice");
    assert_eq!(
        errcode(&wx.login(&token, "wx0000000000000000", &unknown).await),
        40013
    );
}

#[tokio::test]
async fn jscode2session_checks_the_component_token_and_its_parameters() {
    let wx = Wx::start().await;
    wx.sandbox.freeze_clock(true);
    let token = authorized(&wx, MINI_PROGRAM).await;
    let code = wx.sandbox.login_code(MINI_PROGRAM, "alice");
    let params = |drop: &str, change: Option<(&str, &str)>| -> Vec<(String, String)> {
        [
            ("appid", MINI_PROGRAM),
            ("js_code", code.as_str()),
            ("grant_type", "authorization_code"),
            ("component_appid", COMPONENT_APPID),
            ("component_access_token", token.as_str()),
        ]
        .into_iter()
        .filter(|(k, _)| *k != drop)
        .map(|(k, v)| match change {
            Some((c, new)) if c == k => (k.to_owned(), new.to_owned()),
            _ => (k.to_owned(), v.to_owned()),
        })
        .collect()
    };
    let wx = &wx;
    let call = |p: Vec<(String, String)>| async move {
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        errcode(&wx.jscode2session(&p).await)
    };
    assert_eq!(call(params("component_access_token", None)).await, 41001);
    assert_eq!(
        call(params("", Some(("component_access_token", "89_forged")))).await,
        40001
    );
    assert_eq!(call(params("component_appid", None)).await, 41002);
    assert_eq!(
        call(params("", Some(("component_appid", "wx0000000000000000")))).await,
        40013
    );
    assert_eq!(call(params("appid", None)).await, 41002);
    assert_eq!(call(params("grant_type", None)).await, 40002);
    assert_eq!(call(params("js_code", None)).await, 41008);
    // None of those used the code up.
    assert_eq!(call(params("", None)).await, 0);
    // The component token expires like every other call's.
    let code = wx.sandbox.login_code(MINI_PROGRAM, "alice");
    wx.sandbox.advance(Duration::from_secs(7200));
    assert_eq!(errcode(&wx.login(&token, MINI_PROGRAM, &code).await), 42001);
}

#[tokio::test]
async fn unbound_accounts_give_no_unionid() {
    let wx = Wx::start().await;
    let token = authorized(&wx, MINI_PROGRAM).await;
    wx.sandbox.set_open_platform_bound(MINI_PROGRAM, false);
    let answer = wx
        .login(
            &token,
            MINI_PROGRAM,
            &wx.sandbox.login_code(MINI_PROGRAM, "alice"),
        )
        .await;
    assert_eq!(answer.get("unionid"), None, "{answer}");
    assert_eq!(
        answer["openid"],
        json!(wx.sandbox.user_openid(MINI_PROGRAM, "alice"))
    );
}

#[tokio::test]
async fn faults_and_counters_cover_jscode2session() {
    let wx = Wx::start().await;
    let token = authorized(&wx, MINI_PROGRAM).await;
    let code = wx.sandbox.login_code(MINI_PROGRAM, "alice");
    wx.sandbox.fail_next(API, -1, 1);
    assert_eq!(errcode(&wx.login(&token, MINI_PROGRAM, &code).await), -1);
    // The injected error used nothing up.
    assert_eq!(errcode(&wx.login(&token, MINI_PROGRAM, &code).await), 0);
    assert_eq!(wx.sandbox.calls_to(API), 2);
    assert_eq!(wx.sandbox.calls_for(API, MINI_PROGRAM), 2);
}

#[tokio::test]
async fn login_codes_over_http() {
    let wx = Wx::start().await;
    let token = authorized(&wx, MINI_PROGRAM).await;
    let (status, answer) = wx
        .control(
            reqwest::Method::POST,
            "/sandbox/miniprogram/login-code",
            Some(json!({"appid": MINI_PROGRAM, "user": "carol"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["openid"],
        json!(wx.sandbox.user_openid(MINI_PROGRAM, "carol"))
    );
    assert_eq!(answer["unionid"], json!(wx.sandbox.user_unionid("carol")));
    let session = wx
        .login(&token, MINI_PROGRAM, answer["code"].as_str().unwrap())
        .await;
    assert_eq!(session["openid"], answer["openid"]);

    // The default user, an unknown account, a bad body.
    let (_, answer) = wx
        .control(
            reqwest::Method::POST,
            "/sandbox/miniprogram/login-code",
            Some(json!({"appid": MINI_PROGRAM})),
        )
        .await;
    assert_eq!(
        answer["openid"],
        json!(wx.sandbox.user_openid(MINI_PROGRAM, "demo-user"))
    );
    let (status, _) = wx
        .control(
            reqwest::Method::POST,
            "/sandbox/miniprogram/login-code",
            Some(json!({"appid": "wx0000000000000000"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = wx
        .control(
            reqwest::Method::POST,
            "/sandbox/miniprogram/login-code",
            Some(json!({"user": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn debug_output_shows_no_user_code_session_key_or_jsapi_ticket() {
    let wx = Wx::start().await;
    let access_token = wx.authorizer_access_token(OFFICIAL).await;
    let ticket = wx.jsapi_ticket(&access_token).await;
    let token = authorized(&wx, MINI_PROGRAM).await;
    let used = wx.sandbox.login_code(MINI_PROGRAM, "alice");
    let session: SessionAnswer =
        serde_json::from_value(wx.login(&token, MINI_PROGRAM, &used).await).unwrap();
    let unused = wx.sandbox.login_code(MINI_PROGRAM, "alice");
    let shown = format!("{:?}", wx.sandbox);
    for secret in [&access_token, &ticket, &used, &unused, &session.session_key] {
        assert!(!shown.contains(secret.as_str()), "{shown}");
    }
}
