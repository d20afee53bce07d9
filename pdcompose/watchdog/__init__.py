"""The group watchdog: runs on each node's host, beside the engine of a multi-node DP instance.

vLLM cannot re-form a DP group around one node, and the survivor of a broken group keeps answering
/health 200 while every request fails. The watchdogs of a group watch each other: when one node is lost
every other node stops its own engine (so the router, which health-checks every node, stops sending it
requests), and with `recovery: auto` the group restarts whole, master first, with backoff. Stdlib only:
plan/watchdog.py ships these files as Compose configs into a container of the engine's own image.
"""
