//! The web pages of `drover run`: the overview (`/`), a source's jobs (`/ui/sources/<name>`) and
//! a job (`/ui/jobs/<namespace>/<job>`), rendered on the server, with `/ui/app.js` and
//! `/ui/app.css` from the binary.
//!
//! The pages; reads the status board and events, never Nomad or Git directly. Owns the HTML,
//! the optional token that guards the pages (`[server] ui_auth_token_*`, compared in constant
//! time) and their security headers (a strict `Content-Security-Policy`: no inline script or
//! style, nothing from another origin). Never changes anything: every route is a `GET`.
//!
//! A request carrying `X-Drover-Fragment: 1` gets the live part of the page alone, which
//! `app.js` swaps in every few seconds.

mod pages;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::serve::ServeContext;

pub use pages::{JobsQuery, Links, PAGE_SIZE, job_page, overview_page, source_page};

/// No script, style, image or connection from anywhere but drover itself, and no inline script.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The routes of the pages, behind the token when one is configured.
pub fn routes(ctx: ServeContext) -> Router<ServeContext> {
    Router::new()
        .route("/", get(overview))
        .route("/ui/sources/{name}", get(source))
        .route("/ui/jobs/{namespace}/{*job}", get(job))
        .route("/ui/app.js", get(script))
        .route("/ui/app.css", get(style))
        .route_layer(middleware::from_fn_with_state(ctx, guard))
        .layer(middleware::from_fn(headers))
}

/// Whether `headers` carry `token`: `Authorization: Bearer <token>`, or basic auth with
/// `<token>` as the password (any user name), so that a browser can ask for it. Both sides are
/// hashed first, so that the comparison takes the same time whatever the lengths.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let given = if let Some(bearer) = value.strip_prefix("Bearer ") {
        bearer.trim().to_owned()
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        use base64::Engine as _;
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        match text.split_once(':') {
            Some((_, password)) => password.to_owned(),
            None => return false,
        }
    } else {
        return false;
    };
    Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(token.as_bytes()))
        .into()
}

async fn guard(State(ctx): State<ServeContext>, request: Request, next: Next) -> Response {
    let secret = ctx.config.borrow().server.ui_auth_token.clone();
    let Some(secret) = secret else {
        return next.run(request).await;
    };
    let token = match secret.read() {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the web pages' token; refusing every page");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the token\n").into_response();
        }
    };
    if authorized(request.headers(), &token) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"drover\", charset=\"UTF-8\"",
        )],
        "a token is needed: Authorization: Bearer <token>, or basic auth with it as the password\n",
    )
        .into_response()
}

async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn fragment(headers: &HeaderMap) -> bool {
    headers.get("x-drover-fragment").is_some()
}

async fn overview(State(ctx): State<ServeContext>, request_headers: HeaderMap) -> Response {
    let config = ctx.config.borrow().clone();
    let reachability = ctx.board.nomad_reachability();
    let links = Links::new(&config);
    ctx.board
        .with_document(|doc| overview_page(doc, &reachability, &links, fragment(&request_headers)))
        .into_response()
}

async fn source(
    State(ctx): State<ServeContext>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let query = JobsQuery::parse(request.uri().query().unwrap_or_default());
    let config = ctx.config.borrow().clone();
    let links = Links::new(&config);
    let live = fragment(request.headers());
    // The recorder first, then the board: the order the daemon takes them in.
    let state = ctx.recorder.lock();
    let page = ctx.board.with_document(|doc| {
        let source = doc.sources.iter().find(|s| s.name == name)?;
        Some(source_page(source, &state.history, &query, &links, live))
    });
    drop(state);
    match page {
        Some(page) => page.into_response(),
        None => (StatusCode::NOT_FOUND, format!("no source named {name}\n")).into_response(),
    }
}

async fn job(
    State(ctx): State<ServeContext>,
    Path((namespace, id)): Path<(String, String)>,
    request_headers: HeaderMap,
) -> Response {
    let config = ctx.config.borrow().clone();
    let links = Links::new(&config);
    let state = ctx.recorder.lock();
    let page = ctx.board.with_document(|doc| {
        job_page(
            doc,
            &namespace,
            &id,
            &state.history,
            &links,
            fragment(&request_headers),
        )
    });
    drop(state);
    match page {
        Some(page) => page.into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no job {namespace}/{id} on the board\n"),
        )
            .into_response(),
    }
}

async fn script() -> Response {
    let headers = [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")];
    (headers, include_str!("app.js")).into_response()
}

async fn style() -> Response {
    let headers = [(header::CONTENT_TYPE, "text/css; charset=utf-8")];
    (headers, include_str!("app.css")).into_response()
}

#[cfg(test)]
mod tests;
