"""`make bench`: the sandbox served as users run it, driven by wrk (or bench.loadgen), side by side with Prism."""
