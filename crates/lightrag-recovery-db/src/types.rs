//! Value types shared by the tables: timestamps, enums stored as text, pagination.

use std::fmt;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::conn::MultiBackend;

/// A UTC instant with millisecond precision.
///
/// Stored as `BIGINT` unix milliseconds on both backends, so ordering, range filters and
/// round trips are identical on SQLite and PostgreSQL. Serialised (serde) as an RFC 3339
/// string such as `2026-11-25T20:00:00.123Z`; also deserialises from an integer of unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = BigInt)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, format = DateTime)
)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time, truncated to milliseconds.
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// From unix milliseconds.
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Unix milliseconds.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// As a `time` value in UTC.
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `self + ms` milliseconds (saturating).
    pub const fn add_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
        Self(i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX }))
    }
}

impl From<Timestamp> for OffsetDateTime {
    fn from(t: Timestamp) -> Self {
        t.to_offset_date_time()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_offset_date_time().format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{}ms", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Millis(i64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Millis(ms) => Ok(Self(ms)),
            Repr::Text(s) => OffsetDateTime::parse(&s, &Rfc3339)
                .map(Self::from)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl ToSql<BigInt, MultiBackend> for Timestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((BigInt, &self.0));
        Ok(IsNull::No)
    }
}

impl ToSql<BigInt, Sqlite> for Timestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <i64 as ToSql<BigInt, Sqlite>>::to_sql(&self.0, out)
    }
}

impl ToSql<BigInt, Pg> for Timestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <i64 as ToSql<BigInt, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<BigInt, MultiBackend> for Timestamp {
    fn from_sql(
        bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <i64 as FromSql<BigInt, MultiBackend>>::from_sql(bytes).map(Self)
    }
}

/// Error for text that names no variant of a stored enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected one of: {expected})")]
pub struct UnknownVariant {
    what: &'static str,
    value: String,
    expected: &'static str,
}

/// Declares an enum stored as TEXT, with `as_str`, `Display`, `FromStr`, serde and diesel impls.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            // `tt`, not `literal`: a `literal` fragment reaches derive macros wrapped in an
            // invisible group, which utoipa does not read `rename` from.
            $( $(#[$vmeta:meta])* $variant:ident = $text:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            Serialize, Deserialize, AsExpression, FromSqlRow,
        )]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[diesel(sql_type = Text)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored (and serialised) text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err(UnknownVariant {
                        what: $what,
                        value: s.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }

        impl ToSql<Text, MultiBackend> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Text, self.as_str()));
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                <str as ToSql<Text, Sqlite>>::to_sql(self.as_str(), out)
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, MultiBackend> for $name {
            fn from_sql(
                bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                let s = <String as FromSql<Text, MultiBackend>>::from_sql(bytes)?;
                Ok(s.parse::<Self>()?)
            }
        }
    };
}

text_enum! {
    /// How a graph came to be known.
    GraphSource, "graph source" {
        /// Found under `LIGHTRAG_WORKING_DIR`.
        Discovered = "discovered",
        /// Registered through the HTTP API or CLI.
        Api = "api",
        /// Listed in configuration.
        Config = "config",
    }
}

text_enum! {
    /// State of a snapshot in the catalog.
    BackupStatus, "backup status" {
        /// Being written.
        Running = "running",
        /// Manifest written; the snapshot is whole.
        Completed = "completed",
        /// Gave up; see `error_message`.
        Failed = "failed",
    }
}

text_enum! {
    /// Why a snapshot was taken.
    BackupTrigger, "backup trigger" {
        /// Asked for by an operator.
        Manual = "manual",
        /// Taken by the scheduler.
        Scheduled = "scheduled",
        /// Safety snapshot before an in-place restore.
        PreRestore = "pre_restore",
        /// Taken while creating a recovery point.
        RecoveryPoint = "recovery_point",
    }
}

text_enum! {
    /// What a replication target is.
    TargetKind, "replication target kind" {
        /// Another repository on a filesystem path.
        Path = "path",
        /// An object-store URL (S3, Azure, GCS).
        ObjectStore = "object_store",
        /// A peer lightrag-ops server (URL + API key).
        Peer = "peer",
    }
}

text_enum! {
    /// Health of a graph or component (names from the plan).
    HealthStatus, "health status" {
        /// Everything within bounds.
        Healthy = "HEALTHY",
        /// Working, but a bound is exceeded or a job failed.
        Degraded = "DEGRADED",
        /// Not readable / not reachable.
        Offline = "OFFLINE",
    }
}

text_enum! {
    /// What a health check looked at.
    ComponentType, "component type" {
        /// A LightRAG graph.
        Graph = "graph",
        /// The recovery database.
        Database = "database",
        /// The backup repository.
        Repository = "repository",
        /// A replication target.
        Target = "target",
    }
}

text_enum! {
    /// Area an event belongs to.
    EventKind, "event kind" {
        /// Snapshots.
        Backup = "backup",
        /// Replication sync.
        Replication = "replication",
        /// Restores and failovers.
        Restore = "restore",
        /// Snapshot verification and recovery point validation.
        Validation = "validation",
        /// Health transitions.
        Health = "health",
        /// Recovery point life cycle.
        RecoveryPoint = "recovery_point",
        /// Retention and prune runs.
        Retention = "retention",
        /// Server life cycle and configuration.
        System = "system",
    }
}

text_enum! {
    /// Event severity, ordered from least to most severe.
    Severity, "severity" {
        /// Normal operation.
        Info = "info",
        /// Needs attention eventually.
        Warning = "warning",
        /// An operation failed.
        Error = "error",
        /// Data is at risk.
        Critical = "critical",
    }
}

impl Severity {
    /// This severity and every more severe one.
    pub fn at_least(self) -> Vec<Self> {
        Self::ALL.iter().copied().filter(|s| *s >= self).collect()
    }
}

/// Largest page [`Page`] allows.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// Offset pagination for list functions. `limit` is clamped to `1..=MAX_PAGE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Page {
    /// Rows to return (default 100).
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: 100,
            offset: 0,
        }
    }
}

impl Page {
    /// A page of `limit` rows after skipping `offset`.
    pub const fn new(limit: u32, offset: u64) -> Self {
        Self { limit, offset }
    }

    pub(crate) fn limit_i64(self) -> i64 {
        i64::from(self.limit.clamp(1, MAX_PAGE_SIZE))
    }

    pub(crate) fn offset_i64(self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }
}

/// Sort order of time-ordered lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Most recent first (default).
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}
