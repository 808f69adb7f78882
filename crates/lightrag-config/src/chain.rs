//! Rendering an error together with its causes.
//!
//! Library error messages carry only their own context; the cause is reached through
//! [`std::error::Error::source`]. Where a whole chain must become one line (an HTTP error body,
//! a status stored in the catalog, a log field), render it with [`ErrorChain`] or
//! [`error_chain`]: `outer: cause: root cause`, each message once.

use std::error::Error;
use std::fmt;

/// Displays an error and all its sources joined by `": "`, each message once: a source whose
/// text the line already holds (a third-party error that repeats its cause) is not repeated.
///
/// ```
/// use lightrag_config::ErrorChain;
///
/// #[derive(Debug)]
/// struct Outer(std::io::Error);
/// impl std::fmt::Display for Outer {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("cannot read /data/graph.json")
///     }
/// }
/// impl std::error::Error for Outer {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let e = Outer(std::io::Error::other("permission denied"));
/// assert_eq!(
///     ErrorChain(&e).to_string(),
///     "cannot read /data/graph.json: permission denied"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a dyn Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !line.contains(&text) {
                if !line.is_empty() {
                    line.push_str(": ");
                }
                line.push_str(&text);
            }
            next = cause.source();
        }
        f.write_str(&line)
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `error` and its sources as one line; see [`ErrorChain`].
pub fn error_chain(error: &dyn Error) -> String {
    ErrorChain(error).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E {
        msg: &'static str,
        source: Option<Box<E>>,
    }

    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.msg)
        }
    }

    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    fn e(msg: &'static str, source: Option<E>) -> E {
        E {
            msg,
            source: source.map(Box::new),
        }
    }

    /// The chain as `anyhow`'s `{:#}` prints it: every message, joined by ": ", no dedup.
    fn naive_chain(error: &(dyn Error + 'static)) -> String {
        let mut parts = vec![error.to_string()];
        let mut next = error.source();
        while let Some(cause) = next {
            parts.push(cause.to_string());
            next = cause.source();
        }
        parts.join(": ")
    }

    #[test]
    fn config_errors_do_not_repeat_their_cause() {
        let errors = [
            crate::ConfigError::DotEnv {
                path: "/srv/.env".into(),
                source: dotenvy::Error::LineParse("LIGHTRAG_PORT='x".into(), 14),
            },
            crate::ConfigError::Environment(envy::Error::Custom("value is not UTF-8".into())),
        ];
        for err in &errors {
            let full = naive_chain(err);
            let cause = err.source().expect("has a source").to_string();
            assert_eq!(full.matches(&cause).count(), 1, "{full}");
            assert_eq!(error_chain(err), full);
        }
    }

    #[test]
    fn joins_each_message_once() {
        let root = e("permission denied", None);
        assert_eq!(error_chain(&root), "permission denied");
        let chain = e(
            "restore failed",
            Some(e("cannot read x", Some(e("permission denied", None)))),
        );
        assert_eq!(
            error_chain(&chain),
            "restore failed: cannot read x: permission denied"
        );
        // A middle error that already prints its cause does not make it appear twice.
        let repeating = e(
            "restore failed",
            Some(e(
                "cannot read x: permission denied",
                Some(e("permission denied", None)),
            )),
        );
        assert_eq!(
            error_chain(&repeating),
            "restore failed: cannot read x: permission denied"
        );
        // Empty messages add nothing.
        let empty = e("outer", Some(e("", Some(e("inner", None)))));
        assert_eq!(ErrorChain(&empty).to_string(), "outer: inner");
    }
}
