"""A local simulator of Eventbrite, Meetup and Luma for offline crawls, tests and benchmarks.

One HTTP server answers the three sites' real paths with their real response shapes,
built from deterministic generated events, and tells tests what it served (`truth`).
"""

from nocturne_crawl.simulator.server import Simulator, SimulatorServer, start_simulator

__all__ = ["Simulator", "SimulatorServer", "start_simulator"]
