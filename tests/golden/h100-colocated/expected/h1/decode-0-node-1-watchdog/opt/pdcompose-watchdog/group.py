"""The group watchdog's decisions, pure: what this node does given what it sees of itself and its peers.

Phases: "starting" (the local engine runs and waits for its group), "serving" (it answers /health 200),
"down" (its engine is stopped, or being stopped). Each node's watchdog decides for its own engine only;
they agree through what each publishes (phase, generation) and one rule: only the master (node 0) starts a
new generation of the group, and only once every other node is down with its engine stopped; the other
nodes start theirs when they see the master starting a newer generation. So a group always restarts whole
and master first, a node whose host is gone keeps the group down ("waiting for <host>") instead of letting
it flap, and the master counts the group's failed starts and backs off exponentially between them."""

from __future__ import annotations

from dataclasses import dataclass, field

STARTING, SERVING, DOWN = "starting", "serving", "down"


@dataclass(frozen=True)
class Settings:
    node: int
    hosts: dict[int, str]           # node -> host name, every node of the group
    mode: str = "auto"              # auto: restart the group; manual: take it out of service and wait for a person
    detect_after: float = 3.0       # a peer that is gone this long breaks the group
    start_timeout: float = 600.0    # a start that is not serving by then failed
    backoff: float = 5.0            # the first wait after a failed start; doubles each time
    backoff_max: float = 300.0
    stable_after: float = 60.0      # serving this long forgets the failed starts
    fix: str = ""                   # the command a person runs in manual mode


@dataclass(frozen=True)
class Local:
    engine: str                     # Docker's status of the engine container: running, exited, ..., missing
    healthy: bool                   # its /health answered 200


@dataclass(frozen=True)
class Peer:
    node: int
    phase: str | None               # None: its watchdog did not answer
    generation: int = 0
    engine_up: bool = False         # its engine container runs
    healthy: bool = False           # its /health answered 200 (asked directly when its watchdog is silent)


