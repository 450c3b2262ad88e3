"""Reference answers from ChannelAttribution 2.2.5 (PyPI) for the rule-based attribution models:
random conversion paths, written as touches to OUT_DIR/journeys.parquet, and channelattribution's
heuristic_models (first, last and linear touch) per channel, printed as JSON."""

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

with contextlib.redirect_stdout(io.StringIO()):  # the package prints an advertisement on import
    import ChannelAttribution as ca

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(5)
channels = ["douyin", "wechat", "xiaohongshu", "kol", "search_ads", "bilibili", "weibo", "referral"]
rows, paths = [], []
start = np.datetime64("2026-01-01T00:00:00", "us")
for conversion in range(3000):
    length = int(rng.integers(1, 9))
    # distinct, increasing touch times (channelattribution keeps path order; no ties to break)
    offsets = np.sort(rng.choice(30 * 24, size=length, replace=False))
    path = [channels[int(i)] for i in rng.choice(len(channels), size=length, p=[.25, .2, .15, .1, .1, .1, .05, .05])]
    converted_at = start + np.timedelta64(31 * 24, "h")
    for offset, channel in zip(offsets, path):
        rows.append((f"c{conversion}", start + np.timedelta64(int(offset), "h"), channel, converted_at))
    paths.append(" > ".join(path))
touches = pd.DataFrame(rows, columns=["conversion", "touch_time", "channel", "converted_at"])
pq.write_table(pa.Table.from_pandas(touches, preserve_index=False), out / "journeys.parquet")

data = pd.DataFrame({"path": paths, "total_conversions": 1}).groupby("path", as_index=False).sum()
with contextlib.redirect_stdout(io.StringIO()):
    heuristic = ca.heuristic_models(data, "path", "total_conversions")
print(json.dumps({
    row.channel_name: {"first_touch": row.first_touch, "last_touch": row.last_touch, "linear": row.linear_touch}
    for row in heuristic.itertuples()
}))
