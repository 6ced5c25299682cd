//! A real browser for tests: Debian's headless Chromium driven through its ChromeDriver (packages
//! `chromium` and `chromium-driver`, one source package, so always the same version) over the W3C
//! WebDriver protocol, which is plain HTTP and JSON on loopback. `scripts/services.sh
//! install-browser` installs them (`scripts/test.sh` does).
//!
//! Every wait is bounded: finding an element waits at most [`IMPLICIT_WAIT`], a navigation at
//! most [`PAGE_LOAD_TIMEOUT`], and each command at most [`COMMAND_TIMEOUT`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How Chromium runs here: headless, as root (no sandbox), with none of its own background
/// connections (this machine's network refuses them), and on loopback only: no proxy, and no
/// host name resolves (pages are on `127.0.0.1`; an image WeChat hosts, such as an account's
/// avatar, fails to load without a lookup leaving the machine).
pub const CHROMIUM_FLAGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

/// The browser window's size. Headless Chromium keeps room for a browser's toolbars in it, so
/// the viewport (and so a screenshot) is shorter: [`Browser::viewport`] says by how much.
pub const WINDOW: (u32, u32) = (960, 960);

pub const IMPLICIT_WAIT: Duration = Duration::from_secs(10);
pub const PAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(30);
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The W3C name of an element reference in WebDriver's JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The file `scripts/services.sh install-browser` writes when this machine cannot install the
/// browser (no apt-get, or not root), with the reason.
pub fn unavailable_marker() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    repo.join(".local/browser-unavailable")
}

/// Whether the browser test can run: `Ok(true)` when Chromium and ChromeDriver are installed,
/// `Ok(false)` (with the reason printed) when this machine genuinely cannot install them, and an
/// error when they are simply missing (not installed yet) or when CI must run the test.
pub fn available() -> Result<bool, String> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(true);
    }
    let marker = unavailable_marker();
    match std::fs::read_to_string(&marker) {
        Ok(reason) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping the browser test: {}", reason.trim());
            Ok(false)
        }
        _ => Err(format!(
            "{} missing: run `bash scripts/services.sh install-browser` (scripts/test.sh does)",
            missing.join(" and ")
        )),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    #[error("ChromeDriver did not start: {0}")]
    Start(String),
    #[error("{command}: {source}")]
    Http {
        command: String,
        source: reqwest::Error,
    },
    /// WebDriver's own error, e.g. `no such element`, with its message.
    #[error("{command}: {error}: {message}")]
    Driver {
        command: String,
        error: String,
        message: String,
    },
    #[error("{command}: unexpected answer {value}")]
    Answer { command: String, value: Value },
}

/// One browser: a ChromeDriver process (in its own process group, with the Chromium it starts)
/// and one session. Dropping it kills both and removes the browser's profile directory; call
/// [`Browser::quit`] first to close the browser cleanly.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    session: String,
    profile: PathBuf,
    http: reqwest::Client,
}

/// An element of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

