"""Every exit code gatewayctl uses; documented in docs/cli.md and the README."""

OK = 0
DIAGNOSTICS = 1  # check/plan found errors (or warnings under --strict)
USAGE = 2  # bad option, missing file argument (click's own usage errors use 2 too)
NOT_RUNNING = 3  # `gateway status`: no owner is running (LSB style)
PLAN_TAMPERED = 4  # saved plan's digest does not match its content
PLAN_VERSION = 5  # saved plan has a format_version this gatewayctl does not read
PLAN_STALE = 6  # config changed since the saved plan was made
PLAN_UNREADABLE = 7  # saved plan cannot be read or is not a plan
OWNER_ACTIVE = 8  # another gateway owner already holds the runtime slot
OWNER_FAILED = 9  # the owner shut down because a lane failed
IO_ERROR = 10  # runtime directory or state file could not be written
DEGRADED = 11  # `gateway status`: an owner runs, but not every lane is running
PLAN_OTHER_VERSION = 12  # saved plan was made by another gatewayctl version: re-create it
APPLY_FAILED = 13  # `gateway apply`: refused (nothing touched) or failed (rolled back)
FLEET_UNAVAILABLE = 14  # `fleet ...`: etcd cannot be reached or refused the request
FLEET_NOT_MOVED = 15  # `fleet release`: no other host took the lane in time (or nobody held it)
LANE_FENCED = 75  # lane serve: a fleet lane stopped by its deadline (its host's lease was not renewed in time)
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT) ended the command; gateway run / multi-channel-serve take it as a stop request (0)
INTERNAL = 70  # a bug in gatewayctl (EX_SOFTWARE); never a traceback on stderr by default

PLAN_ERROR_EXIT = {
    "tampered": PLAN_TAMPERED,
    "version": PLAN_VERSION,
    "stale": PLAN_STALE,
    "unreadable": PLAN_UNREADABLE,
    "malformed": PLAN_UNREADABLE,
    "generator": PLAN_OTHER_VERSION,
}
