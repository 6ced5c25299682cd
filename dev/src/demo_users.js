// The users demo (GET /demo/users): mini program login, JS-SDK and web login against the
// platform's public routes. Text goes in with textContent only.
(function () {
  "use strict";
  var demo = document.getElementById("demo");
  var mini = demo.dataset.miniprogram;
  var official = demo.dataset.official;
  var JSON_HEADERS = { "Content-Type": "application/json" };

  function show(id, text) {
    document.getElementById(id).textContent = text;
  }

  function post(path, body) {
    return fetch(path, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body) });
  }

  // Rows of `list` (a <dl>): [term, value, id of the value].
  function rows(list, entries) {
    var dl = document.getElementById(list);
    dl.textContent = "";
    entries.forEach(function (entry) {
      var dt = document.createElement("dt");
      dt.textContent = entry[0];
      var dd = document.createElement("dd");
      dd.textContent = entry[1];
      dd.id = entry[2];
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
  }

  // The identity in token `session` of `appid`, verified against the published key set.
  async function identity(prefix, session, appid, extra) {
    var answer = await (await post("/demo/users/verify", { token: session, appid: appid })).json();
    var entries = [];
    if (answer.verified) {
      var c = answer.claims;
      entries.push(["验证 Verified", "✓ ES256, kid " + answer.kid, prefix + "-verified"]);
      entries.push(["openid (sub)", c.sub, prefix + "-openid"]);
      entries.push(["unionid", c.unionid || "—", prefix + "-unionid"]);
      entries.push(["aud", c.aud, prefix + "-aud"]);
      entries.push(["iss", c.iss, prefix + "-iss"]);
      entries.push(["exp", new Date(c.exp * 1000).toISOString(), prefix + "-exp"]);
    } else {
      entries.push(["验证 Verified", "✗ " + answer.error, prefix + "-verified"]);
    }
    (extra || []).forEach(function (pair) {
      entries.push([pair[0], pair[1], prefix + "-" + pair[0]]);
    });
    rows(prefix + "-identity", entries);
  }

  // Mini program login: a wx.login code, then POST /miniprogram/{appid}/login.
  document.getElementById("mp-login").addEventListener("click", async function () {
    show("mp-status", "…");
    rows("mp-identity", []);
    try {
      var user = document.getElementById("mp-user").value;
      var minted = await (await post("/demo/users/wx-login", { user: user })).json();
      if (!minted.code) {
        show("mp-status", "wx.login: " + minted.message);
        return;
      }
      var response = await post("/miniprogram/" + mini + "/login", { code: minted.code });
      var body = await response.json();
      if (!response.ok) {
        show("mp-status", response.status + " " + body.error + ": " + body.message);
        return;
      }
      show("mp-status", "登录成功 Logged in (expires_in " + body.expires_in + ")");
      await identity("mp", body.session, mini);
    } catch (e) {
      show("mp-status", String(e));
    }
  });

  // JS-SDK: the configuration for this page's address without its # part, then wx.config.
  (async function () {
    var url = location.href.split("#")[0];
    try {
      var response = await fetch("/jssdk/" + official + "/config?url=" + encodeURIComponent(url));
      var cfg = await response.json();
      if (!response.ok) {
        show("jssdk-status", response.status + " " + cfg.error + ": " + cfg.message);
        return;
      }
      wx.ready(function () {
        show("jssdk-status", "wx.ready");
      });
      wx.error(function (res) {
        show("jssdk-status", "wx.error: " + res.errMsg);
      });
      wx.config({
        appId: cfg.appId,
        timestamp: cfg.timestamp,
        nonceStr: cfg.nonceStr,
        signature: cfg.signature,
        jsApiList: ["updateAppMessageShareData"]
      });
    } catch (e) {
      show("jssdk-status", String(e));
    }
  })();

  // Web login: back from /oauth/{appid}/callback with #session=... or #error=...
  var back = new URLSearchParams(location.hash.slice(1));
  if (back.has("session") || back.has("error")) {
    // The token has no business in the address bar or the history.
    history.replaceState(null, "", location.pathname + location.search);
    if (back.has("error")) {
      show("oauth-status", "未登录 Not logged in: " + back.get("error"));
      rows("oauth-identity", [["error", back.get("error"), "oauth-error"]]);
    } else {
      show("oauth-status", "登录成功 Logged in (expires_in " + back.get("expires_in") + ")");
      var extra = [];
      back.forEach(function (value, name) {
        if (name !== "session" && name !== "expires_in") {
          extra.push([name, value]);
        }
      });
      identity("oauth", back.get("session"), official, extra).catch(function (e) {
        show("oauth-status", String(e));
      });
    }
  }
})();
