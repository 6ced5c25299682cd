//! The merchant's authorization in a real browser (Debian's headless Chromium through its
//! ChromeDriver): our landing page, a click, the sandbox's authorization page (whose Referer check
//! must pass), an account picked and confirmed, and our result page naming that account, which is
//! then stored and bound to the merchant.
//!
//! Screenshots of the landing and result pages go to `target/tmp/browser/`; with
//! `UPDATE_SCREENSHOTS=1` they replace `docs/landing.png` and `docs/result.png` (and the users
//! demo's, `docs/users-demo.png`).
//!
//! And an authorized account's users on the users demo page (dev/src/demo.rs): a web login
//! walked end to end (our authorize route, WeChat's consent page, Allow, back on the page with
//! an identity token that verifies against the published keys), a refusal coming back as
//! `access_denied`, the page's JS-SDK configuration reaching `wx.ready`, and a mini program
//! login.

use std::path::{Path, PathBuf};

use wxopen::store::AuthorizerStatus;
use wxopen_tests::sandbox::users::DEFAULT_USER;
use wxopen_tests::service::Service;
use wxopen_tests::users_demo::{self, Decision, MINI_PROGRAM, OFFICIAL_ACCOUNT, WebLogin};
use wxopen_tests::webdriver::{self, Browser, WINDOW};

const MERCHANT: &str = "browser-shop";

fn screenshot_dir() -> PathBuf {
    if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        repo.join("docs")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser")
    }
}

async fn save_screenshot(browser: &Browser, path: &Path) {
    let png = browser.screenshot().await.unwrap();
    let viewport = browser.viewport().await.unwrap();
    assert_eq!(viewport.0, WINDOW.0);
    assert_eq!(
        webdriver::png_size(&png),
        Some(viewport),
        "{}",
        path.display()
    );
    std::fs::write(path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test]
async fn a_merchant_authorizes_an_account_in_a_real_browser() {
    match webdriver::available() {
        Ok(true) => {}
        Ok(false) => return,
        Err(missing) => panic!("{missing}"),
    }
    let s = Service::start().await;
    let account = s.sandbox.accounts()[1].account.clone();
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Browser::start().await.unwrap();

    // Our landing page: the merchant arrives from the link the platform minted for it, pasted
    // anywhere.
    let landing = s.link(&format!("merchant={MERCHANT}")).await;
    browser.goto(&landing).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "授权 | Authorize");
    let button = browser.find("a.button").await.unwrap();
    assert_eq!(
        browser.text(&button).await.unwrap(),
        "前往微信授权 · Authorize with WeChat"
    );
    save_screenshot(&browser, &shots.join("landing.png")).await;

    // The click goes (through our 302) to WeChat's page, with our page as the Referer.
    browser.click(&button).await.unwrap();
    let wechat = browser.current_url().await.unwrap();
    let sandbox_page = format!(
        "{}/cgi-bin/componentloginpage?",
        s.sandbox.base_url().trim_end_matches('/')
    );
    assert!(wechat.starts_with(&sandbox_page), "{wechat}");
    let source = browser.source().await.unwrap();
    assert!(
        !source.contains("授权入口页所在域名"),
        "Referer refused: {source}"
    );
    assert_eq!(
        browser.title().await.unwrap(),
        "公众平台帐号授权",
        "{source}"
    );
    assert_eq!(
        browser
            .text(&browser.find("h1").await.unwrap())
            .await
            .unwrap(),
        "公众平台帐号授权"
    );

    // The administrator picks the second account (the first is preselected) and confirms.
    let radio = browser
        .find(&format!(
            "input[name=authorizer_appid][value=\"{}\"]",
            account.appid
        ))
        .await
        .unwrap();
    assert!(!browser.is_selected(&radio).await.unwrap());
    browser.click(&radio).await.unwrap();
    assert!(browser.is_selected(&radio).await.unwrap());
    let submit = browser.find("form button[type=submit]").await.unwrap();
    assert_eq!(browser.text(&submit).await.unwrap(), "授权");
    browser.click(&submit).await.unwrap();

    // Back on our result page, which names the account.
    let name = browser.find("#account-name").await.unwrap();
    assert_eq!(browser.text(&name).await.unwrap(), account.info.nick_name);
    let result = browser.current_url().await.unwrap();
    assert!(
        result.starts_with(&s.url("/authorize/callback?session=")),
        "{result}"
    );
    assert!(
        browser.source().await.unwrap().contains("授权成功"),
        "{result}"
    );
    save_screenshot(&browser, &shots.join("result.png")).await;
    browser.quit().await.unwrap();

    // WeChat's push arrives too; between them the code was exchanged once, and the account is
    // stored and bound to the merchant.
    let pushes = s.sandbox.wait_for_pushes(1).await.unwrap();
    assert!(
        pushes.iter().any(|p| p.info_type == "authorized"
            && p.authorizer_appid.as_deref() == Some(account.appid.as_str())
            && p.success),
        "{:?}",
        pushes
            .iter()
            .map(|p| (&p.info_type, p.success))
            .collect::<Vec<_>>()
    );
    assert_eq!(s.sandbox.calls_to("api_query_auth"), 1);
    let stored = s.account(&account.appid).await.expect("stored");
    assert_eq!(stored.merchant.as_deref(), Some(MERCHANT));
    assert_eq!(stored.status, AuthorizerStatus::Authorized);
    assert!(stored.access_token.is_some() && stored.refresh_token.is_some());
    let granted: Vec<i64> = account.func_info.iter().map(|&id| id.into()).collect();
    assert_eq!(stored.func_info, granted);
}

