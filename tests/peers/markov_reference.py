"""Reference answers from ChannelAttribution 2.2.5's markov_model (order 1) for
markov_attribution: random paths with conversions and non-conversions, written to
OUT_DIR/paths.parquet, and the package's removal effects and attributed conversions per
channel, printed as JSON. The package estimates them by simulating paths (nsim_start, until
the results vary by less than conv_par between repetitions), so they carry sampling noise, and
cuts simulated paths at max_step steps (set high here: its default, the longest path in the
data, biases the answer when the chain has cycles)."""

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

with contextlib.redirect_stdout(io.StringIO()):
    import ChannelAttribution as ca

out = Path(sys.argv[1])
nsim = float(sys.argv[2]) if len(sys.argv) > 2 else 1e6
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(8)
channels = ["douyin", "wechat", "xiaohongshu", "kol", "search_ads", "bilibili"]
# a channel's pull towards conversion, so removal effects differ
pull = {"douyin": 0.1, "wechat": 0.35, "xiaohongshu": 0.2, "kol": 0.15, "search_ads": 0.3, "bilibili": 0.05}
paths = []
for _ in range(5000):
    length = int(rng.integers(1, 6))
    path = list(rng.choice(channels, size=length, p=[.3, .2, .2, .1, .1, .1]))
    converted = rng.random() < 0.1 + sum(pull[c] for c in path) / (length + 1)
    paths.append((" > ".join(path), int(converted), int(not converted)))
data = pd.DataFrame(paths, columns=["path", "total_conversions", "total_null"])
data = data.groupby("path", as_index=False).sum()
pq.write_table(pa.Table.from_pandas(data, preserve_index=False), out / "paths.parquet")
with contextlib.redirect_stdout(io.StringIO()):
    result = ca.markov_model(data, "path", "total_conversions", var_null="total_null", order=1,
                             nsim_start=nsim, max_step=200, out_more=True, verbose=False, flg_pro=False)
attributed, removal = result["result"], result["removal_effects"]
print(json.dumps({
    "conversions": {r.channel_name: r.total_conversions for r in attributed.itertuples()},
    "removal_effects": {r.channel_name: r.removal_effect for r in removal.itertuples()},
}))
