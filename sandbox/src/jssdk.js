// The WeChat sandbox's stand-in for WeChat's JS-SDK (jweixin.js): wx.config(cfg) has the
// sandbox check cfg the way WeChat does (POST /sandbox/jssdk/verify, with this page's address
// without its #fragment), then calls the wx.ready callbacks, or the wx.error callbacks with
// {errMsg: "config:invalid signature"} (or "config:invalid url domain", "config:fail").
(function () {
  "use strict";
  var script = document.currentScript;
  var verifyUrl = new URL(
    "/sandbox/jssdk/verify",
    script && script.src ? script.src : location.href
  ).href;
  var outcome = null;
  var readyFns = [];
  var errorFns = [];

  function settle(result) {
    outcome = result;
    var fns = result.ok ? readyFns : errorFns;
    readyFns = [];
    errorFns = [];
    fns.forEach(function (fn) {
      if (result.ok) {
        fn();
      } else {
        fn(result.res);
      }
    });
  }

  window.wx = {
    config: function (cfg) {
      outcome = null;
      var body = {
        appId: cfg.appId,
        timestamp: cfg.timestamp,
        nonceStr: cfg.nonceStr,
        signature: cfg.signature,
        jsApiList: cfg.jsApiList || [],
        url: location.href.split("#")[0]
      };
      fetch(verifyUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body)
      })
        .then(function (response) {
          return response.json();
        })
        .then(function (answer) {
          if (answer.ok) {
            settle({ ok: true });
          } else {
            settle({ ok: false, res: { errMsg: "config:" + (answer.errmsg || "fail") } });
          }
        })
        .catch(function () {
          settle({ ok: false, res: { errMsg: "config:fail" } });
        });
    },
    ready: function (fn) {
      if (outcome && outcome.ok) {
        fn();
      } else {
        readyFns.push(fn);
      }
    },
    error: function (fn) {
      if (outcome && !outcome.ok) {
        fn(outcome.res);
      } else {
        errorFns.push(fn);
      }
    }
  };
})();
