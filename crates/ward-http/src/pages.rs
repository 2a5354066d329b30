//! Pages for people. For now the start page: what this server is, its tenants and where their
//! endpoints live. Server-rendered, no scripts, no external assets.

use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(start_page))
        .route("/static/ward.css", get(stylesheet))
        .route("/static/favicon.svg", get(favicon))
        .route("/{tenant}/branding/style.css", get(branding_style))
        .route("/{tenant}/branding/logo", get(branding_logo))
}

/// The one stylesheet, served from Ward itself (no CDN, and no inline styles for the CSP to allow).
async fn stylesheet() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"), (axum::http::header::CACHE_CONTROL, "public, max-age=3600")], CSS)
        .into_response()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn start_page(State(state): State<AppState>) -> Response {
    let tenants = match state.directory.tenants().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "start page: cannot list tenants");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(page("Ward is unavailable", "<p>The directory store is not answering. Try again shortly.</p>")),
            )
                .into_response();
        }
    };
    let mut body = String::from("<p>Ward is running. It is the identity control plane of this deployment.</p>");
    body.push_str("<h2>Tenants</h2><ul>");
    for t in &tenants {
        let issuer = format!("{}/{}/v2.0", state.public_url, t.id);
        body.push_str(&format!(
            "<li><strong>{}</strong><dl><dt>Tenant id</dt><dd><code>{}</code></dd><dt>Domain</dt><dd><code>{}</code></dd><dt>Issuer</dt><dd><code>{}</code></dd>\
<dt>People</dt><dd><a href=\"/{id}/mysecurityinfo\">My security info</a>: sign in, passkeys, authenticator apps, password</dd></dl></li>",
            escape(&t.display_name),
            t.id,
            escape(t.initial_domain().as_str()),
            escape(&issuer),
            id = t.id,
        ));
    }
    body.push_str("</ul>");
    body.push_str("<p>Applications sign people in through each tenant's OpenID Connect endpoints (discovery at <code>/{tenant}/v2.0/.well-known/openid-configuration</code>); administrators manage the directory and applications with the <code>ward</code> command (<code>ward user</code>, <code>ward group</code>, <code>ward app</code>) or the Graph-shaped API under <code>/v1.0</code>.</p>");
    Html(page("Ward", &body)).into_response()
}

/// Ward's icon: a shield, drawn inline so no file ships beside the binary.
const FAVICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\"><path d=\"M16 2 4 7v8c0 7.5 5.1 13.4 12 15 6.9-1.6 12-7.5 12-15V7z\" fill=\"#1f6feb\"/></svg>";

async fn favicon() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "image/svg+xml"), (axum::http::header::CACHE_CONTROL, "public, max-age=86400")], FAVICON)
        .into_response()
}

/// A whole page: title, heading and body, with Ward's stylesheet.
pub fn page(title: &str, body: &str) -> String {
    branded_page(title, body, None)
}

/// A page of a tenant's sign-in: its branding stylesheet after Ward's, and its banner logo above
/// the heading.
pub fn branded_page(title: &str, body: &str, tenant: Option<&ward_core::tenant::Tenant>) -> String {
    let (mut head, mut banner) = (String::new(), String::new());
    if let Some(t) = tenant {
        let b = &t.settings.branding;
        if let Some(colour) = &b.background_color {
            // The colour in the URL: a change is a new stylesheet, never a stale cached one.
            head = format!("<link rel=\"stylesheet\" href=\"/{}/branding/style.css?c={}\">", t.id, escape(colour.trim_start_matches('#')));
        }
        if b.banner_logo.is_some() {
            banner = format!("<img class=\"logo\" src=\"/{}/branding/logo\" alt=\"{}\">", t.id, escape(&t.display_name));
        }
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\"><link rel=\"stylesheet\" href=\"/static/ward.css\">{head}</head><body><main>{banner}<h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
    )
}

/// A tenant's branding stylesheet: its background colour (validated as `#rrggbb` when set).
async fn branding_style(State(state): State<AppState>, axum::extract::Path(tenant): axum::extract::Path<String>) -> Response {
    let css = match state.directory.resolve_tenant(&tenant).await {
        Ok(t) => t.settings.branding.background_color.map(|c| format!("body{{background:{c}}}")).unwrap_or_default(),
        Err(_) => String::new(),
    };
    ([(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"), (axum::http::header::CACHE_CONTROL, "public, max-age=300")], css)
        .into_response()
}

/// A tenant's banner logo (PNG or JPEG, checked when uploaded).
async fn branding_logo(State(state): State<AppState>, axum::extract::Path(tenant): axum::extract::Path<String>) -> Response {
    let Ok(t) = state.directory.resolve_tenant(&tenant).await else { return StatusCode::NOT_FOUND.into_response() };
    let b = t.settings.branding;
    let bytes = b.banner_logo.and_then(|l| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, l).ok());
    match (bytes, b.banner_logo_type) {
        (Some(bytes), Some(kind)) => {
            let kind = axum::http::HeaderValue::from_str(&kind).unwrap_or(axum::http::HeaderValue::from_static("application/octet-stream"));
            (
                [
                    (axum::http::header::CONTENT_TYPE, kind),
                    (axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("public, max-age=300")),
                ],
                bytes,
            )
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}\
main{max-width:44rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
h1{margin-top:0}dt{font-weight:600;margin-top:.4rem}dd{margin-left:0}code{background:#eef0f3;padding:.1rem .3rem;border-radius:4px;word-break:break-all}\
label{display:block;font-weight:600;margin:1rem 0 .3rem}input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #8a919a;border-radius:4px}\
input:focus,button:focus{outline:3px solid #1f6feb;outline-offset:2px}button{margin-top:1.2rem;margin-right:.6rem;padding:.6rem 1.4rem;font-size:1rem;border-radius:4px;border:1px solid #1f6feb;background:#1f6feb;color:#fff;cursor:pointer}\
button.secondary{background:#fff;color:#1f6feb}img.logo{display:block;max-height:36px;max-width:100%;margin-bottom:1rem}.brand-text{margin-top:1.5rem;white-space:pre-line}.error{color:#a40e26;background:#fdecee;border-left:4px solid #a40e26;padding:.6rem}.muted{color:#57606a}label.inline{display:inline;font-weight:400}";

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }
}
