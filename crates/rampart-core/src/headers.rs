//! The security headers every response carries. One list: the server sets it, and the
//! scanner grades other APIs against the same expectations.

/// `(name, value)` pairs set on every response, overriding anything a handler set.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains; preload",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// Headers that reveal the software and must never be sent.
pub const BANNER_HEADERS: &[&str] = &["x-powered-by", "server", "x-aspnet-version", "x-runtime"];
