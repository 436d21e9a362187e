//! What a customer-facing service must have, in one place: the signing key (forms' CSRF tokens
//! are HMACs bound to the link or the session), team sessions, argon2 passwords, a per-client
//! token bucket, and the response headers (a strict Content-Security-Policy whose only inline
//! styles and scripts are the page's own, allowed by their SHA-256).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

type HmacSha256 = Hmac<Sha256>;

/// The environment variable holding the key that signs forms (at least 32 characters).
pub const SECRET_ENV: &str = "CUTOVER_PORTAL_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{SECRET_ENV} must be at least 32 characters long")]
    ShortSecret,
    #[error("no random numbers from the system: {0}")]
    Random(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// `n` random bytes from the operating system, base64url.
pub fn random_token(n: usize) -> Result<String, SecurityError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| SecurityError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The key forms and sessions are signed with.
pub struct Keys {
    secret: Vec<u8>,
}

impl Keys {
    /// From `CUTOVER_PORTAL_SECRET`, or a random key for this process when it is unset (forms
    /// shown before a restart are then refused after it). Returns whether it was random.
    pub fn from_env() -> Result<(Keys, bool), SecurityError> {
        match std::env::var(SECRET_ENV) {
            Ok(s) if s.len() >= 32 => Ok((Keys { secret: s.into_bytes() }, false)),
            Ok(s) if !s.is_empty() => Err(SecurityError::ShortSecret),
            _ => Ok((Keys { secret: random_token(32)?.into_bytes() }, true)),
        }
    }

    fn mac(&self, purpose: &str, value: &str) -> HmacSha256 {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        m.update(purpose.as_bytes());
        m.update(b"\0");
        m.update(value.as_bytes());
        m
    }

    /// The CSRF token of a form bound to `value` (a link's token hash, or a session).
    pub fn sign(&self, purpose: &str, value: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.mac(purpose, value).finalize().into_bytes())
    }

    /// Whether `given` is the token [`Keys::sign`] gives (compared in constant time).
    pub fn verify(&self, purpose: &str, value: &str, given: &str) -> bool {
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(given.trim()) {
            Ok(bytes) => self.mac(purpose, value).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

/// An argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, SecurityError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| SecurityError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| SecurityError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecurityError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A signed-in team member.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    expires: Instant,
}

/// Team sessions, in memory: a restart signs everyone out. The cookie holds a random id; the
/// map is keyed by its SHA-256, so a memory dump does not hand out live cookies.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// How long a team session lasts.
pub const SESSION_HOURS: u64 = 8;

fn sha(s: &str) -> String {
    crate::hex::hex(&Sha256::digest(s.as_bytes()))
}

impl Sessions {
    /// A new session for `name`: the cookie value.
    pub fn open(&self, name: &str) -> Result<String, SecurityError> {
        let id = random_token(32)?;
        let s = Session { name: name.to_string(), expires: Instant::now() + Duration::from_secs(SESSION_HOURS * 3600) };
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, s| s.expires > Instant::now());
            m.insert(sha(&id), s);
        }
        Ok(id)
    }

    /// The live session of a cookie value.
    pub fn get(&self, id: &str) -> Option<Session> {
        let m = self.map.lock().ok()?;
        m.get(&sha(id)).filter(|s| s.expires > Instant::now()).cloned()
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&sha(id));
        }
    }
}

/// A token bucket per client address: `per_minute` requests, refilled evenly. Counted in
/// thousandths of a request (integers: no float anywhere near the limit).
pub struct RateLimiter {
    per_minute: u64,
    buckets: Mutex<HashMap<IpAddr, (u64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter { per_minute: u64::from(per_minute.max(1)), buckets: Mutex::default() }
    }

    /// Takes one request from `ip`'s bucket; false when it is empty.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        let full = self.per_minute * 1000;
        let Ok(mut m) = self.buckets.lock() else { return false };
        if m.len() > 100_000 {
            // Forget the clients that have been quiet for a minute (their buckets are full again).
            m.retain(|_, (_, t)| now.duration_since(*t) < Duration::from_secs(60));
        }
        let (tokens, last) = m.entry(ip).or_insert((full, now));
        let elapsed = u64::try_from(now.duration_since(*last).as_millis()).unwrap_or(u64::MAX);
        // per_minute requests per 60 000 ms = per_minute thousandths per ms.
        *tokens = tokens.saturating_add(elapsed.saturating_mul(self.per_minute) / 60).min(full);
        *last = now;
        if *tokens >= 1000 {
            *tokens -= 1000;
            true
        } else {
            false
        }
    }
}

/// The Content-Security-Policy of a page: nothing may load but the page's own inline `<style>`
/// and `<script>` blocks (by their SHA-256), images inline, and forms posted back here.
pub fn csp_for(html: &str) -> String {
    let hashes = |tag: &str| -> String {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut out = String::new();
        let mut rest = html;
        while let Some(i) = rest.find(&open) {
            let body = &rest[i + open.len()..];
            let Some(j) = body.find(&close) else { break };
            let digest = Sha256::digest(&body.as_bytes()[..j]);
            out.push_str(&format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
            rest = &body[j..];
        }
        out
    };
    let (styles, scripts) = (hashes("style"), hashes("script"));
    let script = if scripts.is_empty() { String::new() } else { format!("; script-src{scripts}") };
    format!(
        "default-src 'none'; style-src 'self'{styles}; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'{script}"
    )
}

/// A cookie's value from a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_purpose_and_value() {
        let k = Keys { secret: b"0123456789abcdef0123456789abcdef".to_vec() };
        let t = k.sign("c", "abc");
        assert!(k.verify("c", "abc", &t));
        assert!(!k.verify("c", "abd", &t));
        assert!(!k.verify("t", "abc", &t));
        assert!(!k.verify("c", "abc", ""));
        assert!(!k.verify("c", "abc", "!!"));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(password_matches("correct horse", &h));
        assert!(!password_matches("wrong", &h));
        assert!(!password_matches("correct horse", "not a hash"));
    }

    #[test]
    fn the_bucket_empties_and_refills() {
        let r = RateLimiter::new(60);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!((0..60).all(|_| r.allow_at(ip, t0)));
        assert!(!r.allow_at(ip, t0), "61st request in the same instant");
        assert!(r.allow_at([127, 0, 0, 2].into(), t0), "another client has its own bucket");
        assert!(!r.allow_at(ip, t0 + Duration::from_millis(999)));
        assert!(r.allow_at(ip, t0 + Duration::from_millis(1000)), "one request per second comes back");
    }

    #[test]
    fn the_policy_allows_exactly_the_pages_own_blocks() {
        let p = csp_for("<style>a{}</style><p>x</p><script>1</script>");
        assert!(p.starts_with("default-src 'none'; style-src 'self' 'sha256-"), "{p}");
        assert!(p.contains("; script-src 'sha256-"), "{p}");
        assert!(!p.contains("unsafe"), "{p}");
        assert!(!csp_for("<p>x</p>").contains("script-src"));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        assert_eq!(cookie("a=1; cutover_session=xyz; b=2", "cutover_session"), Some("xyz"));
        assert_eq!(cookie("cutover_session_old=1", "cutover_session"), None);
    }
}
