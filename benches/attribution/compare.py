"""Attribution in userlake and in ChannelAttribution 2.2.5 (PyPI) on the same journeys, in one
run: the rule-based models (first touch, last touch, linear) over every journey's conversion,
and the first-order Markov model over all paths, converting or not. Prints the times, the
ratio and how far the answers agree.

    python3 benches/attribution/generate.py /tmp/attr1m
    cargo build --release
    python3 benches/attribution/compare.py --data /tmp/attr1m
"""

import argparse
import contextlib
import io
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

with contextlib.redirect_stdout(io.StringIO()):
    import ChannelAttribution as ca

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--userlake", default="target/release/userlake")
args = parser.parse_args()

with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as empty_lake:
    started = time.perf_counter()
    # an empty lake: the pipeline registers its own tables (the sample lake has a `touches`)
    result = subprocess.run(
        [args.userlake, "run", str(Path(__file__).with_name("pipeline.sql")), "--lake", empty_lake,
         "--var", f"data={args.data}", "--out", out],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"userlake failed:\n{result.stderr}")
    ours_total = time.perf_counter() - started
    steps = [float(s) for s in re.findall(r"rows in ([0-9.]+)s", result.stderr + result.stdout)]
    ours_heuristic = steps[2] + steps[3]
    ours_markov = steps[4]
    ours_h = pd.read_csv(Path(out) / "heuristic.csv").set_index("channel")
    ours_m = pd.read_csv(Path(out) / "markov.csv").set_index("channel")

started = time.perf_counter()
paths = pq.read_table(Path(args.data) / "paths.parquet").to_pandas()
read = time.perf_counter() - started

# every journey of the touches table is a conversion, as userlake credits it
started = time.perf_counter()
every = pd.DataFrame({"path": paths["path"], "conversions": 1})
with contextlib.redirect_stdout(io.StringIO()):
    theirs_h = ca.heuristic_models(every, "path", "conversions", flg_pro=False)
theirs_heuristic = time.perf_counter() - started
theirs_h = theirs_h.set_index("channel_name")

started = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    theirs_m = ca.markov_model(paths, "path", "conversions", var_null="nulls", order=1, out_more=True,
                               verbose=False, flg_pro=False)
theirs_markov = time.perf_counter() - started
removal = theirs_m["removal_effects"].set_index("channel_name")

print(f"journeys: {len(paths)}")
print(f"{'step':<44}{'userlake (s)':>13}{'ChannelAttribution (s)':>24}{'ratio':>8}")
print(f"{'rule-based (3 models, 10M touches)':<44}{ours_heuristic:>13.2f}{theirs_heuristic:>24.2f}{ours_heuristic / theirs_heuristic:>8.2f}")
print(f"{'Markov, order 1 (1M paths)':<44}{ours_markov:>13.2f}{theirs_markov:>24.2f}{ours_markov / theirs_markov:>8.2f}")
print(f"(ChannelAttribution's times exclude reading the paths into pandas: {read:.2f} s)")
worst = 0.0
for model, column in [("first_touch", "first_touch"), ("last_touch", "last_touch"), ("linear", "linear_touch")]:
    for channel in ours_h.index:
        o, t = ours_h.loc[channel, model], theirs_h.loc[channel, column]
        worst = max(worst, abs(o - t) / max(abs(t), 1.0))
print(f"rule-based credit per channel: largest relative difference {worst:.1e}")
print(f"{'channel':<16}{'removal effect (userlake, exact)':>34}{'(ChannelAttribution, simulated)':>34}")
for channel in ours_m.index:
    print(f"{channel:<16}{ours_m.loc[channel, 'removal_effect']:>34.5f}{removal.loc[channel, 'removal_effect']:>34.5f}")
