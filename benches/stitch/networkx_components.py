"""Connected components of an edge table with networkx, from the same Parquet files userlake
reads, written to an id_graph file.

python3 networkx_components.py --edges DIR --out FILE  -> prints a JSON summary
"""
import argparse
import json
import time

import networkx as nx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--edges", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    table = ds.dataset(args.edges, format="parquet").to_table(
        columns=["a_type", "a_value", "b_type", "b_value"]
    )
    def column(name):
        return table[name].cast(pa.string())

    a = pc.binary_join_element_wise(column("a_type"), column("a_value"), ":").to_pylist()
    b = pc.binary_join_element_wise(column("b_type"), column("b_value"), ":").to_pylist()
    del table
    graph = nx.Graph()
    graph.add_edges_from(zip(a, b))
    del a, b
    graph.remove_edges_from(nx.selfloop_edges(graph))
    types, values, labels = [], [], []
    components = 0
    for label, component in enumerate(nx.connected_components(graph)):
        components += 1
        for node in component:
            id_type, _, value = node.partition(":")
            types.append(id_type)
            values.append(value)
            labels.append(label)
    pq.write_table(
        pa.table({"id_type": types, "id_value": values, "component": labels}), args.out
    )
    print(
        json.dumps(
            {
                "identifiers": len(labels),
                "components": components,
                "seconds": time.perf_counter() - started,
            }
        )
    )


if __name__ == "__main__":
    main()
