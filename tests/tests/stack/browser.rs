//! A real browser for the page tests: Debian's headless Chromium through chromedriver, with
//! JavaScript off, driven over WebDriver's plain HTTP.

use serde_json::{Value, json};

/// A WebDriver session on Debian's headless Chromium (JavaScript off but while axe runs),
/// driven over plain HTTP with chromedriver.
pub(crate) struct Browser {
    driver: std::process::Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

impl Browser {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/browser-deps.sh installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        for _ in 0..100 {
            if agent.get(format!("{base}/status")).call().is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("vls-chromium-{}", ulid::Ulid::generate()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let mut b = Self {
            driver,
            base,
            session: String::new(),
            agent,
        };
        let r = b.call("POST", "/session", Some(caps));
        b.session = r["value"]["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_owned();
        b.javascript(false);
        b
    }

    /// Scripts on (only while axe runs) or off (the pages are used without them): the
    /// DevTools protocol's switch, which WebDriver's own scripts are not subject to.
    pub(crate) fn javascript(&self, on: bool) {
        let cmd = json!({"cmd": "Emulation.setScriptExecutionDisabled", "params": {"value": !on}});
        self.call("POST", &self.s("/goog/cdp/execute"), Some(cmd));
    }

    /// That a page's own scripts do not run: a page whose script would retitle it keeps its
    /// title (the pages are used with scripts off).
    pub(crate) fn assert_scripts_off(&self) {
        let page = "data:text/html,<title>off</title><script>document.title='on'</script>";
        self.open(page);
        let title = self.call("GET", &self.s("/title"), None);
        assert_eq!(
            title["value"], "off",
            "the page's script ran: JavaScript is on"
        );
    }

    /// Runs `script` in the page (WebDriver's own, whatever the page's scripts): its value.
    pub(crate) fn execute(&self, script: &str) -> Value {
        let body = json!({"script": script, "args": []});
        self.call("POST", &self.s("/execute/sync"), Some(body))["value"].clone()
    }

    /// The window's size in CSS pixels.
    pub(crate) fn size(&self, width: u32, height: u32) {
        let rect = json!({"width": width, "height": height});
        self.call("POST", &self.s("/window/rect"), Some(rect));
    }

    /// axe-core (pinned in scripts/a11y, installed by scripts/browser-deps.sh) injected into
    /// the page and run with WCAG 2.2 AA's tags, every rule on: its violations.
    pub(crate) fn axe(&self) -> Vec<Value> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let source =
            std::fs::read_to_string(root.join("scripts/a11y/node_modules/axe-core/axe.min.js"))
                .expect("axe-core (scripts/browser-deps.sh installs it)");
        self.execute(&source);
        self.javascript(true);
        let run = "var done = arguments[arguments.length - 1];\
            axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a',\
            'wcag21aa', 'wcag22aa']}}).then(function (r) { done(r.violations); },\
            function (e) { done([{id: 'axe-failed', help: String(e)}]); });";
        let body = json!({"script": run, "args": []});
        let r = self.call("POST", &self.s("/execute/async"), Some(body));
        self.javascript(false);
        r["value"].as_array().cloned().unwrap_or_else(|| vec![r])
    }

    /// Presses Tab: what then has the focus (tag, id or href, and whether it shows an
    /// outline).
    pub(crate) fn tab(&self) -> Value {
        let key = |t: &str| json!({"type": t, "value": "\u{E004}"});
        let actions = json!({"actions": [{"type": "key", "id": "keyboard",
            "actions": [key("keyDown"), key("keyUp")]}]});
        self.call("POST", &self.s("/actions"), Some(actions));
        self.execute(
            "var e = document.activeElement; var s = getComputedStyle(e);\
             return {tag: e.tagName, id: e.id, href: e.getAttribute('href') || '',\
             name: e.getAttribute('name') || '', outline: s.outlineStyle !== 'none' &&\
             parseFloat(s.outlineWidth) >= 2};",
        )
    }

    /// The page printed (WebDriver's Print Page): the PDF's bytes.
    pub(crate) fn print(&self) -> Vec<u8> {
        use base64::Engine;
        let r = self.call("POST", &self.s("/print"), Some(json!({})));
        base64::engine::general_purpose::STANDARD
            .decode(r["value"].as_str().unwrap_or_default())
            .expect("a base64 PDF")
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = lambda_http::http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .expect("request");
        let mut resp = self.agent.run(req).expect("WebDriver call");
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap_or_default())
            .unwrap_or(Value::Null)
    }

    fn s(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    pub(crate) fn open(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    pub(crate) fn element(&self, css: &str) -> String {
        let r = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        r["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {r}"))
            .to_owned()
    }

    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        );
    }

    pub(crate) fn click(&self, css: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/click")),
            Some(json!({})),
        );
    }

    pub(crate) fn source(&self) -> String {
        self.call("GET", &self.s("/source"), None)["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's source once it contains `text` (the browser navigates in its own time).
    pub(crate) fn wait_for(&self, text: &str) -> String {
        let mut page = self.source();
        for _ in 0..100 {
            if page.contains(text) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            page = self.source();
        }
        assert!(page.contains(text), "{text:?} not on the page: {page}");
        page
    }

    /// A PNG of the window, written to `target/screenshots/<name>.png`.
    pub(crate) fn screenshot(&self, name: &str) -> std::path::PathBuf {
        use base64::Engine;
        let r = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["value"].as_str().unwrap_or_default())
            .expect("a base64 PNG");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            self.call("DELETE", &self.s(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
