//! The service as API Gateway routes it (auth-link, auth-callback and the ticket receiver on one
//! loopback origin), with a WeChat sandbox playing WeChat for it: what the authorization tests,
//! over plain HTTP and in a real browser, run against.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{LOCATION, REFERER};
use wxopen::authorization::RebindPolicy;
use wxopen::config::MessageTarget;

pub use wxopen_dev::{App, LOCAL_CALLER_ARN, with_iam_caller};

use crate::dev_server::{self, DevServer};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::{aws, config, unique_appid};

/// The service as API Gateway routes it, on one loopback origin (our 授权发起页域名), and a
/// sandbox playing WeChat for it.
pub struct Service {
    pub aws: aws_config::SdkConfig,
    pub component: String,
    pub sandbox: Sandbox,
    pub server: DevServer,
    pub app: Arc<App>,
    pub http: reqwest::Client,
}

impl Service {
    pub async fn start() -> Self {
        Self::with(RebindPolicy::Refuse, true).await
    }

    /// `pushes`: whether the sandbox pushes to our event URL (off: the browser comes back, the
    /// push never does).
    pub async fn with(rebind: RebindPolicy, pushes: bool) -> Self {
        Self::build(rebind, pushes, None).await
    }

    /// The service handing authorized accounts' messages on to `target`.
    pub async fn with_message_target(target: MessageTarget) -> Self {
        Self::build(RebindPolicy::Refuse, true, Some(target)).await
    }

    async fn build(
        rebind: RebindPolicy,
        pushes: bool,
        message_target: Option<MessageTarget>,
    ) -> Self {
        let aws = aws().await;
        let component = unique_appid();
        let sandbox = Sandbox::start(SandboxConfig {
            component_appid: component.clone(),
            ticket_interval: Duration::ZERO,
            push_retry_delay: Duration::from_millis(200),
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        // The server must exist before the app knows its own origin: route through a cell.
        let cell: Arc<std::sync::OnceLock<Arc<App>>> = Arc::default();
        let routed = cell.clone();
        let server = dev_server::serve(move |request| {
            let app = routed
                .get()
                .expect("the app is set before any request")
                .clone();
            async move { app.route(request).await }
        })
        .await
        .unwrap();
        let mut config = config(&component, "wxopen/local");
        config.wechat_api_base = sandbox.base_url().trim_end_matches('/').to_owned();
        config.wechat_mp_base = config.wechat_api_base.clone();
        config.wechat_open_base = config.wechat_api_base.clone();
        config.public_base_url = Some(server.base_url().trim_end_matches('/').to_owned());
        // Our own pages (the users demo) may have the JS-SDK configured.
        config.jssdk_origins = vec![server.base_url().trim_end_matches('/').to_owned()];
        // Web logins may end on our own /done/ pages, the users demo, and one app elsewhere.
        config.oauth_return_to = wxopen::oauth::ReturnToList::parse(&format!(
            "{base}/done/, {base}{demo}, https://app.example.com/wx/",
            base = server.base_url().trim_end_matches('/'),
            demo = wxopen_dev::demo::PATH,
        ))
        .unwrap();
        config.push_timestamp_tolerance = Duration::ZERO;
        config.rebind = rebind;
        config.message_target = message_target;
        let app = Arc::new(App::new(&config, &aws));
        assert!(cell.set(app.clone()).is_ok());
        sandbox.set_message_url(Some(&format!(
            "{}/wechat/authorizers/$APPID$/events",
            server.base_url().trim_end_matches('/')
        )));
        if pushes {
            sandbox.set_event_url(Some(&format!(
                "{}/wechat/component/events",
                server.base_url().trim_end_matches('/')
            )));
        }
        // The platform has its ticket, as it would have from WeChat's regular pushes.
        crate::store_ticket(&sandbox, &app.link.tokens.store, &component).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            aws,
            component,
            sandbox,
            server,
            app,
            http,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}{path_and_query}",
            self.server.base_url().trim_end_matches('/')
        )
    }

    /// The link the platform mints for the link parameters in `query` (`merchant=..&..`),
    /// valid for the default time: the full URL on our origin.
    pub async fn link(&self, query: &str) -> String {
        self.app
            .link
            .mint(link_params(query), wxopen::links::DEFAULT_TTL)
            .await
            .unwrap()
            .url
    }

