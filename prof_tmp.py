import asyncio
import cProfile
import pstats
import time

from bench.bench_pipeline import empty, make_items, run_chain
from bench.support import bench_database

db = empty(bench_database("nocturne_bench_pipeline"))
items = make_items(20000)
t = time.perf_counter()
c = time.process_time()
pr = cProfile.Profile()
pr.enable()
asyncio.run(run_chain(db, items))
pr.disable()
print("seconds", time.perf_counter() - t, "cpu", time.process_time() - c)
pstats.Stats(pr).sort_stats("tottime").print_stats(30)
