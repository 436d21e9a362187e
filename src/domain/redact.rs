//! Secrets out of messages: a database URL is shown with its password replaced by `***`.

/// Hides the password of a URL for messages and logs: in `user:password@` and in query parameters
/// such as `?password=`.
///
/// Conservative by construction rather than by a URL parser: people paste passwords holding `?`,
/// `#`, `/` or `@` unencoded, and a parser then reads part of the password as a query, a fragment, a
/// path or a port, and would show it (`postgres://u:S3c?retPW@h/db` parses as host `u`, port `S3c`).
/// Here everything between `://` and the *last* `@` is the user part, and everything in it after the
/// first `:` is the password. Masking too much is safe; masking too little is not.
pub fn redact(url: &str) -> String {
    let masked = match url.find("://") {
        Some(s) => {
            let (scheme, rest) = url.split_at(s + 3);
            match rest.rfind('@').map(|at| rest.split_at(at)) {
                Some((auth, tail)) => match auth.split_once(':') {
                    Some((user, _)) => format!("{scheme}{user}:***{tail}"),
                    None => url.to_string(),
                },
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    mask_query(&masked)
}

/// A URL whose password holds a character the URL syntax gives a meaning (`?`, `#`, `/`, `@`)
/// cannot be read as the person meant it: the driver sees a query, a fragment or a path, and then
/// reports a misleading "invalid port number". Returns the message to show instead (naming the
/// character and its percent-encoding, never the password), or `None` when the URL is fine.
pub fn unencoded_password(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let auth = &rest[..rest.rfind('@')?];
    let (_, password) = auth.split_once(':')?;
    let c = password.chars().find(|c| matches!(c, '?' | '#' | '/' | '@' | ' '))?;
    Some(format!(
        "the password holds `{c}`, which a URL reads as part of its syntax: write it percent-encoded as `%{:02X}` \
         (e.g. in CUTOVER_STORE_URL or CUTOVER_SOURCE_URL)",
        c as u32
    ))
}

/// Masks the values of query parameters that name a secret (`password`, `sslpassword`, `PWD`, …).
fn mask_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return url.to_string() };
    let params: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_key(k) => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("pass") || k == "pwd" || k.contains("secret") || k.contains("token")
}

#[cfg(test)]
mod tests {
    /// (url, shown): every shape a password takes in a database URL.
    #[test]
    fn passwords_never_show() {
        let table = [
            ("postgres://etl:hunter2@db/legacy", "postgres://etl:***@db/legacy"),
            ("postgres://postgres:S3c?retPW@host/db", "postgres://postgres:***@host/db"),
            ("postgres://u:pa#ss@host:5432/db", "postgres://u:***@host:5432/db"),
            ("postgres://u:12/ss@host/db", "postgres://u:***@host/db"),
            ("postgres://u:p@ss@host/db", "postgres://u:***@host/db"),
            ("postgres://u:p%40ss%3F@host/db", "postgres://u:***@host/db"),
            ("postgres://u:S3c?ret@host/db?sslmode=require", "postgres://u:***@host/db?sslmode=require"),
            ("postgres://u:x@host/db?password=y", "postgres://u:***@host/db?password=***"),
            ("postgres://db/legacy?user=etl&password=hunter2", "postgres://db/legacy?user=etl&password=***"),
            ("postgres://h/db?application_name=a@b&password=x", "postgres://h/db?application_name=a@b&password=***"),
            ("mysql://root:pw@127.0.0.1:3306/legacy", "mysql://root:***@127.0.0.1:3306/legacy"),
            ("mysql://root@h/db?sslpassword=x&PWD=y", "mysql://root@h/db?sslpassword=***&PWD=***"),
            ("postgres://etl@db/legacy", "postgres://etl@db/legacy"),
            ("postgres://:onlypw@db/legacy", "postgres://:***@db/legacy"),
            ("sqlite://legacy.db?mode=rwc", "sqlite://legacy.db?mode=rwc"),
            ("sqlite://.cutover/state.db", "sqlite://.cutover/state.db"),
        ];
        for (url, shown) in table {
            assert_eq!(super::redact(url), shown, "{url}");
        }
    }

    #[test]
    fn a_password_that_needs_encoding_is_named_by_its_character_only() {
        // (url, the password, the character named, or None)
        let table = [
            ("postgres://u:S3c?retPW@h/db", "S3c?retPW", Some("`?`")),
            ("postgres://u:pa#ss@h/db", "pa#ss", Some("`#`")),
            ("postgres://u:a/b@h/db", "a/b", Some("`/`")),
            ("postgres://u:p@ss@h/db", "p@ss", Some("`@`")),
            ("postgres://u:p%40ss@h/db", "p%40ss", None),
            ("postgres://u@h/db?password=x", "", None),
            ("sqlite://state.db", "", None),
        ];
        for (url, password, want) in table {
            let got = super::unencoded_password(url);
            match want {
                Some(c) => {
                    let msg = got.unwrap_or_else(|| panic!("{url}"));
                    assert!(msg.contains(c) && !msg.contains(password), "{msg}");
                }
                None => assert_eq!(got, None, "{url}"),
            }
        }
    }

    /// Whatever the URL, no password character survives next to its user.
    #[test]
    fn a_secret_never_survives_any_shape() {
        let secrets = ["S3c?retPW", "a#b", "x/y@z", "p%40w", "pw?password=1&x"];
        for s in secrets {
            for url in [format!("postgres://u:{s}@h/db"), format!("mysql://u:{s}@h:3306/db?ssl=true")] {
                let shown = super::redact(&url);
                assert!(!shown.contains(s), "{url} shown as {shown}");
            }
        }
    }
}