@dataclass
class Group:
    s: Settings
    phase: str = DOWN
    generation: int = 0
    failures: int = 0               # failed starts in a row (kept by the master, for the whole group)
    next_start: float = 0.0         # the master starts no generation before this
    since: float = 0.0              # when this phase began
    reason: str = ""
    stopping: bool = False          # this watchdog stopped the engine since the group went down
    silent_since: dict[int, float] = field(default_factory=dict)
    unhealthy_since: float | None = None
    seen_running: bool = False      # its engine ran since this watchdog started

    def begin(self, now: float, local: Local) -> None:
        """The engine already runs, or is about to, when the watchdog starts (deploy starts both): that is a
        start. An engine that exited (the host rebooted) is a group that is down."""
        self.since = now
        if local.engine in ("running", "created", "missing"):     # Compose creates and starts it in a moment
            self.phase, self.reason = STARTING, "started by deploy"
        else:
            self.phase, self.reason, self.stopping = DOWN, f"engine {local.engine}", True

    def step(self, now: float, local: Local, peers: list[Peer]) -> list[str]:
        """The actions for this tick: "stop" or "start" the local engine (the caller does them)."""
        self._track_silence(now, peers)
        if self.phase in (STARTING, SERVING):
            return self._up(now, local, peers)
        return self._down_step(now, local, peers)

    # --- up: starting or serving -------------------------------------------------------------------------
    def _up(self, now: float, local: Local, peers: list[Peer]) -> list[str]:
        if local.engine in ("created", "missing") and self.phase == STARTING and not self.seen_running:
            self.reason = "waiting for deploy to start its engine"     # never started yet: not a failure
            return []
        self.seen_running = self.seen_running or local.engine == "running"
        if local.engine != "running":
            return self._fall(now, f"this node's engine is {local.engine}")
        master = self._master(peers)
        if master is not None and master.phase in (STARTING, SERVING) and master.generation > self.generation:
            if self.phase == STARTING:      # the master (re)started while this node starts: same attempt
                self.generation = master.generation
            else:
                return self._fall(now, f"the master on {self.s.hosts[0]} started a new group")
        lost = self._lost(now, peers)
        if lost:
            return self._fall(now, lost)
        if self.phase == STARTING:
            return self._starting(now, local, peers)
        return self._serving(now, local, peers)

    def _starting(self, now: float, local: Local, peers: list[Peer]) -> list[str]:
        if local.healthy:
            self._enter(now, SERVING, "the group formed")
            return []
        silent = [p for p in peers if p.phase is None]
        if silent:                          # the guide's node-by-node deploy: a host not up yet is awaited
            self.reason = f"waiting for {self._where(silent)}"
            self.since = now                # the start timeout counts once every node is there
            return []
        if now - self.since > self.s.start_timeout:
            return self._fall(now, f"not serving {self.s.start_timeout:.0f} s after it started")
        return []

    def _serving(self, now: float, local: Local, peers: list[Peer]) -> list[str]:
        if local.healthy:
            self.unhealthy_since = None
        else:
            self.unhealthy_since = self.unhealthy_since or now
            if now - self.unhealthy_since >= self.s.detect_after:
                return self._fall(now, f"this node's /health failed for {self.s.detect_after:.0f} s")
        if self.failures and now - self.since >= self.s.stable_after:
            self.failures = 0
        return []

    # --- down ------------------------------------------------------------------------------------------------
    def _down_step(self, now: float, local: Local, peers: list[Peer]) -> list[str]:
        if local.engine == "running":
            if not self.stopping:
                self.stopping = True
                return ["stop"]
            # someone else started it after it stopped (`pdcompose restart` or `deploy`): follow them
            master = self._master(peers)
            self.generation = max(self.generation + (self.s.node == 0), master.generation if master else 0)
            self._enter(now, STARTING, "started from outside (pdcompose restart or deploy)")
            return []
        self.stopping = True
        if self.s.mode == "manual":
            self.reason = f"out of service until a person restarts the group: `{self.s.fix}`"
            return []
        silent = [p for p in peers if p.phase is None]
        if silent:
            self.reason = f"waiting for {self._where(silent)}: its group watchdog does not answer"
            return []
        if self.s.node == 0:
            return self._master_restart(now, peers)
        master = self._master(peers)
        if master is not None and master.phase in (STARTING, SERVING) and master.generation > self.generation:
            self.generation = master.generation
            self._enter(now, STARTING, f"the master started generation {self.generation}")
            return ["start"]
        self.reason = "waiting for the master to restart the group"
        return []

    def _master_restart(self, now: float, peers: list[Peer]) -> list[str]:
        busy = [p for p in peers if p.engine_up or p.phase != DOWN]
        if busy:
            self.reason = f"waiting for {self._where(busy)} to stop"
            return []
        if now < self.next_start:
            wait = f"next try in {self.next_start - now:.0f} s"
            self.reason = (f"crash loop: {self.failures} failed starts in a row; {wait}" if self.failures > 1
                           else f"the last start failed; {wait}")
            return []
        self.generation += 1
        self._enter(now, STARTING, f"restarting the group (generation {self.generation})")
        return ["start"]

    # --- helpers ---------------------------------------------------------------------------------------------
    def _fall(self, now: float, why: str) -> list[str]:
        if self.phase == STARTING and self.s.node == 0:
            self.failures += 1
            wait = min(self.s.backoff * 2 ** (self.failures - 1), self.s.backoff_max)
            self.next_start = now + wait
        self._enter(now, DOWN, why)
        self.stopping = False
        self.unhealthy_since = None
        return []                           # the next tick stops the engine if it still runs

    def _enter(self, now: float, phase: str, reason: str) -> None:
        self.phase, self.reason, self.since = phase, reason, now

    def _master(self, peers: list[Peer]) -> Peer | None:
        return next((p for p in peers if p.node == 0), None)

    def _track_silence(self, now: float, peers: list[Peer]) -> None:
        for p in peers:
            if p.phase is None and not p.healthy:
                self.silent_since.setdefault(p.node, now)
            else:
                self.silent_since.pop(p.node, None)

    def _lost(self, now: float, peers: list[Peer]) -> str | None:
        """Why the group is broken from this node's view, or None: a peer that went down (its watchdog says
        so, or its engine stopped), or that has been silent and unhealthy for detect_after seconds. A peer
        still down from an older generation while this node starts a newer one has not followed yet."""
        for p in peers:
            # While this node starts, a peer down from an older generation has not followed yet; and during
            # the deploy's own start (generation 0) a peer down has not started yet: a deploy right after
            # `down` showed watchdogs reading each other as down for their first second and stopping a
            # group as it formed. The start timeout bounds that wait; a restart's crash is still seen at once.
            starting = self.phase == STARTING and (p.generation < self.generation or self.generation == 0)
            if p.phase == DOWN and not starting:
                return f"node {p.node} on {self.s.hosts[p.node]} went down"
            if p.phase == SERVING and not p.engine_up:
                return f"the engine of node {p.node} on {self.s.hosts[p.node]} stopped"
            silent = self.silent_since.get(p.node)
            if self.phase == SERVING and silent is not None and now - silent >= self.s.detect_after:
                return f"node {p.node} on {self.s.hosts[p.node]} is unreachable (host gone or partitioned)"
        return None

    def _where(self, peers: list[Peer]) -> str:
        return ", ".join(f"{self.s.hosts[p.node]} (node {p.node})" for p in peers)
