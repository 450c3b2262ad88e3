//! What BI tools browse: catalogs, schemas, tables with their types and columns, table types,
//! SQL info and the SQL types. Built from the session's catalog each time it is asked, so a
//! table created with `--allow-writes` shows up at once.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_flight::sql::metadata::{
    GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder,
    XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlSupportedCaseSensitivity,
    SqlSupportedTransaction, XdbcDataType,
};
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;
use tonic::Status;

use super::result_stream::{classic_schema, status_of};

/// The table types DataFusion has, as Flight SQL names them.
pub const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "LOCAL TEMPORARY"];

fn table_type_name(table_type: TableType) -> &'static str {
    match table_type {
        TableType::Base => TABLE_TYPES[0],
        TableType::View => TABLE_TYPES[1],
        TableType::Temporary => TABLE_TYPES[2],
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

pub fn catalogs(
    ctx: &SessionContext,
    mut builder: GetCatalogsBuilder,
) -> Result<RecordBatch, Status> {
    for catalog in sorted(ctx.catalog_names()) {
        builder.append(catalog);
    }
    builder.build().map_err(|e| Status::internal(e.to_string()))
}

pub fn schemas(
    ctx: &SessionContext,
    mut builder: GetDbSchemasBuilder,
) -> Result<RecordBatch, Status> {
    for catalog_name in sorted(ctx.catalog_names()) {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in sorted(catalog.schema_names()) {
            builder.append(&catalog_name, schema_name);
        }
    }
    builder.build().map_err(|e| Status::internal(e.to_string()))
}

/// Every table of every catalog; the builder keeps the ones matching the client's filters
/// (a missing catalog filter means all catalogs).
pub async fn tables(
    ctx: &SessionContext,
    mut builder: GetTablesBuilder,
) -> Result<RecordBatch, Status> {
    let empty = Arc::new(Schema::empty());
    for catalog_name in sorted(ctx.catalog_names()) {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in sorted(catalog.schema_names()) {
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            for table_name in sorted(schema.table_names()) {
                let Some(table) = schema.table(&table_name).await.map_err(|e| status_of(&e))?
                else {
                    continue;
                };
                let columns: SchemaRef = if builder.include_schema() {
                    classic_schema(&table.schema())
                } else {
                    Arc::clone(&empty)
                };
                builder
                    .append(
                        &catalog_name,
                        &schema_name,
                        &table_name,
                        table_type_name(table.table_type()),
                        &columns,
                    )
                    .map_err(|e| Status::internal(e.to_string()))?;
            }
        }
    }
    builder.build().map_err(|e| Status::internal(e.to_string()))
}

/// The lake has no primary or foreign keys; BI tools still ask when they open a table, and an
/// empty answer of the right shape is what they expect, not an error.
pub fn primary_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// The shape of exported keys, imported keys and cross references alike.
pub fn foreign_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}

pub fn sql_info(read_only: bool, query_timeout_ms: i32) -> Result<SqlInfoData, Status> {
    let mut builder = SqlInfoDataBuilder::new();
    builder.append(SqlInfo::FlightSqlServerName, "userlake");
    builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    // the Arrow columnar format version, not the arrow-rs release
    builder.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
    builder.append(SqlInfo::FlightSqlServerReadOnly, read_only);
    builder.append(SqlInfo::FlightSqlServerSql, true);
    builder.append(SqlInfo::FlightSqlServerSubstrait, false);
    builder.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    builder.append(SqlInfo::FlightSqlServerCancel, false);
    builder.append(SqlInfo::FlightSqlServerStatementTimeout, query_timeout_ms);
    builder.append(SqlInfo::SqlDdlCatalog, false);
    builder.append(SqlInfo::SqlDdlSchema, !read_only);
    builder.append(SqlInfo::SqlDdlTable, !read_only);
    builder.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    builder.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    builder.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    builder.append(SqlInfo::SqlAllTablesAreSelectable, true);
    builder.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    builder.append(SqlInfo::SqlSupportsColumnAliasing, true);
    builder.append(SqlInfo::SqlNullPlusNullIsNull, true);
    builder.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    builder.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    builder.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    builder.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    builder.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    builder.append(SqlInfo::SqlSearchStringEscape, "\\");
    builder.append(SqlInfo::SqlSchemaTerm, "schema");
    builder.append(SqlInfo::SqlCatalogTerm, "catalog");
    builder.append(SqlInfo::SqlCatalogAtStart, true);
    builder.append(SqlInfo::SqlTransactionsSupported, false);
    builder
        .build()
        .map_err(|e| Status::internal(format!("cannot build SQL info: {e}")))
}

/// The SQL types a client may use in casts and DDL, for JDBC's `getTypeInfo`.
pub fn xdbc_type_info() -> Result<XdbcTypeInfoData, Status> {
    let mut builder = XdbcTypeInfoDataBuilder::new();
    let types: [(&str, XdbcDataType, Option<i32>, Option<&str>); 11] = [
        ("BOOLEAN", XdbcDataType::XdbcBit, Some(1), None),
        ("SMALLINT", XdbcDataType::XdbcSmallint, Some(16), None),
        ("INTEGER", XdbcDataType::XdbcInteger, Some(32), None),
        ("BIGINT", XdbcDataType::XdbcBigint, Some(64), None),
        ("REAL", XdbcDataType::XdbcReal, Some(24), None),
        ("DOUBLE", XdbcDataType::XdbcDouble, Some(53), None),
        ("DECIMAL", XdbcDataType::XdbcDecimal, Some(38), None),
        ("VARCHAR", XdbcDataType::XdbcVarchar, None, Some("'")),
        ("DATE", XdbcDataType::XdbcDate, None, Some("'")),
        ("TIMESTAMP", XdbcDataType::XdbcTimestamp, None, Some("'")),
        ("INTERVAL", XdbcDataType::XdbcInterval, None, Some("'")),
    ];
    for (name, data_type, column_size, quote) in types {
        let numeric = column_size.is_some() && quote.is_none();
        builder.append(XdbcTypeInfo {
            type_name: name.into(),
            data_type,
            column_size,
            literal_prefix: quote.map(Into::into),
            literal_suffix: quote.map(Into::into),
            create_params: None,
            nullable: Nullable::NullabilityNullable,
            case_sensitive: name == "VARCHAR",
            searchable: Searchable::Full,
            unsigned_attribute: numeric.then_some(false),
            fixed_prec_scale: false,
            auto_increment: numeric.then_some(false),
            local_type_name: Some(name.into()),
            minimum_scale: None,
            maximum_scale: None,
            sql_data_type: data_type,
            datetime_subcode: None,
            num_prec_radix: numeric.then_some(2),
            interval_precision: None,
        });
    }
    builder
        .build()
        .map_err(|e| Status::internal(format!("cannot build the type list: {e}")))
}