impl Browser {
    /// Starts ChromeDriver on a free loopback port and a fresh headless Chromium under it.
    pub async fn start() -> Result<Self, WebDriverError> {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).expect("the OS has randomness");
        let profile = std::env::temp_dir().join(format!("wxopen-chromium-{}", hex::encode(suffix)));
        std::fs::create_dir_all(&profile)
            .map_err(|e| WebDriverError::Start(format!("{}: {e}", profile.display())))?;
        let mut driver = Command::new(CHROMEDRIVER)
            // Port 0: the driver picks a free one and says which. It accepts local connections only.
            .args(["--port=0", "--log-level=WARNING"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| WebDriverError::Start(format!("{CHROMEDRIVER}: {e}")))?;
        let stdout = driver.stdout.take().expect("stdout is piped");
        let mut browser = Self {
            driver,
            session: String::new(),
            profile,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(COMMAND_TIMEOUT)
                .build()
                .expect("a plain HTTP client builds"),
        };
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(DRIVER_START_TIMEOUT, async {
            let mut said = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = line
                    .strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
                {
                    return Ok(port);
                }
                said.push(line);
            }
            Err(said.join("\n"))
        })
        .await
        .map_err(|_| WebDriverError::Start(format!("no port within {DRIVER_START_TIMEOUT:?}")))?
        .map_err(|said| WebDriverError::Start(format!("it exited saying: {said}")))?;
        // Keep reading what it prints, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
        args.push("--force-device-scale-factor=1".into());
        args.push("--hide-scrollbars".into());
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": {
                        "implicit": IMPLICIT_WAIT.as_millis() as u64,
                        "pageLoad": PAGE_LOAD_TIMEOUT.as_millis() as u64,
                        "script": IMPLICIT_WAIT.as_millis() as u64,
                    },
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                }
            }
        });
        browser.session = format!("http://127.0.0.1:{port}/session");
        let created = browser
            .command(reqwest::Method::POST, "", Some(capabilities))
            .await?;
        let id = created["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError::Answer {
                command: "new session".into(),
                value: created.clone(),
            })?;
        browser.session = format!("http://127.0.0.1:{port}/session/{id}");
        Ok(browser)
    }

    /// Sends one command to the session (`path` is relative to it) and returns its `value`.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let name = format!("{method} {}", if path.is_empty() { "/" } else { path });
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let http = |source| WebDriverError::Http {
            command: name.clone(),
            source,
        };
        let mut answer: Value = request
            .send()
            .await
            .map_err(http)?
            .json()
            .await
            .map_err(http)?;
        let value = answer["value"].take();
        if let Some(error) = value["error"].as_str() {
            return Err(WebDriverError::Driver {
                command: name,
                error: error.to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(value)
    }

    async fn string(&self, path: &str) -> Result<String, WebDriverError> {
        let value = self.command(reqwest::Method::GET, path, None).await?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| WebDriverError::Answer {
                command: format!("GET {path}"),
                value,
            })
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), WebDriverError> {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn current_url(&self) -> Result<String, WebDriverError> {
        self.string("/url").await
    }

    pub async fn title(&self) -> Result<String, WebDriverError> {
        self.string("/title").await
    }

    /// The current page's HTML as the browser has it (for failure messages).
    pub async fn source(&self) -> Result<String, WebDriverError> {
        self.string("/source").await
    }

    /// The first element matching the CSS `selector`, waiting for it up to [`IMPLICIT_WAIT`].
    pub async fn find(&self, selector: &str) -> Result<Element, WebDriverError> {
        let value = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": selector })),
            )
            .await?;
        value[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| WebDriverError::Answer {
                command: format!("find {selector}"),
                value,
            })
    }

    /// Clicks `element` as a user would (scrolled into view, at its centre); a navigation the
    /// click starts is waited for.
    pub async fn click(&self, element: &Element) -> Result<(), WebDriverError> {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> Result<String, WebDriverError> {
        self.string(&format!("/element/{}/text", element.0)).await
    }

    pub async fn is_selected(&self, element: &Element) -> Result<bool, WebDriverError> {
        let path = format!("/element/{}/selected", element.0);
        let value = self.command(reqwest::Method::GET, &path, None).await?;
        value.as_bool().ok_or(WebDriverError::Answer {
            command: format!("GET {path}"),
            value,
        })
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    pub async fn execute(&self, script: &str) -> Result<Value, WebDriverError> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// The viewport's width and height in CSS pixels (device pixels here: the scale factor is 1).
    pub async fn viewport(&self) -> Result<(u32, u32), WebDriverError> {
        let value = self
            .execute("return [window.innerWidth, window.innerHeight];")
            .await?;
        match (value[0].as_u64(), value[1].as_u64()) {
            (Some(w), Some(h)) => Ok((w as u32, h as u32)),
            _ => Err(WebDriverError::Answer {
                command: "viewport".into(),
                value,
            }),
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>, WebDriverError> {
        let encoded = self.string("/screenshot").await?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|_| WebDriverError::Answer {
                command: "GET /screenshot".into(),
                value: Value::String(format!("{} characters, not base64", encoded.len())),
            })
    }

    /// Closes the browser (ChromeDriver stops it); dropping then stops ChromeDriver.
    pub async fn quit(self) -> Result<(), WebDriverError> {
        self.command(reqwest::Method::DELETE, "", None)
            .await
            .map(drop)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // ChromeDriver leads its own process group, and the Chromium it started is in it: end
        // the group (still there after a failed test; after `quit`, only ChromeDriver).
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The width and height a PNG's header gives, or `None` if `bytes` is not a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    Some((word(16), word(20)))
}
