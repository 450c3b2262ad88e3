//! Who may query the server: bearer tokens (from a token file or `USERLAKE_TOKEN`), checked in
//! constant time, and the username/password handshake that trades a token for the bearer header
//! ADBC and the JDBC driver expect.

use std::path::Path;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::error::{Error, Result};

/// The user a bare token (one without a name) is logged as.
pub const DEFAULT_USER: &str = "default";
/// The user of every query when the server runs with `--no-auth`.
pub const ANONYMOUS_USER: &str = "anonymous";
/// Shorter secrets are guessable; refusing them at start is kinder than a breach later.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// One accepted token. Only its digest is kept, so comparisons take the same time whatever
/// the length or the content of what a client sends.
pub struct Credential {
    user: String,
    digest: [u8; 32],
    named: bool,
}

/// How requests are authenticated.
pub enum Authenticator {
    Tokens(Vec<Credential>),
    /// `--no-auth`: allowed only on a loopback address, checked by the caller.
    Disabled,
}

impl std::fmt::Debug for Authenticator {
    // Never print secrets, not even their digests.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authenticator::Tokens(tokens) => write!(f, "Authenticator({} tokens)", tokens.len()),
            Authenticator::Disabled => write!(f, "Authenticator(disabled)"),
        }
    }
}

/// Clients differ on padding (the Go ADBC driver leaves it out), so both forms are read.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

impl Authenticator {
    /// Reads a token file: one token per line, either `TOKEN` or `USER TOKEN`; blank lines and
    /// lines starting with `#` are skipped.
    pub fn from_token_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut credentials = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (user, token, named) = match fields.as_slice() {
                [token] => (DEFAULT_USER, *token, false),
                [user, token] => (*user, *token, true),
                _ => {
                    return Err(Error::usage(format!(
                        "{}, line {}: expected `TOKEN` or `USER TOKEN`, found {} fields",
                        path.display(),
                        index + 1,
                        fields.len()
                    )));
                }
            };
            credentials.push(Credential::new(user, token, named).map_err(|reason| {
                Error::usage(format!("{}, line {}: {reason}", path.display(), index + 1))
            })?);
        }
        if credentials.is_empty() {
            return Err(Error::usage(format!(
                "{}: the token file holds no token",
                path.display()
            )));
        }
        Ok(Authenticator::Tokens(credentials))
    }

    /// One bare token, as given by `USERLAKE_TOKEN`.
    pub fn from_token(token: &str) -> Result<Self> {
        let credential = Credential::new(DEFAULT_USER, token.trim(), false)
            .map_err(|reason| Error::usage(format!("USERLAKE_TOKEN: {reason}")))?;
        Ok(Authenticator::Tokens(vec![credential]))
    }

    /// Both sets of tokens (a token file and USERLAKE_TOKEN).
    pub fn with(self, other: Authenticator) -> Self {
        match (self, other) {
            (Authenticator::Tokens(mut mine), Authenticator::Tokens(theirs)) => {
                mine.extend(theirs);
                Authenticator::Tokens(mine)
            }
            (Authenticator::Disabled, other) | (other, Authenticator::Disabled) => other,
        }
    }

    pub fn is_disabled(&self) -> bool {
        matches!(self, Authenticator::Disabled)
    }

    /// The user behind a request's `authorization: Bearer ...` header.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<String, Status> {
        let credentials = match self {
            Authenticator::Disabled => return Ok(ANONYMOUS_USER.to_string()),
            Authenticator::Tokens(credentials) => credentials,
        };
        let header = authorization_header(metadata)?;
        let token = strip_scheme(header, "Bearer ").ok_or_else(|| {
            Status::unauthenticated(
                "the authorization header must be `Bearer <token>` (or use the username/password handshake)",
            )
        })?;
        find_user(credentials, token.as_bytes())
            .map(|c| c.user.clone())
            .ok_or_else(|| Status::unauthenticated("invalid token"))
    }

    /// The handshake: `authorization: Basic base64(user:password)` where the password is a
    /// token. Returns the user and the bearer token to send back in the response headers.
    pub fn handshake(&self, metadata: &MetadataMap) -> Result<(String, String), Status> {
        let credentials = match self {
            Authenticator::Disabled => return Ok((ANONYMOUS_USER.to_string(), String::new())),
            Authenticator::Tokens(credentials) => credentials,
        };
        let header = authorization_header(metadata)?;
        if let Some(token) = strip_scheme(header, "Bearer ") {
            // Clients that already hold a token may still handshake.
            return find_user(credentials, token.as_bytes())
                .map(|c| (c.user.clone(), token.to_string()))
                .ok_or_else(|| Status::unauthenticated("invalid token"));
        }
        let encoded = strip_scheme(header, "Basic ").ok_or_else(|| {
            Status::unauthenticated("the handshake needs `Basic` or `Bearer` authorization")
        })?;
        let decoded = BASE64
            .decode(encoded.trim())
            .map_err(|_| Status::unauthenticated("the Basic credentials are not valid base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| Status::unauthenticated("the Basic credentials are not UTF-8"))?;
        let (user, password) = decoded.split_once(':').ok_or_else(|| {
            Status::unauthenticated("the Basic credentials must be user:password")
        })?;
        let credential = find_user(credentials, password.as_bytes())
            .ok_or_else(|| Status::unauthenticated("invalid user or password"))?;
        if credential.named && credential.user != user {
            return Err(Status::unauthenticated("invalid user or password"));
        }
        Ok((credential.user.clone(), password.to_string()))
    }
}

impl Credential {
    fn new(user: &str, token: &str, named: bool) -> std::result::Result<Self, String> {
        if token.len() < MIN_TOKEN_LENGTH {
            return Err(format!(
                "a token must have at least {MIN_TOKEN_LENGTH} characters (this one has {})",
                token.len()
            ));
        }
        Ok(Credential {
            user: user.to_string(),
            digest: digest(token.as_bytes()),
            named,
        })
    }
}

/// Compares against every credential without stopping at the first match, so the time taken
/// says nothing about which token (if any) matched.
fn find_user<'a>(credentials: &'a [Credential], presented: &[u8]) -> Option<&'a Credential> {
    let presented = digest(presented);
    let mut found = None;
    for credential in credentials {
        if bool::from(credential.digest.ct_eq(&presented)) {
            found = Some(credential);
        }
    }
    found
}