#[tokio::test]
async fn a_user_logs_in_on_an_accounts_page_in_a_real_browser() {
    match webdriver::available() {
        Ok(true) => {}
        Ok(false) => return,
        Err(missing) => panic!("{missing}"),
    }
    let s = Service::start().await;
    // The demo's accounts authorize the platform; the receiver stores each from its push.
    for appid in [OFFICIAL_ACCOUNT, MINI_PROGRAM] {
        let authorized = s.sandbox.authorize(appid, None).await.unwrap();
        assert!(authorized.push.is_some_and(|p| p.success), "{appid}");
        let stored = s.account(appid).await.expect("stored");
        assert_eq!(stored.status, AuthorizerStatus::Authorized);
    }
    let demo = s.url(users_demo::PATH);
    let browser = Browser::start().await.unwrap();
    browser.goto(&demo).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "用户登录演示 | Users demo");

    // The page's own JS-SDK configuration passes the JS-SDK's check.
    assert_eq!(
        users_demo::js_sdk_outcome(&browser).await.unwrap(),
        "wx.ready"
    );

    // Refused on WeChat's page: back on the page with access_denied, and no code to exchange.
    let (_, shown) = users_demo::web_login(&browser, Decision::Refuse)
        .await
        .unwrap();
    assert_eq!(shown, WebLogin::Error("access_denied".into()));
    assert_eq!(s.sandbox.calls_to("oauth2_access_token"), 0);

    // Web login: the link, WeChat's consent page, Allow, and the identity back on the page.
    let (consent, shown) = users_demo::web_login(&browser, Decision::Allow)
        .await
        .unwrap();
    let wechat_page = format!(
        "{}/connect/oauth2/authorize?",
        s.sandbox.base_url().trim_end_matches('/')
    );
    assert!(consent.starts_with(&wechat_page), "{consent}");
    let WebLogin::LoggedIn(identity) = shown else {
        panic!("{shown:?}: {}", browser.source().await.unwrap());
    };
    assert!(identity.verified.starts_with("✓ ES256"), "{identity:?}");
    assert_eq!(
        identity.openid,
        s.sandbox.user_openid(OFFICIAL_ACCOUNT, DEFAULT_USER)
    );
    assert_eq!(identity.unionid, s.sandbox.user_unionid(DEFAULT_USER));
    assert_eq!(identity.aud, OFFICIAL_ACCOUNT);
    // The page took the token out of its address.
    assert_eq!(browser.current_url().await.unwrap(), demo);
    // One code, exchanged once; the profile asked for once (snsapi_userinfo).
    assert_eq!(s.sandbox.calls_to("oauth2_access_token"), 1);
    assert_eq!(s.sandbox.calls_to("userinfo"), 1);

    // Mini program login: the user of the mini program, with a token that verifies too.
    let mini = users_demo::mini_program_login(&browser).await.unwrap();
    assert!(mini.verified.starts_with("✓ ES256"), "{mini:?}");
    assert_eq!(
        mini.openid,
        s.sandbox.user_openid(MINI_PROGRAM, DEFAULT_USER)
    );
    assert_eq!(mini.aud, MINI_PROGRAM);
    assert_eq!(s.sandbox.calls_to("jscode2session"), 1);
    // The page as it ends, every demo done (docs/users-demo.png with UPDATE_SCREENSHOTS=1).
    assert_eq!(
        users_demo::js_sdk_outcome(&browser).await.unwrap(),
        "wx.ready"
    );
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    save_screenshot(&browser, &shots.join("users-demo.png")).await;
    browser.quit().await.unwrap();
}

/// The demo shows a token as verified only when it would pass a service's own check: the
/// published key, the issuer, the audience it was asked about, an intact signature.
#[tokio::test]
async fn the_users_demo_shows_only_tokens_that_verify_as_verified() {
    let s = Service::start().await;
    let user = wxopen::identity::User {
        appid: OFFICIAL_ACCOUNT,
        openid: "o-demo-check",
        unionid: None,
    };
    let session = s
        .app
        .identity
        .issuer
        .mint(&user, wxopen::unix_now())
        .await
        .unwrap();
    let verify = |token: String, appid: &str| {
        let request = s
            .http
            .post(s.url(&format!("{}/verify", users_demo::PATH)))
            .json(&serde_json::json!({ "token": token, "appid": appid }));
        async move {
            let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            answer
        }
    };
    let good = verify(session.token.clone(), OFFICIAL_ACCOUNT).await;
    assert_eq!(good["verified"], true, "{good}");
    assert_eq!(good["claims"]["sub"], "o-demo-check");
    assert_eq!(good["claims"]["iss"], s.url(""));

    let elsewhere = verify(session.token.clone(), MINI_PROGRAM).await;
    assert_eq!(elsewhere["verified"], false, "{elsewhere}");
    assert_eq!(elsewhere["error"], "InvalidAudience");

    // One character in the middle of the signature changed (not the last, whose low bits are
    // padding).
    let at = session.token.len() - 20;
    let changed = if &session.token[at..=at] == "A" {
        "B"
    } else {
        "A"
    };
    let tampered = format!(
        "{}{changed}{}",
        &session.token[..at],
        &session.token[at + 1..]
    );
    let forged = verify(tampered, OFFICIAL_ACCOUNT).await;
    assert_eq!(forged["verified"], false, "{forged}");
}