    /// The merchant opens the link minted for `query` and clicks through to WeChat's page;
    /// returns that page's URL and the Referer the browser sends with it.
    pub async fn open_wechat_page(&self, query: &str) -> (String, String) {
        let landing_url = self.link(query).await;
        let landing = self.http.get(&landing_url).send().await.unwrap();
        assert_eq!(landing.status(), StatusCode::OK);
        assert_eq!(
            landing.headers()["referrer-policy"],
            "strict-origin-when-cross-origin"
        );
        let html = landing.text().await.unwrap();
        let go = between(&html, "class=\"button\" href=\"", "\"").replace("&amp;", "&");
        let click = self
            .http
            .get(format!("{}{go}", self.url("/authorize")))
            .header(REFERER, &landing_url)
            .send()
            .await
            .unwrap();
        assert_eq!(click.status(), StatusCode::FOUND);
        let wechat = click.headers()[LOCATION].to_str().unwrap().to_owned();
        (wechat, landing_url)
    }

    /// The administrator picks `appid` on WeChat's page and confirms; returns our callback URL
    /// WeChat redirects the browser to.
    pub async fn confirm(&self, wechat_url: &str, referer: &str, appid: &str) -> String {
        let page = self
            .http
            .get(wechat_url)
            .header(REFERER, referer)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let mut form: Vec<(String, String)> = Vec::new();
        for field in [
            "component_appid",
            "pre_auth_code",
            "redirect_uri",
            "auth_type",
            "biz_appid",
            "funcs_listed",
        ] {
            let value = between(&html, &format!("name=\"{field}\" value=\""), "\"");
            form.push((field.into(), value.replace("&amp;", "&")));
        }
        form.push(("authorizer_appid".into(), appid.into()));
        for func in html.split("name=\"func\" value=\"").skip(1) {
            form.push(("func".into(), func.split('"').next().unwrap().into()));
        }
        let action = between(&html, "<form method=\"post\" action=\"", "\"");
        let base = self.sandbox.base_url().trim_end_matches('/');
        let confirmed = self
            .http
            .post(format!("{base}{action}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(confirmed.status(), StatusCode::FOUND);
        confirmed.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    pub async fn get(&self, url: &str) -> (StatusCode, String) {
        let response = self.http.get(url).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    pub async fn account(&self, appid: &str) -> Option<wxopen::store::AuthorizerRecord> {
        self.app
            .link
            .tokens
            .store
            .authorizer(&self.component, appid)
            .await
            .unwrap()
    }

    /// The `authorized` push WeChat sends for the confirmation that led to `callback` (our
    /// redirect_uri with its auth_code), built as WeChat builds it: for tests that deliver it
    /// themselves, late or to a chosen receiver.
    pub async fn authorized_push(&self, callback: &str, authorizer_appid: &str) -> crate::Push {
        let url = url::Url::parse(callback).unwrap();
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .unwrap()
                .1
                .into_owned()
        };
        let session_id = param("session");
        let session = self
            .app
            .link
            .tokens
            .store
            .session(&self.component, &session_id);
        let pre_auth_code = session.await.unwrap().unwrap().pre_auth_code;
        let pusher = crate::Pusher::new(
            crate::TEST_TOKEN,
            crate::TEST_ENCODING_AES_KEY,
            &self.component,
        );
        let now = wxopen::unix_now();
        let xml = crate::authorization_xml(
            &self.component,
            "authorized",
            now,
            authorizer_appid,
            &param("auth_code"),
            &pre_auth_code,
        );
        pusher.push(&xml, now)
    }

    pub fn appid(&self, index: usize) -> String {
        self.sandbox.accounts()[index].account.appid.clone()
    }

    pub fn name(&self, index: usize) -> String {
        self.sandbox.accounts()[index]
            .account
            .info
            .nick_name
            .clone()
    }
}

/// The link parameters in `query` (`merchant=..&auth_type=..`), validated.
pub fn link_params(query: &str) -> wxopen::authorization::LinkParams {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    wxopen::authorization::LinkParams::parse(|name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    })
    .unwrap()
}

/// The text between the first `start` and the `end` after it.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {text}"))
        + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}