fn authorization_header(metadata: &MetadataMap) -> Result<&str, Status> {
    metadata
        .get("authorization")
        .ok_or_else(|| {
            Status::unauthenticated("missing authorization header: a token is required")
        })?
        .to_str()
        .map_err(|_| Status::unauthenticated("the authorization header is not valid ASCII"))
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let prefix = header.get(..scheme.len())?;
    prefix
        .eq_ignore_ascii_case(scheme)
        .then(|| &header[scheme.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", value.parse().expect("ascii header"));
        map
    }

    fn tokens() -> Authenticator {
        Authenticator::Tokens(vec![
            Credential::new("alice", "alice-secret-0123456789", true).expect("valid"),
            Credential::new(DEFAULT_USER, "bare-secret-0123456789", false).expect("valid"),
        ])
    }

    #[test]
    fn bearer_tokens_name_their_user() {
        let auth = tokens();
        let user = auth.authenticate(&metadata("Bearer alice-secret-0123456789"));
        assert_eq!(user.expect("accepted"), "alice");
        let user = auth.authenticate(&metadata("bearer bare-secret-0123456789"));
        assert_eq!(user.expect("accepted"), DEFAULT_USER);
    }

    #[test]
    fn wrong_or_missing_tokens_are_unauthenticated() {
        let auth = tokens();
        for header in [
            "Bearer alice-secret-012345678",
            "Bearer ",
            "Token x",
            "Basic YTpi",
        ] {
            let error = auth.authenticate(&metadata(header)).expect_err(header);
            assert_eq!(error.code(), tonic::Code::Unauthenticated, "{header}");
        }
        let error = auth
            .authenticate(&MetadataMap::new())
            .expect_err("no header");
        assert_eq!(error.code(), tonic::Code::Unauthenticated);
        assert!(error.message().contains("missing authorization"));
    }

    #[test]
    fn handshake_checks_the_user_of_named_tokens() {
        let auth = tokens();
        let basic =
            |user_password: &str| metadata(&format!("Basic {}", BASE64.encode(user_password)));
        let (user, token) = auth
            .handshake(&basic("alice:alice-secret-0123456789"))
            .expect("accepted");
        // unpadded, as the Go ADBC driver sends it
        let unpadded = format!(
            "Basic {}",
            BASE64
                .encode("alice:alice-secret-0123456789")
                .trim_end_matches('=')
        );
        assert!(auth.handshake(&metadata(&unpadded)).is_ok());
        assert_eq!(
            (user.as_str(), token.as_str()),
            ("alice", "alice-secret-0123456789")
        );
        assert!(
            auth.handshake(&basic("bob:alice-secret-0123456789"))
                .is_err()
        );
        assert!(
            auth.handshake(&basic("alice:wrong-secret-0123456789"))
                .is_err()
        );
        // a bare token accepts any user name, and is logged as the default user
        let (user, _) = auth
            .handshake(&basic("anyone:bare-secret-0123456789"))
            .expect("accepted");
        assert_eq!(user, DEFAULT_USER);
    }

    #[test]
    fn short_tokens_and_bad_lines_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens");
        std::fs::write(&path, "# team\nalice short\n").expect("write");
        let error = Authenticator::from_token_file(&path).expect_err("short");
        assert!(error.to_string().contains("line 2"), "{error}");
        std::fs::write(&path, "a b c\n").expect("write");
        assert!(Authenticator::from_token_file(&path).is_err());
        std::fs::write(&path, "\n# nothing\n").expect("write");
        assert!(Authenticator::from_token_file(&path).is_err());
        std::fs::write(
            &path,
            "alice alice-secret-0123456789\nbare-secret-0123456789\n",
        )
        .expect("write");
        let auth = Authenticator::from_token_file(&path).expect("valid");
        assert_eq!(format!("{auth:?}"), "Authenticator(2 tokens)");
    }
}
