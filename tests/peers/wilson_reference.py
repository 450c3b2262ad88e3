"""The Wilson score interval (95%) of each CONVERTERS/USERS argument, by statsmodels: the
reference for experiment_report's per-arm conversion intervals. Prints a JSON list of
[low, high]."""
import json
import sys

from statsmodels.stats.proportion import proportion_confint

intervals = []
for argument in sys.argv[1:]:
    converters, users = (int(x) for x in argument.split("/"))
    low, high = proportion_confint(converters, users, alpha=0.05, method="wilson")
    intervals.append([low, high])
print(json.dumps(intervals))
