"""Process exit codes, chosen so a service manager can tell what to do (see systemd/headcount-agent.service)."""

OK = 0
FAILURE = 1
USAGE = 2  # argparse's own
STALLED = 75  # EX_TEMPFAIL: no inference for too long while frames arrive; restarting helps
CONFIG = 78  # EX_CONFIG: invalid config file or a model that cannot be used; restarting does not help
