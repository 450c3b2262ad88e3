"""Flight SQL clients for tests/flight_sql.rs: ADBC (the driver notebooks use) against a running
`userlake serve`.

  functional URI TOKEN USERLAKE LAKE WORKDIR   queries, parameters, metadata, auth, read-only
  limits URI TOKEN                             timeout, busy refusal, memory limit, writes allowed
  load URI TOKEN SERVER_PID [--clients N] [--queries N]
                                               concurrent clients, a client killed mid-stream
  hang URI TOKEN                               (internal) starts a big result, then waits to be killed

Each prints one JSON object on stdout; any failed check raises, so the exit status is non-zero
and stderr says which check failed.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.ipc as ipc

FUNNEL = """
SELECT level, count(*) AS people FROM (
  SELECT coalesce(unionid, device_id, cookie_id) AS person,
         window_funnel(INTERVAL '7 days', '', event_time,
           event_name = 'follow_account', event_name = 'view_content',
           event_name = 'add_to_cart', event_name = 'pay_order') AS level
  FROM events GROUP BY 1)
GROUP BY level ORDER BY level
"""

FUNNEL_DETAIL = """
SELECT coalesce(unionid, device_id, cookie_id) AS person,
       window_funnel_detail(INTERVAL '7 days', 'strict_deduplication', event_time,
         event_name = 'follow_account', event_name = 'view_content',
         event_name = 'pay_order') AS funnel
