//! The one-command local stack (scripts/dev.sh) walked in a real browser: run by
//! scripts/check-dev.sh, which starts the stack and points these tests at it: a merchant's
//! authorization, and the users demo (mini program login, JS-SDK, web login).

use wxopen::store::{AuthorizerStatus, Store};
use wxopen_tests::sandbox::users::{DEFAULT_USER, openid, unionid};
use wxopen_tests::users_demo::{
    self, Decision, MINI_PROGRAM, OFFICIAL_ACCOUNT, ShownIdentity, WebLogin,
};
use wxopen_tests::webdriver::{self, Browser};

#[tokio::test]
#[ignore = "needs the stack of scripts/dev.sh: run scripts/check-dev.sh"]
async fn the_local_stack_takes_a_merchant_through_in_a_real_browser() {
    let base = std::env::var("WXOPEN_DEV_URL").expect("WXOPEN_DEV_URL: run scripts/check-dev.sh");
    match webdriver::available() {
        Ok(true) => {}
        Ok(false) => return,
        Err(missing) => panic!("{missing}"),
    }
    let merchant = format!("dev-check-{}", std::process::id());
    // The stack mints the link as the platform's back office does (POST /links).
    let minted: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/links"))
        .json(&serde_json::json!({ "merchant": merchant }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = minted["url"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{base}/authorize?merchant={merchant}&")),
        "{link}"
    );
    let browser = Browser::start().await.unwrap();
    browser.goto(link).await.unwrap();
    let button = browser.find("a.button").await.unwrap();
    browser.click(&button).await.unwrap();
    let source = browser.source().await.unwrap();
    assert!(
        !source.contains("授权入口页所在域名"),
        "Referer refused: {source}"
    );
    let submit = browser.find("form button[type=submit]").await.unwrap();
    browser.click(&submit).await.unwrap();

    let name = browser
        .text(&browser.find("#account-name").await.unwrap())
        .await
        .unwrap();
    let page = browser.source().await.unwrap();
    browser.quit().await.unwrap();
    assert!(page.contains("授权成功"), "{page}");
    let appid = page
        .split("wx")
        .filter_map(|rest| {
            rest.get(..16)
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .map(|hex| format!("wx{hex}"))
        .find(|appid| appid != &std::env::var("COMPONENT_APPID").unwrap())
        .expect("the result page shows the account's appid");

    let aws = wxopen::aws::load().await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&aws),
        std::env::var("TABLE_NAME").unwrap(),
    );
    let account = store
        .authorizer(&std::env::var("COMPONENT_APPID").unwrap(), &appid)
        .await
        .unwrap()
        .expect("the account is in the store");
    assert_eq!(account.status, AuthorizerStatus::Authorized);
    assert_eq!(account.merchant.as_deref(), Some(merchant.as_str()));
    assert_eq!(account.profile.unwrap().nick_name, name);
    assert!(account.access_token.is_some() && account.refresh_token.is_some());
}

#[tokio::test]
#[ignore = "needs the stack of scripts/dev.sh: run scripts/check-dev.sh"]
async fn the_local_stack_demos_the_users_routes_in_a_real_browser() {
    let base = std::env::var("WXOPEN_DEV_URL").expect("WXOPEN_DEV_URL: run scripts/check-dev.sh");
    match webdriver::available() {
        Ok(true) => {}
        Ok(false) => return,
        Err(missing) => panic!("{missing}"),
    }
    let demo = format!("{base}{}", users_demo::PATH);
    let sandbox = std::env::var("WXOPEN_SANDBOX_URL").expect("WXOPEN_SANDBOX_URL");
    let browser = Browser::start().await.unwrap();
    browser.goto(&demo).await.unwrap();

    // The page's JS-SDK configuration passes the sandbox's wx.config check.
    assert_eq!(
        users_demo::js_sdk_outcome(&browser).await.unwrap(),
        "wx.ready"
    );

    // Mini program login: the sandbox's user, verified against the published key set.
    let mini = users_demo::mini_program_login(&browser).await.unwrap();
    assert!(mini.verified.starts_with('✓'), "{mini:?}");
    assert_eq!(
        mini,
        ShownIdentity {
            verified: mini.verified.clone(),
            openid: openid(MINI_PROGRAM, DEFAULT_USER),
            unionid: unionid(DEFAULT_USER),
            aud: MINI_PROGRAM.into(),
        }
    );

    // Web login: our authorize route, WeChat's consent page, Allow, back on the demo page.
    let (consent, shown) = users_demo::web_login(&browser, Decision::Allow)
        .await
        .unwrap();
    assert!(
        consent.starts_with(&format!("{sandbox}/connect/oauth2/authorize?")),
        "{consent}"
    );
    let source = browser.source().await.unwrap();
    let WebLogin::LoggedIn(identity) = shown else {
        panic!("{shown:?}: {source}");
    };
    assert!(identity.verified.starts_with('✓'), "{identity:?}");
    assert_eq!(identity.openid, openid(OFFICIAL_ACCOUNT, DEFAULT_USER));
    assert_eq!(identity.aud, OFFICIAL_ACCOUNT);
    // The token is gone from the address bar.
    assert_eq!(browser.current_url().await.unwrap(), demo);
    browser.quit().await.unwrap();
}
