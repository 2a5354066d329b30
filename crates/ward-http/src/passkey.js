// Ward's passkey ceremonies: asks Ward for options, hands them to the browser's WebAuthn API,
// and posts the authenticator's answer back. Served by Ward itself; no other script runs.
(function () {
  "use strict";

  var supported = !!(window.PublicKeyCredential &&
    PublicKeyCredential.parseCreationOptionsFromJSON &&
    PublicKeyCredential.parseRequestOptionsFromJSON);

  // Ward's JSON may carry nulls for absent members; WebAuthn's parsers want them left out.
  function clean(value) {
    if (Array.isArray(value)) return value.map(clean);
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (k) {
        if (value[k] !== null && value[k] !== undefined) out[k] = clean(value[k]);
      });
      return out;
    }
    return value;
  }

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString()
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new Error(body.error || "Ward could not do this. Try again.");
        return body;
      });
    });
  }

  function explain(err) {
    if (err && err.name === "NotAllowedError") return "The passkey prompt was closed or timed out. Try again.";
    if (err && err.name === "InvalidStateError") return "This authenticator already holds a passkey for your account.";
    return (err && err.message) || "Something went wrong. Try again.";
  }

  function show(message) {
    var box = document.getElementById("passkey-error");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
  }

  var signIn = document.getElementById("passkey-signin");
  if (signIn && supported) {
    signIn.hidden = false;
    signIn.addEventListener("click", function () {
      var d = signIn.dataset;
      var stay = document.getElementById("stay_signed_in");
      var base = { csrf_token: d.csrf, "continue": d["continue"], stay_signed_in: stay && stay.checked ? "on" : "" };
      signIn.disabled = true;
      post("/" + d.tenant + "/login/passkey/options", base).then(function (begun) {
        var options = PublicKeyCredential.parseRequestOptionsFromJSON(clean(begun.options.publicKey));
        return navigator.credentials.get({ publicKey: options }).then(function (cred) {
          return post("/" + d.tenant + "/login/passkey", Object.assign({}, base, {
            state: begun.state,
            credential: JSON.stringify(cred.toJSON())
          }));
        });
      }).then(function (done) {
        window.location.assign(done.location);
      }).catch(function (err) {
        signIn.disabled = false;
        show(explain(err));
      });
    });
  }

  var register = document.getElementById("passkey-register");
  if (register) {
    if (!supported) {
      show("This browser cannot create passkeys.");
      register.querySelector("button").disabled = true;
    }
    register.addEventListener("submit", function (event) {
      event.preventDefault();
      var d = register.dataset;
      var button = register.querySelector("button");
      button.disabled = true;
      post("/" + d.tenant + "/mysecurityinfo/passkey/options", { csrf_token: d.csrf }).then(function (begun) {
        var options = PublicKeyCredential.parseCreationOptionsFromJSON(clean(begun.options.publicKey));
        return navigator.credentials.create({ publicKey: options }).then(function (cred) {
          return post("/" + d.tenant + "/mysecurityinfo/passkey", {
            csrf_token: d.csrf,
            state: begun.state,
            name: document.getElementById("name").value,
            credential: JSON.stringify(cred.toJSON())
          });
        });
      }).then(function (done) {
        window.location.assign(done.location);
      }).catch(function (err) {
        button.disabled = false;
        show(explain(err));
      });
    });
  }
})();