FROM events GROUP BY 1 ORDER BY person LIMIT 200
"""

STITCH = """
SELECT id_type, id_value, unified_id, component_size, is_anchor
FROM stitch('identity_edges') ORDER BY id_type, id_value
"""

PARAMETERISED = "SELECT count(*) AS n, min(event_time) AS first FROM events WHERE event_name = ? AND event_time >= ?"
LITERAL = "SELECT count(*) AS n, min(event_time) AS first FROM events WHERE event_name = 'pay_order' AND event_time >= '2026-02-01'"

# A result far larger than one batch: tens of millions of rows, streamed.
BIG = "SELECT e.event_id, e.event_name, g.value FROM events e CROSS JOIN generate_series(1, 1000) g"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def connect(uri, token=None, **kwargs):
    db_kwargs = dict(kwargs)
    if token is not None:
        db_kwargs["adbc.flight.sql.authorization_header"] = f"Bearer {token}"
    return flight_sql.connect(uri, db_kwargs=db_kwargs, autocommit=True)


def query(conn, sql, parameters=None):
    with conn.cursor() as cursor:
        cursor.execute(sql, parameters=parameters)
        return cursor.fetch_arrow_table()


def refused(action, *codes):
    """Runs action, which must fail; returns the error message, checked to name one of codes."""
    try:
        action()
    except Exception as error:  # the driver raises several DB-API classes
        message = str(error)
        # the driver writes gRPC codes both as RESOURCE_EXHAUSTED and as ResourceExhausted
        folded = message.replace("_", "").lower()
        check(
            any(code.replace("_", "").lower() in folded for code in codes),
            f"expected one of {codes}, got: {message}",
        )
        return message
    raise AssertionError(f"expected a refusal with one of {codes}, but it succeeded")


def local_result(userlake, lake, sql, workdir, name):
    """The same statement run by `userlake sql`, read back from its Arrow IPC export."""
    path = os.path.join(workdir, f"{name}.arrow")
    subprocess.run(
        [userlake, "sql", "--lake", lake, "--format", "arrow", "-o", path, "-c", sql],
        check=True,
        capture_output=True,
    )
    with ipc.open_file(path) as reader:
        return reader.read_all()


def same_table(remote, local, name):
    # The server sends classic string types; `userlake sql` writes DataFusion's view types.
    check(remote.num_rows == local.num_rows, f"{name}: {remote.num_rows} rows vs {local.num_rows}")
    check(remote.schema.names == local.schema.names, f"{name}: columns differ")
    local = local.cast(remote.schema)
    check(remote.equals(local), f"{name}: the server's result differs from userlake sql")


def functional(uri, token, userlake, lake, workdir):
    report = {}
    conn = connect(uri, token)

    for name, sql in [("funnel", FUNNEL), ("funnel_detail", FUNNEL_DETAIL), ("stitch", STITCH)]:
        remote = query(conn, sql)
        same_table(remote, local_result(userlake, lake, sql, workdir, name), name)
        check(remote.num_rows > 0, f"{name}: no rows")
        report[f"{name}_rows"] = remote.num_rows
    funnel_type = query(conn, FUNNEL_DETAIL).schema.field("funnel").type
    check(pa.types.is_struct(funnel_type), f"window_funnel_detail is {funnel_type}")

    # A prepared statement with `?` parameters, the types the driver sends cast by the server.
    with_parameters = query(conn, PARAMETERISED, ("pay_order", "2026-02-01"))
    check(with_parameters.equals(query(conn, LITERAL)), "the bound statement differs from the literal one")
    check(with_parameters["n"][0].as_py() > 0, "the bound statement matched nothing")
    report["bound_count"] = with_parameters["n"][0].as_py()
    with conn.cursor() as cursor:
        # one prepared statement, executed with two different values
        cursor.adbc_prepare("SELECT count(*) AS n FROM events WHERE event_name = ?")
        counts = {}
        for event in ("pay_order", "view_content"):
            cursor.execute("SELECT count(*) AS n FROM events WHERE event_name = ?", (event,))
            counts[event] = cursor.fetchone()[0]
        check(counts["pay_order"] != counts["view_content"], "rebinding did not change the result")
        check(counts["pay_order"] == report["bound_count"] or counts["pay_order"] > 0, "count")

    # The statement path without prepare, as the low-level API runs it.
    statement = adbc_driver_manager.AdbcStatement(conn.adbc_connection)
    statement.set_sql_query("SELECT 41 + 1 AS answer")
    stream, _ = statement.execute_query()
    answer = pa.RecordBatchReader._import_from_c(stream.address).read_all()
    statement.close()
    check(answer["answer"][0].as_py() == 42, "statement query")

    # What BI tools browse.
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    tables = {
        table["table_name"]
        for catalog in objects
        for schema in catalog["catalog_db_schemas"]
        for table in schema["db_schema_tables"]
    }
    check({"events", "orders", "identity_edges"} <= tables, f"tables listed: {sorted(tables)}")
    columns = conn.adbc_get_objects(depth="columns", table_name_filter="events").read_all().to_pylist()
    event_columns = [
        column["column_name"]
        for catalog in columns
        for schema in catalog["catalog_db_schemas"]
        for table in schema["db_schema_tables"]
        for column in (table["table_columns"] or [])
    ]
    check("event_time" in event_columns, f"columns of events: {event_columns}")
    check(conn.adbc_get_table_schema("events").field("event_time") is not None, "table schema")
    check("TABLE" in conn.adbc_get_table_types(), "table types")
    check(conn.adbc_get_info()["vendor_name"] == "userlake", "vendor name")
    shown = query(conn, "SHOW TABLES").to_pylist()
    check(any(row["table_name"] == "events" for row in shown), "SHOW TABLES")
    functions = query(conn, "SELECT routine_name FROM information_schema.routines WHERE routine_name IN ('window_funnel', 'retention', 'bgnbd_fit')")
    check(functions.num_rows == 3, f"functions listed: {functions.to_pylist()}")
    report["tables"] = sorted(tables)

    # Authentication.
    for bad in [connect(uri, "wrong-token-0123456789"), connect(uri)]:
        refused(lambda: query(bad, "SELECT 1"), "UNAUTHENTICATED")
        bad.close()
    with connect(uri, username="analyst", password=token) as by_password:
        check(query(by_password, "SELECT 1 AS one")["one"][0].as_py() == 1, "username/password")
    refused(lambda: connect(uri, username="analyst", password="not-the-token-000000"), "UNAUTHENTICATED")

    # Read-only: nothing that writes runs, through any path.
    target = os.path.join(workdir, "copied.parquet")
    writes = [
        "CREATE TABLE t AS SELECT 1 AS x",
        "CREATE VIEW v AS SELECT 1 AS x",
        "INSERT INTO events SELECT * FROM events LIMIT 1",
        f"COPY (SELECT 1 AS x) TO '{target}'",
        "DROP TABLE events",
    ]
    for sql in writes:
        refused(lambda: query(conn, sql), "read-only")
        statement = adbc_driver_manager.AdbcStatement(conn.adbc_connection)
        statement.set_sql_query(sql)
        refused(statement.execute_update, "read-only")
        statement.close()
    check(not os.path.exists(target), "COPY wrote a file")
    check(query(conn, "SELECT count(*) AS n FROM events")["n"][0].as_py() > 0, "events survived")
    report["writes_refused"] = len(writes)
    # settings cannot carry over from one query to the next, so SET is refused, and says why
    message = refused(lambda: query(conn, "SET datafusion.execution.target_partitions = 1"), "INVALID_ARGUMENT")
    check("session of its own" in message, message)

    # A bad statement is the user's error, named.
    message = refused(lambda: query(conn, "SELECT no_such_column FROM events"), "INVALID_ARGUMENT")
    check("no_such_column" in message, message)
    # so is a value that fails while the result streams
    message = refused(lambda: query(conn, "SELECT CAST(event_name AS INT) AS n FROM events"), "INVALID_ARGUMENT")
    check("Cannot cast string" in message, message)
    check(query(conn, "SELECT 3 AS three")["three"][0].as_py() == 3, "after a failed stream")
    conn.close()
    print(json.dumps(report))


def limits(uri, token):
    """For a server started with --allow-writes --query-timeout 4 --max-concurrent-queries 1
    --queue-timeout 0.5 --query-memory-limit 32M."""
    report = {}
    conn = connect(uri, token)
    # writes allowed: a view made by one statement is there for the next
    with conn.cursor() as cursor:
        cursor.execute("CREATE VIEW paid AS SELECT * FROM events WHERE event_name = 'pay_order'")
    check(query(conn, "SELECT count(*) AS n FROM paid")["n"][0].as_py() > 0, "the view")

    slow = "SELECT count(*) FROM generate_series(1, 100000000000) g WHERE g.value % 7 = 3"
    errors = {}

    def run_slow():
        started = time.monotonic()
        try:
            with connect(uri, token) as own:
                query(own, slow)
        except Exception as error:
            errors["slow"] = (str(error), time.monotonic() - started)

    thread = threading.Thread(target=run_slow)
    thread.start()
    time.sleep(1.5)  # the slow query holds the only slot by now
    busy = refused(lambda: query(conn, "SELECT 1"), "RESOURCE_EXHAUSTED")
    check("busy" in busy, busy)
    thread.join()
    message, seconds = errors.get("slow", ("no error", 0))
    check("deadlineexceeded" in message.replace("_", "").lower(), f"slow query: {message}")
    check(seconds < 10, f"the timeout took {seconds:.1f} s")
    report["timeout_seconds"] = round(seconds, 2)
    # the slot is free again
    check(query(conn, "SELECT 1 AS one")["one"][0].as_py() == 1, "after the timeout")

    # a query that needs more memory than its limit is refused with a message that says so
    # a hash join cannot spill its build side
    hungry = "SELECT count(*) FROM generate_series(1, 3000000) a JOIN generate_series(1, 3000000) b ON a.value = b.value"
    memory = refused(lambda: query(conn, hungry), "RESOURCE_EXHAUSTED")
    check("memory" in memory, memory)
    check(query(conn, "SELECT 2 AS two")["two"][0].as_py() == 2, "after running out of memory")
    conn.close()
    print(json.dumps(report))


def hang(uri, token):
    conn = connect(uri, token)
    cursor = conn.cursor()
    cursor.execute(BIG)
    reader = cursor.fetch_record_batch()
    reader.read_next_batch()
    print("streaming", flush=True)
    time.sleep(600)


def peak_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for the server")


def load(uri, token, server_pid, clients, queries):
    # the expected answers, computed once
    with connect(uri, token) as conn:
        expected_fast = {
            event: query(conn, "SELECT count(*) AS n FROM events WHERE event_name = ?", (event,))["n"][0].as_py()
            for event in ("pay_order", "view_content", "add_to_cart")
        }
        expected_funnel = query(conn, FUNNEL).to_pylist()

    latencies = {"fast": [], "slow": []}
    failures = []
    lock = threading.Lock()

    def client(number):
        try:
            with connect(uri, token) as conn:
                for sequence in range(queries):
                    started = time.monotonic()
                    if sequence % 5 == 4:
                        rows = query(conn, FUNNEL).to_pylist()
                        kind = "slow"
                        ok = rows == expected_funnel
                    else:
                        event = ("pay_order", "view_content", "add_to_cart")[(number + sequence) % 3]
                        row = query(
                            conn,
                            f"SELECT {number} AS client, {sequence} AS sequence, count(*) AS n FROM events WHERE event_name = ?",
                            (event,),
                        ).to_pylist()[0]
                        kind = "fast"
                        ok = row == {"client": number, "sequence": sequence, "n": expected_fast[event]}
                    elapsed = time.monotonic() - started
                    with lock:
                        latencies[kind].append(elapsed)
                        if not ok:
                            failures.append(f"client {number} query {sequence}: wrong result")
        except Exception as error:
            with lock:
                failures.append(f"client {number}: {error}")

    # one client that goes away in the middle of a large result
    hanging = subprocess.Popen(
        [sys.executable, __file__, "hang", uri, token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = hanging.stdout.readline().strip()
    if line != "streaming":
        hanging.kill()
        raise AssertionError(f"the hanging client did not start streaming: {line} {hanging.stderr.read()}")

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    hanging.kill()
    hanging.wait()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    check(not failures, f"{len(failures)} failures, e.g. {failures[:3]}")

    # the server is healthy after all that
    with connect(uri, token) as conn:
        check(query(conn, FUNNEL).to_pylist() == expected_funnel, "after the load")

    total = clients * queries
    fast = sorted(latencies["fast"])
    report = {
        "queries": total,
        "seconds": round(wall, 2),
        "queries_per_second": round(total / wall, 1),
        "fast_p50_ms": round(1000 * statistics.median(fast), 1),
        "fast_p99_ms": round(1000 * fast[min(len(fast) - 1, int(0.99 * len(fast)))], 1),
        "slow_p50_ms": round(1000 * statistics.median(latencies["slow"]), 1),
        "peak_rss_bytes": peak_rss_bytes(server_pid),
    }
    print(json.dumps(report))


def main(argv):
    mode = argv[1]
    if mode == "functional":
        functional(*argv[2:7])
    elif mode == "limits":
        limits(argv[2], argv[3])
    elif mode == "hang":
        hang(argv[2], argv[3])
    elif mode == "load":
        options = dict(zip(argv[5::2], argv[6::2]))
        load(argv[2], argv[3], int(argv[4]), int(options.get("--clients", 16)), int(options.get("--queries", 50)))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
