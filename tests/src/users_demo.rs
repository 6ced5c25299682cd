//! The users demo of `wxopen-dev` (`GET /demo/users`, dev/src/demo.rs) driven in a real browser:
//! the steps the in-process browser test and the local stack's check (scripts/check-dev.sh)
//! share. Each returns what the page shows; the tests assert on it.

use std::time::Duration;

use crate::webdriver::{Browser, WebDriverError};

pub use wxopen_dev::demo::{MINI_PROGRAM, OFFICIAL_ACCOUNT, PATH};

/// What the page shows for an identity token it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownIdentity {
    /// `✓ ES256, kid ...` when the token verified against the published key set.
    pub verified: String,
    pub openid: String,
    pub unionid: String,
    pub aud: String,
}

async fn text(browser: &Browser, selector: &str) -> Result<String, WebDriverError> {
    let element = browser.find(selector).await?;
    browser.text(&element).await
}

/// The identity shown under `prefix` (`mp` or `oauth`), once the page has verified its token
/// (finding the rows waits for them).
async fn shown(browser: &Browser, prefix: &str) -> Result<ShownIdentity, WebDriverError> {
    let verified = text(browser, &format!("#{prefix}-verified")).await?;
    if !verified.starts_with('✓') {
        return Ok(ShownIdentity {
            verified,
            openid: String::new(),
            unionid: String::new(),
            aud: String::new(),
        });
    }
    Ok(ShownIdentity {
        verified,
        openid: text(browser, &format!("#{prefix}-openid")).await?,
        unionid: text(browser, &format!("#{prefix}-unionid")).await?,
        aud: text(browser, &format!("#{prefix}-aud")).await?,
    })
}

/// The JS-SDK demo's outcome on the open page: `wx.ready`, or `wx.error: ...` / the service's
/// refusal (a bounded wait for the page's fetches).
pub async fn js_sdk_outcome(browser: &Browser) -> Result<String, WebDriverError> {
    for _ in 0..400 {
        let status = text(browser, "#jssdk-status").await?;
        if status != "…" {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok("(no outcome)".into())
}

/// Clicks the mini program login on the open page; the identity it shows.
pub async fn mini_program_login(browser: &Browser) -> Result<ShownIdentity, WebDriverError> {
    let button = browser.find("#mp-login").await?;
    browser.click(&button).await?;
    shown(browser, "mp").await
}

/// How the user answers WeChat's consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Refuse,
}

/// What the page shows after a web login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebLogin {
    LoggedIn(ShownIdentity),
    /// `#error=...`'s value.
    Error(String),
}

/// From the open demo page: the web login link (snsapi_userinfo), WeChat's consent page (whose
/// address is returned too), the decision, and what the demo page shows once back.
pub async fn web_login(
    browser: &Browser,
    decision: Decision,
) -> Result<(String, WebLogin), WebDriverError> {
    let link = browser.find("#oauth-userinfo").await?;
    browser.click(&link).await?;
    let consent_page = browser.current_url().await?;
    let value = match decision {
        Decision::Allow => "allow",
        Decision::Refuse => "refuse",
    };
    let button = browser
        .find(&format!("button[name=decision][value={value}]"))
        .await?;
    browser.click(&button).await?;
    // Back on the demo page: the identity's rows or the error's row appear (a bounded wait).
    browser.find("#oauth-verified, #oauth-error").await?;
    let error = browser
        .execute("const e = document.getElementById('oauth-error'); return e && e.textContent;")
        .await?;
    let shown = match error.as_str() {
        Some(error) => WebLogin::Error(error.to_owned()),
        None => WebLogin::LoggedIn(shown(browser, "oauth").await?),
    };
    Ok((consent_page, shown))
}
