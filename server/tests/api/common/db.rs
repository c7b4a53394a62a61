//! Direct reads of the test server's database, below the store's interface, for assertions on
//! what was (or was not) stored. Statements are plain SQL both backends accept (values written
//! inline: test values only), run on a connection of their own.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, FromRow};

pub enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    pub async fn connect(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqliteConnection::connect(url).await.expect("a connection to the test database"))
        } else {
            Self::Postgres(sqlx::PgConnection::connect(url).await.expect("a connection to the test database"))
        }
    }

    /// Every row of `sql` as `T` (a tuple of plain values).
    pub async fn rows<T>(&mut self, sql: &str) -> Vec<T>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self {
            Self::Sqlite(connection) => sqlx::query_as(sql).fetch_all(connection).await.expect(sql),
            Self::Postgres(connection) => sqlx::query_as(sql).fetch_all(connection).await.expect(sql),
        }
    }

    /// The one number `sql` selects.
    pub async fn number(&mut self, sql: &str) -> i64 {
        let row: Vec<(i64,)> = self.rows(sql).await;
        row[0].0
    }

    /// The strings of the first column of `sql`.
    pub async fn strings(&mut self, sql: &str) -> Vec<String> {
        let rows: Vec<(String,)> = self.rows(sql).await;
        rows.into_iter().map(|(s,)| s).collect()
    }

    pub async fn execute(&mut self, sql: &str) {
        match self {
            Self::Sqlite(connection) => {
                sqlx::query(sql).execute(connection).await.expect(sql);
            }
            Self::Postgres(connection) => {
                sqlx::query(sql).execute(connection).await.expect(sql);
            }
        }
    }
}
