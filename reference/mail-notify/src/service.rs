//! Where pushes go: the push resource template of PROV-27, parsed once.

use http::Uri;
use mailpush_provider_api::DeviceToken;
use url::{Position, Url};

use crate::Error;

/// The placeholder of a push resource template.
pub const TOKEN_PLACEHOLDER: &str = "{token}";

/// A device token that stands for every other while a template is checked: every token is 64
/// characters of the same class, so a template that makes a URI with this one makes one with any.
const SAMPLE_TOKEN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where push resources are: a push resource template whose `{token}` is replaced by the device
/// token (PROV-27). Parsed once, with a URL parser, when it is built: a template that gives no
/// `http://` or `https://` URL with a host and `{token}` in its path is refused then, never at a
/// push. The default, [`PushService::mailpush`], gives `https://push.example/v1/push/ab12…` for
/// base `https://push.example` (the mailpush push server, PROV-4's `push-request`); any other
/// RFC 8030 service is reached with its own template ([`PushService::from_template`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushService {
    before: String,
    after: String,
}

impl PushService {
    /// The mailpush push server at `base` (for example `https://push.example:8443` or
    /// `http://[::1]:8080/`).
    pub fn mailpush(base: &str) -> Result<Self, Error> {
        Self::from_template(&Self::default_template(base))
    }

    /// The default push resource template of the push service at `base`:
    /// `<base>/v1/push/{token}` (PROV-27).
    pub fn default_template(base: &str) -> String {
        format!("{}/v1/push/{TOKEN_PLACEHOLDER}", base.trim_end_matches('/'))
    }

    /// The push service of a push resource template such as
    /// `https://updates.example/wpush/{token}/notify`: an `http://` or `https://` URL with a
    /// host, no credentials and no fragment, holding `{token}` exactly once, in its path.
    pub fn from_template(template: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::BadTemplate(format!("{template:?} {why}"));
        let Some((before, after)) = template.split_once(TOKEN_PLACEHOLDER) else {
            return Err(bad("does not contain {token}".into()));
        };
        if after.contains(TOKEN_PLACEHOLDER) {
            return Err(bad("contains {token} more than once".into()));
        }
        let url = Url::parse(&format!("{before}{SAMPLE_TOKEN}{after}"))
            .map_err(|e| bad(format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("is neither an http:// nor an https:// URL".into()));
        }
        if url.host().is_none() {
            return Err(bad("names no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "holds credentials: give the provider token as provider_token instead".into(),
            ));
        }
        if url.fragment().is_some() {
            return Err(bad("has a fragment".into()));
        }
        // The URL as parsed (host lowercased, default port dropped, path normalized), split where
        // the token goes; the token must land in the path, never in the host, port or query.
        let serialized = url.as_str();
        let path = &url[Position::BeforePath..Position::AfterPath];
        let start = url[..Position::BeforePath].len();
        let Some(offset) = path.find(SAMPLE_TOKEN) else {
            return Err(bad("must put {token} in the path".into()));
        };
        let (before, after) = serialized.split_at(start + offset);
        let service = Self {
            before: before.to_owned(),
            after: after[SAMPLE_TOKEN.len()..].to_owned(),
        };
        Uri::try_from(format!("{}{SAMPLE_TOKEN}{}", service.before, service.after))
            .map_err(|e| bad(format!("is not a URI: {e}")))?;
        Ok(service)
    }

    /// The push resource of `token`: the template with `{token}` replaced by the token, which is
    /// lowercase (PROV-27).
    //= spec/provider-api.md#PROV-27
    //# The mail server MUST send the pushes of a registration to
    //# the push resource that its device token names: the mail server's configured push resource
    //# template with `{token}` replaced by the token in lowercase.
    pub fn resource(&self, token: &DeviceToken) -> Uri {
        // `from_template` made a URI of the same text with a token of the same length and
        // character class, so this one parses too.
        Uri::try_from(format!("{}{token}{}", self.before, self.after)).unwrap_or_default()
    }

    /// The template as parsed, with `{token}` in its place.
    pub fn template(&self) -> String {
        format!("{}{TOKEN_PLACEHOLDER}{}", self.before, self.after)
    }
}
