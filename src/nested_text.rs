//! Lists, structs and maps as text, the way DuckDB prints them (`[1, 0, 1]`,
//! `{'level': 3, 'steps': [a, b]}`, `{k=v}` for maps), for the text formats whose writers have
//! no notation of their own for nested values: CSV (arrow's writer refuses them) and the
//! aligned table (so both print the same). JSON keeps its native arrays and objects.
//!
//! As in DuckDB, a string inside a nested value is printed bare unless it could be misread: an
//! empty string, one with a leading or trailing space, one spelled `null`, or one holding a
//! character of the notation (`, [ ] { } ( ) ' " : = \` or a line break) is quoted with `'`,
//! with `'` and `\` escaped by a backslash. Struct field names are always quoted.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::Result;

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _)
    )
}

/// The schema with every nested column as a nullable string column.
pub fn text_schema(schema: &SchemaRef) -> SchemaRef {
    if !schema.fields().iter().any(|f| is_nested(f.data_type())) {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_nested(f.data_type()) {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The batch with every nested column printed as text; other columns are unchanged.
pub fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| is_nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default().with_null("NULL");
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for column in batch.columns() {
        if !is_nested(column.data_type()) {
            columns.push(column.clone());
            continue;
        }
        let mut builder = StringBuilder::with_capacity(column.len(), column.len() * 16);
        let mut text = String::new();
        for row in 0..column.len() {
            if column.is_null(row) {
                builder.append_null();
                continue;
            }
            text.clear();
            write_value(column.as_ref(), row, &options, &mut text)?;
            builder.append_value(&text);
        }
        columns.push(Arc::new(builder.finish()));
    }
    Ok(RecordBatch::try_new(text_schema(&schema), columns)?)
}

/// Appends the value at `row` of `array`: nested values recursively, strings inside them in
/// single quotes, NULLs as `NULL`.
fn write_value(
    array: &dyn Array,
    row: usize,
    options: &FormatOptions,
    out: &mut String,
) -> Result<()> {
    if array.is_null(row) {
        out.push_str("NULL");
        return Ok(());
    }
    match array.data_type() {
        DataType::List(_) => write_list(array.as_list::<i32>().value(row).as_ref(), options, out)?,
        DataType::LargeList(_) => {
            write_list(array.as_list::<i64>().value(row).as_ref(), options, out)?
        }
        DataType::FixedSizeList(_, _) => {
            write_list(array.as_fixed_size_list().value(row).as_ref(), options, out)?
        }
        DataType::ListView(_) => write_list(
            array.as_list_view::<i32>().value(row).as_ref(),
            options,
            out,
        )?,
        DataType::LargeListView(_) => write_list(
            array.as_list_view::<i64>().value(row).as_ref(),
            options,
            out,
        )?,
        DataType::Struct(fields) => {
            let strukt = array.as_struct();
            out.push('{');
            for (index, field) in fields.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_quoted(field.name(), out);
                out.push_str(": ");
                write_value(strukt.column(index).as_ref(), row, options, out)?;
            }
            out.push('}');
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(row);
            out.push('{');
            for index in 0..entries.len() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(entries.column(0).as_ref(), index, options, out)?;
                out.push('=');
                write_value(entries.column(1).as_ref(), index, options, out)?;
            }
            out.push('}');
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let formatter = ArrayFormatter::try_new(array, options)?;
            let text = formatter.value(row).to_string();
            if needs_quotes(&text) {
                write_quoted(&text, out);
            } else {
                out.push_str(&text);
            }
        }
        _ => {
            let formatter = ArrayFormatter::try_new(array, options)?;
            let _ = write!(out, "{}", formatter.value(row));
        }
    }
    Ok(())
}

fn needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text.trim() != text
        || text.eq_ignore_ascii_case("null")
        || text.contains([
            ',', '[', ']', '{', '}', '(', ')', '\'', '"', ':', '=', '\\', '\n', '\r',
        ])
}

fn write_quoted(text: &str, out: &mut String) {
    out.push('\'');
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

fn write_list(values: &dyn Array, options: &FormatOptions, out: &mut String) -> Result<()> {
    out.push('[');
    for index in 0..values.len() {
        if index > 0 {
            out.push_str(", ");
        }
        write_value(values, index, options, out)?;
    }
    out.push(']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, ListArray, StringArray, StructArray};
    use arrow::datatypes::Int64Type;

    fn printed(column: ArrayRef) -> Vec<Option<String>> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "c",
            column.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![column]).unwrap();
        let text = nested_as_text(&batch).unwrap();
        let strings = text.column(0).as_string::<i32>();
        (0..strings.len())
            .map(|i| (!strings.is_null(i)).then(|| strings.value(i).to_string()))
            .collect()
    }

    #[test]
    fn lists_structs_and_nulls_print_as_duckdb_does() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(0), Some(1)]),
            Some(vec![]),
            None,
            Some(vec![None, Some(2)]),
        ]);
        assert_eq!(
            printed(Arc::new(list)),
            vec![
                Some("[1, 0, 1]".to_string()),
                Some("[]".to_string()),
                None,
                Some("[NULL, 2]".to_string()),
            ]
        );
        let strukt = StructArray::from(vec![
            (
                Arc::new(Field::new("level", DataType::Int64, true)),
                Arc::new(Int64Array::from(vec![3, 0])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("step", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec![Some("it's"), None])) as ArrayRef,
            ),
        ]);
        assert_eq!(
            printed(Arc::new(strukt)),
            vec![
                Some("{'level': 3, 'step': 'it\\'s'}".to_string()),
                Some("{'level': 0, 'step': NULL}".to_string()),
            ]
        );
        // DuckDB 2.0's CAST(['(x)', 'a"b', ...] AS VARCHAR), value for value
        let texts = StringArray::from(vec![
            "(x)", "a\"b", "x:y", "a=b", "nUlL", "a b", "plain", "", " x",
        ]);
        let list = ListArray::new(
            Arc::new(Field::new_list_field(DataType::Utf8, true)),
            arrow::buffer::OffsetBuffer::from_lengths([texts.len()]),
            Arc::new(texts),
            None,
        );
        assert_eq!(
            printed(Arc::new(list)),
            vec![Some(
                "['(x)', 'a\"b', 'x:y', 'a=b', 'nUlL', a b, plain, '', ' x']".to_string()
            )]
        );
    }
}
